package cache

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestApplyListingAddChangeRemove(t *testing.T) {
	s := withRoot(t)
	root := dirItem(1, "", "root-2")
	d := apply(t, s, root, fileItem(12, "c", "ec", 3), fileItem(10, "a", "ea", 1), dirItem(11, "b", "eb"))
	assertNames(t, "Added", d.Added, "a", "b", "c")
	assertNames(t, "Removed", d.Removed)
	assertNames(t, "Changed", d.Changed)
	assertNames(t, "Children", childNames(t, s, 1), "a", "b", "c")
	if got := mustGet(t, s, 1); got.ETag != "root-2" || got.ListedETag != "root-2" {
		t.Errorf("root ETag %q ListedETag %q, want both root-2", got.ETag, got.ListedETag)
	}
	a := mustLookup(t, s, 1, "a")
	if a.ID != 10 || a.Parent != 1 || a.Size != 1 || !a.MTime.Equal(testTime) || a.Permissions != "RGDNVW" {
		t.Errorf("Lookup a = %+v", a)
	}

	changedA := fileItem(10, "a", "ea2", 1)
	bigger := fileItem(13, "e", "ee", 5)
	d = apply(t, s, dirItem(1, "", "root-3"), changedA, dirItem(11, "b", "eb"), fileItem(14, "d", "ed", 4), bigger)
	assertNames(t, "Added", d.Added, "d", "e")
	assertNames(t, "Removed", d.Removed, "c")
	assertNames(t, "Changed", d.Changed, "a")
	assertGone(t, s, 12)
	if got := mustGet(t, s, 10); got.ETag != "ea2" {
		t.Errorf("a's ETag %q, want ea2", got.ETag)
	}
	if n, _ := s.Count(); n != 5 {
		t.Errorf("Count = %d, want 5", n)
	}
}

func TestApplyListingReportsEachVisibleChange(t *testing.T) {
	base := fileItem(10, "f", "e", 1)
	cases := map[string]func(it *Item){
		"etag":        func(it *Item) { it.ETag = "e2" },
		"size":        func(it *Item) { it.Size = 2 },
		"mtime":       func(it *Item) { it.MTime = it.MTime.Add(time.Second) },
		"permissions": func(it *Item) { it.Permissions = "RG" },
		"perms known": func(it *Item) { it.PermsKnown = false },
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			s := withRoot(t)
			apply(t, s, dirItem(1, "", "r"), base)
			next := base
			change(&next)
			d := apply(t, s, dirItem(1, "", "r"), next)
			assertNames(t, "Changed", d.Changed, "f")
		})
	}
	// An owner change is stored but is nothing the kernel shows.
	s := withRoot(t)
	apply(t, s, dirItem(1, "", "r"), base)
	next := base
	next.OwnerName = "Bob"
	if d := apply(t, s, dirItem(1, "", "r"), next); !d.Empty() {
		t.Errorf("owner change diff %+v, want empty", d)
	}
	if got := mustGet(t, s, 10); got.OwnerName != "Bob" {
		t.Errorf("owner %q not stored", got.OwnerName)
	}
}

func TestUnchangedRelistWritesNothing(t *testing.T) {
	s := withRoot(t)
	var children []Item
	for i := range 50 {
		children = append(children, fileItem(uint64(100+i), fmt.Sprintf("f%02d", i), "e", int64(i)))
	}
	children = append(children, dirItem(200, "sub", "s"), fileItem(0, "generic", "g", 1))
	apply(t, s, dirItem(1, "", "r"), children...)
	before := s.writes.Load()
	// Same answer again, in another order and with mtimes in another location.
	again := slices.Clone(children)
	slices.Reverse(again)
	for i := range again {
		again[i].MTime = again[i].MTime.In(time.FixedZone("X", 3600))
	}
	d := apply(t, s, dirItem(1, "", "r"), again...)
	if !d.Empty() {
		t.Errorf("diff of an unchanged relist: %+v", d)
	}
	if w := s.writes.Load() - before; w != 0 {
		t.Errorf("unchanged relist wrote %d records, want 0", w)
	}
	// One changed child costs one write.
	again[0].ETag = "new"
	before = s.writes.Load()
	apply(t, s, dirItem(1, "", "r"), again...)
	if w := s.writes.Load() - before; w != 1 {
		t.Errorf("relist with one change wrote %d records, want 1", w)
	}
}

