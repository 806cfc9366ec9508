package davtest

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestGetAndRanges(t *testing.T) {
	s := newTestServer(t, Options{})
	wireTree(t, s)
	info, _ := s.Stat("wire/a.txt")
	if err := s.SetChecksum("wire/a.txt", "SHA1:abc"); err != nil {
		t.Fatal(err)
	}

	resp, body := call(t, s, http.MethodGet, "wire/a.txt", "")
	wantStatus(t, resp, body, http.StatusOK)
	if body != sampleText {
		t.Errorf("body %q", body)
	}
	h := resp.Header
	if h.Get("ETag") != info.ETag || h.Get("OC-ETag") != info.ETag {
		t.Errorf("ETag %q OC-ETag %q, want %q", h.Get("ETag"), h.Get("OC-ETag"), info.ETag)
	}
	if h.Get("OC-FileId") != fmt.Sprintf("%08doc1vt40eheh6", info.FileID) {
		t.Errorf("OC-FileId %q", h.Get("OC-FileId"))
	}
	if h.Get("Last-Modified") != "Sun, 22 Nov 2026 00:57:43 GMT" || h.Get("Content-Length") != "35" {
		t.Errorf("Last-Modified %q Content-Length %q", h.Get("Last-Modified"), h.Get("Content-Length"))
	}
	if h.Get("OC-Checksum") != "SHA1:abc" {
		t.Errorf("OC-Checksum %q", h.Get("OC-Checksum"))
	}

	cases := []struct {
		rng, body, contentRange string
		status                  int
	}{
		{"bytes=6-10", "world", "bytes 6-10/35", 206},
		{"bytes=-5", "file\n", "bytes 30-34/35", 206},
		{"bytes=30-", "file\n", "bytes 30-34/35", 206},
		{"bytes=30-1000", "file\n", "bytes 30-34/35", 206},
		{"bytes=0-1,4-5", sampleText, "", 200},
		{"bytes=1000-", "", "", 416},
	}
	for _, c := range cases {
		resp, body := call(t, s, http.MethodGet, "wire/a.txt", "", "Range", c.rng)
		if resp.StatusCode != c.status {
			t.Errorf("Range %s: status %d, want %d", c.rng, resp.StatusCode, c.status)
			continue
		}
		if c.status == 416 {
			if !strings.Contains(body, "The start offset (1000) exceeded the size of the entity (35)") {
				t.Errorf("416 body %s", body)
			}
			continue
		}
		if body != c.body || resp.Header.Get("Content-Range") != c.contentRange {
			t.Errorf("Range %s: body %q Content-Range %q", c.rng, body, resp.Header.Get("Content-Range"))
		}
	}

	resp, body = call(t, s, http.MethodHead, "wire/a.txt", "")
	wantStatus(t, resp, body, http.StatusOK)
	if body != "" || resp.ContentLength != 35 || resp.Header.Get("ETag") != info.ETag {
		t.Errorf("HEAD: body %q length %d etag %q", body, resp.ContentLength, resp.Header.Get("ETag"))
	}

	resp, body = call(t, s, http.MethodGet, "wire/a.txt", "", "If-None-Match", info.ETag)
	wantStatus(t, resp, body, http.StatusNotModified)
	resp, body = call(t, s, http.MethodGet, "wire/a.txt", "", "If-Match", `"stale"`)
	wantStatus(t, resp, body, http.StatusPreconditionFailed)
	resp, body = call(t, s, http.MethodGet, "wire/a.txt", "", "If-Match", info.ETag)
	wantStatus(t, resp, body, http.StatusOK)

	resp, body = call(t, s, http.MethodGet, "wire/sub/", "")
	wantStatus(t, resp, body, http.StatusOK)
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, "WebDAV interface") {
		t.Errorf("GET on a folder: %q %q", resp.Header.Get("Content-Type"), body)
	}
	resp, body = call(t, s, http.MethodGet, "wire/missing.txt", "")
	wantStatus(t, resp, body, http.StatusNotFound)
}

