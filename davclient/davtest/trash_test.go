package davtest

import (
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"
)

const trashProps = `<?xml version="1.0"?>
<d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns"><d:prop>
<nc:trashbin-filename/><nc:trashbin-original-location/><nc:trashbin-deletion-time/>
<d:getcontentlength/><d:resourcetype/><oc:fileid/><d:getetag/><oc:size/></d:prop></d:propfind>`

func trashCall(t *testing.T, s *Server, method, rel, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	return do(t, req(t, s, method, "/remote.php/dav/trashbin/admin/"+rel, body, hdr...))
}

func TestTrashBin(t *testing.T) {
	s := newTestServer(t, Options{})
	wireTree(t, s)
	if _, err := s.WriteFile("wire/p/g.txt", []byte("0123456789"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	a, _ := s.Stat("wire/a.txt")
	p, _ := s.Stat("wire/p")
	resp, body := call(t, s, http.MethodDelete, "wire/a.txt", "")
	wantStatus(t, resp, body, http.StatusNoContent)
	if err := s.Remove("wire/p"); err != nil {
		t.Fatal(err)
	}

	resp, body = trashCall(t, s, "PROPFIND", "trash/", trashProps, "Depth", "1")
	wantStatus(t, resp, body, http.StatusMultiStatus)
	ms := parseMultistatus(t, body)
	if len(ms.hrefs) != 3 {
		t.Fatalf("trash listing %v", ms.hrefs)
	}
	root := "/remote.php/dav/trashbin/admin/trash/"
	if ms.hrefs[0] != root {
		t.Errorf("first href %q", ms.hrefs[0])
	}
	if p := ms.get(t, root, "nc:trashbin-filename"); p.status != 404 {
		t.Errorf("the trash root has no trashbin props: %+v", p)
	}
	items := s.Trash()
	if len(items) != 2 {
		t.Fatalf("Trash() %d items", len(items))
	}
	keyRe := regexp.MustCompile(`^(a\.txt|p)\.d[0-9]+$`)
	for _, it := range items {
		if !keyRe.MatchString(it.Key) {
			t.Errorf("trash key %q", it.Key)
		}
		href := root + it.Key
		if it.IsDir {
			href += "/"
		}
		if got := ms.get(t, href, "d:getetag").text; got != strconv.FormatInt(it.DeletedAt.Unix(), 10) {
			t.Errorf("trash ETag %q must be the unquoted deletion time", got)
		}
		if got := ms.get(t, href, "nc:trashbin-deletion-time").text; got != strconv.FormatInt(it.DeletedAt.Unix(), 10) {
			t.Errorf("deletion time %q", got)
		}
		if got := ms.get(t, href, "nc:trashbin-original-location").text; got != it.OriginalPath {
			t.Errorf("original location %q, want %q", got, it.OriginalPath)
		}
		if got := ms.get(t, href, "oc:fileid").text; got != strconv.FormatUint(it.FileID, 10) {
			t.Errorf("trash fileid %q", got)
		}
	}
	var aKey string
	for _, it := range items {
		if it.Name == "a.txt" {
			aKey = it.Key
			if it.OriginalPath != "wire/a.txt" || it.FileID != a.FileID {
				t.Errorf("a.txt trash item %+v", it)
			}
		}
		if it.Name == "p" && (it.FileID != p.FileID || it.Size != 10) {
			t.Errorf("p trash item %+v", it)
		}
	}

	resp, body = trashCall(t, s, "MOVE", "trash/"+aKey, "", "Destination", s.URL()+"/remote.php/dav/trashbin/admin/restore/"+aKey)
	wantStatus(t, resp, body, http.StatusCreated)
	back, err := s.Stat("wire/a.txt")
	if err != nil || back.FileID != a.FileID {
		t.Errorf("restored a.txt: %+v %v", back, err)
	}
	if len(s.Trash()) != 1 {
		t.Errorf("restore left %d items", len(s.Trash()))
	}

	// Restore onto a taken name keeps both.
	if err := s.Remove("wire/a.txt"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteFile("wire/a.txt", []byte("new"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	for _, it := range s.Trash() {
		if it.Name == "a.txt" {
			resp, body = trashCall(t, s, "MOVE", "trash/"+it.Key, "", "Destination", s.URL()+"/remote.php/dav/trashbin/admin/restore/"+it.Key)
			wantStatus(t, resp, body, http.StatusCreated)
		}
	}
	if _, err := s.Stat("wire/a (restored).txt"); err != nil {
		t.Errorf("restore onto a taken name: %v", err)
	}

	resp, body = trashCall(t, s, http.MethodDelete, "trash/", "")
	wantStatus(t, resp, body, http.StatusNoContent)
	if n := len(s.Trash()); n != 0 {
		t.Errorf("trash not empty: %d", n)
	}
	resp, body = trashCall(t, s, "MOVE", "trash/nothing.d1", "", "Destination", s.URL()+"/remote.php/dav/trashbin/admin/restore/nothing.d1")
	wantStatus(t, resp, body, http.StatusNotFound)
}
