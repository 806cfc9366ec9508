package davclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

const sampleContent = "hello world, this is a sample file\n"
const sampleETag = `"148f6e780a43cd45eb7292f7294e9edf"`

// fileHandler serves sampleContent like Nextcloud; ignoreRange makes it answer 200.
func fileHandler(t *testing.T, ignoreRange bool, seen *http.Header) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if seen != nil {
			*seen = r.Header.Clone()
		}
		if r.URL.Path == "/remote.php/dav/files/admin/sub" {
			w.Header().Set("Content-Type", "text/html; charset=UTF-8")
			io.WriteString(w, "This is the WebDAV interface.")
			return
		}
		if r.Header.Get("Accept-Encoding") != "identity" {
			t.Errorf("GET must ask for identity encoding, sent %q", r.Header.Get("Accept-Encoding"))
		}
		w.Header().Set("ETag", sampleETag)
		w.Header().Set("OC-Checksum", "SHA1:abc")
		if ignoreRange {
			r.Header.Del("Range")
		}
		http.ServeContent(w, r, "a.txt", time.Unix(1500000000, 0), strings.NewReader(sampleContent))
	}
}

func readAll(t *testing.T, g *GetResponse) string {
	t.Helper()
	defer g.Body.Close()
	b, err := io.ReadAll(g.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestGetRanges(t *testing.T) {
	for _, ignore := range []bool{false, true} {
		t.Run(fmt.Sprintf("ignoreRange=%v", ignore), func(t *testing.T) {
			var seen http.Header
			env := newEnv(t, fileHandler(t, ignore, &seen))
			ctx := context.Background()
			cases := []struct {
				off, n       int64
				wantRange    string
				wantBody     string
				wantOff, len int64
			}{
				{0, 0, "", sampleContent, 0, int64(len(sampleContent))},
				{6, 5, "bytes=6-10", "world", 6, 5},
				{30, 0, "bytes=30-", "file\n", 30, 5},
				{30, 100, "bytes=30-129", "file\n", 30, 5},
			}
			for _, tc := range cases {
				g, err := env.c.Get(ctx, "a.txt", GetOptions{Offset: tc.off, Length: tc.n})
				if err != nil {
					t.Fatalf("%+v: %v", tc, err)
				}
				if got := seen.Get("Range"); got != tc.wantRange {
					t.Errorf("Range = %q, want %q", got, tc.wantRange)
				}
				body := readAll(t, g)
				if body != tc.wantBody || g.Offset != tc.wantOff || g.ETag != sampleETag || g.Checksum != "SHA1:abc" {
					t.Errorf("%+v: body %q offset %d etag %s", tc, body, g.Offset, g.ETag)
				}
				if g.TotalSize != int64(len(sampleContent)) {
					t.Errorf("%+v: total %d", tc, g.TotalSize)
				}
				if g.Length != int64(len(body)) {
					t.Errorf("%+v: Length %d for %d bytes", tc, g.Length, len(body))
				}
				if g.Partial == ignore && tc.wantRange != "" {
					t.Errorf("%+v: Partial = %v", tc, g.Partial)
				}
			}
			_, err := env.c.Get(ctx, "a.txt", GetOptions{Offset: 1000})
			if !errors.Is(err, ErrBadRequest) {
				t.Errorf("range past EOF: err = %v", err)
			}
		})
	}
}

func TestGetChecks(t *testing.T) {
	env := newEnv(t, fileHandler(t, false, nil))
	ctx := context.Background()
	_, err := env.c.Get(ctx, "sub", GetOptions{})
	if !errors.Is(err, ErrBadResponse) || !strings.Contains(err.Error(), "folder") {
		t.Errorf("GET on a folder: err = %v", err)
	}
	_, err = env.c.Get(ctx, "a.txt", GetOptions{IfMatch: `"other"`})
	if !errors.Is(err, ErrPrecondition) {
		t.Errorf("server ignoring If-Match: err = %v", err)
	}
	g, err := env.c.Get(ctx, "a.txt", GetOptions{IfMatch: sampleETag})
	if err != nil || readAll(t, g) != sampleContent {
		t.Errorf("matching If-Match: %v", err)
	}
	_, err = env.c.Get(ctx, "a.txt", GetOptions{Offset: -1})
	if err == nil {
		t.Error("negative offset accepted")
	}
}

func TestGetWrongContentRange(t *testing.T) {
	env := newEnv(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Range", "bytes 0-4/35")
		w.WriteHeader(http.StatusPartialContent)
		io.WriteString(w, "hello")
	})
	_, err := env.c.Get(context.Background(), "a.txt", GetOptions{Offset: 6, Length: 5})
	if !errors.Is(err, ErrBadResponse) {
		t.Errorf("err = %v", err)
	}
	for _, v := range []string{"bytes 6-10/35", "bytes 6-10/*"} {
		s, e, total, ok := parseContentRange(v)
		if !ok || s != 6 || e != 10 || (total != 35 && total != -1) {
			t.Errorf("%q: %d %d %d %v", v, s, e, total, ok)
		}
	}
	for _, v := range []string{"", "bytes 10-6/35", "bytes 6-10/8", "items 1-2/3", "bytes x-1/2", "bytes 1-2"} {
		if _, _, _, ok := parseContentRange(v); ok {
			t.Errorf("%q accepted", v)
		}
	}
}

func TestGetBodyCutIsTransient(t *testing.T) {
	env := newEnv(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", sampleETag)
		w.Header().Set("Content-Length", "1000")
		io.WriteString(w, strings.Repeat("x", 100))
		// The handler returns with 900 bytes missing: the server closes the connection.
	})
	g, err := env.c.Get(context.Background(), "a.txt", GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Body.Close()
	_, err = io.ReadAll(g.Body)
	if !errors.Is(err, ErrTransient) {
		t.Errorf("err = %v, want ErrTransient", err)
	}
}

func TestPutHeadersAndResult(t *testing.T) {
	var seen http.Header
	var body []byte
	var length int64
	env := newEnv(t, func(w http.ResponseWriter, r *http.Request) {
		seen, body, length = r.Header.Clone(), drain(r), r.ContentLength
		w.Header().Set("OC-FileId", "00002459oc1vt40eheh6")
		w.Header().Set("OC-ETag", `"fb08246be398bd1df386eeb7fbfcfa80"`)
		w.Header().Set("X-Hash-SHA1", "91918BF2FBFC2745097832E8020D41941B9E546B")
		w.Header().Set("X-OC-MTime", "accepted")
		w.WriteHeader(http.StatusCreated)
	})
	res, err := env.c.Put(context.Background(), "wire/put.txt", strings.NewReader("version 1\n"), 10, PutOptions{
		IfNoneMatchAny: true, ModTime: time.Unix(1500000000, 0), Checksum: "SHA1:91918bf2", RequestHash: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"Content-Type": "application/octet-stream", "X-Oc-Mtime": "1500000000", "Oc-Checksum": "SHA1:91918bf2",
		"X-Hash": "sha1", "If-None-Match": "*", "If-Match": "",
	}
	for k, v := range want {
		if seen.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, seen.Get(k), v)
		}
	}
	if string(body) != "version 1\n" || length != 10 {
		t.Errorf("body %q length %d", body, length)
	}
	if res.FileID != 2459 || res.ETag != `"fb08246be398bd1df386eeb7fbfcfa80"` || !res.Created || !res.MtimeAccepted ||
		res.HashSHA1 != "91918bf2fbfc2745097832e8020d41941b9e546b" {
		t.Errorf("result = %+v", res)
	}
	if err := res.VerifySHA1("91918bf2fbfc2745097832e8020d41941b9e546b"); err != nil {
		t.Error(err)
	}
	if err := res.VerifySHA1("0000"); !errors.Is(err, ErrBadResponse) {
		t.Errorf("mismatch: %v", err)
	}
	if err := (PutResult{}).VerifySHA1("0000"); err != nil {
		t.Errorf("no server hash: %v", err)
	}

	res, err = env.c.Put(context.Background(), "wire/empty", nil, 0, PutOptions{IfMatch: `"e"`})
	if err != nil || seen.Get("If-Match") != `"e"` || length != 0 || len(body) != 0 {
		t.Errorf("empty put: %v %q %d", err, seen.Get("If-Match"), length)
	}
	if _, err := env.c.Put(context.Background(), "", bytes.NewReader(nil), 0, PutOptions{}); err == nil {
		t.Error("put onto the root accepted")
	}
}

