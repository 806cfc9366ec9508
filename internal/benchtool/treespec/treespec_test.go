package treespec

import (
	"errors"
	"strings"
	"testing"
)

func TestParseCountsTheDefaultTree(t *testing.T) {
	s, err := Parse("flat=5000,tree=100x100")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.String(); got != "flat=5000,tree=100x100" {
		t.Errorf("String() = %q", got)
	}
	flat, ok := s.Folder("flat")
	if !ok || flat.Entries() != 5000 || flat.FileCount() != 5000 || flat.Items() != 5000 {
		t.Errorf("flat = %+v, entries %d, files %d", flat, flat.Entries(), flat.FileCount())
	}
	tree, ok := s.Folder("tree")
	if !ok {
		t.Fatal("no folder tree")
	}
	if tree.Entries() != 100 || tree.FileCount() != 10_000 || tree.Items() != 10_100 {
		t.Errorf("tree: entries %d files %d items %d", tree.Entries(), tree.FileCount(), tree.Items())
	}
	dirs := tree.Dirs()
	if len(dirs) != 101 || dirs[0] != "tree" || dirs[1] != "tree/dir-0000" || dirs[100] != "tree/dir-0099" {
		t.Errorf("Dirs() = %d folders, first %q", len(dirs), dirs[:2])
	}
	if _, ok := s.Folder("other"); ok {
		t.Error("Folder(other) found a folder that the spec does not name")
	}
}

func TestParseRefusesBadSpecs(t *testing.T) {
	for _, bad := range []string{
		"", ",", "flat", "flat=", "flat=-1", "flat=x", "flat=10x", "=5",
		"a/b=5", "..=5", "flat=1,flat=2", "flat=99999999999999999999",
		"huge=1000x1000x1000", "a=1500000,b=1500000", "over=2000000x2",
	} {
		if s, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", bad, s)
		}
	}
}

