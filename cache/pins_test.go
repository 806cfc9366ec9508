package cache

import (
	"errors"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// A folder's pin applies below it until an item has its own; removing an own pin
// returns to inheriting.
func TestPinInheritance(t *testing.T) {
	s := withRoot(t)
	apply(t, s, dirItem(1, "", "r"), dirItem(2, "docs", "d"), fileItem(3, "top.txt", "e", 1))
	apply(t, s, dirItem(2, "docs", "d"), dirItem(4, "sub", "s"), fileItem(5, "a.txt", "e", 1))
	apply(t, s, dirItem(4, "sub", "s"), fileItem(6, "b.txt", "e", 1))
	check := func(id uint64, wantOwn, wantEff Pin) {
		t.Helper()
		own, eff, err := s.PinOf(id)
		if err != nil {
			t.Fatal(err)
		}
		if own != wantOwn || eff != wantEff {
			t.Errorf("pin of %d: own %s, effective %s; want %s, %s", id, own, eff, wantOwn, wantEff)
		}
	}
	check(6, PinInherit, PinUnspecified)
	if err := s.SetPin(2, PinAlwaysLocal); err != nil {
		t.Fatal(err)
	}
	check(2, PinAlwaysLocal, PinAlwaysLocal)
	check(6, PinInherit, PinAlwaysLocal)
	check(3, PinInherit, PinUnspecified)
	if err := s.SetPin(4, PinOnlineOnly); err != nil {
		t.Fatal(err)
	}
	check(6, PinInherit, PinOnlineOnly)
	check(5, PinInherit, PinAlwaysLocal)
	if err := s.SetPin(4, PinInherit); err != nil {
		t.Fatal(err)
	}
	check(6, PinInherit, PinAlwaysLocal)
	if err := s.SetPin(99, PinAlwaysLocal); !errors.Is(err, ErrNotFound) {
		t.Errorf("pin of an unknown item: %v, want ErrNotFound", err)
	}
	if p, err := ParsePin("always"); !errors.Is(err, ErrBadPin) {
		t.Errorf("ParsePin(always) = %v, %v", p, err)
	}
	// A removed folder takes its pin along.
	apply(t, s, dirItem(1, "", "r2"), fileItem(3, "top.txt", "e", 1))
	if pins, err := s.Pins(); err != nil || len(pins) != 0 {
		t.Errorf("pins after the folder went: %v, %v", pins, err)
	}
}

// Content pinned alwayslocal, itself or through a folder, is never offered for eviction.
func TestEvictableSkipsPinned(t *testing.T) {
	s := withRoot(t)
	apply(t, s, dirItem(1, "", "r"), dirItem(2, "keep", "k"), fileItem(10, "a", "e", 1), fileItem(11, "b", "e", 1))
	apply(t, s, dirItem(2, "keep", "k"), fileItem(12, "c", "e", 1))
	for _, id := range []uint64{10, 11, 12} {
		mustRecord(t, s, id, "e", 1, Range{0, 1})
	}
	for _, pin := range []struct {
		id uint64
		p  Pin
	}{{2, PinAlwaysLocal}, {11, PinAlwaysLocal}} {
		if err := s.SetPin(pin.id, pin.p); err != nil {
			t.Fatal(err)
		}
	}
	page, err := s.Evictable(nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	for _, c := range page {
		got = append(got, c.ID)
	}
	if !slices.Equal(got, []uint64{10}) {
		t.Errorf("evictable %v, want [10]", got)
	}
}

// A schema 3 database (no pins bucket) opens as schema 4 with pins usable.
func TestMigrationFromSchema3(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutRoot(dirItem(1, "", "r")); err != nil {
		t.Fatal(err)
	}
	apply(t, s, dirItem(1, "", "r"), fileItem(42, "a.txt", `"e"`, 5))
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketPins) }); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	rawSetSchema(t, dir, 3)
	if s, err = Open(dir, Options{}); err != nil {
		t.Fatalf("open a schema 3 database: %v", err)
	}
	defer s.Close()
	if v := storedSchema(t, s); v != 4 {
		t.Errorf("schema %d after migration, want 4", v)
	}
	if it := mustGet(t, s, 42); it.ETag != `"e"` {
		t.Errorf("migrated item %+v", it)
	}
	if err := s.SetPin(42, PinAlwaysLocal); err != nil {
		t.Fatalf("pin after migration: %v", err)
	}
}
