package cache

import (
	"errors"
	"strings"
	"testing"
)

func TestLookupAndChildren(t *testing.T) {
	s := withRoot(t)
	apply(t, s, dirItem(1, "", "r"), fileItem(10, "b", "e", 1), fileItem(11, "B", "e", 1), fileItem(12, "é", "e", 1), fileItem(13, "a", "e", 1))
	// Byte order: upper case before lower case, multi-byte UTF-8 last.
	assertNames(t, "Children", childNames(t, s, 1), "B", "a", "b", "é")
	for _, name := range []string{"", "c", "B/"} {
		if _, err := s.Lookup(1, name); !errors.Is(err, ErrNotFound) {
			t.Errorf("Lookup(%q) = %v, want ErrNotFound", name, err)
		}
	}
	if _, err := s.Lookup(10, "b"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Lookup under a file: %v", err)
	}
	assertNames(t, "children of a file", childNames(t, s, 10))
	assertNames(t, "children of nothing", childNames(t, s, 999))
}

func TestPath(t *testing.T) {
	s := withRoot(t)
	apply(t, s, dirItem(1, "", "r"), dirItem(20, "a b", "e"))
	apply(t, s, dirItem(20, "a b", "e"), dirItem(21, "ç", "e"))
	apply(t, s, dirItem(21, "ç", "e"), fileItem(22, "f.txt", "e", 1))
	for id, want := range map[uint64]string{1: "", 20: "a b", 21: "a b/ç", 22: "a b/ç/f.txt"} {
		if got, err := s.Path(id); err != nil || got != want {
			t.Errorf("Path(%d) = %q, %v; want %q", id, got, err, want)
		}
	}
	if _, err := s.Path(404); !errors.Is(err, ErrNotFound) {
		t.Errorf("Path of an unknown id: %v", err)
	}
}

func TestPathBrokenChains(t *testing.T) {
	s := withRoot(t)
	// Records written behind the listing logic's back: an orphan and a two-item cycle.
	err := s.update(func(t *txn) error {
		orphan := fileItem(30, "orphan", "e", 1)
		orphan.Parent = 404
		a, b := dirItem(40, "a", "e"), dirItem(41, "b", "e")
		a.Parent, b.Parent = 41, 40
		for _, it := range []*Item{&orphan, &a, &b} {
			if err := t.putItem(it); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Path(30); !errors.Is(err, ErrNotFound) {
		t.Errorf("Path of an orphan: %v, want ErrNotFound", err)
	}
	_, err = s.Path(40)
	if err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("Path in a cycle: %v, want a cycle error", err)
	}
	// A listing below the cycle must fail cleanly too.
	if _, err := s.ApplyListing(Listing{Dir: dirItem(40, "a", "e")}); err == nil {
		t.Error("listing of a folder inside a cycle succeeded")
	}
}

func TestPutRoot(t *testing.T) {
	s := openTest(t)
	if _, ok, err := s.RootID(); err != nil || ok {
		t.Fatalf("RootID on a fresh store: ok=%v err=%v", ok, err)
	}
	id, err := s.PutRoot(dirItem(5, "ignored", "r1"))
	if err != nil || id != 5 {
		t.Fatalf("PutRoot = %d, %v", id, err)
	}
	if got, ok, _ := s.RootID(); !ok || got != 5 {
		t.Errorf("RootID = %d, %v", got, ok)
	}
	if root := mustGet(t, s, 5); root.Name != "" || root.Parent != 0 {
		t.Errorf("root %+v: want no name and no parent", root)
	}
	apply(t, s, dirItem(5, "", "r1"), dirItem(6, "sub", "s"))
	apply(t, s, dirItem(6, "sub", "s"), fileItem(7, "f", "e", 1))

	// Refresh: remote fields change, ListedETag stays, the tree stays.
	if id, err := s.PutRoot(dirItem(5, "", "r2")); err != nil || id != 5 {
		t.Fatalf("refresh PutRoot = %d, %v", id, err)
	}
	if root := mustGet(t, s, 5); root.ETag != "r2" || root.ListedETag != "r1" {
		t.Errorf("root after refresh %+v", root)
	}
	// Id 0 keeps the stored root.
	if id, err := s.PutRoot(dirItem(0, "", "r3")); err != nil || id != 5 {
		t.Fatalf("generic PutRoot = %d, %v, want 5", id, err)
	}
	mustGet(t, s, 7)

	// Another root id: the server was reset; the old tree goes.
	if id, err := s.PutRoot(dirItem(100, "", "n1")); err != nil || id != 100 {
		t.Fatalf("new PutRoot = %d, %v", id, err)
	}
	assertGone(t, s, 5, 6, 7)
	if root := mustGet(t, s, 100); root.ListedETag != "" {
		t.Errorf("new root %+v should be unlisted", root)
	}
	if n, _ := s.Count(); n != 1 {
		t.Errorf("Count = %d, want 1", n)
	}
	if _, err := s.PutRoot(fileItem(0, "", "x", 1)); err == nil {
		t.Error("PutRoot accepted a file")
	}
}

func TestPutRootGenericAllocatesOnce(t *testing.T) {
	s := openTest(t)
	first, err := s.PutRoot(dirItem(0, "", "a"))
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.PutRoot(dirItem(0, "", "b"))
	if err != nil {
		t.Fatal(err)
	}
	if first != second || first < localIDBase {
		t.Errorf("generic root ids %d then %d, want one stable local id", first, second)
	}
}

func TestUpdateRemote(t *testing.T) {
	s := withRoot(t)
	apply(t, s, dirItem(1, "", "r"), fileItem(10, "f", "e1", 1), dirItem(11, "d", "d1"))
	apply(t, s, dirItem(11, "d", "d1"), fileItem(12, "in", "i", 1))
	setLocal(t, s, 10, "", ContentLocal)

	same := fileItem(10, "other name ignored", "e1", 1)
	if changed, err := s.UpdateRemote(same); err != nil || changed {
		t.Errorf("unchanged UpdateRemote = %v, %v", changed, err)
	}
	if changed, err := s.UpdateRemote(fileItem(10, "", "e2", 2)); err != nil || !changed {
		t.Errorf("UpdateRemote = %v, %v", changed, err)
	}
	f := mustGet(t, s, 10)
	if f.ETag != "e2" || f.Size != 2 || f.Name != "f" || f.Parent != 1 || f.Content != ContentLocal {
		t.Errorf("after UpdateRemote %+v", f)
	}
	// A folder's new ETag does not make its listing current.
	if _, err := s.UpdateRemote(dirItem(11, "", "d2")); err != nil {
		t.Fatal(err)
	}
	if d := mustGet(t, s, 11); d.ETag != "d2" || d.ListedETag != "d1" {
		t.Errorf("folder after UpdateRemote %+v", d)
	}
	// The folder became a file: its subtree goes.
	if changed, err := s.UpdateRemote(fileItem(11, "", "x", 3)); err != nil || !changed {
		t.Errorf("kind change = %v, %v", changed, err)
	}
	assertGone(t, s, 12)
	if d := mustGet(t, s, 11); d.IsDir || d.ListedETag != "" {
		t.Errorf("after kind change %+v", d)
	}
	if _, err := s.UpdateRemote(fileItem(999, "", "x", 1)); !errors.Is(err, ErrNotFound) {
		t.Errorf("UpdateRemote of an unknown id: %v", err)
	}
}
