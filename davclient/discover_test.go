package davclient

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fakeNextcloud serves the OCS user and capabilities and a root PROPFIND for user id
// "jd 1" (different from the login name, as with LDAP).
func fakeNextcloud(t *testing.T, ocsStatus int) http.HandlerFunc {
	caps := readSample(t, "capabilities.json")
	return func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/nc/ocs/"):
			if r.Header.Get("OCS-APIRequest") != "true" || r.URL.Query().Get("format") != "json" {
				t.Errorf("OCS request without header or format: %v", r.URL)
			}
			if ocsStatus != http.StatusOK {
				sabreError(w, ocsStatus, "nope")
				return
			}
			w.Header().Set("Content-Type", "application/json")
			if strings.HasSuffix(r.URL.Path, "/cloud/user") {
				io.WriteString(w, `{"ocs":{"meta":{"status":"ok","statuscode":200},"data":{"id":"jd 1","display-name":"John"}}}`)
				return
			}
			w.Write(caps)
		case r.Method == "PROPFIND" && r.URL.Path == "/nc/remote.php/dav/files/jd 1/":
			w.WriteHeader(http.StatusMultiStatus)
			w.Write(ms(resp("/nc/remote.php/dav/files/jd%201/", dirProps+`<oc:fileid>3</oc:fileid><oc:data-fingerprint>fp</oc:data-fingerprint>`)))
		default:
			http.NotFound(w, r)
		}
	}
}

func newDiscoverClient(t *testing.T, h http.Handler, path string) (*Client, *syncBuffer) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	logs := &syncBuffer{}
	c, err := New(Config{URL: srv.URL + path, User: "john", Password: testPassword,
		Retry:  RetryPolicy{MaxAttempts: 2, BaseDelay: 1, MaxDelay: 1},
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return c, logs
}

func TestDiscoverNextcloud(t *testing.T) {
	c, logs := newDiscoverClient(t, fakeNextcloud(t, http.StatusOK), "/nc/")
	info, err := c.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.Dialect != DialectNextcloud || info.UserID != "jd 1" || !strings.HasSuffix(info.FilesURL, "/nc/remote.php/dav/files/jd%201/") {
		t.Errorf("info = %+v", info)
	}
	if info.Version != "29.0.6" || info.Root.FileID != 3 || info.Root.DataFingerprint != "fp" || !info.Root.IsDir {
		t.Errorf("version %q root %+v", info.Version, info.Root)
	}
	cp := info.Capabilities
	if cp.PollInterval != 60 || cp.ChunkingVersion != "1.0" || cp.BulkUpload != "1.0" || !cp.Undelete || !cp.Versioning ||
		len(cp.BlacklistedFiles) != 1 || cp.BlacklistedFiles[0] != ".htaccess" ||
		len(cp.ForbiddenFilenameCharacters) != 2 || cp.ForbiddenFilenameCharacters[0] != `\` || len(cp.Raw) == 0 {
		t.Errorf("capabilities = %+v", cp)
	}
	if c.Info().UserID != "jd 1" || strings.Contains(logs.String(), "plain WebDAV") {
		t.Errorf("Info() = %+v, logs %s", c.Info(), logs)
	}
}

func TestDiscoverGeneric(t *testing.T) {
	for name, ocs := range map[string]http.HandlerFunc{
		"404":  func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) },
		"html": func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html>welcome</html>") },
		"json without id": func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"ocs":{"data":{}}}`)
		},
	} {
		t.Run(name, func(t *testing.T) {
			propfinds := 0
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == "PROPFIND" && r.URL.Path == "/dav/" {
					propfinds++
					w.WriteHeader(http.StatusMultiStatus)
					w.Write(ms(resp("/dav/", `<d:resourcetype><d:collection/></d:resourcetype><d:getetag>W/"x"</d:getetag>`)))
					return
				}
				ocs(w, r)
			})
			c, logs := newDiscoverClient(t, h, "/dav")
			for range 2 {
				info, err := c.Discover(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if info.Dialect != DialectGeneric || !strings.HasSuffix(info.FilesURL, "/dav/") || info.Root.ETag != `W/"x"` {
					t.Errorf("info = %+v", info)
				}
			}
			if n := strings.Count(logs.String(), "plain WebDAV"); n != 1 || propfinds != 2 {
				t.Errorf("generic notice logged %d times, %d propfinds: %s", n, propfinds, logs)
			}
			if _, err := c.UploadChunked(context.Background(), "f", strings.NewReader("x"), 1, ChunkedOptions{}); !errors.Is(err, ErrUnsupported) {
				t.Errorf("chunked upload on a generic server: %v", err)
			}
		})
	}
}

func TestDiscoverUnauthorized(t *testing.T) {
	// OCS answers 401: no fallback to generic, and the message names the user.
	var propfinds int
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "PROPFIND" {
			propfinds++
		}
		fakeNextcloud(t, http.StatusUnauthorized)(w, r)
	})
	c, _ := newDiscoverClient(t, h, "/nc")
	_, err := c.Discover(context.Background())
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), `"john"`) || strings.Contains(err.Error(), testPassword) {
		t.Errorf("err = %v", err)
	}
	if propfinds != 0 {
		t.Errorf("fell back after a 401: %d propfinds", propfinds)
	}

	// No OCS, PROPFIND answers 401.
	c2, _ := newDiscoverClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "PROPFIND" {
			sabreError(w, 401, "Username or password was incorrect")
			return
		}
		http.NotFound(w, r)
	}), "/dav")
	_, err = c2.Discover(context.Background())
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), `"john"`) {
		t.Errorf("err = %v", err)
	}
}

func TestDiscoverTransientOCSIsAnError(t *testing.T) {
	c, _ := newDiscoverClient(t, fakeNextcloud(t, http.StatusServiceUnavailable), "/nc")
	_, err := c.Discover(context.Background())
	if !errors.Is(err, ErrTransient) {
		t.Errorf("err = %v; a failing OCS must not be mistaken for a generic server", err)
	}
}

func TestFirstRequestDiscovers(t *testing.T) {
	c, _ := newDiscoverClient(t, fakeNextcloud(t, http.StatusOK), "/nc")
	e, err := c.Stat(context.Background(), "")
	if err != nil || e.FileID != 3 || c.Info().Dialect != DialectNextcloud {
		t.Errorf("entry %+v err %v info %+v", e, err, c.Info())
	}
}

func TestSplitFilesURL(t *testing.T) {
	c, err := New(Config{URL: "https://h/remote.php/webdav"})
	if err != nil {
		t.Fatal(err)
	}
	if c.filesU != "https://h/remote.php/webdav/" || c.baseU != "https://h" || c.rootPath != "/remote.php/webdav/" {
		t.Errorf("%q %q %q", c.filesU, c.baseU, c.rootPath)
	}
	c, _ = New(Config{URL: "https://h/remote.php/dav/files/u/Photos"})
	if c.filesU != "https://h/remote.php/dav/files/u/Photos/" || c.Info().UserID != "u" {
		t.Errorf("sub-folder mount: %q %q", c.filesU, c.Info().UserID)
	}
	c, _ = New(Config{URL: "https://h/cloud"})
	if c.filesU != "" {
		t.Errorf("a base URL must wait for discovery, got %q", c.filesU)
	}
}