func TestSyntheticContent(t *testing.T) {
	s := newTestServer(t, Options{})
	const size = 3<<20 + 5
	if _, err := s.WriteSynthetic("big/syn.bin", size, 42, time.Time{}); err != nil {
		t.Fatal(err)
	}
	resp, body := call(t, s, http.MethodGet, "big/syn.bin", "", "Range", "bytes=1000001-1001000")
	wantStatus(t, resp, body, http.StatusPartialContent)
	if want := SyntheticBytes(42, 1000001, 1000); body != string(want) {
		t.Error("range of a synthetic file differs from SyntheticBytes")
	}
	resp, body = call(t, s, http.MethodGet, "big/syn.bin", "")
	wantStatus(t, resp, body, http.StatusOK)
	if len(body) != size || body != string(SyntheticBytes(42, 0, size)) {
		t.Errorf("full synthetic GET: %d bytes or content differs", len(body))
	}
	if bytes.Equal(SyntheticBytes(42, 0, 64), SyntheticBytes(43, 0, 64)) {
		t.Error("different seeds must give different bytes")
	}
	// Unaligned reads agree with aligned ones.
	whole := SyntheticBytes(7, 0, 100)
	if !bytes.Equal(SyntheticBytes(7, 13, 50), whole[13:63]) {
		t.Error("SyntheticBytes is not consistent across offsets")
	}
	ra := SyntheticReaderAt(7, 100)
	buf := make([]byte, 20)
	if n, err := ra.ReadAt(buf, 90); n != 10 || err != io.EOF || !bytes.Equal(buf[:10], whole[90:]) {
		t.Errorf("SyntheticReaderAt at the end: n=%d err=%v", n, err)
	}
	info, _ := s.Stat("big")
	if info.Size != size {
		t.Errorf("folder size %d, want %d", info.Size, size)
	}
}

func TestPutBasics(t *testing.T) {
	s := newTestServer(t, Options{})
	wireTree(t, s)
	resp, body := call(t, s, http.MethodPut, "wire/put.txt", "version 1\n", "Content-Type", "application/octet-stream")
	wantStatus(t, resp, body, http.StatusCreated)
	etag1, id := resp.Header.Get("ETag"), resp.Header.Get("OC-FileId")
	if !fileETagRe.MatchString(etag1) || resp.Header.Get("OC-ETag") != etag1 || !strings.HasSuffix(id, "oc1vt40eheh6") {
		t.Fatalf("PUT headers: ETag %q OC-ETag %q OC-FileId %q", etag1, resp.Header.Get("OC-ETag"), id)
	}

	resp, body = call(t, s, http.MethodPut, "wire/put.txt", "version 2\n", "If-Match", etag1)
	wantStatus(t, resp, body, http.StatusNoContent)
	etag2 := resp.Header.Get("ETag")
	if etag2 == etag1 || resp.Header.Get("OC-FileId") != id {
		t.Errorf("overwrite: etag %q (was %q), id %q (was %q)", etag2, etag1, resp.Header.Get("OC-FileId"), id)
	}

	resp, body = call(t, s, http.MethodPut, "wire/put.txt", "version 3\n", "If-Match", etag1)
	wantStatus(t, resp, body, http.StatusPreconditionFailed)
	if resp.Header.Get("ETag") != etag2 || !strings.Contains(body, "<s:header>If-Match</s:header>") {
		t.Errorf("stale If-Match: ETag %q body %s", resp.Header.Get("ETag"), body)
	}
	resp, body = call(t, s, http.MethodPut, "wire/put.txt", "x", "If-Match", "W/"+etag2)
	wantStatus(t, resp, body, http.StatusPreconditionFailed)

	resp, body = call(t, s, http.MethodPut, "wire/put.txt", "x", "If-None-Match", "*")
	wantStatus(t, resp, body, http.StatusPreconditionFailed)
	if !strings.Contains(body, "If-None-Match") {
		t.Errorf("If-None-Match body %s", body)
	}
	resp, body = call(t, s, http.MethodPut, "wire/put-new.txt", "new", "If-None-Match", "*")
	wantStatus(t, resp, body, http.StatusCreated)
	resp, body = call(t, s, http.MethodPut, "wire/never.txt", "new", "If-Match", etag2)
	wantStatus(t, resp, body, http.StatusPreconditionFailed)

	if got, _ := s.ReadFile("wire/put.txt"); string(got) != "version 2\n" {
		t.Errorf("content after refused PUTs %q", got)
	}
}