func TestPutShortBodyFails(t *testing.T) {
	env := newEnv(t, func(w http.ResponseWriter, r *http.Request) {
		drain(r)
		w.WriteHeader(http.StatusCreated)
	})
	_, err := env.c.Put(context.Background(), "x", strings.NewReader("abc"), 10, PutOptions{})
	if err == nil {
		t.Error("a body shorter than size was accepted")
	}
}

func TestMoveCopyDeleteHeaders(t *testing.T) {
	var seen []*http.Request
	env := newEnv(t, func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Clone(context.Background()))
		w.Header().Set("OC-FileId", "00002470oc1vt40eheh6")
		w.WriteHeader(http.StatusCreated)
	})
	ctx := context.Background()
	if err := env.c.Move(ctx, "a b/x#1.txt", "dir/ü?.txt", false, `"e1"`); err != nil {
		t.Fatal(err)
	}
	id, err := env.c.Copy(ctx, "a", "b%c", true)
	if err != nil || id != 2470 {
		t.Fatal(id, err)
	}
	if err := env.c.Delete(ctx, "gone", `"e2"`); err != nil {
		t.Fatal(err)
	}
	base := env.srv.URL + "/remote.php/dav/files/admin/"
	mv, cp, del := seen[0], seen[1], seen[2]
	if mv.Method != "MOVE" || mv.URL.Path != "/remote.php/dav/files/admin/a b/x#1.txt" ||
		mv.Header.Get("Destination") != base+"dir/%C3%BC%3F.txt" || mv.Header.Get("Overwrite") != "F" ||
		mv.Header.Get("If-Match") != `"e1"` {
		t.Errorf("move: %s %s %v", mv.Method, mv.URL.Path, mv.Header)
	}
	if cp.Method != "COPY" || cp.Header.Get("Destination") != base+"b%25c" || cp.Header.Get("Overwrite") != "T" {
		t.Errorf("copy: %v", cp.Header)
	}
	if del.Method != "DELETE" || del.Header.Get("If-Match") != `"e2"` {
		t.Errorf("delete: %v", del.Header)
	}
	if err := env.c.Delete(ctx, "", ""); err == nil {
		t.Error("DELETE of the root accepted")
	}
}

