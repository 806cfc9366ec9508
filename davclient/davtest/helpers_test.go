package davtest

import (
	"context"
	"encoding/xml"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testUser = "admin"
	testPass = "secret"
)

func newTestServer(t *testing.T, opt Options) *Server {
	t.Helper()
	if opt.User == "" {
		opt.User, opt.Password = testUser, testPass
	}
	s, err := New(opt)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// req builds an authenticated request on the server; path starts with "/".
func req(t *testing.T, s *Server, method, path, body string, hdr ...string) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, err := http.NewRequest(method, s.URL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	r.SetBasicAuth(testUser, testPass)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	return r
}

// do sends a request and returns the response with its body read.
func do(t *testing.T, r *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", r.Method, r.URL, err)
	}
	return resp, string(b)
}

// call is req + do on a files path relative to the user's root ("wire/a.txt").
func call(t *testing.T, s *Server, method, rel, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	return do(t, req(t, s, method, "/remote.php/dav/files/"+testUser+"/"+rel, body, hdr...))
}

func wantStatus(t *testing.T, resp *http.Response, body string, want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d; body: %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, want, body)
	}
}

// dest is a Destination header value for rel on the files endpoint.
func dest(s *Server, rel string) string { return s.FilesURL() + rel }

// prop is one property of a parsed multistatus.
type prop struct {
	status int
	text   string
	inner  string
}

// msResult maps href -> "d:getetag" style key -> prop, and keeps hrefs in order.
type msResult struct {
	hrefs []string
	props map[string]map[string]prop
}

func (m msResult) get(t *testing.T, href, key string) prop {
	t.Helper()
	p, ok := m.props[href][key]
	if !ok {
		t.Fatalf("multistatus: %s has no %s; hrefs %v, props %v", href, key, m.hrefs, m.props[href])
	}
	return p
}

func parseMultistatus(t *testing.T, body string) msResult {
	t.Helper()
	type anyProp struct {
		XMLName xml.Name
		Inner   string `xml:",innerxml"`
		Text    string `xml:",chardata"`
	}
	var doc struct {
		XMLName   xml.Name `xml:"DAV: multistatus"`
		Responses []struct {
			Href      string `xml:"DAV: href"`
			Propstats []struct {
				Prop struct {
					Any []anyProp `xml:",any"`
				} `xml:"DAV: prop"`
				Status string `xml:"DAV: status"`
			} `xml:"DAV: propstat"`
		} `xml:"DAV: response"`
	}
	if err := xml.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("multistatus does not parse: %v\n%s", err, body)
	}
	prefix := map[string]string{nsDAV: "d:", nsOC: "oc:", nsNC: "nc:"}
	res := msResult{props: map[string]map[string]prop{}}
	for _, r := range doc.Responses {
		res.hrefs = append(res.hrefs, r.Href)
		m := map[string]prop{}
		for _, ps := range r.Propstats {
			status := 0
			switch {
			case strings.Contains(ps.Status, " 200 "):
				status = 200
			case strings.Contains(ps.Status, " 404 "):
				status = 404
			default:
				t.Fatalf("unexpected propstat status %q", ps.Status)
			}
			for _, p := range ps.Prop.Any {
				key := prefix[p.XMLName.Space] + p.XMLName.Local
				if prefix[p.XMLName.Space] == "" {
					key = p.XMLName.Space + " " + p.XMLName.Local
				}
				m[key] = prop{status: status, text: p.Text, inner: p.Inner}
			}
		}
		res.props[r.Href] = m
	}
	return res
}

// logCapture is a slog handler that lets a test wait for a message.
type logCapture struct {
	mu      sync.Mutex
	waiters map[string]chan struct{}
}

func newLogCapture() *logCapture { return &logCapture{waiters: map[string]chan struct{}{}} }

func (c *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (c *logCapture) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *logCapture) WithGroup(string) slog.Handler            { return c }

func (c *logCapture) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for msg, ch := range c.waiters {
		if strings.Contains(r.Message, msg) {
			close(ch)
			delete(c.waiters, msg)
		}
	}
	return nil
}

// expect returns a channel closed when a log message containing msg is seen.
func (c *logCapture) expect(msg string) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan struct{})
	c.waiters[msg] = ch
	return ch
}

// waitFor fails the test if ch is not closed within a generous bound (a hang guard,
// not a timing assertion).
func waitFor(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}
