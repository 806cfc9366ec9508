package davtest

import (
	"errors"
	"io/fs"
	"net/http"
	"testing"
	"time"
)

// A summary counts the files at every depth below the folder, and its version changes
// when a file is rewritten with the same size.
func TestSummarizeCountsFilesAndSeesRewrites(t *testing.T) {
	s := newTestServer(t, Options{})
	for p, data := range map[string]string{"w/a.txt": "abc", "w/d/b.txt": "hello", "other/c.txt": "zz"} {
		if _, err := s.WriteFile(p, []byte(data), time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.MkdirAll("w/empty"); err != nil {
		t.Fatal(err)
	}
	sum, err := s.Summarize("w")
	if err != nil || sum.Files != 2 || sum.Bytes != 8 {
		t.Fatalf("Summarize(w) = %+v, %v; want 2 files, 8 bytes", sum, err)
	}
	if again, _ := s.Summarize("w"); again != sum {
		t.Errorf("an unchanged folder's summary changed: %+v then %+v", sum, again)
	}
	if _, err := s.WriteFile("w/d/b.txt", []byte("HELLO"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	after, _ := s.Summarize("w")
	if after.Files != 2 || after.Bytes != 8 || after.Version == sum.Version {
		t.Errorf("after a same-size rewrite: %+v, before %+v; want the same counts, another version", after, sum)
	}
	if root, _ := s.Summarize(""); root.Files != 3 {
		t.Errorf("Summarize(root) = %+v, want 3 files", root)
	}
	if _, err := s.Summarize("w/a.txt"); err == nil {
		t.Error("a file was summarized as a folder")
	}
	if _, err := s.Summarize("nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Summarize of a missing folder: %v", err)
	}
}

// Purge leaves no trash item and frees the name; EmptyTrash and DropUploads forget
// what DELETE and unfinished chunked uploads left behind.
func TestPurgeEmptyTrashDropUploads(t *testing.T) {
	s := newTestServer(t, Options{})
	if _, err := s.WriteFile("w/a.txt", []byte("abc"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteFile("x.txt", []byte("x"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	before, _ := s.Stat("")
	if err := s.Purge("w"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat("w"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("purged folder still there: %v", err)
	}
	root, _ := s.Stat("")
	if len(s.Trash()) != 0 || root.Size != 1 || root.ETag == before.ETag {
		t.Errorf("after Purge: trash %d items, root %+v (before %+v)", len(s.Trash()), root, before)
	}
	if err := s.Purge(""); err == nil {
		t.Error("the root was purged")
	}
	if err := s.Purge("w"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("purging a missing path: %v", err)
	}

	if err := s.Remove("x.txt"); err != nil {
		t.Fatal(err)
	}
	if len(s.Trash()) != 1 {
		t.Fatalf("trash has %d items after a removal, want 1", len(s.Trash()))
	}
	s.EmptyTrash()
	if len(s.Trash()) != 0 {
		t.Errorf("trash has %d items after EmptyTrash", len(s.Trash()))
	}

	resp, _ := do(t, req(t, s, "MKCOL", "/remote.php/dav/uploads/"+testUser+"/up1", ""))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("MKCOL upload folder: %s", resp.Status)
	}
	s.DropUploads()
	resp, _ = do(t, req(t, s, "PUT", "/remote.php/dav/uploads/"+testUser+"/up1/00001", "chunk"))
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("a chunk into a dropped upload answered %s, want 404", resp.Status)
	}
}