func TestWalkIsDeterministicAndMatchesTheCounts(t *testing.T) {
	s, err := Parse("a=3x2x4,b=7")
	if err != nil {
		t.Fatal(err)
	}
	collect := func() []Entry {
		var out []Entry
		if err := s.Walk(func(e Entry) error { out = append(out, e); return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	first, second := collect(), collect()
	if len(first) != len(second) {
		t.Fatalf("two walks gave %d and %d items", len(first), len(second))
	}
	for i := range first {
		if first[i] != second[i] {
			t.Fatalf("item %d differs between walks: %+v vs %+v", i, first[i], second[i])
		}
	}
	a, _ := s.Folder("a")
	b, _ := s.Folder("b")
	// Each top-level folder is an item too.
	if want := a.Items() + b.Items() + 2; len(first) != want {
		t.Errorf("walk gave %d items, want %d", len(first), want)
	}
	files, dirs := 0, map[string]bool{}
	paths := map[string]bool{}
	for _, e := range first {
		if paths[e.Path] {
			t.Errorf("path %q generated twice", e.Path)
		}
		paths[e.Path] = true
		if e.IsDir {
			dirs[e.Path] = true
			continue
		}
		files++
		parent := e.Path[:strings.LastIndexByte(e.Path, '/')]
		if !dirs[parent] {
			t.Errorf("file %q came before its folder", e.Path)
		}
		if e.Size < 0 || e.Size > 8<<20 {
			t.Errorf("file %q has size %d", e.Path, e.Size)
		}
		if e.ModTime.Before(baseTime) {
			t.Errorf("file %q has mtime %v before the base time", e.Path, e.ModTime)
		}
	}
	if want := a.FileCount() + b.FileCount(); files != want {
		t.Errorf("%d files, want %d", files, want)
	}
	if len(a.Dirs())+len(b.Dirs()) != len(dirs) {
		t.Errorf("Dirs() lists %d folders, the walk %d", len(a.Dirs())+len(b.Dirs()), len(dirs))
	}
}

func TestWalkVariesSizesAndTimes(t *testing.T) {
	s, err := Parse("flat=200")
	if err != nil {
		t.Fatal(err)
	}
	sizes, times := map[int64]bool{}, map[int64]bool{}
	err = s.Walk(func(e Entry) error {
		if !e.IsDir {
			sizes[e.Size] = true
			times[e.ModTime.Unix()] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A listing benchmark over identical entries would hide formatting costs.
	if len(sizes) < 100 || len(times) < 150 {
		t.Errorf("only %d distinct sizes and %d distinct mtimes over 200 files", len(sizes), len(times))
	}
}

func TestWalkStopsAtTheFirstError(t *testing.T) {
	s, _ := Parse("flat=10")
	stop := errors.New("stop")
	calls := 0
	err := s.Walk(func(Entry) error {
		calls++
		if calls == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 3 {
		t.Errorf("Walk returned %v after %d calls, want stop after 3", err, calls)
	}
}

func TestFolderEntriesListsOnlyDirectChildren(t *testing.T) {
	s, _ := Parse("flat=5,tree=2x3")
	got, err := s.FolderEntries("flat")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 {
		t.Fatalf("FolderEntries(flat) = %d entries, want 5", len(got))
	}
	for _, e := range got {
		if !strings.HasPrefix(e.Path, "flat/file-") || e.IsDir {
			t.Errorf("unexpected entry %+v", e)
		}
	}
	tree, err := s.FolderEntries("tree")
	if err != nil {
		t.Fatal(err)
	}
	if len(tree) != 2 {
		t.Errorf("FolderEntries(tree) = %d entries, want its 2 subfolders", len(tree))
	}
}

func TestFixedFileSizes(t *testing.T) {
	s, err := Parse("flat=3,big=1:1G,small=2x5:4K,odd=2:1000")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.String(); got != "flat=3,big=1:1G,small=2x5:4K,odd=2:1000" {
		t.Errorf("String() = %q", got)
	}
	sizes := map[string][]int64{}
	var seeds []uint64
	err = s.Walk(func(e Entry) error {
		if !e.IsDir {
			top, _, _ := strings.Cut(e.Path, "/")
			sizes[top] = append(sizes[top], e.Size)
			seeds = append(seeds, e.Seed)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(sizes["big"]) != 1 || sizes["big"][0] != 1<<30 {
		t.Errorf("big sizes %v, want one of 1 GiB", sizes["big"])
	}
	if len(sizes["small"]) != 10 {
		t.Errorf("small has %d files, want 10", len(sizes["small"]))
	}
	for _, n := range sizes["small"] {
		if n != 4096 {
			t.Errorf("a small file has %d bytes, want 4096", n)
		}
	}
	if len(sizes["odd"]) != 2 || sizes["odd"][0] != 1000 || sizes["odd"][1] != 1000 {
		t.Errorf("odd sizes %v", sizes["odd"])
	}
	// Files of one size still get their own content.
	seen := map[uint64]bool{}
	for _, sd := range seeds {
		if seen[sd] {
			t.Errorf("seed %d used twice", sd)
		}
		seen[sd] = true
	}
	// A fixed size in one folder leaves the spread sizes of the others as they were.
	plain, _ := Parse("flat=3")
	want, _ := plain.FolderEntries("flat")
	got, _ := s.FolderEntries("flat")
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("flat entry %d changed: %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1": 1, "4096": 4096, "4K": 4096, "3M": 3 << 20, "1G": 1 << 30, "1T": 1 << 40, "0": 0} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v, want %d", in, got, err, want)
		}
		if want > 0 {
			if back, _ := ParseSize(FormatSize(want)); back != want {
				t.Errorf("FormatSize(%d) = %q does not parse back", want, FormatSize(want))
			}
		}
	}
	for _, bad := range []string{"", "K", "-1", "1.5G", "2T", "1P", "9223372036854775807", "1k"} {
		if n, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", bad, n)
		}
	}
	for _, bad := range []string{"big=1:", "big=1:0", "big=1:2T", "big=1:1G:1G", "big=:1G"} {
		if s, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", bad, s)
		}
	}
}
