package davtest

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestMkcol(t *testing.T) {
	s := newTestServer(t, Options{})
	wireTree(t, s)
	resp, body := call(t, s, "MKCOL", "wire/dir1", "")
	wantStatus(t, resp, body, http.StatusCreated)
	info, err := s.Stat("wire/dir1")
	if err != nil || !info.IsDir || resp.Header.Get("OC-FileId") != ocID(info.FileID) {
		t.Errorf("MKCOL: %+v %v OC-FileId %q", info, err, resp.Header.Get("OC-FileId"))
	}
	resp, body = call(t, s, "MKCOL", "wire/dir1", "")
	wantStatus(t, resp, body, http.StatusMethodNotAllowed)
	if resp.Header.Get("Allow") == "" {
		t.Error("405 without Allow")
	}
	resp, body = call(t, s, "MKCOL", "wire/nope/dir2", "")
	wantStatus(t, resp, body, http.StatusConflict)
	if !strings.Contains(body, "Parent node does not exist") {
		t.Errorf("409 body %s", body)
	}
	if err := s.SetPermissions("wire/sub", "RGDNVC"); err != nil {
		t.Fatal(err)
	}
	resp, body = call(t, s, "MKCOL", "wire/sub/d", "")
	wantStatus(t, resp, body, http.StatusForbidden)
}

func TestMoveAndCopy(t *testing.T) {
	s := newTestServer(t, Options{})
	wireTree(t, s)
	a, _ := s.Stat("wire/a.txt")

	resp, body := call(t, s, "MOVE", "wire/a.txt", "", "Destination", dest(s, "wire/sub/moved.txt"))
	wantStatus(t, resp, body, http.StatusCreated)
	moved, err := s.Stat("wire/sub/moved.txt")
	if err != nil || moved.FileID != a.FileID || resp.Header.Get("OC-FileId") != ocID(a.FileID) {
		t.Fatalf("MOVE must keep the file id: %+v %v", moved, err)
	}
	if resp.Header.Get("ETag") != a.ETag {
		t.Errorf("MOVE ETag header %q, want the file's %q", resp.Header.Get("ETag"), a.ETag)
	}
	if _, err := s.Stat("wire/a.txt"); err == nil {
		t.Error("source still there after MOVE")
	}

	resp, body = call(t, s, "COPY", "wire/sub/moved.txt", "", "Destination", dest(s, "wire/copy.txt"))
	wantStatus(t, resp, body, http.StatusCreated)
	c1, _ := s.Stat("wire/copy.txt")
	if c1.FileID == a.FileID || resp.Header.Get("OC-FileId") != ocID(c1.FileID) {
		t.Errorf("COPY must give a new file id: %d vs %d", c1.FileID, a.FileID)
	}
	if got, _ := s.ReadFile("wire/copy.txt"); string(got) != sampleText {
		t.Errorf("copied content %q", got)
	}

	resp, body = call(t, s, "COPY", "wire/sub/moved.txt", "", "Destination", dest(s, "wire/copy.txt"), "Overwrite", "F")
	wantStatus(t, resp, body, http.StatusPreconditionFailed)
	resp, body = call(t, s, "COPY", "wire/sub/moved.txt", "", "Destination", dest(s, "wire/copy.txt"))
	wantStatus(t, resp, body, http.StatusNoContent)
	c2, _ := s.Stat("wire/copy.txt")
	if c2.FileID == c1.FileID || c2.FileID == a.FileID {
		t.Errorf("COPY over an existing file must give yet another id: %d", c2.FileID)
	}

	resp, body = call(t, s, "MOVE", "wire/copy.txt", "", "Destination", dest(s, "wire/sub/moved.txt"))
	wantStatus(t, resp, body, http.StatusNoContent)
	if m, _ := s.Stat("wire/sub/moved.txt"); m.FileID != c2.FileID {
		t.Errorf("MOVE overwrite: id %d, want %d", m.FileID, c2.FileID)
	}

	// Folder rename through the legacy endpoint's Destination: id kept, subtree along.
	sub, _ := s.Stat("wire/sub")
	resp, body = call(t, s, "MOVE", "wire/sub", "", "Destination", s.URL()+"/remote.php/webdav/wire/sub-renamed")
	wantStatus(t, resp, body, http.StatusCreated)
	if r, err := s.Stat("wire/sub-renamed"); err != nil || r.FileID != sub.FileID {
		t.Errorf("folder MOVE: %+v %v", r, err)
	}
	if _, err := s.Stat("wire/sub-renamed/moved.txt"); err != nil {
		t.Errorf("folder MOVE lost its child: %v", err)
	}

	bad := []struct {
		method, from, to string
		status           int
	}{
		{"MOVE", "wire/does-not-exist", "wire/zzz", 404},
		{"MOVE", "wire/sub-renamed", "wire/nope/x", 409},
		{"MOVE", "wire/sub-renamed", "wire/sub-renamed/inner", 409},
		{"MOVE", "wire/sub-renamed", "wire/sub-renamed", 403},
		{"MOVE", "wire/sub-renamed/moved.txt", "wire/a%5Cb", 400},
	}
	for _, b := range bad {
		resp, body := call(t, s, b.method, b.from, "", "Destination", dest(s, b.to))
		if resp.StatusCode != b.status {
			t.Errorf("%s %s -> %s: %d, want %d: %s", b.method, b.from, b.to, resp.StatusCode, b.status, body)
		}
	}
	resp, body = call(t, s, "MOVE", "wire/sub-renamed", "", "Destination", "http://elsewhere/remote.php/dav/files/bob/x")
	wantStatus(t, resp, body, http.StatusBadRequest)
}