func TestListingKeepsLocalState(t *testing.T) {
	s := withRoot(t)
	apply(t, s, dirItem(1, "", "r"), dirItem(11, "sub", "s1"), fileItem(10, "f", "e1", 1))
	apply(t, s, dirItem(11, "sub", "s1"), fileItem(12, "inner", "i", 1))
	setLocal(t, s, 10, "", ContentLocal)

	apply(t, s, dirItem(1, "", "r2"), dirItem(11, "sub", "s2"), fileItem(10, "f", "e2", 2))
	sub := mustGet(t, s, 11)
	if sub.ETag != "s2" || sub.ListedETag != "s1" {
		t.Errorf("sub ETag %q ListedETag %q, want s2 and s1", sub.ETag, sub.ListedETag)
	}
	if f := mustGet(t, s, 10); f.Content != ContentLocal || f.ETag != "e2" {
		t.Errorf("file content %v ETag %q, want local state kept and new ETag", f.Content, f.ETag)
	}
	assertNames(t, "sub's children", childNames(t, s, 11), "inner")
}

func TestListingMovesBetweenFolders(t *testing.T) {
	s := withRoot(t)
	apply(t, s, dirItem(1, "", "r"), dirItem(20, "A", "a"), dirItem(21, "B", "b"))
	apply(t, s, dirItem(20, "A", "a"), dirItem(30, "x", "x1"))
	apply(t, s, dirItem(30, "x", "x1"), fileItem(31, "y", "y", 1))
	setLocal(t, s, 31, "", ContentPartial)

	// The server moved A/x to B/x: B's listing sees it first.
	d := apply(t, s, dirItem(21, "B", "b2"), dirItem(30, "x", "x1"))
	assertNames(t, "Added", d.Added, "x")
	if len(d.MovedIn) != 1 || d.MovedIn[0] != (Move{ID: 30, FromParent: 20, FromName: "x"}) {
		t.Errorf("MovedIn = %+v", d.MovedIn)
	}
	x := mustLookup(t, s, 21, "x")
	if x.ID != 30 || x.Parent != 21 || x.ListedETag != "x1" {
		t.Errorf("moved item %+v: want id 30 under 21 with ListedETag kept", x)
	}
	if _, err := s.Lookup(20, "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("old place still resolves: %v", err)
	}
	if p, err := s.Path(31); err != nil || p != "B/x/y" {
		t.Errorf("Path(31) = %q, %v; want B/x/y", p, err)
	}
	if y := mustGet(t, s, 31); y.Content != ContentPartial {
		t.Errorf("subtree local state lost: %+v", y)
	}
	// A's later listing no longer has x; the moved item survives it.
	if d := apply(t, s, dirItem(20, "A", "a2")); !d.Empty() {
		t.Errorf("A's diff after the move: %+v, want empty", d)
	}
	mustGet(t, s, 30)
	mustGet(t, s, 31)
}

func TestListingMoveOutOfRemovedFolder(t *testing.T) {
	s := withRoot(t)
	apply(t, s, dirItem(1, "", "r"), dirItem(20, "old", "o"))
	apply(t, s, dirItem(20, "old", "o"), fileItem(21, "keep", "k", 1), fileItem(22, "drop", "d", 1))
	// old was deleted on the server after keep moved to the root.
	d := apply(t, s, dirItem(1, "", "r2"), fileItem(21, "keep", "k", 1))
	assertNames(t, "Added", d.Added, "keep")
	assertNames(t, "Removed", d.Removed, "old")
	assertGone(t, s, 20, 22)
	if got := mustGet(t, s, 21); got.Parent != 1 {
		t.Errorf("moved file %+v, want parent 1", got)
	}
}

