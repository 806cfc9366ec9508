package realservers

import (
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// observed pins what a server does where WebDAV servers differ, as seen with Debian 12's
// packages (Apache 2.4 mod_dav_fs, rclone 1.60). A change here is news for davclient/hydrate.
type observed struct {
	// staleIfMatchPut is the status of a PUT whose If-Match names an ETag the file no longer has.
	staleIfMatchPut int
	// currentIfMatchPut is the status of a PUT whose If-Match names the file's current ETag.
	currentIfMatchPut int
	// folderETags: whether PROPFIND gives folders a getetag.
	folderETags bool
	// weakWhileFresh: whether PROPFIND's getetag of a file modified within the current
	// second (or later) is weak, W/"...".
	weakWhileFresh bool
}

// Apache: strong ETags "<size hex>-<mtime µs hex>" for files and folders alike (a folder's
// comes from its own inode, so it changes only when an entry is added, removed or renamed
// directly inside it, never when a file below it changes: no propagation). If-Match is
// honoured. PROPFIND, GET and HEAD answer a weak W/"..." ETag for a file modified within
// the current second, and the strong form of the same tag later; a weak ETag never
// matches If-Match (protocol.md).
var apacheObserved = observed{staleIfMatchPut: 412, currentIfMatchPut: 204, folderETags: true, weakWhileFresh: true}

// rclone 1.60: file ETags are "<mtime hex><size hex>"; folders have no getetag at all, so
// change discovery must list folders. If-Match is ignored: the stale PUT overwrites (201
// even for an existing file). A client must detect this, not assume conditional PUTs work.
var rcloneObserved = observed{staleIfMatchPut: 201, currentIfMatchPut: 201, folderETags: false}

func TestApache(t *testing.T) {
	t.Parallel()
	checkServer(t, StartApache(t), apacheObserved)
}

func TestRclone(t *testing.T) {
	t.Parallel()
	checkServer(t, StartRclone(t), rcloneObserved)
}

const (
	folder   = "sub dir"
	fileName = "h\u00e9llo w\u00f6rld.txt" // NFC, as Nextcloud answers names
	original = "0123456789abcdef"
)

func checkServer(t *testing.T, srv *Server, want observed) {
	rel := folder + "/" + fileName
	seededAt := time.Date(2024, 3, 5, 6, 7, 8, 0, time.UTC)
	if err := srv.Seed(rel, []byte(original), seededAt); err != nil {
		t.Fatal(err)
	}
	folderURL := srv.URL + url.PathEscape(folder) + "/"
	fileURL := folderURL + url.PathEscape(fileName)

	t.Run("unauthenticated PROPFIND is refused", func(t *testing.T) {
		r := request(t, srv, "PROPFIND", srv.URL, nil, "", false)
		if r.status != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", r.status)
		}
		if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Basic") {
			t.Errorf("WWW-Authenticate %q, want a Basic challenge", got)
		}
	})

	var fileETag string
	t.Run("PROPFIND Depth 1 lists the seeded file", func(t *testing.T) {
		items := propfind(t, srv, folderURL, "1")
		wantPath := mustPath(t, srv.URL) + folder + "/" + fileName
		it, ok := items[wantPath]
		if !ok {
			t.Fatalf("no response for %q; got %v", wantPath, keys(items))
		}
		if !strings.Contains(it.rawHref, "%20") || strings.ContainsAny(it.rawHref, " \u00e9\u00f6") {
			t.Errorf("href %q is not percent-encoded", it.rawHref)
		}
		if it.collection || it.length != "16" {
			t.Errorf("file listed as collection=%v length=%q, want a 16-byte file", it.collection, it.length)
		}
		if mod, err := http.ParseTime(it.lastModified); err != nil || !mod.Equal(seededAt) {
			t.Errorf("getlastmodified %q (%v), want %s", it.lastModified, err, seededAt.Format(http.TimeFormat))
		}
		if it.etag == "" || strings.HasPrefix(it.etag, "W/") {
			t.Errorf("file getetag %q, want a strong ETag", it.etag)
		}
		fileETag = it.etag
	})

	t.Run("GET returns the bytes", func(t *testing.T) {
		r := request(t, srv, http.MethodGet, fileURL, nil, "", true)
		if r.status != http.StatusOK || r.body != original {
			t.Fatalf("GET: %d %q, want 200 %q", r.status, r.body, original)
		}
		// The seeded mtime is long past, so even Apache's GET ETag is strong and equals getetag.
		if got := r.header.Get("ETag"); got != fileETag {
			t.Errorf("GET ETag %q, PROPFIND getetag %q: want the same", got, fileETag)
		}
	})

	t.Run("Range GET returns the slice", func(t *testing.T) {
		r := request(t, srv, http.MethodGet, fileURL, map[string]string{"Range": "bytes=3-7"}, "", true)
		if r.status != http.StatusPartialContent || r.body != original[3:8] {
			t.Fatalf("Range GET: %d %q, want 206 %q", r.status, r.body, original[3:8])
		}
		if got := r.header.Get("Content-Range"); got != "bytes 3-7/16" {
			t.Errorf("Content-Range %q, want %q", got, "bytes 3-7/16")
		}
	})

	t.Run("folder ETags do not propagate", func(t *testing.T) {
		rootBefore := propfindOne(t, srv, srv.URL)
		folderBefore := propfindOne(t, srv, folderURL)
		if got := rootBefore.etag != "" && folderBefore.etag != ""; got != want.folderETags {
			t.Fatalf("folder getetags %q and %q, want present=%v", rootBefore.etag, folderBefore.etag, want.folderETags)
		}
		// Change the file in place behind the server's back, as another writer would.
		if err := srv.Seed(rel, []byte("changed on disk!"), seededAt.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if got := propfindOne(t, srv, fileURL).etag; got == fileETag {
			t.Fatalf("file getetag still %q after the file changed", got)
		}
		if got := propfindOne(t, srv, srv.URL).etag; got != rootBefore.etag {
			t.Errorf("root getetag %q -> %q: this server now propagates changes upwards", rootBefore.etag, got)
		}
		if got := propfindOne(t, srv, folderURL).etag; got != folderBefore.etag {
			t.Errorf("folder getetag %q -> %q after an in-place change of a file inside it", folderBefore.etag, got)
		}
	})

	t.Run("getetag of a file modified just now", func(t *testing.T) {
		// An mtime a little ahead stays "within the current second" however slow the machine.
		if err := srv.Seed("fresh.txt", []byte("fresh"), time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		etag := propfindOne(t, srv, srv.URL+"fresh.txt").etag
		if etag == "" || strings.HasPrefix(etag, "W/") != want.weakWhileFresh {
			t.Errorf("getetag %q of a file modified just now, want weak=%v", etag, want.weakWhileFresh)
		}
	})

	t.Run("PUT with a stale If-Match", func(t *testing.T) {
		if fileETag == "" {
			t.Fatal("no ETag from the listing step")
		}
		r := request(t, srv, http.MethodPut, fileURL, map[string]string{"If-Match": fileETag}, "stale writer", true)
		if r.status != want.staleIfMatchPut {
			t.Fatalf("stale If-Match PUT: %d, pinned %d", r.status, want.staleIfMatchPut)
		}
		wantBody := "changed on disk!"
		if want.staleIfMatchPut < 300 {
			wantBody = "stale writer" // the server ignored If-Match and overwrote
		}
		if got := request(t, srv, http.MethodGet, fileURL, nil, "", true); got.body != wantBody {
			t.Errorf("after the stale PUT the file holds %q, want %q", got.body, wantBody)
		}
	})

	t.Run("PUT with the current If-Match", func(t *testing.T) {
		// Reset the mtime to the past so Apache's GET/HEAD ETag is strong.
		if err := srv.Seed(rel, []byte(original), seededAt); err != nil {
			t.Fatal(err)
		}
		current := request(t, srv, http.MethodHead, fileURL, nil, "", true).header.Get("ETag")
		r := request(t, srv, http.MethodPut, fileURL, map[string]string{"If-Match": current}, "new content", true)
		if r.status != want.currentIfMatchPut {
			t.Fatalf("If-Match %s PUT: %d, pinned %d", current, r.status, want.currentIfMatchPut)
		}
		if got := request(t, srv, http.MethodGet, fileURL, nil, "", true); got.body != "new content" {
			t.Errorf("after the PUT the file holds %q", got.body)
		}
	})
}

type response struct {
	status int
	header http.Header
	body   string
}

var client = &http.Client{Timeout: 15 * time.Second} // a hung server fails the test, never hangs it

func request(t *testing.T, srv *Server, method, target string, headers map[string]string, body string, auth bool) response {
	t.Helper()
	req, err := http.NewRequest(method, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if auth {
		req.SetBasicAuth(srv.User, srv.Password)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, target, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// item is one PROPFIND response entry.
type item struct {
	rawHref      string
	collection   bool
	etag         string
	lastModified string
	length       string
}

const propfindBody = `<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:"><d:prop>
<d:resourcetype/><d:getetag/><d:getlastmodified/><d:getcontentlength/>
</d:prop></d:propfind>`

type multistatus struct {
	Responses []struct {
		Href      string `xml:"DAV: href"`
		Propstats []struct {
			Status string `xml:"DAV: status"`
			Prop   struct {
				ResourceType struct {
					Collection *struct{} `xml:"DAV: collection"`
				} `xml:"DAV: resourcetype"`
				ETag          string `xml:"DAV: getetag"`
				LastModified  string `xml:"DAV: getlastmodified"`
				ContentLength string `xml:"DAV: getcontentlength"`
			} `xml:"DAV: prop"`
		} `xml:"DAV: propstat"`
	} `xml:"DAV: response"`
}

// propfind returns the listed items by decoded path.
func propfind(t *testing.T, srv *Server, target, depth string) map[string]item {
	t.Helper()
	r := request(t, srv, "PROPFIND", target,
		map[string]string{"Depth": depth, "Content-Type": "application/xml; charset=utf-8"}, propfindBody, true)
	if r.status != http.StatusMultiStatus {
		t.Fatalf("PROPFIND %s: %d, want 207\n%s", target, r.status, r.body)
	}
	var ms multistatus
	if err := xml.Unmarshal([]byte(r.body), &ms); err != nil {
		t.Fatalf("PROPFIND %s: %v\n%s", target, err, r.body)
	}
	items := make(map[string]item)
	for _, resp := range ms.Responses {
		it := item{rawHref: resp.Href}
		for _, ps := range resp.Propstats {
			if !strings.Contains(ps.Status, " 200 ") {
				continue
			}
			it.collection = it.collection || ps.Prop.ResourceType.Collection != nil
			it.etag += ps.Prop.ETag
			it.lastModified += ps.Prop.LastModified
			it.length += ps.Prop.ContentLength
		}
		items[mustPath(t, resp.Href)] = it
	}
	return items
}

// propfindOne returns the properties of target itself.
func propfindOne(t *testing.T, srv *Server, target string) item {
	t.Helper()
	items := propfind(t, srv, target, "0")
	it, ok := items[mustPath(t, target)]
	if !ok || len(items) != 1 {
		t.Fatalf("PROPFIND Depth 0 %s: got %v", target, keys(items))
	}
	return it
}

// mustPath is the decoded path of an href or URL.
func mustPath(t *testing.T, ref string) string {
	t.Helper()
	u, err := url.Parse(ref)
	if err != nil {
		t.Fatalf("bad href %q: %v", ref, err)
	}
	return u.Path
}

func keys(m map[string]item) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
