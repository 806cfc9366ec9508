package davclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

const defaultUserAgent = "ncvfs/0.1 (WebDAV client)"

// onceFlags remember which once-per-client log lines were written.
type onceFlags struct {
	genericServer atomic.Bool
	badDate       atomic.Bool
}

// New checks cfg and builds a client. It sends nothing: Discover (or the first request,
// which runs it) talks to the server.
func New(cfg Config) (*Client, error) {
	u, err := parseServerURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	cfg.URL = u.String()
	c := &Client{
		cfg:   cfg,
		hc:    cfg.HTTPClient,
		log:   cfg.Logger,
		host:  strings.ToLower(u.Host),
		retry: cfg.Retry.withDefaults(),
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.hc == nil {
		c.hc = newHTTPClient(cfg.InsecureSkipVerify, u.Hostname())
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		c.log.Warn("davclient: the server URL is http://: the password and every file travel unencrypted; use https:// if the server offers it",
			"op", "new", "host", u.Host)
	}
	if c.cfg.UserAgent == "" {
		c.cfg.UserAgent = defaultUserAgent
	}
	// A files URL needs no discovery to be usable; the dialect is still learned by Discover.
	if files, base, user, ok := splitFilesURL(u); ok {
		c.setEndpoints(files, base)
		c.info.UserID = user
		c.info.FilesURL = files
	}
	return c, nil
}

// parseServerURL accepts http and https URLs without credentials, query or fragment.
func parseServerURL(raw string) (*url.URL, error) {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the URL, which may hold a password typed into it.
		return nil, fmt.Errorf("davclient: the server URL cannot be parsed; expected https://host/path")
	}
	if u.User != nil {
		return nil, fmt.Errorf("davclient: the server URL must not contain a user or password; give them separately")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("davclient: server URL %q: the scheme must be http or https", u.Redacted())
	}
	if u.Host == "" {
		return nil, fmt.Errorf("davclient: server URL %q has no host", u.Redacted())
	}
	u.RawQuery, u.Fragment, u.RawFragment, u.ForceQuery = "", "", "", false
	return u, nil
}

// newHTTPClient keeps connections alive (password hashing makes a new session costly on
// Nextcloud) and the server's session cookies, and bounds the wait for headers but not
// the body: downloads may be large.
func newHTTPClient(insecure bool, host string) *http.Client {
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   30 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	if insecure {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} // the user asked for it
	}
	return &http.Client{Transport: tr, CheckRedirect: checkRedirect, Jar: newServerJar(host)}
}

// Info returns what Discover learned (zero Dialect before it ran).
func (c *Client) Info() ServerInfo {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.info
}

func (c *Client) setEndpoints(filesURL, baseURL string) {
	u, err := url.Parse(filesURL)
	rootPath := "/"
	if err == nil {
		rootPath = u.Path
	}
	if !strings.HasSuffix(rootPath, "/") {
		rootPath += "/"
	}
	c.mu.Lock()
	c.filesU, c.baseU, c.rootPath = filesURL, baseURL, rootPath
	c.mu.Unlock()
}

// endpoints returns the files root, running Discover first when the URL alone did not say.
func (c *Client) endpoints(ctx context.Context) (filesURL, rootPath string, err error) {
	c.mu.RLock()
	filesURL, rootPath = c.filesU, c.rootPath
	c.mu.RUnlock()
	if filesURL != "" {
		return filesURL, rootPath, nil
	}
	if _, err := c.Discover(ctx); err != nil {
		return "", "", err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.filesU, c.rootPath, nil
}

// call is one logical request; do may send it several times.
type call struct {
	op, path   string // for errors and logs
	method     string
	url        string
	header     http.Header
	body       func() io.Reader // nil: no body; called once per attempt
	size       int64            // body length
	idempotent bool             // may be retried
}

// do sends c, retrying idempotent calls on transient failures, and returns a 2xx answer
// whose body the caller must close. Any other answer becomes an *Error.
func (c *Client) do(ctx context.Context, cl call) (*http.Response, error) {
	var resp *http.Response
	err := c.withRetry(ctx, cl.op, cl.path, cl.idempotent, func() (time.Duration, error) {
		r, err := c.send(ctx, cl)
		if err != nil {
			return 0, err
		}
		if r.StatusCode >= 200 && r.StatusCode < 300 {
			resp = r
			return 0, nil
		}
		wait := retryAfter(r.Header.Get("Retry-After"))
		return wait, c.statusError(cl.op, cl.path, r)
	})
	return resp, err
}

// send makes one attempt. Transport failures come back as *Error (ErrTransient) or,
// when ctx ended, as an error matching ctx.Err().
func (c *Client) send(ctx context.Context, cl call) (*http.Response, error) {
	var body io.Reader
	if cl.body != nil && cl.size != 0 {
		body = cl.body()
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, cl.url, body)
	if err != nil {
		return nil, fmt.Errorf("davclient: %s %q: building request: %w", cl.op, cl.path, err)
	}
	if body != nil {
		req.ContentLength = cl.size
		if cl.size < 0 {
			req.ContentLength = -1
		}
	} else if cl.body != nil {
		req.Body = http.NoBody
		req.ContentLength = 0
	}
	for k, vs := range cl.header {
		req.Header[k] = vs
	}
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	if c.cfg.User != "" || c.cfg.Password != "" {
		req.SetBasicAuth(c.cfg.User, c.cfg.Password)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, cl.op, cl.path, err)
	}
	return resp, nil
}

// transportError classifies a failure without an HTTP answer.
func (c *Client) transportError(ctx context.Context, op, path string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("davclient: %s %q: %w", op, path, ctxErr)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("davclient: %s %q: %w", op, path, err)
	}
	var refused *errRedirectRefused
	if errors.As(err, &refused) {
		return &Error{Op: op, Path: path, Kind: ErrBadResponse, Message: refused.reason}
	}
	if msg := tlsProblem(err, c.cfg.URL); msg != "" {
		return &Error{Op: op, Path: path, Kind: ErrTLS, Message: msg, Cause: err}
	}
	return &Error{Op: op, Path: path, Kind: ErrTransient, Cause: err}
}

// withDefaults fills the zero fields of a policy.
func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 4
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = 200 * time.Millisecond
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = 5 * time.Second
	}
	if p.MaxDelay < p.BaseDelay {
		p.MaxDelay = p.BaseDelay
	}
	return p
}

// pathURL is the absolute URL of a relative path under root (which ends in "/"), each
// segment percent-encoded; dir adds a trailing slash for collections.
func pathURL(root, p string, dir bool) (string, error) {
	if err := checkPath(p); err != nil {
		return "", err
	}
	if p == "" {
		return root, nil
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	u := root + strings.Join(segs, "/")
	if dir {
		u += "/"
	}
	return u, nil
}

// checkPath refuses paths that would escape or confuse the files root.
func checkPath(p string) error {
	if p == "" {
		return nil
	}
	if strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") {
		return fmt.Errorf("davclient: path %q must not start or end with a slash", p)
	}
	for _, s := range strings.Split(p, "/") {
		if reason := badName(s); reason != "" {
			return fmt.Errorf("davclient: path %q: %s", p, reason)
		}
	}
	return nil
}