func TestSameVersion(t *testing.T) {
	for _, c := range []struct {
		a, b string
		same bool
	}{
		{`"5-61a"`, `"5-61a"`, true},
		{`W/"5-61a"`, `"5-61a"`, true},
		{`"5-61a"`, `W/"5-61a"`, true},
		{`W/"5-61a"`, `W/"5-61a"`, true},
		{`W/"5-61a"`, `"5-61b"`, false},
		{`"5-61a"`, `"5-61b"`, false},
		{``, ``, false},
		{`W/""`, ``, false},
	} {
		if got := SameVersion(c.a, c.b); got != c.same {
			t.Errorf("SameVersion(%s, %s) = %v, want %v", c.a, c.b, got, c.same)
		}
	}
}

// Apache answers a weak ETag for a file written within the current second; sent back in
// If-Match it never matches (412). Get sends none and compares the answer's ETag.
func TestGetNeverSendsAWeakIfMatch(t *testing.T) {
	var ifMatch []string
	answer := `"abc"`
	env := newEnv(t, func(w http.ResponseWriter, r *http.Request) {
		ifMatch = append(ifMatch, r.Header.Get("If-Match"))
		w.Header().Set("ETag", answer)
		io.WriteString(w, "data")
	})
	ctx := context.Background()
	g, err := env.c.Get(ctx, "a.txt", GetOptions{IfMatch: `W/"abc"`})
	if err != nil || readAll(t, g) != "data" {
		t.Fatalf("weak ETag of the same version: %v", err)
	}
	answer = `"other"`
	if _, err := env.c.Get(ctx, "a.txt", GetOptions{IfMatch: `W/"abc"`}); !errors.Is(err, ErrPrecondition) {
		t.Errorf("another version answered: err = %v, want ErrPrecondition", err)
	}
	for _, h := range ifMatch {
		if h != "" {
			t.Errorf("If-Match %q sent for a weak ETag", h)
		}
	}
}
