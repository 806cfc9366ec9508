package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ncvfs/ncvfs/internal/benchtool/treespec"
)

// workload is one row of the results: something timed on every client's view of the
// tree, and optionally the raw server requests it stands on. New benchmarks are new
// workloads; the runner and the report need no change.
type workload struct {
	key   string // stable id, for goals
	label string // row label
	group string // the table it goes in: groupListing, groupContent or groupWriting
	// cold workloads run on a fresh mount with an empty cache, one mount per sample;
	// warm ones run repeatedly on a mount where the same workload already ran once.
	cold bool
	// run times one execution on root, a client's view of the whole tree.
	run func(ctx context.Context, root string) (time.Duration, error)
	// raw times the reference requests against the server; nil when there is none.
	raw func(ctx context.Context, c *curlRunner) (time.Duration, error)
	// check verifies, untimed and after the timed runs, that the client showed the data
	// the server holds: a fast but wrong listing must not pass.
	check func(root string) error
	// settle, when set, runs on a warm view after the priming run and before the timed
	// runs, e.g. to let a mount finish storing what it read.
	settle func(ctx context.Context, root string) error
	// unit says how the report shows a median; readBytes and items are what one run
	// reads (or writes), for throughputs, per-file times and fetch ratios.
	unit      unit
	readBytes int64
	items     int
	// budget, when positive, stops sampling a client once it has spent this long on
	// the workload and has at least one sample: a client 100 times slower than the
	// others must not make the run last an hour.
	budget time.Duration
	// counter, when set, counts the content bytes the server sent during each cold
	// sample, from just before the run to after the unmount.
	counter *serverCounters
	// write, when set, makes this a writing row: every sample writes into an emptied
	// folder on a fresh view, and what reaches the server is awaited and checked
	// (writes.go); run, raw and check are then unused.
	write *writeJob
}

// Report tables.
const (
	groupListing = "listing"
	groupContent = "content"
	groupWriting = "writing"
)

// unit is how a cell's median is shown.
type unit int

const (
	unitMs         unit = iota // milliseconds
	unitThroughput             // MiB/s of readBytes
	unitPerFile                // milliseconds per item
	unitFetched                // bytes fetched ÷ bytes read, and milliseconds
)

// Workload keys used by the goals.
const (
	keyColdLs   = "cold-ls"
	keyWarmLs   = "warm-ls"
	keyColdFind = "cold-find"
	keyWarmFind = "warm-find"
)

// listingWorkloads are the mount-and-browse issue's rows: ls -l of the flat folder and
// find over the tree, cold and warm.
func listingWorkloads(spec treespec.Spec, flatName, treeName string) ([]workload, error) {
	flat, ok := spec.Folder(flatName)
	if !ok {
		return nil, fmt.Errorf("benchtool: the tree %q has no folder %q to list", spec, flatName)
	}
	tree, ok := spec.Folder(treeName)
	if !ok {
		return nil, fmt.Errorf("benchtool: the tree %q has no folder %q to walk", spec, treeName)
	}
	flatEntries, err := spec.FolderEntries(flatName)
	if err != nil {
		return nil, err
	}
	treeDirs := tree.Dirs()

	lsRun := func(ctx context.Context, root string) (time.Duration, error) {
		return timeCommand(ctx, "ls", "-l", "--color=never", filepath.Join(root, flatName))
	}
	lsRaw := func(ctx context.Context, c *curlRunner) (time.Duration, error) {
		return c.propfind(ctx, []string{flatName})
	}
	lsCheck := func(root string) error { return checkFolder(root, flatEntries) }
	findRun := func(ctx context.Context, root string) (time.Duration, error) {
		return timeCommand(ctx, "find", filepath.Join(root, treeName))
	}
	// find needs every folder's listing: the raw floor is one Depth-1 PROPFIND per
	// folder, one after the other, as a client that walks the tree sends them.
	findRaw := func(ctx context.Context, c *curlRunner) (time.Duration, error) {
		return c.propfind(ctx, treeDirs)
	}
	findCheck := func(root string) error {
		return checkTreeCounts(filepath.Join(root, treeName), len(treeDirs)-1, tree.FileCount())
	}

	lsLabel := "ls -l " + countLabel(flat.Entries())
	findLabel := "find " + countLabel(tree.FileCount())
	return []workload{
		{key: keyColdLs, label: "cold " + lsLabel, group: groupListing, cold: true, run: lsRun, raw: lsRaw, check: lsCheck},
		{key: keyWarmLs, label: "warm " + lsLabel, group: groupListing, run: lsRun, raw: lsRaw, check: lsCheck},
		{key: keyColdFind, label: "cold " + findLabel, group: groupListing, cold: true, run: findRun, raw: findRaw, check: findCheck},
		{key: keyWarmFind, label: "warm " + findLabel, group: groupListing, run: findRun, raw: findRaw, check: findCheck},
	}, nil
}

// countLabel writes 5000 as "5k" and 2500 as "2.5k".
func countLabel(n int) string {
	if n >= 1000 && n%100 == 0 {
		return strconv.FormatFloat(float64(n)/1000, 'f', -1, 64) + "k"
	}
	return strconv.Itoa(n)
}

// checkFolder compares a folder's listing with the generated entries: the same names,
// and for files the same sizes and mtimes (to the second, as WebDAV carries them).
func checkFolder(root string, want []treespec.Entry) error {
	if len(want) == 0 {
		return nil
	}
	rel := path.Dir(want[0].Path)
	dir := filepath.Join(root, filepath.FromSlash(rel))
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("check %s: %w", rel, err)
	}
	if len(entries) != len(want) {
		return fmt.Errorf("check %s: %d entries, want %d", rel, len(entries), len(want))
	}
	byName := make(map[string]treespec.Entry, len(want))
	for _, e := range want {
		byName[path.Base(e.Path)] = e
	}
	for _, de := range entries {
		w, ok := byName[de.Name()]
		if !ok {
			return fmt.Errorf("check %s: unexpected entry %q", rel, de.Name())
		}
		if de.IsDir() != w.IsDir {
			return fmt.Errorf("check %s: %q is a folder: %v, want %v", rel, de.Name(), de.IsDir(), w.IsDir)
		}
		if w.IsDir {
			continue
		}
		info, err := de.Info()
		if err != nil {
			return fmt.Errorf("check %s: %w", rel, err)
		}
		if info.Size() != w.Size {
			return fmt.Errorf("check %s: %q has size %d, want %d", rel, de.Name(), info.Size(), w.Size)
		}
		if info.ModTime().Unix() != w.ModTime.Unix() {
			return fmt.Errorf("check %s: %q has mtime %v, want %v", rel, de.Name(), info.ModTime().UTC(), w.ModTime)
		}
	}
	return nil
}

// checkTreeCounts walks dir and compares the numbers of folders and files below it.
func checkTreeCounts(dir string, wantDirs, wantFiles int) error {
	dirs, files := 0, 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		if d.IsDir() {
			dirs++
		} else {
			files++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("check %s: %w", filepath.Base(dir), err)
	}
	if dirs != wantDirs || files != wantFiles {
		return fmt.Errorf("check %s: %d folders and %d files, want %d and %d", filepath.Base(dir), dirs, files, wantDirs, wantFiles)
	}
	return nil
}