func TestPutHeaders(t *testing.T) {
	s := newTestServer(t, Options{})
	wireTree(t, s)
	resp, body := call(t, s, http.MethodPut, "wire/mtime.txt", "version 1\n", "X-OC-Mtime", "1500000000")
	wantStatus(t, resp, body, http.StatusCreated)
	if resp.Header.Get("X-OC-MTime") != "accepted" {
		t.Errorf("X-OC-MTime %q", resp.Header.Get("X-OC-MTime"))
	}
	if info, _ := s.Stat("wire/mtime.txt"); !info.ModTime.Equal(time.Unix(1500000000, 0)) {
		t.Errorf("mtime %v", info.ModTime)
	}

	resp, body = call(t, s, http.MethodPut, "wire/mtime-bad.txt", "version 1\n", "X-OC-Mtime", "abc")
	wantStatus(t, resp, body, http.StatusInternalServerError)
	if !strings.Contains(body, "InvalidArgumentException") {
		t.Errorf("bad mtime body %s", body)
	}
	if _, err := s.Stat("wire/mtime-bad.txt"); err != nil {
		t.Errorf("the real server stores the file before failing on the mtime: %v", err)
	}

	resp, body = call(t, s, http.MethodPut, "wire/ck.txt", "version 1\n", "OC-Checksum", "SHA1:0000")
	wantStatus(t, resp, body, http.StatusCreated)
	if info, _ := s.Stat("wire/ck.txt"); info.Checksum != "SHA1:0000" {
		t.Errorf("checksum stored %q", info.Checksum)
	}
	resp, body = call(t, s, http.MethodPut, "wire/ck.txt", "version 2\n")
	wantStatus(t, resp, body, http.StatusNoContent)
	if info, _ := s.Stat("wire/ck.txt"); info.Checksum != "" {
		t.Errorf("a PUT without OC-Checksum must clear it, got %q", info.Checksum)
	}

	data := "version 1\n"
	sha := sha1.Sum([]byte(data))
	resp, body = call(t, s, http.MethodPut, "wire/xhash.txt", data, "X-Hash", "sha1")
	wantStatus(t, resp, body, http.StatusCreated)
	if resp.Header.Get("X-Hash-SHA1") != hex.EncodeToString(sha[:]) || resp.Header.Get("X-Hash-MD5") != "" {
		t.Errorf("X-Hash sha1: %v", resp.Header)
	}
	sum := sha256.Sum256([]byte(data))
	resp, body = call(t, s, http.MethodPut, "wire/xhash.txt", data, "X-Hash", "all")
	wantStatus(t, resp, body, http.StatusNoContent)
	if resp.Header.Get("X-Hash-SHA256") != hex.EncodeToString(sum[:]) || resp.Header.Get("X-Hash-MD5") == "" {
		t.Errorf("X-Hash all: %v", resp.Header)
	}
}

func TestPutRefusals(t *testing.T) {
	s := newTestServer(t, Options{QuotaBytes: 100})
	wireTree(t, s)
	cases := []struct {
		path   string
		status int
		needle string
	}{
		{"wire/nodir/x.txt", 404, "File with name /wire/nodir could not be located"},
		{"wire/sub", 409, "PUT is not allowed on non-files."},
		{"wire/a%5Cb.txt", 400, "invalid character"},
		{"wire/.htaccess", 403, `Sabre\DAV\Exception\Forbidden`},
	}
	for _, c := range cases {
		resp, body := call(t, s, http.MethodPut, c.path, "0123456789")
		if resp.StatusCode != c.status || !strings.Contains(body, c.needle) {
			t.Errorf("PUT %s: %d %s, want %d with %q", c.path, resp.StatusCode, body, c.status, c.needle)
		}
	}
	resp, body := call(t, s, http.MethodPut, "wire/huge.bin", strings.Repeat("x", 70))
	wantStatus(t, resp, body, http.StatusInsufficientStorage)
	resp, body = call(t, s, http.MethodPut, "wire/fits.bin", strings.Repeat("x", 65))
	wantStatus(t, resp, body, http.StatusCreated)

	if err := s.SetPermissions("wire/a.txt", "RGD"); err != nil {
		t.Fatal(err)
	}
	resp, body = call(t, s, http.MethodPut, "wire/a.txt", "x")
	wantStatus(t, resp, body, http.StatusForbidden)
	if err := s.SetPermissions("wire/sub", "RGDNVK"); err != nil {
		t.Fatal(err)
	}
	resp, body = call(t, s, http.MethodPut, "wire/sub/new.txt", "x")
	wantStatus(t, resp, body, http.StatusForbidden)
}

