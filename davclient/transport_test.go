package davclient

import (
	"context"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// connCounter counts the connections a test server accepts: attempts that never became
// an HTTP request (a TLS handshake that failed) included.
type connCounter struct{ n atomic.Int32 }

func (c *connCounter) hook(_ net.Conn, s http.ConnState) {
	if s == http.StateNew {
		c.n.Add(1)
	}
}

func quietServer(srv *httptest.Server, conns *connCounter) {
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshake failures are expected
	srv.Config.ConnState = conns.hook
}

func newClient(t *testing.T, rawURL string, insecure bool, logs *syncBuffer) *Client {
	t.Helper()
	cfg := Config{
		URL: rawURL + "/remote.php/dav/files/admin", User: "admin", Password: testPassword,
		InsecureSkipVerify: insecure,
		Retry:              RetryPolicy{MaxAttempts: 4, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond},
	}
	if logs != nil {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// target is a server a redirect points to; it records whether anything reached it.
func target(t *testing.T) (*httptest.Server, *atomic.Int32, *atomic.Int32) {
	var hits, withAuth atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Header.Get("Authorization") != "" {
			withAuth.Add(1)
		}
		w.WriteHeader(http.StatusMultiStatus)
		w.Write(ms(resp("/remote.php/dav/files/admin/x", fileProps)))
	}))
	t.Cleanup(srv.Close)
	return srv, &hits, &withAuth
}

func TestRedirectFromHTTPSToHTTPRefused(t *testing.T) {
	plain, hits, withAuth := target(t)
	secure := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(secure.Close)
	c := newClient(t, secure.URL, true, nil)
	_, err := c.Stat(context.Background(), "x")
	var e *Error
	if !errors.As(err, &e) || e.Kind != ErrBadResponse || !strings.Contains(e.Message, "from https to http") {
		t.Errorf("err = %v, want ErrBadResponse explaining the downgrade", err)
	}
	if withAuth.Load() != 0 || hits.Load() != 0 {
		t.Errorf("the http endpoint got %d requests, %d with Authorization; want none", hits.Load(), withAuth.Load())
	}
}

func TestRedirectToAnotherHostRefused(t *testing.T) {
	other, hits, _ := target(t)
	// The same server under another name: a host change as far as the client can tell.
	otherURL := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, otherURL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL, false, nil)
	_, err := c.Stat(context.Background(), "x")
	var e *Error
	if !errors.As(err, &e) || e.Kind != ErrBadResponse || !strings.Contains(e.Message, "another host") {
		t.Errorf("err = %v, want ErrBadResponse naming the host change", err)
	}
	if hits.Load() != 0 {
		t.Errorf("the other host got %d requests, want none", hits.Load())
	}
}

func TestPlainHTTPToARemoteHostIsWarnedOf(t *testing.T) {
	for raw, warn := range map[string]bool{
		"http://cloud.example.com": true, "https://cloud.example.com": false,
		"http://127.0.0.1:8080": false, "http://localhost": false, "http://[::1]:80": false,
	} {
		logs := &syncBuffer{}
		if _, err := New(Config{URL: raw, Logger: slog.New(slog.NewTextHandler(logs, nil))}); err != nil {
			t.Fatal(err)
		}
		if got := strings.Contains(logs.String(), "unencrypted"); got != warn {
			t.Errorf("%s: warned %v, want %v (log %q)", raw, got, warn, logs.String())
		}
	}
}

func TestHTTPSToAPlainHTTPServerIsNotRetried(t *testing.T) {
	var conns connCounter
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	quietServer(srv, &conns)
	srv.Start()
	t.Cleanup(srv.Close)
	httpsURL := strings.Replace(srv.URL, "http://", "https://", 1)
	c := newClient(t, httpsURL, false, nil)
	_, err := c.Stat(context.Background(), "x")
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrTLS) || errors.Is(err, ErrTransient) {
		t.Fatalf("err = %v, want ErrTLS and not transient", err)
	}
	if !strings.Contains(e.Message, "plain HTTP") || !strings.Contains(e.Message, srv.URL) {
		t.Errorf("message %q does not say the server speaks plain HTTP and which URL to use", e.Message)
	}
	if n := conns.n.Load(); n != 1 {
		t.Errorf("%d connection attempts, want 1", n)
	}
}

func TestUntrustedCertificateIsNotRetried(t *testing.T) {
	var conns connCounter
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	quietServer(srv, &conns)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL, false, nil)
	_, err := c.Stat(context.Background(), "x")
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrTLS) || errors.Is(err, ErrTransient) {
		t.Fatalf("err = %v, want ErrTLS and not transient", err)
	}
	if !strings.Contains(e.Message, "certificate") || !strings.Contains(e.Message, "--insecure") {
		t.Errorf("message %q does not say to fix the certificate or use --insecure", e.Message)
	}
	if n := conns.n.Load(); n != 1 {
		t.Errorf("%d connection attempts, want 1", n)
	}
}

func TestSessionCookiesComeBack(t *testing.T) {
	var requests, withCookie atomic.Int32
	env := newEnv(t, func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 1 {
			http.SetCookie(w, &http.Cookie{Name: "oc_session", Value: "s1", Path: "/", HttpOnly: true})
		} else if c, err := r.Cookie("oc_session"); err == nil && c.Value == "s1" {
			withCookie.Add(1)
		}
		w.WriteHeader(http.StatusMultiStatus)
		w.Write(ms(resp("/remote.php/dav/files/admin/x", fileProps)))
	})
	for range 3 {
		if _, err := env.c.Stat(context.Background(), "x"); err != nil {
			t.Fatal(err)
		}
	}
	if n := withCookie.Load(); n != 2 {
		t.Errorf("%d of the 2 later requests sent the session cookie back", n)
	}
	if strings.Contains(env.logs.String(), "s1") {
		t.Errorf("cookie value in the logs: %s", env.logs.String())
	}
}

func TestCookiesNeverGoToAnotherHost(t *testing.T) {
	jar := newServerJar("cloud.example.com")
	server, _ := url.Parse("https://cloud.example.com/remote.php/dav/files/a/")
	sibling, _ := url.Parse("https://other.example.com/")
	jar.SetCookies(server, []*http.Cookie{{Name: "oc_session", Value: "s1", Domain: "example.com", Path: "/"}})
	jar.SetCookies(sibling, []*http.Cookie{{Name: "tracker", Value: "t", Path: "/"}})
	if got := jar.Cookies(server); len(got) != 1 || got[0].Value != "s1" {
		t.Errorf("server's own cookies: %v", got)
	}
	if got := jar.Cookies(sibling); len(got) != 0 {
		t.Errorf("another host of the cookie's domain gets %v", got)
	}
	evil, _ := url.Parse("https://cloud.example.com.evil.test/")
	if got := jar.Cookies(evil); len(got) != 0 {
		t.Errorf("a look-alike host gets %v", got)
	}
}