func TestListingRenameAndSwap(t *testing.T) {
	s := withRoot(t)
	apply(t, s, dirItem(1, "", "r"), fileItem(10, "a", "e", 1), fileItem(11, "b", "e", 1), dirItem(12, "c", "c"))
	apply(t, s, dirItem(12, "c", "c"), fileItem(13, "in", "e", 1))

	d := apply(t, s, dirItem(1, "", "r"), fileItem(10, "b", "e", 1), fileItem(11, "a", "e", 1), dirItem(12, "renamed", "c"))
	assertNames(t, "Added", d.Added, "renamed")
	assertNames(t, "Removed", d.Removed, "c")
	assertNames(t, "Changed", d.Changed, "a", "b")
	if len(d.MovedIn) != 0 {
		t.Errorf("MovedIn = %+v for renames within the folder", d.MovedIn)
	}
	if a, b := mustLookup(t, s, 1, "a"), mustLookup(t, s, 1, "b"); a.ID != 11 || b.ID != 10 {
		t.Errorf("after swap a=%d b=%d, want 11 and 10", a.ID, b.ID)
	}
	if p, err := s.Path(13); err != nil || p != "renamed/in" {
		t.Errorf("Path(13) = %q, %v", p, err)
	}
	assertNames(t, "Children", childNames(t, s, 1), "a", "b", "renamed")
}

func TestListingNameTakenByAnotherID(t *testing.T) {
	s := withRoot(t)
	apply(t, s, dirItem(1, "", "r"), dirItem(40, "n", "n"))
	apply(t, s, dirItem(40, "n", "n"), fileItem(41, "child", "c", 1))

	// Deleted and recreated on the server: same name, new file id, now a file.
	d := apply(t, s, dirItem(1, "", "r2"), fileItem(42, "n", "n2", 1))
	assertNames(t, "Changed", d.Changed, "n")
	assertNames(t, "Added", d.Added)
	assertNames(t, "Removed", d.Removed)
	assertGone(t, s, 40, 41)
	if got := mustLookup(t, s, 1, "n"); got.ID != 42 {
		t.Errorf("n is %d, want 42", got.ID)
	}
	if n, _ := s.Count(); n != 2 {
		t.Errorf("Count = %d, want 2", n)
	}
}

func TestListingNameTakenByItemMovedInSameListing(t *testing.T) {
	s := withRoot(t)
	apply(t, s, dirItem(1, "", "r"), dirItem(40, "n", "n"))
	apply(t, s, dirItem(40, "n", "n"), fileItem(41, "child", "c", 1))

	// n was renamed to m and a new n was created.
	d := apply(t, s, dirItem(1, "", "r2"), dirItem(40, "m", "n"), fileItem(42, "n", "new", 1))
	assertNames(t, "Added", d.Added, "m")
	assertNames(t, "Changed", d.Changed, "n")
	if m := mustLookup(t, s, 1, "m"); m.ID != 40 {
		t.Errorf("m is %d, want 40", m.ID)
	}
	assertNames(t, "m's children", childNames(t, s, 40), "child")
	if p, err := s.Path(41); err != nil || p != "m/child" {
		t.Errorf("Path(41) = %q, %v", p, err)
	}
}

func TestListingKindChange(t *testing.T) {
	s := withRoot(t)
	apply(t, s, dirItem(1, "", "r"), dirItem(50, "k", "k1"))
	apply(t, s, dirItem(50, "k", "k1"), fileItem(51, "inner", "i", 1))
	if got := mustGet(t, s, 50); got.ListedETag != "k1" {
		t.Fatalf("setup: ListedETag %q", got.ListedETag)
	}
	d := apply(t, s, dirItem(1, "", "r2"), fileItem(50, "k", "k2", 9))
	assertNames(t, "Changed", d.Changed, "k")
	assertGone(t, s, 51)
	got := mustGet(t, s, 50)
	if got.IsDir || got.ListedETag != "" || got.Size != 9 {
		t.Errorf("after kind change %+v, want a fresh file", got)
	}
	assertNames(t, "children of the new file", childNames(t, s, 50))
}