func TestPutCutShortStoresNothing(t *testing.T) {
	logs := newLogCapture()
	s := newTestServer(t, Options{Logger: slog.New(logs)})
	wireTree(t, s)
	seen := logs.expect("body incomplete")
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.URL(), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(conn)
	fmt.Fprintf(w, "PUT /remote.php/dav/files/admin/wire/cut.bin HTTP/1.1\r\nHost: x\r\n")
	fmt.Fprintf(w, "Authorization: Basic YWRtaW46c2VjcmV0\r\nContent-Length: 100\r\n\r\n0123456789")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	conn.(*net.TCPConn).CloseWrite()
	waitFor(t, seen, "the server to notice the short body")
	conn.Close()
	if _, err := s.Stat("wire/cut.bin"); err == nil {
		t.Error("a PUT whose body was cut short left a file")
	}
}

func TestOptionsLockReport(t *testing.T) {
	s := newTestServer(t, Options{})
	resp, body := call(t, s, http.MethodOptions, "", "")
	wantStatus(t, resp, body, http.StatusOK)
	if !strings.HasPrefix(resp.Header.Get("DAV"), "1, 3, extended-mkcol") || !strings.Contains(resp.Header.Get("Allow"), "PROPFIND") {
		t.Errorf("OPTIONS headers %v", resp.Header)
	}
	if strings.Contains(resp.Header.Get("DAV"), "2") {
		t.Error("DAV class 2 must not be announced")
	}
	resp, body = call(t, s, "LOCK", "", "<d:lockinfo xmlns:d='DAV:'/>")
	wantStatus(t, resp, body, http.StatusNotImplemented)
	resp, body = call(t, s, "REPORT", "", "<x/>")
	wantStatus(t, resp, body, http.StatusNotImplemented)
}

func TestProppatch(t *testing.T) {
	s := newTestServer(t, Options{})
	wireTree(t, s)
	before, _ := s.Stat("")
	fav := `<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:set><d:prop><oc:favorite>1</oc:favorite></d:prop></d:set></d:propertyupdate>`
	resp, body := call(t, s, "PROPPATCH", "wire/a.txt", fav)
	wantStatus(t, resp, body, http.StatusMultiStatus)
	if p := parseMultistatus(t, body).get(t, "/remote.php/dav/files/admin/wire/a.txt", "oc:favorite"); p.status != 200 {
		t.Errorf("favorite propstat %+v", p)
	}
	if after, _ := s.Stat(""); after.ETag != before.ETag {
		t.Error("PROPPATCH oc:favorite changed the root ETag")
	}

	lm := `<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><d:lastmodified>1400000000</d:lastmodified></d:prop></d:set></d:propertyupdate>`
	resp, body = call(t, s, "PROPPATCH", "wire/sub", lm)
	wantStatus(t, resp, body, http.StatusMultiStatus)
	ms := parseMultistatus(t, body)
	if len(ms.hrefs) != 1 || ms.hrefs[0] != "/remote.php/dav/files/admin/wire/sub" {
		t.Errorf("PROPPATCH href %v (a collection has no trailing slash here)", ms.hrefs)
	}
	if info, _ := s.Stat("wire/sub"); !info.ModTime.Equal(time.Unix(1400000000, 0)) {
		t.Errorf("mtime after PROPPATCH %v", info.ModTime)
	}
	resp, body = call(t, s, "PROPPATCH", "wire/nope", lm)
	wantStatus(t, resp, body, http.StatusNotFound)
}