func TestMovePermissions(t *testing.T) {
	s := newTestServer(t, Options{})
	wireTree(t, s)
	if err := s.SetPermissions("wire/a.txt", "RGDVW"); err != nil { // no N
		t.Fatal(err)
	}
	resp, body := call(t, s, "MOVE", "wire/a.txt", "", "Destination", dest(s, "wire/b.txt"))
	wantStatus(t, resp, body, http.StatusForbidden)
	// Moving elsewhere needs V and D, not N.
	resp, body = call(t, s, "MOVE", "wire/a.txt", "", "Destination", dest(s, "wire/sub/a.txt"))
	wantStatus(t, resp, body, http.StatusCreated)
	if err := s.SetPermissions("wire/sub/a.txt", "RGNW"); err != nil { // no V, no D
		t.Fatal(err)
	}
	resp, body = call(t, s, "MOVE", "wire/sub/a.txt", "", "Destination", dest(s, "wire/a.txt"))
	wantStatus(t, resp, body, http.StatusForbidden)
	resp, body = call(t, s, "MOVE", "wire/sub/a.txt", "", "Destination", dest(s, "wire/sub/renamed.txt"))
	wantStatus(t, resp, body, http.StatusCreated)
	if err := s.SetPermissions("wire", "RGDNV"); err != nil { // no C in wire
		t.Fatal(err)
	}
	resp, body = call(t, s, "COPY", "wire/sub/renamed.txt", "", "Destination", dest(s, "wire/c.txt"))
	wantStatus(t, resp, body, http.StatusForbidden)
}

