package davtest

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Options configure a Server.
type Options struct {
	// User and Password are the Basic auth credentials; both are required.
	User, Password string
	// UserID is the id in /remote.php/dav/files/<UserID>/ (default User), to model LDAP
	// or SSO accounts whose id differs from the login name.
	UserID string
	// DisplayName is the user's display name (default User).
	DisplayName string
	// QuotaBytes is the total quota; <= 0 means unlimited (quota-available-bytes -3).
	QuotaBytes int64
	// Addr is the listen address, default "127.0.0.1:0".
	Addr string
	// Logger gets one debug line per request; nil discards.
	Logger *slog.Logger
	// Gzip honours Accept-Encoding: gzip on PROPFIND, as the real server does.
	Gzip bool
	// Activity serves the activity app's API (who deleted what); without it the API
	// answers 404, like a server where the app is not installed.
	Activity bool
	// DisableDepthInfinity makes "Depth: infinity" act as Depth 1, like a server whose
	// admin turned infinite PROPFIND off.
	DisableDepthInfinity bool
	// RecordRequests keeps a record of every request (see Requests), for tests that
	// count what reached the server per path. Off by default: it grows without bound.
	RecordRequests bool
}

// Server is a running test server. All methods are safe for concurrent use.
type Server struct {
	opt Options
	log *slog.Logger
	url string

	// netMu guards the listener and the http.Server, which Stop and Resume replace.
	netMu   sync.Mutex
	ln      net.Listener
	srv     *http.Server
	served  chan struct{}
	stopped bool

	// filesPath is the decoded files endpoint ("/remote.php/dav/files/<id>"), filesHref
	// the same percent-encoded, as hrefs carry it.
	filesPath string
	filesHref string

	// mu guards the tree, the trash, the uploads and the fingerprint. Handlers never
	// hold it while writing a response body.
	mu          sync.RWMutex
	root        *node
	nextID      uint64
	lastUniq    int64
	trash       []*trashItem
	uploads     map[string]*upload
	fingerprint string
	activities  []activity

	stats  stats
	faults faultSet

	recMu    sync.Mutex
	requests []RequestRecord
}

// New starts a server listening on loopback (or opt.Addr).
func New(opt Options) (*Server, error) {
	if opt.User == "" || opt.Password == "" {
		return nil, errors.New("davtest: Options.User and Options.Password are required")
	}
	if opt.UserID == "" {
		opt.UserID = opt.User
	}
	if strings.ContainsAny(opt.UserID, "/\\") {
		return nil, fmt.Errorf("davtest: user id %q must not contain slashes", opt.UserID)
	}
	if opt.DisplayName == "" {
		opt.DisplayName = opt.User
	}
	if opt.Addr == "" {
		opt.Addr = "127.0.0.1:0"
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		opt:       opt,
		log:       log,
		filesPath: "/remote.php/dav/files/" + opt.UserID,
		uploads:   map[string]*upload{},
		nextID:    99, // so the root is 100 and ids never look like indexes
	}
	s.filesHref = encodePath(s.filesPath)
	now := time.Now()
	s.root = s.newDirLocked("", now)

	ln, err := net.Listen("tcp", opt.Addr)
	if err != nil {
		return nil, fmt.Errorf("davtest: listen %s: %w", opt.Addr, err)
	}
	s.url = "http://" + ln.Addr().String()
	s.serveLocked(ln)
	return s, nil
}

// serveLocked serves on ln until Close or Stop. Caller holds netMu (or owns s alone).
func (s *Server) serveLocked(ln net.Listener) {
	s.ln = ln
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 30 * time.Second}
	srv, served := s.srv, make(chan struct{})
	s.served = served
	go func() {
		defer close(served)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("davtest: serve", "err", err)
		}
	}()
}

// Stop makes the server go away as a real one does: open connections drop and new
// ones are refused. The tree stays, and the API (WriteFile, ...) still changes it, as
// another client would meanwhile; Resume answers again on the same address.
func (s *Server) Stop() {
	s.netMu.Lock()
	defer s.netMu.Unlock()
	if s.stopped {
		return
	}
	_ = s.srv.Close()
	<-s.served
	s.stopped = true
}

// Resume answers again, on the address it had, after Stop.
func (s *Server) Resume() error {
	s.netMu.Lock()
	defer s.netMu.Unlock()
	if !s.stopped {
		return nil
	}
	ln, err := net.Listen("tcp", s.ln.Addr().String())
	if err != nil {
		return fmt.Errorf("davtest: listen again on %s: %w", s.ln.Addr(), err)
	}
	s.stopped = false
	s.serveLocked(ln)
	return nil
}

// URL is the base URL, e.g. http://127.0.0.1:PORT (no trailing slash).
func (s *Server) URL() string { return s.url }

// FilesURL is the files root URL, ending in "/".
func (s *Server) FilesURL() string { return s.url + s.filesHref + "/" }

// UserID is the id in the files URL.
func (s *Server) UserID() string { return s.opt.UserID }

// Close stops the server and drops open connections.
func (s *Server) Close() {
	s.netMu.Lock()
	defer s.netMu.Unlock()
	if s.stopped {
		return
	}
	_ = s.srv.Close()
	<-s.served
	s.stopped = true
}

