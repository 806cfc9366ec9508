package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Handler serves one operation. progress sends an event to the client (it fails once
// the client is gone); the returned value is the result, an error the sentence the
// CLI prints. ctx ends when the client goes away or the server closes.
type Handler func(ctx context.Context, req Request, progress func(v any) error) (any, error)

// Server serves a control socket.
type Server struct {
	path     string
	made     os.FileInfo // the socket file as made, so Close removes only it
	ln       *net.UnixListener
	handlers map[string]Handler
	log      *slog.Logger
	uid      int
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	slots    chan struct{}
	once     sync.Once
}

// Listen serves handlers (op name → handler) on a Unix socket at path, replacing a
// stale socket left there by a process that died.
func Listen(path string, handlers map[string]Handler, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.Default()
	}
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("control: socket path %s is longer than %d bytes: set XDG_RUNTIME_DIR to a shorter folder", path, maxSocketPath)
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control: listen on %s: %w", path, err)
	}
	ln.SetUnlinkOnClose(false) // Close removes the file, and only if it is still ours
	// The folder is 0700 already; the mode keeps the socket private wherever it is.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		os.Remove(path)
		return nil, fmt.Errorf("control: restrict %s: %w", path, err)
	}
	made, err := os.Lstat(path)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("control: socket %s: %w", path, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{path: path, made: made, ln: ln, handlers: handlers, log: log, uid: os.Getuid(),
		ctx: ctx, cancel: cancel, slots: make(chan struct{}, maxConns)}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// removeStale removes a socket file nobody listens on. A live one belongs to another
// process serving the same mount point: it is left alone, and Listen fails.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("control: socket %s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("control: %s exists and is not a socket: remove it", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("control: another process serves %s already (is this folder mounted twice?)", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("control: remove the stale socket %s: %w", path, err)
	}
	return nil
}

// Path is the socket's path.
func (s *Server) Path() string { return s.path }

// Close stops accepting, cancels the operations in progress, waits for them and
// removes the socket file. Safe to call more than once.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		s.ln.Close()
		s.cancel()
		s.wg.Wait()
		if fi, lerr := os.Lstat(s.path); lerr == nil && os.SameFile(fi, s.made) {
			if rerr := os.Remove(s.path); rerr != nil {
				err = fmt.Errorf("control: remove %s: %w", s.path, rerr)
			}
		}
	})
	return err
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("control: accept", "op", "control", "err", err)
			select {
			case <-time.After(100 * time.Millisecond): // EMFILE and the like: do not spin
			case <-s.ctx.Done():
				return
			}
			continue
		}
		select {
		case s.slots <- struct{}{}:
		default:
			s.log.Warn("control: too many connections; one refused", "op", "control")
			c.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer func() { <-s.slots }()
			defer s.wg.Done()
			s.serve(c)
		}()
	}
}

// allowed: the daemon's own user, and root.
func (s *Server) allowed(uid uint32) bool { return uid == 0 || int(uid) == s.uid }

func (s *Server) serve(c *net.UnixConn) {
	defer c.Close()
	cred, err := PeerCred(c)
	if err != nil {
		s.log.Warn("control: cannot identify a connection's peer; refused", "op", "control", "err", err)
		return
	}
	if !s.allowed(cred.Uid) {
		s.log.Warn("control: refused a connection from another user", "op", "control",
			"uid", cred.Uid, "pid", cred.Pid)
		w := &writer{c: c}
		w.send(message{Type: typeError, Error: "permission denied: this mount answers only the user who mounted it and root"})
		return
	}
	req, err := readRequest(c)
	if err != nil {
		s.log.Debug("control: bad request", "op", "control", "uid", cred.Uid, "err", err)
		w := &writer{c: c}
		w.send(message{Type: typeError, Error: err.Error()})
		return
	}
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	go func() {
		// The client sends nothing more that matters (a newline may trail the
		// request): reads end when it goes away, or when serve closes the
		// connection, and that cancels the work.
		var b [64]byte
		for {
			if _, err := c.Read(b[:]); err != nil {
				break
			}
		}
		cancel()
	}()
	w := &writer{c: c}
	s.log.Debug("control request", "op", "control", "request", req.Op, "path", req.Path, "uid", cred.Uid)
	res, err := s.call(ctx, req, func(v any) error {
		data, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("control: encode progress: %w", err)
		}
		return w.send(message{Type: typeProgress, Data: data})
	})
	if err != nil {
		w.send(message{Type: typeError, Error: err.Error()})
		return
	}
	data, err := json.Marshal(res)
	if err != nil {
		w.send(message{Type: typeError, Error: "internal error: cannot encode the answer"})
		s.log.Error("control: encode a result", "op", "control", "request", req.Op, "err", err)
		return
	}
	w.send(message{Type: typeResult, Data: data})
}

// call runs the handler; a panic in it fails the request, never the mount.
func (s *Server) call(ctx context.Context, req Request, progress func(any) error) (res any, err error) {
	h, ok := s.handlers[req.Op]
	if !ok {
		return nil, fmt.Errorf("unknown operation %q: the mount runs another version of ncvfs than this command", req.Op)
	}
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("control: a handler failed", "op", "control", "request", req.Op, "panic", r, "stack", string(debug.Stack()))
			res, err = nil, fmt.Errorf("internal error in the mount's process while answering %q (see its log)", req.Op)
		}
	}()
	return h(ctx, req, progress)
}

// readRequest reads the one request of a connection, bounded in size and time.
func readRequest(c *net.UnixConn) (Request, error) {
	c.SetReadDeadline(time.Now().Add(requestTimeout))
	defer c.SetReadDeadline(time.Time{})
	lr := &io.LimitedReader{R: c, N: MaxRequest + 1}
	var req Request
	err := json.NewDecoder(lr).Decode(&req)
	switch {
	case lr.N <= 0:
		return Request{}, fmt.Errorf("request larger than %d bytes", MaxRequest)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return Request{}, fmt.Errorf("no request within %s", requestTimeout)
	case err != nil:
		return Request{}, fmt.Errorf("malformed request: %v", err)
	case req.Version > ProtocolVersion:
		return Request{}, fmt.Errorf("request of protocol version %d; the mount speaks %d: it runs an older ncvfs than this command", req.Version, ProtocolVersion)
	case req.Op == "":
		return Request{}, errors.New("malformed request: no operation")
	}
	return req, nil
}

// writer sends messages, one line each, each with its own deadline.
type writer struct {
	mu     sync.Mutex
	c      *net.UnixConn
	broken error
}

func (w *writer) send(m message) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.broken != nil {
		return w.broken
	}
	data, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("control: encode: %w", err)
	}
	w.c.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := w.c.Write(append(data, '\n')); err != nil {
		w.broken = fmt.Errorf("control: the client went away: %w", err)
		return w.broken
	}
	return nil
}

// PeerCred returns the credentials of the process at the other end of c, as the
// kernel recorded them when it connected.
func PeerCred(c *net.UnixConn) (*unix.Ucred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("control: peer credentials: %w", err)
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return nil, fmt.Errorf("control: peer credentials: %w", err)
	}
	if cerr != nil {
		return nil, fmt.Errorf("control: peer credentials: %w", cerr)
	}
	return cred, nil
}
