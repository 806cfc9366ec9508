package cache

import (
	"encoding/hex"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// writeContentFile creates id's content file as the hydrate layer would.
func writeContentFile(t testing.TB, s *Store, id uint64, size int64) {
	t.Helper()
	f, err := os.OpenFile(s.ContentPath(id), os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func fileExists(t testing.TB, path string) bool {
	t.Helper()
	_, err := os.Stat(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

func mustRecord(t testing.TB, s *Store, id uint64, etag string, size int64, add ...Range) Content {
	t.Helper()
	c, err := s.RecordRanges(id, etag, size, add)
	if err != nil {
		t.Fatalf("RecordRanges(%d, %s): %v", id, etag, err)
	}
	return c
}

func mustContent(t testing.TB, s *Store, id uint64) (Content, bool) {
	t.Helper()
	c, ok, err := s.Content(id)
	if err != nil {
		t.Fatalf("Content(%d): %v", id, err)
	}
	return c, ok
}

func assertUsage(t testing.TB, s *Store, bytes int64, files int) {
	t.Helper()
	b, f, err := s.ContentUsage()
	if err != nil || b != bytes || f != files {
		t.Errorf("ContentUsage = %d bytes, %d files, %v; want %d, %d", b, f, err, bytes, files)
	}
}

// assertOnline checks that id has no content record and its item says so.
func assertOnline(t testing.TB, s *Store, id uint64) {
	t.Helper()
	if c, ok := mustContent(t, s, id); ok {
		t.Errorf("item %d still has content %+v", id, c)
	}
	if it := mustGet(t, s, id); it.Content != ContentOnline || it.LocalBytes != 0 {
		t.Errorf("item %d: content %v, %d local bytes; want online, 0", id, it.Content, it.LocalBytes)
	}
	if fileExists(t, s.ContentPath(id)) {
		t.Errorf("content file of %d still exists", id)
	}
}

func TestContentPaths(t *testing.T) {
	s := openTest(t)
	if got, want := s.ContentDir(), filepath.Join(s.Dir(), "content"); got != want {
		t.Errorf("ContentDir = %q, want %q", got, want)
	}
	if got := perm(t, s.ContentDir()); got != 0o700 {
		t.Errorf("content dir mode %v, want 0700", got)
	}
	if got, want := s.ContentPath(0x2a), filepath.Join(s.ContentDir(), "000000000000002a"); got != want {
		t.Errorf("ContentPath(42) = %q, want %q", got, want)
	}
	if got := filepath.Base(s.ContentPath(1<<64 - 1)); got != "ffffffffffffffff" {
		t.Errorf("ContentPath(max) base %q", got)
	}
	for _, id := range []uint64{0, 1, 0xabc, localIDBase + 5, 1<<64 - 1} {
		back, ok := parseContentFileName(contentFileName(id))
		if !ok || back != id {
			t.Errorf("parse(name(%d)) = %d, %v", id, back, ok)
		}
	}
	for _, bad := range []string{"000000000000002A", "2a", "000000000000002a.drop5", "+00000000000002a", "zzzzzzzzzzzzzzzz"} {
		if _, ok := parseContentFileName(bad); ok {
			t.Errorf("parse(%q) accepted", bad)
		}
	}
}

func TestOpenTightensContentDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	if err := os.Chmod(filepath.Join(dir, "content"), 0o755); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := perm(t, s.ContentDir()); got != 0o700 {
		t.Errorf("content dir mode %v after reopen, want 0700", got)
	}
}

func TestRecordRangesMergesAndClamps(t *testing.T) {
	s := withRoot(t)
	apply(t, s, dirItem(1, "", "r"), fileItem(10, "f", "e1", 100))
	if _, ok := mustContent(t, s, 10); ok {
		t.Fatal("content before any download")
	}
	c := mustRecord(t, s, 10, "e1", 100, Range{0, 10}, Range{20, 30})
	if !slices.Equal(c.Ranges, []Range{{0, 10}, {20, 30}}) || c.ETag != "e1" || c.Size != 100 || c.Verified {
		t.Errorf("first record %+v", c)
	}
	if c.LastUse.IsZero() {
		t.Error("RecordRanges left LastUse zero")
	}
	it := mustGet(t, s, 10)
	if it.Content != ContentPartial || it.LocalBytes != 20 {
		t.Errorf("item after first ranges: %v, %d bytes", it.Content, it.LocalBytes)
	}
	mustRecord(t, s, 10, "e1", 100, Range{10, 20}, Range{90, 500}, Range{-4, 2})
	got, ok := mustContent(t, s, 10)
	if !ok || !slices.Equal(got.Ranges, []Range{{0, 30}, {90, 100}}) {
		t.Errorf("merged ranges %v, want [{0 30} {90 100}]", got.Ranges)
	}
	if !got.Has(5, 25) || got.Has(25, 95) || got.Local() != 40 || got.Complete() {
		t.Errorf("Has/Local/Complete wrong for %v", got.Ranges)
	}
	if it := mustGet(t, s, 10); it.LocalBytes != 40 {
		t.Errorf("LocalBytes %d, want 40", it.LocalBytes)
	}
	assertUsage(t, s, 40, 1)
}

func TestRecordRangesRefusals(t *testing.T) {
	s := withRoot(t)
	apply(t, s, dirItem(1, "", "r"), fileItem(10, "f", "e2", 100), dirItem(11, "d", "d"), fileItem(12, "dirty", "e", 5))
	mustRecord(t, s, 12, "e", 5, Range{0, 5})
	setLocal(t, s, 12, "", ContentDirty)
	before := dump(t, s)
	cases := []struct {
		name string
		id   uint64
		etag string
		size int64
		want error
	}{
		{"old etag", 10, "e1", 100, ErrStale},
		{"other size", 10, "e2", 99, ErrStale},
		{"unknown item", 999, "e", 1, ErrNotFound},
		{"dirty", 12, "e", 5, ErrDirty},
		{"folder", 11, "d", 0, nil},
		{"negative size", 10, "e2", -1, nil},
	}
	for _, c := range cases {
		_, err := s.RecordRanges(c.id, c.etag, c.size, []Range{{0, 1}})
		if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.want)
		}
	}
	if err := s.MarkVerified(10, "e1"); !errors.Is(err, ErrStale) {
		t.Errorf("MarkVerified old etag: %v, want ErrStale", err)
	}
	if !maps.Equal(before, dump(t, s)) {
		t.Error("a refused RecordRanges changed the database")
	}
}

func TestRecordBatchRecordsEachOnItsOwn(t *testing.T) {
	s := withRoot(t)
	apply(t, s, dirItem(1, "", "r"), fileItem(10, "a", "ea", 4), fileItem(11, "b", "eb", 8), dirItem(12, "d", "d"))
	out, errs, err := s.RecordBatch([]RangeRecord{
		{ID: 10, ETag: "ea", Size: 4, Ranges: []Range{{0, 4}}, Complete: true},
		{ID: 11, ETag: "old", Size: 8, Ranges: []Range{{0, 8}}},
		{ID: 12, ETag: "d", Size: 0, Ranges: []Range{{0, 1}}},
		{ID: 11, ETag: "eb", Size: 8, Ranges: []Range{{0, 3}}, Complete: true},
		{ID: 11, ETag: "eb", Size: 8, Ranges: []Range{{0, 3}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if errs[0] != nil || !out[0].Verified || !out[0].Complete() {
		t.Errorf("complete record: %+v, %v", out[0], errs[0])
	}
	if !errors.Is(errs[1], ErrStale) {
		t.Errorf("stale record: %v, want ErrStale", errs[1])
	}
	if errs[2] == nil || errs[3] == nil {
		t.Errorf("folder record %v, incomplete record %v: want both refused", errs[2], errs[3])
	}
	if errs[4] != nil || out[4].Verified || !slices.Equal(out[4].Ranges, []Range{{0, 3}}) {
		t.Errorf("partial record after refusals: %+v, %v", out[4], errs[4])
	}
	if c, _ := mustContent(t, s, 10); !c.Verified {
		t.Errorf("stored record of 10: %+v, want verified", c)
	}
	if c, _ := mustContent(t, s, 11); c.ETag != "eb" || c.Verified || c.Local() != 3 {
		t.Errorf("stored record of 11: %+v, want 3 unverified bytes of eb", c)
	}
	assertUsage(t, s, 7, 2)
}

func TestRecordRangesReplacesAnotherVersion(t *testing.T) {
	s := withRoot(t)
	apply(t, s, dirItem(1, "", "r"), fileItem(10, "f", "e2", 50))
	// A record of an older version the store never dropped (as after a crash between
	// a listing and its cleanup, or a record written by an older build).
	old := Content{ID: 10, ETag: "e1", Size: 80, Ranges: []Range{{0, 80}}, Verified: true, LastUse: testTime}
	if err := s.update(func(t *txn) error { return t.putContent(&old, nil) }); err != nil {
		t.Fatal(err)
	}
	assertUsage(t, s, 80, 1)
	c := mustRecord(t, s, 10, "e2", 50, Range{10, 20})
	if c.ETag != "e2" || c.Size != 50 || c.Verified || !slices.Equal(c.Ranges, []Range{{10, 20}}) {
		t.Errorf("replaced record %+v, want only the new range of e2", c)
	}
	assertUsage(t, s, 10, 1)
	if lru, err := s.LRU(10); err != nil || len(lru) != 1 || lru[0].ETag != "e2" {
		t.Errorf("LRU after replacement: %+v, %v", lru, err)
	}
}

func TestMarkVerified(t *testing.T) {
	s := withRoot(t)
	apply(t, s, dirItem(1, "", "r"), fileItem(10, "f", "e", 30), fileItem(11, "empty", "z", 0))
	mustRecord(t, s, 10, "e", 30, Range{0, 20})
	if err := s.MarkVerified(10, "e"); err == nil {
		t.Fatal("MarkVerified of an incomplete file succeeded")
	}
	if it := mustGet(t, s, 10); it.Content != ContentPartial {
		t.Errorf("refused verification changed the item to %v", it.Content)
	}
	mustRecord(t, s, 10, "e", 30, Range{20, 30})
	if err := s.MarkVerified(10, "e"); err != nil {
		t.Fatal(err)
	}
	c, _ := mustContent(t, s, 10)
	if !c.Verified || !c.Complete() {
		t.Errorf("verified record %+v", c)
	}
	if it := mustGet(t, s, 10); it.Content != ContentLocal || it.LocalBytes != 30 {
		t.Errorf("verified item: %v, %d bytes", it.Content, it.LocalBytes)
	}
	// More ranges of a verified file keep it verified and local.
	mustRecord(t, s, 10, "e", 30, Range{0, 5})
	if it := mustGet(t, s, 10); it.Content != ContentLocal {
		t.Errorf("re-recorded verified item is %v", it.Content)
	}
	// An empty file is complete without any range or earlier record.
	if err := s.MarkVerified(11, "z"); err != nil {
		t.Fatalf("MarkVerified of an empty file: %v", err)
	}
	if c, ok := mustContent(t, s, 11); !ok || !c.Verified || mustGet(t, s, 11).Content != ContentLocal {
		t.Errorf("empty file record %+v ok=%v", c, ok)
	}
	assertUsage(t, s, 30, 2)
}

func TestListingDropsStaleContent(t *testing.T) {
	s := withRoot(t)
	apply(t, s, dirItem(1, "", "r"), fileItem(10, "a", "ea", 10), fileItem(11, "b", "eb", 10), fileItem(12, "c", "ec", 10), fileItem(13, "d", "ed", 10))
	for id, etag := range map[uint64]string{10: "ea", 11: "eb", 12: "ec", 13: "ed"} {
		writeContentFile(t, s, id, 10)
		mustRecord(t, s, id, etag, 10, Range{0, 10})
	}
	assertUsage(t, s, 40, 4)

	changedTime := fileItem(13, "d", "ed", 10)
	changedTime.MTime = testTime.Add(time.Hour)
	d := apply(t, s, dirItem(1, "", "r2"),
		fileItem(10, "a", "ea2", 10), // new ETag
		fileItem(11, "b", "eb", 12),  // new size
		fileItem(12, "c", "ec", 10),  // unchanged
		changedTime)                  // same version, new mtime
	if !slices.Equal(d.ContentDropped, []uint64{10, 11}) {
		t.Errorf("ContentDropped = %v, want [10 11]", d.ContentDropped)
	}
	assertNames(t, "Changed", d.Changed, "a", "b", "d")
	assertOnline(t, s, 10)
	assertOnline(t, s, 11)
	for _, id := range []uint64{12, 13} {
		if c, ok := mustContent(t, s, id); !ok || c.Local() != 10 || !fileExists(t, s.ContentPath(id)) {
			t.Errorf("content of unchanged version %d lost: %+v ok=%v", id, c, ok)
		}
		if it := mustGet(t, s, id); it.Content != ContentPartial || it.LocalBytes != 10 {
			t.Errorf("item %d: %v, %d bytes", id, it.Content, it.LocalBytes)
		}
	}
	assertUsage(t, s, 20, 2)
	// A download of the old version finishing now must not land.
	if _, err := s.RecordRanges(10, "ea", 10, []Range{{0, 10}}); !errors.Is(err, ErrStale) {
		t.Errorf("RecordRanges of the replaced version: %v, want ErrStale", err)
	}
	// An unchanged relist drops nothing and writes nothing.
	before := s.writes.Load()
	if d := apply(t, s, dirItem(1, "", "r2"), fileItem(10, "a", "ea2", 10), fileItem(11, "b", "eb", 12), fileItem(12, "c", "ec", 10), changedTime); len(d.ContentDropped) != 0 || !d.Empty() {
		t.Errorf("unchanged relist: %+v", d)
	}
	if w := s.writes.Load() - before; w != 0 {
		t.Errorf("unchanged relist wrote %d records", w)
	}
}

func TestListingRemovalDropsContent(t *testing.T) {
	s := withRoot(t)
	apply(t, s, dirItem(1, "", "r"), fileItem(10, "gone", "e", 8), dirItem(20, "sub", "s"), fileItem(11, "kept", "k", 4))
	apply(t, s, dirItem(20, "sub", "s"), fileItem(21, "deep", "e", 6))
	for _, f := range []struct {
		id   uint64
		etag string
		size int64
	}{{10, "e", 8}, {11, "k", 4}, {21, "e", 6}} {
		writeContentFile(t, s, f.id, f.size)
		mustRecord(t, s, f.id, f.etag, f.size, Range{0, f.size})
	}
	assertUsage(t, s, 18, 3)
	d := apply(t, s, dirItem(1, "", "r2"), fileItem(11, "kept", "k", 4))
	assertNames(t, "Removed", d.Removed, "gone", "sub")
	if len(d.ContentDropped) != 0 {
		t.Errorf("removals reported as ContentDropped: %v", d.ContentDropped)
	}
	for _, id := range []uint64{10, 21} {
		if _, ok := mustContent(t, s, id); ok {
			t.Errorf("record of removed item %d kept", id)
		}
		if fileExists(t, s.ContentPath(id)) {
			t.Errorf("content file of removed item %d kept", id)
		}
	}
	assertUsage(t, s, 4, 1)
	if lru, err := s.LRU(10); err != nil || len(lru) != 1 || lru[0].ID != 11 {
		t.Errorf("LRU after removals: %+v, %v", lru, err)
	}
}

func TestListingKindChangeDropsContent(t *testing.T) {
	s := withRoot(t)
	apply(t, s, dirItem(1, "", "r"), fileItem(10, "x", "e", 5))
	writeContentFile(t, s, 10, 5)
	mustRecord(t, s, 10, "e", 5, Range{0, 5})
	d := apply(t, s, dirItem(1, "", "r2"), dirItem(10, "x", "d"))
	if !slices.Equal(d.ContentDropped, []uint64{10}) {
		t.Errorf("ContentDropped = %v", d.ContentDropped)
	}
	assertOnline(t, s, 10)
	assertUsage(t, s, 0, 0)
}

func TestUpdateRemoteDropsStaleContent(t *testing.T) {
	s := withRoot(t)
	apply(t, s, dirItem(1, "", "r"), fileItem(10, "f", "e1", 5))
	writeContentFile(t, s, 10, 5)
	mustRecord(t, s, 10, "e1", 5, Range{0, 5})

	touched := fileItem(10, "f", "e1", 5)
	touched.MTime = testTime.Add(time.Minute)
	if changed, err := s.UpdateRemote(touched); err != nil || !changed {
		t.Fatalf("UpdateRemote(new mtime) = %v, %v", changed, err)
	}
	if c, ok := mustContent(t, s, 10); !ok || c.Local() != 5 {
		t.Errorf("same version lost its content: %+v ok=%v", c, ok)
	}
	if changed, err := s.UpdateRemote(fileItem(10, "f", "e2", 5)); err != nil || !changed {
		t.Fatalf("UpdateRemote(new etag) = %v, %v", changed, err)
	}
	assertOnline(t, s, 10)
	assertUsage(t, s, 0, 0)
}

func TestDirtyContentIsKept(t *testing.T) {
	s := withRoot(t)
	apply(t, s, dirItem(1, "", "r"), fileItem(10, "f", "e1", 5), fileItem(11, "g", "g1", 5))
	for _, id := range []uint64{10, 11} {
		writeContentFile(t, s, id, 5)
		mustRecord(t, s, id, mustGet(t, s, id).ETag, 5, Range{0, 5})
		setLocal(t, s, id, "", ContentDirty)
	}
	before := dump(t, s)
	if err := s.DropContent(10); !errors.Is(err, ErrDirty) {
		t.Errorf("DropContent of a dirty item: %v, want ErrDirty", err)
	}
	if !maps.Equal(before, dump(t, s)) || !fileExists(t, s.ContentPath(10)) {
		t.Error("the refused DropContent changed something")
	}
	// The server changes one and removes the other: local bytes stay.
	d := apply(t, s, dirItem(1, "", "r2"), fileItem(10, "f", "e2", 6))
	if len(d.ContentDropped) != 0 {
		t.Errorf("dirty content reported dropped: %v", d.ContentDropped)
	}
	for _, id := range []uint64{10, 11} {
		if _, ok := mustContent(t, s, id); !ok || !fileExists(t, s.ContentPath(id)) {
			t.Errorf("dirty content of %d lost", id)
		}
	}
	if it := mustGet(t, s, 10); it.Content != ContentDirty || it.ETag != "e2" {
		t.Errorf("dirty item after listing: %v etag %s", it.Content, it.ETag)
	}
	assertUsage(t, s, 10, 2)
	if err := s.DropContent(11); !errors.Is(err, ErrDirty) {
		t.Errorf("DropContent of kept changes of a removed file: %v, want ErrDirty", err)
	}
	// Restored from the server's trash (same file id): the kept changes come back dirty.
	apply(t, s, dirItem(1, "", "r3"), fileItem(10, "f", "e2", 6), fileItem(11, "g", "g1", 5))
	if it := mustGet(t, s, 11); it.Content != ContentDirty || it.LocalBytes != 5 {
		t.Errorf("restored item: %v with %d local bytes, want dirty with 5", it.Content, it.LocalBytes)
	}
}

func TestDropContent(t *testing.T) {
	s := withRoot(t)
	apply(t, s, dirItem(1, "", "r"), fileItem(10, "f", "e", 9), fileItem(11, "stray", "e", 3))
	writeContentFile(t, s, 10, 9)
	mustRecord(t, s, 10, "e", 9, Range{0, 9})
	if err := s.MarkVerified(10, "e"); err != nil {
		t.Fatal(err)
	}
	if err := s.DropContent(10); err != nil {
		t.Fatal(err)
	}
	assertOnline(t, s, 10)
	assertUsage(t, s, 0, 0)
	if lru, err := s.LRU(5); err != nil || len(lru) != 0 {
		t.Errorf("LRU after drop: %+v, %v", lru, err)
	}
	// A file without a record goes too; dropping nothing is no error.
	writeContentFile(t, s, 11, 3)
	if err := s.DropContent(11); err != nil {
		t.Fatal(err)
	}
	assertOnline(t, s, 11)
	if err := s.DropContent(12345); err != nil {
		t.Errorf("DropContent of an unknown id: %v", err)
	}
	// A new download may start right after the drop.
	writeContentFile(t, s, 10, 9)
	mustRecord(t, s, 10, "e", 9, Range{0, 4})
	if !fileExists(t, s.ContentPath(10)) {
		t.Error("the new content file vanished")
	}
	entries, _ := os.ReadDir(s.ContentDir())
	if len(entries) != 1 {
		t.Errorf("content dir holds %d files, want 1 (no detached leftovers)", len(entries))
	}
}

func TestLRUOrder(t *testing.T) {
	s := withRoot(t)
	apply(t, s, dirItem(1, "", "r"), fileItem(10, "a", "e", 1), fileItem(11, "b", "e", 1), fileItem(12, "c", "e", 1), fileItem(13, "none", "e", 1))
	for _, id := range []uint64{10, 11, 12} {
		mustRecord(t, s, id, "e", 1, Range{0, 1})
	}
	base := time.Now().Add(-time.Hour)
	for _, touch := range []struct {
		id uint64
		at time.Duration
	}{{10, 3}, {11, 1}, {12, 2}, {10, 0}} {
		if err := s.TouchContent(touch.id, base.Add(touch.at*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.TouchContent(13, base); err != nil {
		t.Errorf("TouchContent without a record: %v", err)
	}
	if _, ok := mustContent(t, s, 13); ok {
		t.Error("TouchContent created a record")
	}
	ids := func(n int) []uint64 {
		lru, err := s.LRU(n)
		if err != nil {
			t.Fatal(err)
		}
		var out []uint64
		for _, c := range lru {
			out = append(out, c.ID)
		}
		return out
	}
	if got := ids(10); !slices.Equal(got, []uint64{10, 11, 12}) {
		t.Errorf("LRU = %v, want [10 11 12]", got)
	}
	if got := ids(2); !slices.Equal(got, []uint64{10, 11}) {
		t.Errorf("LRU(2) = %v, want [10 11]", got)
	}
	if c, _ := mustContent(t, s, 10); !c.LastUse.Equal(base) {
		t.Errorf("LastUse %v, want %v", c.LastUse, base)
	}
	// New bytes count as a use.
	mustRecord(t, s, 10, "e", 1)
	if got := ids(10); !slices.Equal(got, []uint64{11, 12, 10}) {
		t.Errorf("LRU after a new record of 10 = %v, want [11 12 10]", got)
	}
	if err := s.DropContent(12); err != nil {
		t.Fatal(err)
	}
	if got := ids(10); !slices.Equal(got, []uint64{11, 10}) {
		t.Errorf("LRU after dropping 12 = %v", got)
	}
	if got := ids(0); got != nil {
		t.Errorf("LRU(0) = %v", got)
	}
}

func TestSweepContent(t *testing.T) {
	s := withRoot(t)
	apply(t, s, dirItem(1, "", "r"), fileItem(10, "f", "e", 4))
	writeContentFile(t, s, 10, 4)
	mustRecord(t, s, 10, "e", 4, Range{0, 4})
	writeContentFile(t, s, 99, 4) // no record
	garbage := []string{contentFileName(10) + detachedInfix + "7", strings.ToUpper(contentFileName(0xab)), "partial.tmp"}
	for _, name := range garbage {
		if err := os.WriteFile(filepath.Join(s.ContentDir(), name), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(s.ContentDir(), "subdir"), 0o700); err != nil {
		t.Fatal(err)
	}
	removed, err := s.SweepContent()
	if err != nil || removed != 4 {
		t.Fatalf("SweepContent = %d, %v; want 4", removed, err)
	}
	var left []string
	entries, _ := os.ReadDir(s.ContentDir())
	for _, e := range entries {
		left = append(left, e.Name())
	}
	assertNames(t, "content dir after sweep", left, contentFileName(10), "subdir")
	if removed, err := s.SweepContent(); err != nil || removed != 0 {
		t.Errorf("second sweep = %d, %v", removed, err)
	}
}

func TestReopenKeepsContent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutRoot(dirItem(1, "", "r")); err != nil {
		t.Fatal(err)
	}
	apply(t, s, dirItem(1, "", "r"), fileItem(10, "a", "e", 10), fileItem(11, "b", "e", 4))
	mustRecord(t, s, 10, "e", 10, Range{0, 3}, Range{5, 10})
	mustRecord(t, s, 11, "e", 4, Range{0, 4})
	if err := s.MarkVerified(11, "e"); err != nil {
		t.Fatal(err)
	}
	want10, _ := mustContent(t, s, 10)
	want11, _ := mustContent(t, s, 11)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, want := range []Content{want10, want11} {
		if got, ok := mustContent(t, s, want.ID); !ok || !sameContent(got, want) {
			t.Errorf("after reopen %+v, want %+v", got, want)
		}
	}
	assertUsage(t, s, 12, 2)
	if it := mustGet(t, s, 10); it.LocalBytes != 8 || it.Content != ContentPartial {
		t.Errorf("item 10 after reopen: %v, %d", it.Content, it.LocalBytes)
	}
	if lru, err := s.LRU(5); err != nil || len(lru) != 2 {
		t.Errorf("LRU after reopen: %d records, %v", len(lru), err)
	}
}

// A failed transaction puts the content files it moved aside back.
func TestFailedTransactionRestoresContentFile(t *testing.T) {
	s := withRoot(t)
	apply(t, s, dirItem(1, "", "r"), fileItem(10, "f", "e", 4))
	writeContentFile(t, s, 10, 4)
	mustRecord(t, s, 10, "e", 4, Range{0, 4})
	var tx *txn
	boom := errors.New("boom")
	err := s.db.Update(func(btx *bolt.Tx) error {
		tx = newTxn(s, btx)
		c, _, err := tx.getContent(10)
		if err != nil {
			return err
		}
		if err := tx.deleteContent(&c); err != nil {
			return err
		}
		tx.detachDroppedFiles()
		if fileExists(t, s.ContentPath(10)) {
			t.Error("file not moved aside before the commit")
		}
		return boom // as if the commit failed
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	tx.settleDetached(false)
	if !fileExists(t, s.ContentPath(10)) {
		t.Error("content file not restored after the failed transaction")
	}
	if c, ok := mustContent(t, s, 10); !ok || c.Local() != 4 {
		t.Errorf("record after rollback: %+v ok=%v", c, ok)
	}
	entries, _ := os.ReadDir(s.ContentDir())
	if len(entries) != 1 {
		t.Errorf("%d files in the content dir, want 1", len(entries))
	}
}

func TestMigrateFromVersion1(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutRoot(dirItem(1, "", "r")); err != nil {
		t.Fatal(err)
	}
	apply(t, s, dirItem(1, "", "r"), fileItem(42, "report.pdf", `"abc"`, 123456))
	// Turn the database into a version 1 one: old item encoding, no content buckets.
	raw, _ := hex.DecodeString(v1Item)
	err = s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketItems).Put(idKey(42), raw); err != nil {
			return err
		}
		for _, b := range [][]byte{bucketContent, bucketLRU} {
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
	rawSetSchema(t, dir, 1)
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open of a version 1 database: %v", err)
	}
	defer s.Close()
	if v := storedSchema(t, s); v != SchemaVersion {
		t.Errorf("schema %d after migration", v)
	}
	if it := mustGet(t, s, 42); it.LocalBytes != 0 || it.ETag != `"abc"` {
		t.Errorf("migrated item %+v", it)
	}
	assertUsage(t, s, 0, 0)
	if c := mustRecord(t, s, 42, `"abc"`, 123456, Range{0, 100}); c.Local() != 100 {
		t.Errorf("record after migration %+v", c)
	}
	if it := mustGet(t, s, 42); it.LocalBytes != 100 {
		t.Errorf("LocalBytes %d after the first record", it.LocalBytes)
	}
}

// recordComplete records and verifies in one transaction, as the hydrate layer does for
// a small file that needs no checksum check.
func recordComplete(s *Store, id uint64, etag string, size int64, add []Range) (Content, error) {
	return s.recordRanges(id, etag, size, add, true)
}

func TestRecordCompleteIsRecordAndVerifyInOne(t *testing.T) {
	s := withRoot(t)
	root := mustGet(t, s, 1)
	apply(t, s, root, fileItem(5, "a.txt", `"e1"`, 100))
	if _, err := recordComplete(s, 5, `"e1"`, 100, []Range{{0, 60}}); err == nil {
		t.Fatal("an incomplete file was recorded as verified")
	}
	if c, ok, _ := s.Content(5); ok && c.Local() != 0 {
		t.Fatalf("a refused complete record wrote %d bytes", c.Local())
	}
	c, err := recordComplete(s, 5, `"e1"`, 100, []Range{{0, 100}})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Verified || c.Local() != 100 {
		t.Fatalf("record %+v", c)
	}
	if it := mustGet(t, s, 5); it.Content != ContentLocal || it.LocalBytes != 100 {
		t.Fatalf("item %+v, want local with 100 bytes", it)
	}
}

// Evictable pages through the LRU order and leaves out what eviction cannot free:
// records of files with local changes, and records without bytes.
func TestEvictablePagesAndSkipsWhatCannotGo(t *testing.T) {
	s := withRoot(t)
	apply(t, s, dirItem(1, "", "r"), fileItem(10, "a", "e", 1), fileItem(11, "dirty", "e", 1),
		fileItem(12, "empty", "e", 1), fileItem(13, "b", "e", 1), fileItem(14, "c", "e", 1))
	base := time.Now().Add(-time.Hour)
	for i, id := range []uint64{10, 11, 12, 13, 14} {
		if id == 12 {
			mustRecord(t, s, id, "e", 1)
		} else {
			mustRecord(t, s, id, "e", 1, Range{0, 1})
		}
		if err := s.TouchContent(id, base.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	setLocal(t, s, 11, "", ContentDirty)
	var got []uint64
	var after *Content
	for {
		page, err := s.Evictable(after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for i := range page {
			got = append(got, page[i].ID)
			after = &page[i]
		}
	}
	if !slices.Equal(got, []uint64{10, 13, 14}) {
		t.Errorf("evictable in pages of 2: %v, want [10 13 14]", got)
	}
}
