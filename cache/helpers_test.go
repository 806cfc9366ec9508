package cache

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

var testTime = time.Date(2024, 5, 17, 10, 30, 0, 0, time.UTC)

func openTest(t testing.TB) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "cache"), Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func fileItem(id uint64, name, etag string, size int64) Item {
	return Item{ID: id, Name: name, Size: size, MTime: testTime, ETag: etag, Permissions: "RGDNVW", PermsKnown: true}
}

func dirItem(id uint64, name, etag string) Item {
	return Item{ID: id, Name: name, IsDir: true, Size: -1, MTime: testTime, ETag: etag, Permissions: "RGDNVCK", PermsKnown: true}
}

// withRoot opens a store whose root has id 1.
func withRoot(t testing.TB) *Store {
	t.Helper()
	s := openTest(t)
	if _, err := s.PutRoot(dirItem(1, "", "root-1")); err != nil {
		t.Fatalf("PutRoot: %v", err)
	}
	return s
}

func apply(t testing.TB, s *Store, dir Item, children ...Item) Diff {
	t.Helper()
	d, err := s.ApplyListing(Listing{Dir: dir, Children: children})
	if err != nil {
		t.Fatalf("ApplyListing(%d): %v", dir.ID, err)
	}
	return d
}

func mustGet(t testing.TB, s *Store, id uint64) Item {
	t.Helper()
	it, err := s.Get(id)
	if err != nil {
		t.Fatalf("Get(%d): %v", id, err)
	}
	return it
}

func mustLookup(t testing.TB, s *Store, parent uint64, name string) Item {
	t.Helper()
	it, err := s.Lookup(parent, name)
	if err != nil {
		t.Fatalf("Lookup(%d, %q): %v", parent, name, err)
	}
	return it
}

func assertGone(t testing.TB, s *Store, ids ...uint64) {
	t.Helper()
	for _, id := range ids {
		if _, err := s.Get(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%d) = %v, want ErrNotFound", id, err)
		}
	}
}

func childNames(t testing.TB, s *Store, parent uint64) []string {
	t.Helper()
	items, err := s.Children(parent)
	if err != nil {
		t.Fatalf("Children(%d): %v", parent, err)
	}
	names := []string{}
	for _, it := range items {
		names = append(names, it.Name)
	}
	return names
}

// dump returns every key and value of the database, to prove a refused change wrote
// nothing and a reopen kept everything.
func dump(t testing.TB, s *Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			if seq := b.Sequence(); seq != 0 {
				out[fmt.Sprintf("%s#seq", name)] = fmt.Sprint(seq)
			}
			return b.ForEach(func(k, v []byte) error {
				out[fmt.Sprintf("%s/%x", name, k)] = string(v)
				return nil
			})
		})
	})
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	return out
}

// setLocal writes local fields directly, as the content layer will.
func setLocal(t testing.TB, s *Store, id uint64, listed string, content ContentState) {
	t.Helper()
	err := s.update(func(tx *txn) error {
		it, ok, err := tx.getItem(id)
		if err != nil || !ok {
			return fmt.Errorf("item %d: ok=%v err=%v", id, ok, err)
		}
		it.ListedETag, it.Content = listed, content
		return tx.putItem(&it)
	})
	if err != nil {
		t.Fatalf("setLocal: %v", err)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func assertNames(t testing.TB, what string, got []string, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if got == nil {
		got = []string{}
	}
	if !equalStrings(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}
