package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ncvfs/ncvfs/internal/benchtool/treespec"
)

func TestParseVmHWM(t *testing.T) {
	status := "Name:\tncvfs\nVmPeak:\t  900 kB\nVmHWM:\t   51200 kB\nVmRSS:\t 40000 kB\n"
	n, err := parseVmHWM(strings.NewReader(status))
	if err != nil || n != 50<<20 {
		t.Errorf("parseVmHWM = %d, %v, want 50 MiB", n, err)
	}
	for _, bad := range []string{"Name:\tx\n", "VmHWM:\t12 MB\n", "VmHWM:\tlots kB\n"} {
		if n, err := parseVmHWM(strings.NewReader(bad)); err == nil {
			t.Errorf("parseVmHWM(%q) = %d, want an error", bad, n)
		}
	}
	own, err := readVmHWM(os.Getpid())
	if err != nil || own <= 0 {
		t.Errorf("readVmHWM(self) = %d, %v", own, err)
	}
}

func TestLocalTreeMatchesTheSpec(t *testing.T) {
	spec, err := treespec.Parse("flat=40,tree=3x5")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "local")
	if err := buildLocalTree(dir, spec, nil); err != nil {
		t.Fatal(err)
	}
	flat, _ := spec.FolderEntries("flat")
	if err := checkFolder(dir, flat); err != nil {
		t.Errorf("checkFolder on the fresh copy: %v", err)
	}
	if err := checkTreeCounts(filepath.Join(dir, "tree"), 3, 15); err != nil {
		t.Errorf("checkTreeCounts on the fresh copy: %v", err)
	}
	// Sparse: the biggest file takes (almost) no blocks.
	var biggest treespec.Entry
	for _, e := range flat {
		if e.Size > biggest.Size {
			biggest = e
		}
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(dir, biggest.Path), &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != biggest.Size || st.Blocks*512 > 64<<10 {
		t.Errorf("%s: size %d, %d blocks; want size %d and sparse", biggest.Path, st.Size, st.Blocks, biggest.Size)
	}
	// Folder mtimes are set after their contents were created.
	err = spec.Walk(func(e treespec.Entry) error {
		if !e.IsDir {
			return nil
		}
		info, err := os.Stat(filepath.Join(dir, e.Path))
		if err != nil {
			return err
		}
		if !info.ModTime().Equal(e.ModTime) {
			t.Errorf("folder %s has mtime %v, want %v", e.Path, info.ModTime(), e.ModTime)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCheckFolderCatchesWrongListings(t *testing.T) {
	spec, _ := treespec.Parse("flat=10")
	want, _ := spec.FolderEntries("flat")
	mutations := map[string]func(dir string) error{
		"a missing file": func(dir string) error { return os.Remove(filepath.Join(dir, want[3].Path)) },
		"an extra file": func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "flat", "extra"), nil, 0o644)
		},
		"a wrong size": func(dir string) error { return os.Truncate(filepath.Join(dir, want[5].Path), want[5].Size+1) },
		"a wrong mtime": func(dir string) error {
			return os.Chtimes(filepath.Join(dir, want[7].Path), time.Now(), want[7].ModTime.Add(time.Second))
		},
		"a folder for a file": func(dir string) error {
			p := filepath.Join(dir, want[1].Path)
			if err := os.Remove(p); err != nil {
				return err
			}
			return os.Mkdir(p, 0o755)
		},
	}
	for name, mutate := range mutations {
		dir := filepath.Join(t.TempDir(), "local")
		if err := buildLocalTree(dir, spec, nil); err != nil {
			t.Fatal(err)
		}
		if err := mutate(dir); err != nil {
			t.Fatal(err)
		}
		if err := checkFolder(dir, want); err == nil {
			t.Errorf("checkFolder accepted %s", name)
		}
	}
}

func TestCheckTreeCountsCatchesMissingItems(t *testing.T) {
	spec, _ := treespec.Parse("tree=2x3")
	dir := filepath.Join(t.TempDir(), "local")
	if err := buildLocalTree(dir, spec, nil); err != nil {
		t.Fatal(err)
	}
	leaf := filepath.Join(dir, "tree", "dir-0001")
	entries, err := os.ReadDir(leaf)
	if err != nil || len(entries) != 3 {
		t.Fatalf("%s holds %d entries (%v), want 3", leaf, len(entries), err)
	}
	if err := os.Remove(filepath.Join(leaf, entries[0].Name())); err != nil {
		t.Fatal(err)
	}
	if err := checkTreeCounts(filepath.Join(dir, "tree"), 2, 6); err == nil {
		t.Error("checkTreeCounts accepted a tree with a file missing")
	}
	if err := checkTreeCounts(filepath.Join(dir, "missing"), 0, 0); err == nil {
		t.Error("checkTreeCounts accepted a folder that does not exist")
	}
}

func TestLocalClientHasNoColdStateAndBuildsOnce(t *testing.T) {
	spec, _ := treespec.Parse("flat=3")
	env := &benchEnv{root: t.TempDir(), spec: spec}
	c := &localClient{env: env}
	if c.hasColdState() {
		t.Error("local disk claims a cold state")
	}
	v1, err := c.open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	v2, err := c.open(context.Background())
	if err != nil {
		t.Fatalf("second open: %v", err)
	}
	if v1.dir() != v2.dir() || v1.peakRSS() != 0 || v1.close() != nil {
		t.Errorf("views %q and %q differ or misbehave", v1.dir(), v2.dir())
	}
}

func TestFreshDirsAreNewAndEmpty(t *testing.T) {
	env := &benchEnv{root: t.TempDir()}
	a, err := env.freshDir("mnt-x")
	if err != nil {
		t.Fatal(err)
	}
	b, err := env.freshDir("mnt-x")
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Errorf("freshDir gave %q twice", a)
	}
	if entries, _ := os.ReadDir(b); len(entries) != 0 {
		t.Errorf("fresh dir %s is not empty", b)
	}
}
