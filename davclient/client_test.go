package davclient

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const testPassword = "s3cr3t-app-password"

// syncBuffer is a log sink safe for the handler goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testEnv struct {
	srv  *httptest.Server
	c    *Client
	logs *syncBuffer
}

// newEnv starts handler and a client whose URL is the server's Nextcloud files URL for
// user "admin", with fast retries.
func newEnv(t *testing.T, handler http.HandlerFunc) *testEnv {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	logs := &syncBuffer{}
	c, err := New(Config{
		URL:      srv.URL + "/remote.php/dav/files/admin",
		User:     "admin",
		Password: testPassword,
		Retry:    RetryPolicy{MaxAttempts: 4, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond},
		Logger:   slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	return &testEnv{srv: srv, c: c, logs: logs}
}

func sabreError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" ?>
<d:error xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns">
 <s:exception>Sabre\DAV\Exception\Something</s:exception>
 <s:message>%s</s:message>
</d:error>`, msg)
}

func TestNewValidatesURL(t *testing.T) {
	for _, raw := range []string{"ftp://host/dav", "cloud.example.com", "https://", "https://user:" + testPassword + "@host/", "http://host/%zz\x7f"} {
		_, err := New(Config{URL: raw, Password: testPassword})
		if err == nil {
			t.Errorf("%q: accepted", raw)
			continue
		}
		if strings.Contains(err.Error(), testPassword) {
			t.Errorf("%q: error shows the password: %v", raw, err)
		}
	}
	c, err := New(Config{URL: " https://cloud.example.com/nc/remote.php/dav/files/j%C3%BCrgen/?x=1#f "})
	if err != nil {
		t.Fatal(err)
	}
	if c.filesU != "https://cloud.example.com/nc/remote.php/dav/files/j%C3%BCrgen/" || c.baseU != "https://cloud.example.com/nc" ||
		c.rootPath != "/nc/remote.php/dav/files/jürgen/" || c.Info().UserID != "jürgen" {
		t.Errorf("files %q base %q root %q user %q", c.filesU, c.baseU, c.rootPath, c.Info().UserID)
	}
	tr, ok := c.hc.Transport.(*http.Transport)
	if !ok || tr.MaxIdleConnsPerHost < 16 || tr.ResponseHeaderTimeout == 0 || c.hc.Timeout != 0 {
		t.Errorf("transport not tuned: %+v timeout %v", tr, c.hc.Timeout)
	}
}

func TestPathEncodingRoundTrips(t *testing.T) {
	names := []string{"a b#c%d ü+&?:*.txt", "ü-nfd-input.txt", "100% #1 ?x=y&z", "日本語 (1).txt", "semi;colon,comma=eq@at$"}
	var got []string
	env := newEnv(t, func(w http.ResponseWriter, r *http.Request) {
		got = append(got, strings.TrimPrefix(r.URL.Path, "/remote.php/dav/files/admin/"))
		if r.URL.RawQuery != "" {
			t.Errorf("query leaked from a name: %q", r.URL.RawQuery)
		}
		w.WriteHeader(http.StatusCreated)
	})
	for _, n := range names {
		if _, err := env.c.Mkcol(context.Background(), "dir/"+n); err != nil {
			t.Fatal(err)
		}
	}
	for i, n := range names {
		if got[i] != "dir/"+n {
			t.Errorf("server saw %q, want %q", got[i], "dir/"+n)
		}
	}
	for _, bad := range []string{"/abs", "trail/", "a/../b", "a//b", ".", "a/\x00"} {
		if _, err := env.c.Mkcol(context.Background(), bad); err == nil {
			t.Errorf("path %q accepted", bad)
		}
	}
	if len(got) != len(names) {
		t.Errorf("invalid paths reached the server: %d requests", len(got))
	}
}

func TestErrorMapping(t *testing.T) {
	cases := []struct {
		status int
		op     string
		want   error
	}{
		{401, "stat", ErrUnauthorized},
		{403, "stat", ErrForbidden},
		{404, "stat", ErrNotFound},
		{410, "stat", ErrNotFound},
		{405, "mkcol", ErrExists},
		{405, "stat", ErrUnsupported},
		{409, "mkcol", ErrConflict},
		{412, "delete", ErrPrecondition},
		{423, "delete", ErrLocked},
		{507, "mkcol", ErrInsufficientStorage},
		{400, "stat", ErrBadRequest},
		{415, "stat", ErrBadRequest},
		{416, "stat", ErrBadRequest},
		{429, "stat", ErrTransient},
		{500, "stat", ErrTransient},
		{502, "stat", ErrTransient},
		{503, "delete", ErrTransient},
		{501, "stat", ErrUnsupported},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s_%d", tc.op, tc.status), func(t *testing.T) {
			env := newEnv(t, func(w http.ResponseWriter, r *http.Request) {
				sabreError(w, tc.status, "because &lt;reasons&gt; &amp; more")
			})
			env.c.retry.MaxAttempts = 1
			var err error
			switch tc.op {
			case "stat":
				_, err = env.c.Stat(context.Background(), "x")
			case "mkcol":
				_, err = env.c.Mkcol(context.Background(), "x")
			case "delete":
				err = env.c.Delete(context.Background(), "x", "")
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, not *Error", err)
			}
			if !errors.Is(err, tc.want) || e.Kind != tc.want || e.Status != tc.status || e.Path != "x" {
				t.Errorf("err = %#v, want kind %v", e, tc.want)
			}
			if e.Message != "because <reasons> & more" {
				t.Errorf("message = %q", e.Message)
			}
		})
	}
}

func TestErrorMessageTruncatedAndCleaned(t *testing.T) {
	long := strings.Repeat("é", 1000)
	env := newEnv(t, func(w http.ResponseWriter, r *http.Request) { sabreError(w, 403, long) })
	_, err := env.c.Stat(context.Background(), "x")
	var e *Error
	if !errors.As(err, &e) || len([]rune(e.Message)) != maxMessageLen+1 || !strings.HasSuffix(e.Message, "…") {
		t.Errorf("message (%d runes) = %q", len([]rune(e.Message)), e.Message)
	}
	if got := cleanMessage("a\x1b[31m\r\nb\x00c"); got != "a [31m b c" {
		t.Errorf("cleanMessage = %q", got)
	}
}

func TestRetriesIdempotentRequests(t *testing.T) {
	var attempts atomic.Int32
	failures := int32(2)
	env := newEnv(t, func(w http.ResponseWriter, r *http.Request) {
		if attempts.Add(1) <= failures {
			w.Header().Set("Retry-After", "1") // capped to MaxDelay (2ms) by the policy
			sabreError(w, http.StatusServiceUnavailable, "maintenance")
			return
		}
		w.WriteHeader(http.StatusMultiStatus)
		w.Write(ms(resp("/remote.php/dav/files/admin/a.txt", fileProps)))
	})
	e, err := env.c.Stat(context.Background(), "a.txt")
	if err != nil || e.Name != "a.txt" {
		t.Fatal(e, err)
	}
	if attempts.Load() != 3 {
		t.Errorf("attempts = %d, want 3", attempts.Load())
	}
	if n := strings.Count(env.logs.String(), "retrying"); n != 2 || strings.Contains(env.logs.String(), testPassword) {
		t.Errorf("retry log lines = %d: %s", n, env.logs.String())
	}

	// Always failing: MaxAttempts tries, then ErrTransient.
	attempts.Store(0)
	failures = 100
	_, err = env.c.Stat(context.Background(), "a.txt")
	if !errors.Is(err, ErrTransient) || attempts.Load() != 4 {
		t.Errorf("err = %v, attempts = %d, want 4", err, attempts.Load())
	}
}

func TestNonIdempotentNotRetried(t *testing.T) {
	var attempts atomic.Int32
	env := newEnv(t, func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		sabreError(w, http.StatusServiceUnavailable, "busy")
	})
	ctx := context.Background()
	ops := map[string]func() error{
		"delete": func() error { return env.c.Delete(ctx, "a", "") },
		"mkcol":  func() error { _, err := env.c.Mkcol(ctx, "a"); return err },
		"move":   func() error { return env.c.Move(ctx, "a", "b", false, "") },
		"copy":   func() error { _, err := env.c.Copy(ctx, "a", "b", true); return err },
		"put": func() error {
			_, err := env.c.Put(ctx, "a", strings.NewReader("abc"), 3, PutOptions{})
			return err
		},
	}
	for name, op := range ops {
		attempts.Store(0)
		if err := op(); !errors.Is(err, ErrTransient) {
			t.Errorf("%s: err = %v", name, err)
		}
		if attempts.Load() != 1 {
			t.Errorf("%s: %d attempts, want 1", name, attempts.Load())
		}
	}
}

func TestBackoffBounds(t *testing.T) {
	c := &Client{retry: RetryPolicy{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}.withDefaults()}
	for n := 1; n < 10; n++ {
		ceiling := min(100*time.Millisecond<<(n-1), time.Second)
		for range 50 {
			if d := c.backoff(n); d < 0 || d > ceiling {
				t.Fatalf("backoff(%d) = %v, ceiling %v", n, d, ceiling)
			}
		}
	}
	if retryAfter("7") != 7*time.Second || retryAfter("") != 0 || retryAfter("soon") != 0 || retryAfter("-3") != 0 {
		t.Error("Retry-After seconds misread")
	}
	if d := retryAfter(time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)); d < 58*time.Minute || d > time.Hour {
		t.Errorf("Retry-After date read as %v", d)
	}
}

func TestCancellationIsNotTransient(t *testing.T) {
	started := make(chan struct{})
	env := newEnv(t, func(w http.ResponseWriter, r *http.Request) {
		drain(r) // lets the server notice the client hanging up
		close(started)
		<-r.Context().Done()
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	_, err := env.c.Stat(ctx, "x")
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTransient) {
		t.Errorf("err = %v", err)
	}
}

func TestNetworkErrorIsTransient(t *testing.T) {
	env := newEnv(t, func(w http.ResponseWriter, r *http.Request) {})
	env.srv.Close()
	_, err := env.c.Stat(context.Background(), "x")
	var e *Error
	if !errors.Is(err, ErrTransient) || !errors.As(err, &e) || e.Cause == nil || e.Status != 0 {
		t.Errorf("err = %v", err)
	}
	if strings.Contains(err.Error(), testPassword) {
		t.Error("password in error")
	}
}

func TestCredentialsOnlyInHeader(t *testing.T) {
	var auth string
	env := newEnv(t, func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
		if r.URL.User != nil || strings.Contains(r.URL.String(), testPassword) {
			t.Error("credentials in the URL")
		}
		sabreError(w, 401, "Username or password was incorrect")
	})
	_, err := env.c.Discover(context.Background())
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+testPassword))
	if auth != want {
		t.Errorf("Authorization = %q", auth)
	}
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), `"admin"`) {
		t.Errorf("err = %v, want ErrUnauthorized naming the user", err)
	}
	b64 := base64.StdEncoding.EncodeToString([]byte("admin:" + testPassword))
	for _, s := range []string{err.Error(), env.logs.String()} {
		if strings.Contains(s, testPassword) || strings.Contains(s, b64) {
			t.Errorf("credentials leaked: %s", s)
		}
	}
}

func TestStatFollowsFolderSlashRedirect(t *testing.T) {
	env := newEnv(t, func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/") {
			http.Redirect(w, r, r.URL.Path+"/", http.StatusMovedPermanently)
			return
		}
		w.WriteHeader(http.StatusMultiStatus)
		w.Write(ms(resp("/remote.php/dav/files/admin/dir/", dirProps)))
	})
	e, err := env.c.Stat(context.Background(), "dir")
	if err != nil || !e.IsDir || e.Path != "dir" {
		t.Errorf("entry %+v err %v", e, err)
	}
}

func TestRedirectChangingMethodNotFollowed(t *testing.T) {
	env := newEnv(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "PROPFIND" {
			t.Errorf("redirect turned PROPFIND into %s", r.Method)
		}
		http.Redirect(w, r, "/elsewhere/", http.StatusMovedPermanently)
	})
	_, err := env.c.Stat(context.Background(), "x")
	var e *Error
	if !errors.As(err, &e) || e.Kind != ErrBadResponse || e.Status != 301 || !strings.Contains(e.Message, "/elsewhere/") {
		t.Errorf("err = %v", err)
	}
}

// drain is used by handlers that must read the request body before answering.
func drain(r *http.Request) []byte {
	b, _ := io.ReadAll(r.Body)
	return b
}
