package cache

import (
	"errors"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func names(t *testing.T, s *Store, parent uint64) []string {
	t.Helper()
	items, err := s.Children(parent)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, it := range items {
		out = append(out, it.Name)
	}
	return out
}

func queued(t *testing.T, s *Store) []uint64 {
	t.Helper()
	ids, err := s.Queued(0)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// A schema 2 database (no local buckets) opens as the current schema with its items intact.
func TestMigrationFromSchema2(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutRoot(dirItem(1, "", "r")); err != nil {
		t.Fatal(err)
	}
	apply(t, s, dirItem(1, "", "r"), fileItem(42, "a.txt", `"e"`, 5))
	err = s.db.Update(func(tx *bolt.Tx) error {
		for _, b := range localBuckets {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	rawSetSchema(t, dir, 2)
	if s, err = Open(dir, Options{}); err != nil {
		t.Fatalf("open a schema 2 database: %v", err)
	}
	defer s.Close()
	if v := storedSchema(t, s); v != SchemaVersion {
		t.Errorf("schema %d after migration, want %d", v, SchemaVersion)
	}
	if it := mustGet(t, s, 42); it.ETag != `"e"` || it.Local.Pending() {
		t.Errorf("migrated item %+v", it)
	}
	if _, err := s.CreateLocal(1, "new.txt", false, testTime, false); err != nil {
		t.Fatalf("create after migration: %v", err)
	}
	if q := queued(t, s); len(q) != 1 {
		t.Errorf("queue %v after a create", q)
	}
}

func TestCreatedItemsSurviveListings(t *testing.T) {
	s := withRoot(t)
	apply(t, s, dirItem(1, "", "r1"), fileItem(10, "server.txt", `"a"`, 1))
	mine, err := s.CreateLocal(1, "mine.txt", false, testTime, false)
	if err != nil {
		t.Fatal(err)
	}
	if mine.ID < localIDBase {
		t.Errorf("a local item got id %d, outside the local range", mine.ID)
	}
	if _, err := s.CreateLocal(1, "mine.txt", false, testTime, false); !errors.Is(err, ErrExists) {
		t.Errorf("second create of a name: %v, want ErrExists", err)
	}
	// The server has not heard of it: a relisting keeps it.
	d := apply(t, s, dirItem(1, "", "r2"), fileItem(10, "server.txt", `"a"`, 1))
	if got := names(t, s, 1); !slices.Equal(got, []string{"mine.txt", "server.txt"}) {
		t.Errorf("after a relisting: %v", got)
	}
	if slices.Contains(d.Removed, "mine.txt") {
		t.Errorf("diff removes the local file: %+v", d)
	}
	// Someone else made a file of the same name on the server: ours keeps the name
	// until its upload (If-None-Match: *) finds out.
	apply(t, s, dirItem(1, "", "r3"), fileItem(10, "server.txt", `"a"`, 1), fileItem(11, "mine.txt", `"x"`, 9))
	it, err := s.Lookup(1, "mine.txt")
	if err != nil || it.ID != mine.ID {
		t.Errorf("mine.txt is %+v, %v; want the local item %d", it, err, mine.ID)
	}
}

func TestListingKeepsLocalContentOfADirtyFile(t *testing.T) {
	s := withRoot(t)
	apply(t, s, dirItem(1, "", "r1"), fileItem(10, "doc.txt", `"v1"`, 100))
	if _, err := s.NoteLocalContent(10, 7, testTime.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	apply(t, s, dirItem(1, "", "r2"), fileItem(10, "doc.txt", `"v2"`, 200))
	it := mustGet(t, s, 10)
	if it.ETag != `"v2"` || it.Local.BaseETag != `"v1"` || it.VisibleSize() != 7 || it.Local.Flags&LocalDirty == 0 {
		t.Errorf("dirty item after the server changed it: etag %s base %s size %d flags %b",
			it.ETag, it.Local.BaseETag, it.VisibleSize(), it.Local.Flags)
	}
	// Removed on the server: the local version stays until its upload decides.
	apply(t, s, dirItem(1, "", "r3"))
	if got := names(t, s, 1); !slices.Equal(got, []string{"doc.txt"}) {
		t.Errorf("a dirty file removed on the server vanished: %v", got)
	}
}

func TestLocalMoveIsNotUndoneByListings(t *testing.T) {
	for _, generic := range []bool{false, true} {
		s := withRoot(t)
		a, b := dirItem(2, "A", "a1"), dirItem(3, "B", "b1")
		f := fileItem(10, "f.txt", `"f"`, 1)
		apply(t, s, dirItem(1, "", "r1"), a, b)
		if generic {
			f.ID = 0
		}
		apply(t, s, a, f)
		fid := mustLookup(t, s, 2, "f.txt").ID
		if _, err := s.Rename(2, "f.txt", 3, "g.txt", false); err != nil {
			t.Fatal(err)
		}
		// The server still has it in A, and not in B.
		apply(t, s, dirItem(2, "A", "a2"), f)
		apply(t, s, dirItem(3, "B", "b2"))
		if got := names(t, s, 2); len(got) != 0 {
			t.Errorf("generic=%v: A lists %v after the move", generic, got)
		}
		it, err := s.Lookup(3, "g.txt")
		if err != nil || it.ID != fid || it.Local.Flags&LocalMoved == 0 {
			t.Errorf("generic=%v: B/g.txt is %+v, %v", generic, it, err)
		}
		if p, err := s.ServerPath(fid); err != nil || p != "A/f.txt" {
			t.Errorf("generic=%v: server path %q, %v; want A/f.txt", generic, p, err)
		}
		// The MOVE is done: the server now lists it in B.
		if err := s.CompleteMove(fid, 3, "g.txt"); err != nil {
			t.Fatal(err)
		}
		g := f
		g.Name = "g.txt"
		apply(t, s, dirItem(3, "B", "b3"), g)
		apply(t, s, dirItem(2, "A", "a3"))
		if it := mustLookup(t, s, 3, "g.txt"); it.ID != fid || it.Local.Pending() {
			t.Errorf("generic=%v: after the move %+v", generic, it)
		}
		if q := queued(t, s); len(q) != 0 {
			t.Errorf("generic=%v: queue %v after the move", generic, q)
		}
	}
}

// A file renamed twice, the second time while the MOVE of the first was on its way:
// the server ends at the first name, and the second move stays to do from there.
func TestMoveDuringAMoveIsKept(t *testing.T) {
	s := withRoot(t)
	a := dirItem(2, "A", "a1")
	apply(t, s, dirItem(1, "", "r1"), a)
	apply(t, s, a, fileItem(10, "tmp", `"f"`, 1))
	if _, err := s.Rename(2, "tmp", 2, ".tmp-1", false); err != nil {
		t.Fatal(err)
	}
	// The uploader reads the item and sends MOVE tmp -> .tmp-1; meanwhile:
	if _, err := s.Rename(2, ".tmp-1", 2, "final", false); err != nil {
		t.Fatal(err)
	}
	if err := s.CompleteMove(10, 2, ".tmp-1"); err != nil {
		t.Fatal(err)
	}
	it := mustLookup(t, s, 2, "final")
	if it.Local.Flags&LocalMoved == 0 {
		t.Fatalf("after the first MOVE the second rename was forgotten: %+v", it.Local)
	}
	if p, err := s.ServerPath(10); err != nil || p != "A/.tmp-1" {
		t.Errorf("server path %q, %v; want A/.tmp-1 (where the first MOVE put it)", p, err)
	}
	if q, _ := s.Queued(0); len(q) != 1 || q[0] != 10 {
		t.Errorf("queue %v, want the second move queued", q)
	}
	if err := s.CompleteMove(10, 2, "final"); err != nil {
		t.Fatal(err)
	}
	if it := mustLookup(t, s, 2, "final"); it.Local.Pending() {
		t.Errorf("after the second MOVE: %+v", it.Local)
	}
	if n, _ := s.QueueLen(); n != 0 {
		t.Errorf("%d items still queued", n)
	}
}

func TestRemovedItemIsNotBroughtBackByAListing(t *testing.T) {
	s := withRoot(t)
	apply(t, s, dirItem(1, "", "r1"), fileItem(10, "old.txt", `"o"`, 1))
	it, gone, err := s.Remove(1, "old.txt")
	if err != nil || gone || it.ID != 10 {
		t.Fatalf("Remove: %+v gone=%v %v", it, gone, err)
	}
	apply(t, s, dirItem(1, "", "r2"), fileItem(10, "old.txt", `"o"`, 1))
	if got := names(t, s, 1); len(got) != 0 {
		t.Errorf("a removed file came back: %v", got)
	}
	if p, err := s.ServerPath(10); err != nil || p != "old.txt" {
		t.Errorf("server path of the tombstone: %q, %v", p, err)
	}
	if err := s.ForgetTombstone(10); err != nil {
		t.Fatal(err)
	}
	if q := queued(t, s); len(q) != 0 {
		t.Errorf("queue %v after the delete", q)
	}
	// A local file that never reached the server simply goes.
	n, _ := s.CreateLocal(1, "tmp", false, testTime, false)
	if _, gone, err := s.Remove(1, "tmp"); err != nil || !gone {
		t.Errorf("remove of a local-only item: gone=%v %v", gone, err)
	}
	if _, err := s.Get(n.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("local item still stored: %v", err)
	}
	if q := queued(t, s); len(q) != 0 {
		t.Errorf("queue %v after create+remove", q)
	}
}

// An editor's save: a new file renamed over the original becomes an update of it.
func TestRenameOfANewFileOverAServerFileKeepsTheFileID(t *testing.T) {
	s := withRoot(t)
	apply(t, s, dirItem(1, "", "r1"), fileItem(10, "notes.txt", `"v1"`, 5))
	tmp, err := s.CreateLocal(1, ".notes.txt.swp", false, testTime, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.NoteLocalContent(tmp.ID, 6, testTime); err != nil {
		t.Fatal(err)
	}
	res, err := s.Rename(1, ".notes.txt.swp", 1, "notes.txt", false)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Adopted || res.Replaced == nil || res.Replaced.ID != 10 {
		t.Fatalf("rename result %+v", res)
	}
	it := mustLookup(t, s, 1, "notes.txt")
	if it.ID != tmp.ID || it.ServerFileID() != 10 || it.Local.BaseETag != `"v1"` ||
		it.Local.Flags != LocalDirty || it.VisibleSize() != 6 {
		t.Errorf("adopted item %+v", it)
	}
	if p, err := s.ServerPath(it.ID); err != nil || p != "notes.txt" {
		t.Errorf("server path %q, %v", p, err)
	}
	// A listing knows it by the server's file id: it is the same item, still dirty.
	apply(t, s, dirItem(1, "", "r2"), fileItem(10, "notes.txt", `"v1"`, 5))
	if got := mustLookup(t, s, 1, "notes.txt"); got.ID != tmp.ID || got.Local.Flags != LocalDirty {
		t.Errorf("after a listing: %+v", got)
	}
	if q := queued(t, s); !slices.Equal(q, []uint64{tmp.ID}) {
		t.Errorf("queue %v, want [%d]", q, tmp.ID)
	}
	// Uploaded: clean, the server's new version, and the local id kept.
	up, err := s.CompleteUpload(tmp.ID, Uploaded{ETag: `"v2"`, FileID: 10, Size: 6, MTime: testTime})
	if err != nil {
		t.Fatal(err)
	}
	if up.Local.Pending() || up.ETag != `"v2"` || up.ID != tmp.ID {
		t.Errorf("after the upload: %+v", up)
	}
	apply(t, s, dirItem(1, "", "r3"), fileItem(10, "notes.txt", `"v2"`, 6))
	if got := names(t, s, 1); !slices.Equal(got, []string{"notes.txt"}) {
		t.Errorf("folder after the upload: %v", got)
	}
	if q := queued(t, s); len(q) != 0 {
		t.Errorf("queue %v after the upload", q)
	}
}

func TestQueueKeepsTheOrderOfFirstChanges(t *testing.T) {
	s := withRoot(t)
	d, _ := s.CreateLocal(1, "dir", true, testTime, false)
	f, _ := s.CreateLocal(d.ID, "f", false, testTime, false)
	x, _ := s.CreateLocal(1, "x.swp", false, testTime, true) // excluded: never queued
	if _, err := s.NoteLocalContent(d.ID+0, 0, testTime); !errors.Is(err, ErrIsDir) {
		t.Errorf("content of a folder: %v", err)
	}
	if _, err := s.NoteLocalContent(f.ID, 3, testTime); err != nil {
		t.Fatal(err)
	}
	if q := queued(t, s); !slices.Equal(q, []uint64{d.ID, f.ID}) {
		t.Errorf("queue %v, want [%d %d]", q, d.ID, f.ID)
	}
	// Renamed to a normal name, the excluded file is uploaded after all.
	if _, err := s.Rename(1, "x.swp", 1, "x.txt", false); err != nil {
		t.Fatal(err)
	}
	if q := queued(t, s); !slices.Equal(q, []uint64{d.ID, f.ID, x.ID}) {
		t.Errorf("queue %v after un-excluding", q)
	}
	if p, err := s.ServerPath(f.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("server path of a file not uploaded: %q, %v", p, err)
	}
}

func TestConflictCopy(t *testing.T) {
	s := withRoot(t)
	apply(t, s, dirItem(1, "", "r1"), fileItem(10, "report.odt", `"v1"`, 5))
	if _, err := s.NoteLocalContent(10, 8, testTime); err != nil {
		t.Fatal(err)
	}
	copyID, err := s.AllocLocalID()
	if err != nil {
		t.Fatal(err)
	}
	cp, moved, err := s.MakeConflictCopy(10, "report (conflicted copy 2026-12-05 101010).odt", ConflictOptions{CopyID: copyID})
	if err != nil {
		t.Fatal(err)
	}
	if !moved || cp.ID != copyID || cp.Local.Flags != LocalOnly|LocalConflict || cp.VisibleSize() != 8 {
		t.Errorf("copy %+v moved=%v", cp, moved)
	}
	orig := mustGet(t, s, 10)
	if orig.Local.Pending() || orig.Name != "report.odt" {
		t.Errorf("original after the copy: %+v", orig)
	}
	if q := queued(t, s); len(q) != 0 {
		t.Errorf("queue %v: a conflict copy is not uploaded", q)
	}
	// The server's version comes back under the name; the copy stays.
	apply(t, s, dirItem(1, "", "r2"), fileItem(10, "report.odt", `"v2"`, 9))
	if got := names(t, s, 1); !slices.Equal(got, []string{"report (conflicted copy 2026-12-05 101010).odt", "report.odt"}) {
		t.Errorf("folder: %v", got)
	}
}

// Without file ids the name is the identity, but only where the server has the item:
// a file renamed over another (git's config.lock over config) is at its old name on
// the server until the MOVE is uploaded, and what the server lists at the new name is
// the replaced file's, never the renamed one's version.
func TestGenericRenameOverKeepsEachVersion(t *testing.T) {
	s := withRoot(t)
	dir := dirItem(1, "", "r1")
	apply(t, s, dir, fileItem(0, "config", `"old"`, 1), fileItem(0, "config.lock", `"new"`, 2))
	oldID, newID := mustLookup(t, s, 1, "config").ID, mustLookup(t, s, 1, "config.lock").ID
	if _, err := s.Rename(1, "config.lock", 1, "config", false); err != nil {
		t.Fatal(err)
	}
	apply(t, s, dirItem(1, "", "r2"), fileItem(0, "config", `"old"`, 1), fileItem(0, "config.lock", `"new"`, 2))
	it := mustLookup(t, s, 1, "config")
	if it.ID != newID || it.ETag != `"new"` || it.Size != 2 {
		t.Errorf("config after the listing: id %d etag %s size %d; want id %d with its own version \"new\"", it.ID, it.ETag, it.Size, newID)
	}
	if p, err := s.ServerPath(newID); err != nil || p != "config.lock" {
		t.Errorf("server path of the renamed file %q, %v", p, err)
	}
	if old := mustGet(t, s, oldID); old.Local.Flags&LocalDeleted == 0 || old.ETag != `"old"` {
		t.Errorf("the replaced file: %+v; want a tombstone of version \"old\"", old)
	}
}

// A listing asked for before a change made here in its folder is refused: applied, it
// would bring back the name just moved away (the server had not seen the move yet).
func TestListingOlderThanALocalChangeIsRefused(t *testing.T) {
	s := withRoot(t)
	a := dirItem(2, "A", "a1")
	apply(t, s, dirItem(1, "", "r1"), a)
	apply(t, s, a, fileItem(10, "config.lock", `"l1"`, 5))
	seq := s.FolderSeq(2)
	// The listing leaves for the server; meanwhile the file is renamed here.
	if _, err := s.Rename(2, "config.lock", 2, "config", false); err != nil {
		t.Fatal(err)
	}
	stale := Listing{Dir: dirItem(2, "A", "a1"), Children: []Item{fileItem(10, "config.lock", `"l1"`, 5)},
		LocalSeq: seq, CheckLocal: true}
	if _, err := s.ApplyListing(stale); !errors.Is(err, ErrStaleListing) {
		t.Fatalf("a listing older than the rename: %v, want ErrStaleListing", err)
	}
	if _, err := s.Lookup(2, "config.lock"); !errors.Is(err, ErrNotFound) {
		t.Errorf("config.lock came back: %v", err)
	}
	// Asked for after the change, it applies.
	fresh := stale
	fresh.LocalSeq = s.FolderSeq(2)
	if _, err := s.ApplyListing(fresh); err != nil {
		t.Fatalf("a listing asked for after the rename: %v", err)
	}
	// Downloads and listings do not make a listing stale.
	seq = s.FolderSeq(2)
	apply(t, s, dirItem(2, "A", "a2"), fileItem(10, "config.lock", `"l1"`, 5))
	if s.FolderSeq(2) != seq {
		t.Errorf("a listing counted as a change made here")
	}
}
