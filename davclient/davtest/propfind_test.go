package davtest

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const sampleText = "hello world, this is a sample file\n"

const propsBody = `<?xml version="1.0" ?>
<d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns">
 <d:prop>
  <d:getetag/>
  <d:getlastmodified/>
  <d:getcontentlength/>
  <d:resourcetype/>
  <oc:id/>
  <oc:fileid/>
  <oc:permissions/>
  <oc:size/>
 </d:prop>
</d:propfind>`

var (
	folderETag = regexp.MustCompile(`^"[0-9a-f]{13}"$`)
	fileETagRe = regexp.MustCompile(`^"[0-9a-f]{32}"$`)
)

// wireTree builds the samples' "wire" folder: wire/a.txt (35 bytes) and wire/sub/.
func wireTree(t *testing.T, s *Server) {
	t.Helper()
	if _, err := s.WriteFile("wire/a.txt", []byte(sampleText), time.Unix(1795309063, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Mkdir("wire/sub"); err != nil {
		t.Fatal(err)
	}
}

func TestPropfindDepth1NamedProps(t *testing.T) {
	s := newTestServer(t, Options{})
	wireTree(t, s)
	resp, body := call(t, s, "PROPFIND", "wire/", propsBody, "Depth", "1")
	wantStatus(t, resp, body, http.StatusMultiStatus)
	if ct := resp.Header.Get("Content-Type"); ct != "application/xml; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if !strings.HasPrefix(resp.Header.Get("DAV"), "1, 3, extended-mkcol") {
		t.Errorf("DAV header %q", resp.Header.Get("DAV"))
	}
	if !strings.Contains(body, "<d:getetag>&quot;") {
		t.Errorf("ETags must be quoted as &quot; in the XML: %s", body)
	}
	ms := parseMultistatus(t, body)
	base := "/remote.php/dav/files/admin/"
	wantHrefs := []string{base + "wire/", base + "wire/a.txt", base + "wire/sub/"}
	if fmt.Sprint(ms.hrefs) != fmt.Sprint(wantHrefs) {
		t.Fatalf("hrefs %v, want %v", ms.hrefs, wantHrefs)
	}
	wire, a, sub := wantHrefs[0], wantHrefs[1], wantHrefs[2]

	if p := ms.get(t, wire, "d:getcontentlength"); p.status != 404 {
		t.Errorf("folder getcontentlength should be in a 404 propstat, got %+v", p)
	}
	if p := ms.get(t, wire, "oc:size"); p.status != 200 || p.text != "35" {
		t.Errorf("wire oc:size %+v, want 35", p)
	}
	if p := ms.get(t, a, "d:getcontentlength"); p.text != "35" {
		t.Errorf("a.txt getcontentlength %+v", p)
	}
	if p := ms.get(t, a, "d:getlastmodified"); p.text != "Sun, 22 Nov 2026 00:57:43 GMT" {
		t.Errorf("a.txt getlastmodified %q", p.text)
	}
	if p := ms.get(t, wire, "d:getetag"); !folderETag.MatchString(p.text) {
		t.Errorf("folder ETag %q is not 13 quoted hex digits", p.text)
	}
	if p := ms.get(t, a, "d:getetag"); !fileETagRe.MatchString(p.text) {
		t.Errorf("file ETag %q is not 32 quoted hex digits", p.text)
	}
	if p := ms.get(t, sub, "d:resourcetype"); !strings.Contains(p.inner, "collection") {
		t.Errorf("sub resourcetype %q", p.inner)
	}
	if p := ms.get(t, a, "d:resourcetype"); strings.Contains(p.inner, "collection") {
		t.Errorf("a.txt resourcetype %q", p.inner)
	}
	if p := ms.get(t, wire, "oc:permissions"); p.text != "RGDNVCK" {
		t.Errorf("folder permissions %q", p.text)
	}
	if p := ms.get(t, a, "oc:permissions"); p.text != "RGDNVW" {
		t.Errorf("file permissions %q", p.text)
	}
	info, err := s.Stat("wire/a.txt")
	if err != nil {
		t.Fatal(err)
	}
	if p := ms.get(t, a, "oc:fileid"); p.text != strconv.FormatUint(info.FileID, 10) {
		t.Errorf("oc:fileid %q, want %d", p.text, info.FileID)
	}
	if p := ms.get(t, a, "oc:id"); p.text != fmt.Sprintf("%08doc1vt40eheh6", info.FileID) {
		t.Errorf("oc:id %q", p.text)
	}
	if p := ms.get(t, a, "d:getetag"); p.text != info.ETag {
		t.Errorf("getetag %q, Stat ETag %q", p.text, info.ETag)
	}
}

func TestPropfindAllprop(t *testing.T) {
	s := newTestServer(t, Options{})
	wireTree(t, s)
	resp, body := call(t, s, "PROPFIND", "wire/", "", "Depth", "1")
	wantStatus(t, resp, body, http.StatusMultiStatus)
	if strings.Contains(body, "<oc:") || strings.Contains(body, "404 Not Found") {
		t.Errorf("allprop must hold DAV: props only and no 404 propstat: %s", body)
	}
	ms := parseMultistatus(t, body)
	wire, a := "/remote.php/dav/files/admin/wire/", "/remote.php/dav/files/admin/wire/a.txt"
	if p := ms.get(t, wire, "d:quota-available-bytes"); p.text != "-3" {
		t.Errorf("unlimited quota-available-bytes %q, want -3", p.text)
	}
	if p := ms.get(t, wire, "d:quota-used-bytes"); p.text != "35" {
		t.Errorf("quota-used-bytes %q", p.text)
	}
	if p := ms.get(t, a, "d:getcontenttype"); p.text != "text/plain" {
		t.Errorf("getcontenttype %q", p.text)
	}
	if _, ok := ms.props[wire]["d:getcontentlength"]; ok {
		t.Error("allprop gave a folder a getcontentlength")
	}
}

func TestPropfindOtherProps(t *testing.T) {
	s := newTestServer(t, Options{QuotaBytes: 1000})
	wireTree(t, s)
	s.SetDataFingerprint("fp-1")
	resp, body := call(t, s, http.MethodPut, "wire/ck.txt", "0123456789", "OC-Checksum", "SHA1:0000000000000000000000000000000000000000")
	wantStatus(t, resp, body, http.StatusCreated)
	propfind := `<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns" xmlns:x="urn:example"><d:prop>
	<d:getcontenttype/><d:quota-available-bytes/><oc:checksums/><oc:favorite/><oc:owner-id/><oc:owner-display-name/>
	<nc:has-preview/><nc:is-encrypted/><oc:data-fingerprint/><x:custom/><plain/></d:prop></d:propfind>`
	resp, body = call(t, s, "PROPFIND", "wire/", propfind, "Depth", "1")
	wantStatus(t, resp, body, http.StatusMultiStatus)
	ms := parseMultistatus(t, body)
	wire := "/remote.php/dav/files/admin/wire/"
	a, ck := wire+"a.txt", wire+"ck.txt"
	if p := ms.get(t, a, "oc:checksums"); p.status != 404 {
		t.Errorf("a.txt has no checksum, want 404: %+v", p)
	}
	if p := ms.get(t, ck, "oc:checksums"); p.status != 200 || !strings.Contains(p.inner, "<oc:checksum>SHA1:0000000000000000000000000000000000000000</oc:checksum>") {
		t.Errorf("ck.txt checksums %+v", p)
	}
	if p := ms.get(t, wire, "d:quota-available-bytes"); p.text != strconv.Itoa(1000-45) {
		t.Errorf("quota-available-bytes %q, want %d", p.text, 1000-45)
	}
	if p := ms.get(t, a, "d:quota-available-bytes"); p.status != 404 {
		t.Errorf("files have no quota: %+v", p)
	}
	if p := ms.get(t, wire, "d:getcontenttype"); p.status != 404 {
		t.Errorf("folders have no getcontenttype: %+v", p)
	}
	if p := ms.get(t, wire, "nc:is-encrypted"); p.status != 200 || p.text != "0" {
		t.Errorf("folder is-encrypted %+v", p)
	}
	if p := ms.get(t, a, "nc:is-encrypted"); p.status != 404 {
		t.Errorf("file is-encrypted %+v", p)
	}
	if p := ms.get(t, a, "oc:owner-id"); p.text != "admin" {
		t.Errorf("owner-id %+v", p)
	}
	if p := ms.get(t, wire, "oc:data-fingerprint"); p.text != "fp-1" {
		t.Errorf("data-fingerprint %+v", p)
	}
	if p := ms.get(t, a, "urn:example custom"); p.status != 404 {
		t.Errorf("unknown property must be 404: %+v", p)
	}
	if p := ms.get(t, a, " plain"); p.status != 404 {
		t.Errorf("property without namespace must be 404: %+v", p)
	}
}

func TestPropfindDepths(t *testing.T) {
	s := newTestServer(t, Options{})
	wireTree(t, s)
	if _, err := s.WriteFile("wire/sub/deep/x.bin", []byte("x"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	count := func(depth string) int {
		hdr := []string{"Depth", depth}
		if depth == "" {
			hdr = nil
		}
		resp, body := call(t, s, "PROPFIND", "wire", propsBody, hdr...)
		wantStatus(t, resp, body, http.StatusMultiStatus)
		return len(parseMultistatus(t, body).hrefs)
	}
	s.ResetCounts()
	if n := count("0"); n != 1 {
		t.Errorf("Depth 0: %d responses", n)
	}
	if n := count("1"); n != 3 {
		t.Errorf("Depth 1: %d responses", n)
	}
	// wire, a.txt, sub, sub/deep, sub/deep/x.bin
	if n := count("infinity"); n != 5 {
		t.Errorf("Depth infinity: %d responses", n)
	}
	if n := count(""); n != 5 {
		t.Errorf("no Depth header (infinity): %d responses", n)
	}
	c := s.Counts()
	if c.Requests["PROPFIND"] != 4 || c.Requests["PROPFIND/0"] != 1 || c.Requests["PROPFIND/1"] != 1 || c.Requests["PROPFIND/infinity"] != 2 {
		t.Errorf("counts %v", c.Requests)
	}
	if c.ResponseBytes["PROPFIND"] <= 0 || c.RequestBytes["PROPFIND"] != int64(4*len(propsBody)) {
		t.Errorf("byte counts resp %v req %v", c.ResponseBytes, c.RequestBytes)
	}

	limited := newTestServer(t, Options{DisableDepthInfinity: true})
	wireTree(t, limited)
	if _, err := limited.WriteFile("wire/sub/y", nil, time.Time{}); err != nil {
		t.Fatal(err)
	}
	resp, body := call(t, limited, "PROPFIND", "wire/", "", "Depth", "infinity")
	wantStatus(t, resp, body, http.StatusMultiStatus)
	if n := len(parseMultistatus(t, body).hrefs); n != 3 {
		t.Errorf("disabled infinity should act as Depth 1: %d responses", n)
	}
}

func TestPropfindErrors(t *testing.T) {
	s := newTestServer(t, Options{})
	wireTree(t, s)
	resp, body := call(t, s, "PROPFIND", "wire/missing", "", "Depth", "0")
	wantStatus(t, resp, body, http.StatusNotFound)
	if !strings.Contains(body, `Sabre\DAV\Exception\NotFound`) || !strings.Contains(body, "File with name /wire/missing could not be located") {
		t.Errorf("404 body %s", body)
	}
	resp, body = call(t, s, "PROPFIND", "wire/", "<d:propfind xmlns:d='DAV:'><d:prop>", "Depth", "0")
	wantStatus(t, resp, body, http.StatusBadRequest)
	resp, body = call(t, s, "PROPFIND", "wire/../x", "", "Depth", "0")
	if resp.StatusCode < 400 {
		t.Errorf("a path with .. must be refused: %d", resp.StatusCode)
	}
}

func TestHrefEncodingAndNFC(t *testing.T) {
	s := newTestServer(t, Options{})
	if err := s.MkdirAll("wire/names"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteFile("wire/names/a b#c%d ü+&?:*.txt", []byte("x"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	// "u" + combining diaeresis (NFD), percent-encoded as a client would send it.
	resp, body := call(t, s, http.MethodPut, "wire/names/u%CC%88-nfd-input.txt", "nfd")
	wantStatus(t, resp, body, http.StatusCreated)
	resp, body = call(t, s, "PROPFIND", "wire/names/", "", "Depth", "1")
	wantStatus(t, resp, body, http.StatusMultiStatus)
	ms := parseMultistatus(t, body)
	base := "/remote.php/dav/files/admin/wire/names/"
	want := []string{base, base + "a%20b%23c%25d%20%c3%bc%2b%26%3f:%2a.txt", base + "%c3%bc-nfd-input.txt"}
	if fmt.Sprint(ms.hrefs) != fmt.Sprint(want) {
		t.Errorf("hrefs\n got %v\nwant %v", ms.hrefs, want)
	}
	if _, err := s.Stat("wire/names/\u00fc-nfd-input.txt"); err != nil {
		t.Errorf("NFD name not stored as NFC: %v", err)
	}
}

func TestLegacyEndpoint(t *testing.T) {
	s := newTestServer(t, Options{})
	wireTree(t, s)
	resp, body := do(t, req(t, s, "PROPFIND", "/remote.php/webdav/wire/", "", "Depth", "1"))
	wantStatus(t, resp, body, http.StatusMultiStatus)
	ms := parseMultistatus(t, body)
	if len(ms.hrefs) != 3 || ms.hrefs[0] != "/remote.php/webdav/wire/" || ms.hrefs[1] != "/remote.php/webdav/wire/a.txt" {
		t.Errorf("legacy hrefs %v", ms.hrefs)
	}
	resp, body = do(t, req(t, s, http.MethodPut, "/remote.php/webdav/wire/legacy.txt", "L"))
	wantStatus(t, resp, body, http.StatusCreated)
	if got, err := s.ReadFile("wire/legacy.txt"); err != nil || string(got) != "L" {
		t.Errorf("legacy PUT landed in another tree: %q %v", got, err)
	}
}

func TestPropfindGzip(t *testing.T) {
	s := newTestServer(t, Options{Gzip: true})
	wireTree(t, s)
	r := req(t, s, "PROPFIND", "/remote.php/dav/files/admin/wire/", "", "Depth", "1", "Accept-Encoding", "gzip")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(parseMultistatus(t, string(plain)).hrefs); n != 3 {
		t.Errorf("gzip multistatus has %d responses", n)
	}

	plainServer := newTestServer(t, Options{})
	wireTree(t, plainServer)
	r = req(t, plainServer, "PROPFIND", "/remote.php/dav/files/admin/wire/", "", "Depth", "1", "Accept-Encoding", "gzip")
	resp2, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.Header.Get("Content-Encoding") != "" {
		t.Error("gzip must be off unless Options.Gzip")
	}
}

func TestLargeFolderListing(t *testing.T) {
	s := newTestServer(t, Options{})
	const n = 10000
	for i := range n {
		if _, err := s.WriteFile(fmt.Sprintf("big/f%05d.txt", i), nil, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	resp, body := call(t, s, "PROPFIND", "big/", propsBody, "Depth", "1")
	wantStatus(t, resp, body, http.StatusMultiStatus)
	ms := parseMultistatus(t, body)
	if len(ms.hrefs) != n+1 {
		t.Fatalf("%d responses, want %d", len(ms.hrefs), n+1)
	}
	for i := 1; i < len(ms.hrefs); i++ {
		if ms.hrefs[i-1] >= ms.hrefs[i] && i > 1 {
			t.Fatalf("listing not sorted at %d: %s >= %s", i, ms.hrefs[i-1], ms.hrefs[i])
		}
	}
}