func TestListingGenericIDs(t *testing.T) {
	s := openTest(t)
	rootID, err := s.PutRoot(dirItem(0, "", "r"))
	if err != nil {
		t.Fatal(err)
	}
	if rootID < localIDBase {
		t.Fatalf("generic root id %d below the local range", rootID)
	}
	root := dirItem(rootID, "", "r")
	apply(t, s, root, fileItem(0, "f", "e", 1), dirItem(0, "d", "d"), fileItem(0, "g", "e", 1))
	ids := map[string]uint64{}
	for _, it := range mustChildren(t, s, rootID) {
		if it.ID < localIDBase {
			t.Errorf("%s got id %d, below the local range", it.Name, it.ID)
		}
		ids[it.Name] = it.ID
	}
	if len(ids) != 3 || ids["f"] == ids["d"] || ids["f"] == ids["g"] || ids["d"] == ids["g"] {
		t.Fatalf("ids not distinct: %v", ids)
	}
	setLocal(t, s, ids["d"], "listed", ContentOnline)

	// Relisted with changes: same name and kind keep their id, a kind change does not.
	d := apply(t, s, root, fileItem(0, "f", "e2", 2), dirItem(0, "d", "d2"), dirItem(0, "g", "x"))
	assertNames(t, "Changed", d.Changed, "d", "f", "g")
	if got := mustLookup(t, s, rootID, "f"); got.ID != ids["f"] || got.ETag != "e2" {
		t.Errorf("f = %+v, want id %d kept", got, ids["f"])
	}
	if got := mustLookup(t, s, rootID, "d"); got.ID != ids["d"] || got.ListedETag != "listed" {
		t.Errorf("d = %+v, want id %d and ListedETag kept", got, ids["d"])
	}
	g := mustLookup(t, s, rootID, "g")
	if g.ID == ids["g"] || !g.IsDir || g.ID < localIDBase {
		t.Errorf("g = %+v, want a fresh local id for the new folder", g)
	}
	assertGone(t, s, ids["g"])
}

func mustChildren(t *testing.T, s *Store, parent uint64) []Item {
	t.Helper()
	items, err := s.Children(parent)
	if err != nil {
		t.Fatal(err)
	}
	return items
}

