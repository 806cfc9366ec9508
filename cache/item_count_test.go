package cache

import (
	"encoding/binary"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// storedItemCount reads the item counter as stored, and counts the items by walking
// the bucket, the way Count once did.
func storedItemCount(t testing.TB, s *Store) (stored int64, walked int) {
	t.Helper()
	err := s.db.View(func(tx *bolt.Tx) error {
		stored = -1
		if v := tx.Bucket(bucketMeta).Get(keyItemCount); len(v) == 8 {
			stored = int64(binary.BigEndian.Uint64(v))
		}
		walked = tx.Bucket(bucketItems).Stats().KeyN
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return stored, walked
}

func assertItemCount(t testing.TB, s *Store, what string, want int) {
	t.Helper()
	stored, walked := storedItemCount(t, s)
	if walked != want {
		t.Fatalf("%s: the bucket holds %d items, the test expected %d", what, walked, want)
	}
	if stored != int64(want) {
		t.Errorf("%s: stored item count %d, want %d", what, stored, want)
	}
	if n, err := s.Count(); err != nil || n != want {
		t.Errorf("%s: Count = %d, %v; want %d", what, n, err, want)
	}
}

// statfs reports the number of items from a counter kept in the transactions that add
// and remove items: walking 300,000 items cost 2.6 ms per call.
func TestItemCountFollowsListings(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	assertItemCount(t, s, "fresh", 0)
	if _, err := s.PutRoot(dirItem(1, "", "r")); err != nil {
		t.Fatal(err)
	}
	assertItemCount(t, s, "root", 1)
	apply(t, s, dirItem(1, "", "r1"), dirItem(2, "a", "a1"), dirItem(3, "b", "b1"), fileItem(4, "f", "f1", 1))
	assertItemCount(t, s, "first listing", 4)
	apply(t, s, dirItem(2, "a", "a1"), fileItem(5, "x", "x1", 1), dirItem(6, "sub", "s1"))
	apply(t, s, dirItem(6, "sub", "s1"), fileItem(7, "deep", "d1", 1))
	assertItemCount(t, s, "nested listings", 7)
	// Unchanged relist, then a change that writes records again.
	apply(t, s, dirItem(2, "a", "a1"), fileItem(5, "x", "x1", 1), dirItem(6, "sub", "s1"))
	apply(t, s, dirItem(2, "a", "a2"), fileItem(5, "x", "x2", 2), dirItem(6, "sub", "s1"))
	assertItemCount(t, s, "relists", 7)
	// x moves from a to b: seen from b first, then from a.
	apply(t, s, dirItem(3, "b", "b2"), fileItem(5, "x", "x2", 2))
	apply(t, s, dirItem(2, "a", "a3"), dirItem(6, "sub", "s1"))
	assertItemCount(t, s, "move", 7)
	// sub goes with everything below it, and f is replaced by another file.
	apply(t, s, dirItem(2, "a", "a4"))
	apply(t, s, dirItem(1, "", "r2"), dirItem(2, "a", "a4"), dirItem(3, "b", "b2"), fileItem(8, "f", "f2", 1))
	assertItemCount(t, s, "removals", 5)
	// A folder that became a file loses its subtree.
	if _, err := s.UpdateRemote(fileItem(3, "b", "b3", 9)); err != nil {
		t.Fatal(err)
	}
	assertItemCount(t, s, "kind change", 4)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	assertItemCount(t, s, "reopened", 4)

	// A database without the counter (written before it existed) gets it at open.
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Delete(keyItemCount) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	assertItemCount(t, s, "rebuilt", 4)
	// Another root drops the old tree.
	if _, err := s.PutRoot(dirItem(100, "", "other")); err != nil {
		t.Fatal(err)
	}
	assertItemCount(t, s, "new root", 1)
}