func TestDelete(t *testing.T) {
	s := newTestServer(t, Options{})
	wireTree(t, s)
	if _, err := s.WriteFile("wire/sub/deep/x.txt", []byte("12345"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	resp, body := call(t, s, http.MethodDelete, "wire/a.txt", "")
	wantStatus(t, resp, body, http.StatusNoContent)
	resp, body = call(t, s, http.MethodDelete, "wire/a.txt", "")
	wantStatus(t, resp, body, http.StatusNotFound)
	resp, body = call(t, s, http.MethodDelete, "wire/sub", "")
	wantStatus(t, resp, body, http.StatusNoContent)
	if _, err := s.Stat("wire/sub/deep/x.txt"); err == nil {
		t.Error("recursive DELETE left a child")
	}
	if root, _ := s.Stat(""); root.Size != 0 {
		t.Errorf("root size after deletes %d", root.Size)
	}
	if n := len(s.Trash()); n != 2 {
		t.Errorf("trash holds %d items, want 2", n)
	}
	if _, err := s.WriteFile("wire/keep.txt", []byte("k"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPermissions("wire/keep.txt", "RGNVW"); err != nil {
		t.Fatal(err)
	}
	resp, body = call(t, s, http.MethodDelete, "wire/keep.txt", "")
	wantStatus(t, resp, body, http.StatusForbidden)
	resp, body = call(t, s, http.MethodDelete, "", "")
	wantStatus(t, resp, body, http.StatusForbidden)
}

// TestETagPropagation pins section 6 of the wire samples: every write gives every
// ancestor the same new ETag, a new size, and a new mtime (except the direct parent
// of a file overwritten in place).
func TestETagPropagation(t *testing.T) {
	s := newTestServer(t, Options{})
	if err := s.MkdirAll("wire/p/q/r"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteFile("wire/other.txt", []byte("0123456789"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	chain := []string{"", "wire", "wire/p", "wire/p/q", "wire/p/q/r"}
	snap := func() []NodeInfo {
		var out []NodeInfo
		for _, p := range chain {
			info, err := s.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, info)
		}
		return out
	}
	check := func(step string, before, after []NodeInfo, sizeDelta int64, parentMtimeKept bool) {
		t.Helper()
		for i := range chain {
			if after[i].ETag != after[0].ETag {
				t.Errorf("%s: %q has ETag %s, root %s: not the same", step, chain[i], after[i].ETag, after[0].ETag)
			}
			if after[i].ETag == before[i].ETag {
				t.Errorf("%s: %q kept its ETag", step, chain[i])
			}
			if !folderETag.MatchString(after[i].ETag) {
				t.Errorf("%s: folder ETag %s is not uniqid-style", step, after[i].ETag)
			}
			if after[i].Size != before[i].Size+sizeDelta {
				t.Errorf("%s: %q size %d, want %d", step, chain[i], after[i].Size, before[i].Size+sizeDelta)
			}
			last := i == len(chain)-1
			switch {
			case last && parentMtimeKept:
				if !after[i].ModTime.Equal(before[i].ModTime) {
					t.Errorf("%s: the direct parent's mtime changed", step)
				}
			case after[i].ModTime.Before(before[i].ModTime):
				t.Errorf("%s: %q mtime went back", step, chain[i])
			}
		}
	}

	b := snap()
	resp, body := call(t, s, http.MethodPut, "wire/p/q/r/f.txt", "0123456789")
	wantStatus(t, resp, body, http.StatusCreated)
	a := snap()
	check("PUT new", b, a, 10, false)

	resp, body = call(t, s, http.MethodPut, "wire/p/q/r/f.txt", "abcdefghij", "X-OC-Mtime", "1000000000")
	wantStatus(t, resp, body, http.StatusNoContent)
	b, a = a, snap()
	check("PUT overwrite", b, a, 0, true)

	fav := `<d:propertyupdate xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:set><d:prop><oc:favorite>1</oc:favorite></d:prop></d:set></d:propertyupdate>`
	resp, body = call(t, s, "PROPPATCH", "wire/p/q/r/f.txt", fav)
	wantStatus(t, resp, body, http.StatusMultiStatus)
	if now := snap(); now[0].ETag != a[0].ETag || now[4].ETag != a[4].ETag {
		t.Error("PROPPATCH oc:favorite changed ETags")
	}

	resp, body = call(t, s, "MOVE", "wire/p/q/r/f.txt", "", "Destination", dest(s, "wire/p/q/r/g.txt"))
	wantStatus(t, resp, body, http.StatusCreated)
	b, a = a, snap()
	check("MOVE", b, a, 0, false)

	resp, body = call(t, s, "COPY", "wire/p/q/r/g.txt", "", "Destination", dest(s, "wire/p/q/r/h.txt"))
	wantStatus(t, resp, body, http.StatusCreated)
	b, a = a, snap()
	check("COPY", b, a, 10, false)

	resp, body = call(t, s, "MKCOL", "wire/p/q/r/d", "")
	wantStatus(t, resp, body, http.StatusCreated)
	b, a = a, snap()
	check("MKCOL", b, a, 0, false)

	resp, body = call(t, s, http.MethodDelete, "wire/p/q/r/g.txt", "")
	wantStatus(t, resp, body, http.StatusNoContent)
	b, a = a, snap()
	check("DELETE", b, a, -10, false)

	// Server-side changes propagate the same way.
	if err := s.Rename("wire/p/q/r/h.txt", "wire/p/q/r/i.txt"); err != nil {
		t.Fatal(err)
	}
	b, a = a, snap()
	check("Rename", b, a, 0, false)
	if err := s.Remove("wire/p/q/r/i.txt"); err != nil {
		t.Fatal(err)
	}
	b, a = a, snap()
	check("Remove", b, a, -10, false)
	other, _ := s.Stat("wire/other.txt")
	if other.ETag == a[0].ETag {
		t.Error("a file shares the folders' ETag")
	}
}