// Handler serves the whole server, for a caller that runs its own http.Server.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	method := r.Method
	depthKey := ""
	if method == "PROPFIND" {
		depthKey = "PROPFIND/" + depthName(r.Header.Get("Depth"))
	}
	s.stats.begin(method, depthKey)
	cw := &countingWriter{ResponseWriter: w}
	var cb *countingBody
	if r.Body != nil && r.Body != http.NoBody {
		cb = &countingBody{rc: r.Body}
		r.Body = cb
	}
	rec := &statusRecorder{}
	dropped := true // until the handler returns normally
	defer func() {
		var in int64
		if cb != nil {
			in = cb.n.Load()
		}
		s.stats.end(method, cw.n, in)
		s.log.Debug("davtest: request", "op", method, "path", r.URL.Path, "status", rec.status)
		if s.opt.RecordRequests {
			s.record(RequestRecord{Method: method, Path: r.URL.Path, Status: rec.status,
				Fault: rec.fault, Dropped: dropped})
		}
	}()

	out, proceed, drop := s.applyFaults(cw, r, rec)
	if proceed {
		s.route(rec.wrap(out), r)
	}
	if drop {
		panic(http.ErrAbortHandler)
	}
	dropped = false
}

// RequestRecord is one request the server saw (Options.RecordRequests).
type RequestRecord struct {
	Method string
	Path   string // the decoded URL path
	// Status is what the server answered, or would have answered had the connection
	// not been dropped (DropAnswer: the request took effect); 0 when it was dropped
	// before being served.
	Status int
	// Fault: a fault matched the request.
	Fault bool
	// Dropped: the connection was dropped instead of answering.
	Dropped bool
}

func (s *Server) record(r RequestRecord) {
	s.recMu.Lock()
	s.requests = append(s.requests, r)
	s.recMu.Unlock()
}

// Requests returns the requests recorded since start or ResetCounts, oldest first
// (requests in flight are recorded when they end).
func (s *Server) Requests() []RequestRecord {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	return slices.Clone(s.requests)
}

// route dispatches by endpoint; faults have been applied already.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/status.php":
		s.serveStatus(w, r)
		return
	case strings.HasPrefix(p, "/ocs/v1.php/") || strings.HasPrefix(p, "/ocs/v2.php/"):
		s.serveOCS(w, r)
		return
	}
	if !s.authorized(w, r) {
		return
	}
	switch {
	case p == "/remote.php/webdav" || strings.HasPrefix(p, "/remote.php/webdav/"):
		rest := strings.TrimPrefix(p, "/remote.php/webdav")
		s.serveFiles(w, r, filesEndpoint{path: "/remote.php/webdav", href: "/remote.php/webdav", dav: davHeaderLegacy}, rest)
	case strings.HasPrefix(p, "/remote.php/dav/files/"):
		rest, ok := s.userRest(w, p, "/remote.php/dav/files/")
		if ok {
			s.serveFiles(w, r, filesEndpoint{path: s.filesPath, href: s.filesHref, dav: davHeaderNew}, rest)
		}
	case strings.HasPrefix(p, "/remote.php/dav/uploads/"):
		if rest, ok := s.userRest(w, p, "/remote.php/dav/uploads/"); ok {
			s.serveUploads(w, r, rest)
		}
	case strings.HasPrefix(p, "/remote.php/dav/trashbin/"):
		if rest, ok := s.userRest(w, p, "/remote.php/dav/trashbin/"); ok {
			s.serveTrash(w, r, rest)
		}
	default:
		writeDavError(w, &davError{status: http.StatusNotFound, exception: exNotFound,
			message: "No such endpoint on this test server: " + p})
	}
}

// userRest checks the user id that follows prefix and returns what comes after it.
func (s *Server) userRest(w http.ResponseWriter, p, prefix string) (string, bool) {
	rest := strings.TrimPrefix(p, prefix)
	user, after, _ := strings.Cut(rest, "/")
	if user != s.opt.UserID {
		writeDavError(w, &davError{status: http.StatusNotFound, exception: exNotFound,
			message: "Principal with name " + user + " not found"})
		return "", false
	}
	return "/" + after, true
}

// authorized checks Basic auth and answers 401 like Nextcloud when it fails.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	switch s.checkAuth(r) {
	case authOK:
		return true
	case authMissing:
		w.Header().Set("WWW-Authenticate", `Basic realm="Nextcloud", charset="UTF-8"`)
		writeDavError(w, &davError{status: http.StatusUnauthorized, exception: exNotAuthenticated,
			message: "No public access to this resource., No 'Authorization: Basic' header found. Either the client didn't send one, or the server is misconfigured"})
	default:
		w.Header().Set("WWW-Authenticate", `Basic realm="Nextcloud", charset="UTF-8"`)
		writeDavError(w, &davError{status: http.StatusUnauthorized, exception: exNotAuthenticated,
			message: "No public access to this resource., Username or password was incorrect"})
	}
	return false
}

type authResult int

const (
	authOK authResult = iota
	authMissing
	authWrong
)

func (s *Server) checkAuth(r *http.Request) authResult {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return authMissing
	}
	userOK := subtle.ConstantTimeCompare([]byte(user), []byte(s.opt.User)) == 1
	passOK := subtle.ConstantTimeCompare([]byte(pass), []byte(s.opt.Password)) == 1
	if userOK && passOK {
		return authOK
	}
	return authWrong
}

// depthName normalises a Depth header for the counters: "0", "1" or "infinity".
func depthName(h string) string {
	switch strings.TrimSpace(strings.ToLower(h)) {
	case "0":
		return "0"
	case "1":
		return "1"
	}
	return "infinity"
}

// statusRecorder remembers the status a handler answered, for the request log line.
type statusRecorder struct {
	status int
	fault  bool // a fault matched
}

func (rec *statusRecorder) wrap(w http.ResponseWriter) http.ResponseWriter {
	return &recordingWriter{ResponseWriter: w, rec: rec}
}

type recordingWriter struct {
	http.ResponseWriter
	rec *statusRecorder
}

func (w *recordingWriter) WriteHeader(code int) {
	if w.rec.status == 0 {
		w.rec.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	if w.rec.status == 0 {
		w.rec.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *recordingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