func TestListingRemovesHugeSubtree(t *testing.T) {
	s := withRoot(t)
	apply(t, s, dirItem(1, "", "r"), dirItem(2, "big", "b"), fileItem(3, "keep", "k", 1))
	// A 50,000-wide folder and a 50,000-deep chain, written directly in one transaction
	// (listing them folder by folder would take 50,000 commits), in key order so that
	// bbolt appends.
	const half = 50_000
	err := s.update(func(t *txn) error {
		for i := range half {
			it := fileItem(uint64(1_000_000+i), fmt.Sprintf("f%06d", i), "e", 1)
			it.Parent = 2
			if err := t.putItem(&it); err != nil {
				return err
			}
			if err := t.putLink(2, it.Name, it.ID); err != nil {
				return err
			}
		}
		parent := uint64(2)
		for i := range half {
			it := dirItem(uint64(2_000_000+i), "d", "e")
			it.Parent = parent
			if err := t.putItem(&it); err != nil {
				return err
			}
			if err := t.putLink(parent, it.Name, it.ID); err != nil {
				return err
			}
			parent = it.ID
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Count(); n != 2*half+3 {
		t.Fatalf("setup Count = %d", n)
	}
	d := apply(t, s, dirItem(1, "", "r2"), fileItem(3, "keep", "k", 1))
	assertNames(t, "Removed", d.Removed, "big")
	if n, _ := s.Count(); n != 2 {
		t.Errorf("Count after removal = %d, want 2", n)
	}
	links := 0
	for k := range dump(t, s) {
		if len(k) > len("children/") && k[:len("children/")] == "children/" {
			links++
		}
	}
	if links != 1 {
		t.Errorf("%d children-index entries left, want 1", links)
	}
}

func TestInvalidListingsChangeNothing(t *testing.T) {
	s := withRoot(t)
	apply(t, s, dirItem(1, "", "r"), dirItem(20, "a", "a"), fileItem(10, "f", "e", 1))
	apply(t, s, dirItem(20, "a", "a"), dirItem(21, "b", "b"))
	ok := fileItem(99, "fine", "e", 1)
	cases := map[string]Listing{
		"empty name":       {Dir: dirItem(1, "", "r2"), Children: []Item{ok, fileItem(11, "", "e", 1)}},
		"slash":            {Dir: dirItem(1, "", "r2"), Children: []Item{ok, fileItem(11, "x/y", "e", 1)}},
		"nul":              {Dir: dirItem(1, "", "r2"), Children: []Item{ok, fileItem(11, "x\x00", "e", 1)}},
		"dot":              {Dir: dirItem(1, "", "r2"), Children: []Item{ok, dirItem(11, ".", "e")}},
		"dotdot":           {Dir: dirItem(1, "", "r2"), Children: []Item{ok, dirItem(11, "..", "e")}},
		"duplicate name":   {Dir: dirItem(1, "", "r2"), Children: []Item{ok, fileItem(11, "fine", "e", 1)}},
		"duplicate id":     {Dir: dirItem(1, "", "r2"), Children: []Item{ok, fileItem(99, "other", "e", 1)}},
		"self":             {Dir: dirItem(21, "b", "b2"), Children: []Item{ok, dirItem(21, "me", "e")}},
		"parent":           {Dir: dirItem(21, "b", "b2"), Children: []Item{ok, dirItem(20, "up", "e")}},
		"root":             {Dir: dirItem(21, "b", "b2"), Children: []Item{ok, dirItem(1, "top", "e")}},
		"huge name":        {Dir: dirItem(1, "", "r2"), Children: []Item{ok, fileItem(11, strings.Repeat("n", 5000), "e", 1)}},
		"local id":         {Dir: dirItem(1, "", "r2"), Children: []Item{ok, fileItem(localIDBase+5, "x", "e", 1)}},
		"dir is a file":    {Dir: fileItem(1, "", "r2", 1), Children: []Item{ok}},
		"generic dup name": {Dir: dirItem(1, "", "r2"), Children: []Item{fileItem(0, "g", "e", 1), dirItem(0, "g", "e")}},
	}
	before := dump(t, s)
	for name, l := range cases {
		_, err := s.ApplyListing(l)
		if !errors.Is(err, ErrBadListing) {
			t.Errorf("%s: err %v, want ErrBadListing", name, err)
		}
	}
	after := dump(t, s)
	if len(before) != len(after) {
		t.Fatalf("refused listings changed the record count: %d -> %d", len(before), len(after))
	}
	for k, v := range before {
		if after[k] != v {
			t.Errorf("refused listings changed %s", k)
		}
	}
	if _, err := s.ApplyListing(Listing{Dir: dirItem(777, "x", "e")}); !errors.Is(err, ErrNotFound) {
		t.Errorf("listing of an unknown folder: %v, want ErrNotFound", err)
	}
}

func TestDiffListsAreSorted(t *testing.T) {
	s := withRoot(t)
	var first, second []Item
	for i := range 200 {
		// Descending ids and shuffled names, so no accidental order helps.
		name := fmt.Sprintf("n%03d", (i*37)%200)
		first = append(first, fileItem(uint64(1000-i), name, "e", 1))
	}
	apply(t, s, dirItem(1, "", "r"), first...)
	for _, c := range first {
		switch c.ID % 3 {
		case 0:
			c.ETag = "changed"
			second = append(second, c)
		case 1:
			// removed
		case 2:
			second = append(second, c)
			second = append(second, fileItem(c.ID+5000, c.Name+"+new", "e", 1))
		}
	}
	d := apply(t, s, dirItem(1, "", "r"), second...)
	for what, list := range map[string][]string{"Added": d.Added, "Removed": d.Removed, "Changed": d.Changed} {
		if len(list) == 0 || !slices.IsSorted(list) {
			t.Errorf("%s (%d names) not sorted or empty", what, len(list))
		}
	}
}

func TestApplyListingsIsOneTransaction(t *testing.T) {
	s := withRoot(t)
	root := mustGet(t, s, rootIDForTests(t, s))
	apply(t, s, root, dirItem(10, "a", `"a1"`), dirItem(11, "b", `"b1"`))
	a, b := mustGet(t, s, 10), mustGet(t, s, 11)
	diffs, err := s.ApplyListings([]Listing{
		{Dir: a, Children: []Item{fileItem(20, "x.txt", `"x"`, 1)}},
		{Dir: b, Children: []Item{fileItem(21, "y.txt", `"y"`, 2)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) != 2 || len(diffs[0].Added) != 1 || diffs[1].Added[0] != "y.txt" {
		t.Fatalf("diffs %+v", diffs)
	}
	// One bad listing rejects the whole group.
	_, err = s.ApplyListings([]Listing{
		{Dir: a, Children: []Item{fileItem(30, "z.txt", `"z"`, 1)}},
		{Dir: b, Children: []Item{fileItem(31, "..", `"bad"`, 1)}},
	})
	if err == nil {
		t.Fatal("a group with an invalid name was accepted")
	}
	if _, err := s.Lookup(10, "z.txt"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the valid listing of a rejected group was written: %v", err)
	}
}

func rootIDForTests(t *testing.T, s *Store) uint64 {
	t.Helper()
	id, ok, err := s.RootID()
	if err != nil || !ok {
		t.Fatalf("no root: %v", err)
	}
	return id
}

// A file moved between two folders listed in one group keeps its id and its content,
// whichever folder's listing comes first (the change poller applies a pass this way).
func TestApplyListingsMoveKeepsContentInEitherOrder(t *testing.T) {
	for _, sourceFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("sourceFirst=%v", sourceFirst), func(t *testing.T) {
			s := withRoot(t)
			root := mustGet(t, s, rootIDForTests(t, s))
			apply(t, s, root, dirItem(10, "a", `"a1"`), dirItem(11, "b", `"b1"`))
			apply(t, s, mustGet(t, s, 10), fileItem(20, "x.txt", `"x"`, 4), dirItem(21, "sub", `"s1"`))
			apply(t, s, mustGet(t, s, 11))
			apply(t, s, mustGet(t, s, 21), fileItem(22, "deep.txt", `"d"`, 3))
			mustRecord(t, s, 20, `"x"`, 4, Range{Off: 0, End: 4})
			mustRecord(t, s, 22, `"d"`, 3, Range{Off: 0, End: 3})

			// On the server: a/x.txt -> b/y.txt, a/sub/deep.txt -> b/deep.txt, a/sub removed.
			a, b := mustGet(t, s, 10), mustGet(t, s, 11)
			a.ETag, b.ETag = `"a2"`, `"b2"`
			src := Listing{Dir: a}
			dst := Listing{Dir: b, Children: []Item{fileItem(20, "y.txt", `"x"`, 4), fileItem(22, "deep.txt", `"d"`, 3)}}
			group := []Listing{dst, src}
			if sourceFirst {
				group = []Listing{src, dst}
			}
			diffs, err := s.ApplyListings(group)
			if err != nil {
				t.Fatal(err)
			}
			srcDiff, dstDiff := diffs[1], diffs[0]
			if sourceFirst {
				srcDiff, dstDiff = diffs[0], diffs[1]
			}
			// x.txt leaves the source as a removal or, when the destination came first,
			// only as a move (MovedIn names where the kernel saw it).
			if !slices.Contains(srcDiff.Removed, "sub") {
				t.Errorf("source Removed = %q, want sub in it", srcDiff.Removed)
			}
			assertNames(t, "destination Added", dstDiff.Added, "deep.txt", "y.txt")
			if len(dstDiff.MovedIn) != 2 {
				t.Errorf("MovedIn = %+v, want both files", dstDiff.MovedIn)
			}
			assertNames(t, "a", childNames(t, s, 10))
			assertNames(t, "b", childNames(t, s, 11), "deep.txt", "y.txt")
			assertGone(t, s, 21)
			for _, id := range []uint64{20, 22} {
				if it := mustGet(t, s, id); it.Parent != 11 || it.LocalBytes == 0 {
					t.Errorf("item %d: parent %d, %d bytes local; want in b with its content", id, it.Parent, it.LocalBytes)
				}
				if _, ok := mustContent(t, s, id); !ok {
					t.Errorf("item %d lost its content record", id)
				}
			}
		})
	}
}
