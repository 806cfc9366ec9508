package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ncvfs/ncvfs/davclient/davtest"
	"github.com/ncvfs/ncvfs/internal/benchtool/treespec"
)

// Workload keys of the content-reading rows.
const (
	keyColdRead   = "cold-read"
	keyColdHead   = "cold-head"
	keyWarmRead   = "warm-read"
	keyColdRandom = "cold-random"
	keyColdSmall  = "cold-small"
)

// The random-read workload's shape: how many reads, of how many bytes, from which seed.
const (
	randomReads    = 100
	randomReadSize = 4096
	randomSeed     = 1
	headBytes      = 4096
)

// contentBudget is the time after which a client's content workload takes no more
// samples (see workload.budget).
const contentBudget = 60 * time.Second

// contentSetup is what the content workloads need besides the tree.
type contentSetup struct {
	bigFolder, smallFolder string
	// helper is the driver's own binary, run as "helper randread ..." for random reads.
	helper   string
	counters *serverCounters
	// settleTimeout bounds the wait for a read file to be complete in its mount's cache.
	settleTimeout time.Duration
}

// contentWorkloads are the content-reading rows: a 1 GiB file read cold, its first 4 KiB
// cold, read again warm, read at random places cold, and a folder of small files read
// cold with one cat.
func contentWorkloads(spec treespec.Spec, s contentSetup) ([]workload, error) {
	big, err := firstFile(spec, s.bigFolder)
	if err != nil {
		return nil, err
	}
	small, err := filesUnder(spec, s.smallFolder)
	if err != nil {
		return nil, err
	}
	if len(small) == 0 {
		return nil, fmt.Errorf("benchtool: the tree %q has no files below %q to cat", spec, s.smallFolder)
	}
	if big.Size < randomReadSize {
		return nil, fmt.Errorf("benchtool: %s has %d bytes, too few for the read workloads", big.Path, big.Size)
	}
	bigPath := func(root string) string { return filepath.Join(root, filepath.FromSlash(big.Path)) }
	bigLabel := sizeLabel(big.Size)

	readBig := func(ctx context.Context, root string) (time.Duration, error) {
		return timeDD(ctx, bigPath(root), big.Size)
	}
	checkBig := func(root string) error { return verifyFile(bigPath(root), big) }
	downloadBig := func(ctx context.Context, c *curlRunner) (time.Duration, error) {
		dest := filepath.Join(c.dir, "download.bin")
		defer os.Remove(dest)
		d, err := c.download(ctx, big.Path, "", dest)
		if err != nil {
			return 0, err
		}
		return d, verifyFile(dest, big)
	}

	headBig := func(ctx context.Context, root string) (time.Duration, error) {
		r, err := timeChild(ctx, child{args: []string{"head", "-c", strconv.Itoa(headBytes), bigPath(root)}, keepStdout: headBytes + 1})
		if err != nil {
			return 0, err
		}
		return r.elapsed, checkHead(r.stdout, big)
	}
	rangeBig := func(ctx context.Context, c *curlRunner) (time.Duration, error) {
		dest := filepath.Join(c.dir, "range.bin")
		defer os.Remove(dest)
		d, err := c.download(ctx, big.Path, fmt.Sprintf("0-%d", headBytes-1), dest)
		if err != nil {
			return 0, err
		}
		got, err := os.ReadFile(dest)
		if err != nil {
			return 0, fmt.Errorf("benchtool: %w", err)
		}
		return d, checkHead(got, big)
	}

	randomBig := func(ctx context.Context, root string) (time.Duration, error) {
		r, err := timeChild(ctx, child{keepStdout: 256, args: []string{s.helper, helperRandRead,
			"--count", strconv.Itoa(randomReads), "--size", strconv.Itoa(randomReadSize),
			"--seed", strconv.Itoa(randomSeed), "--content-seed", strconv.FormatUint(big.Seed, 10),
			bigPath(root)}})
		if err != nil {
			return 0, err
		}
		n, b, elapsed, err := parseRandRead(string(r.stdout))
		if err != nil {
			return 0, err
		}
		if n != randomReads || b != randomReads*randomReadSize {
			return 0, fmt.Errorf("benchtool: randread did %d reads of %d bytes in all, want %d of %d", n, b, randomReads, randomReads*randomReadSize)
		}
		return elapsed, nil
	}

	smallDir := func(root string) string { return filepath.Join(root, filepath.FromSlash(s.smallFolder)) }
	catSmall := func(ctx context.Context, root string) (time.Duration, error) {
		return timeCommand(ctx, "find", smallDir(root), "-type", "f", "-exec", "cat", "{}", "+")
	}
	checkSmall := func(root string) error {
		if err := checkTreeFiles(smallDir(root), len(small)); err != nil {
			return err
		}
		for _, e := range small {
			if err := verifyFile(filepath.Join(root, filepath.FromSlash(e.Path)), e); err != nil {
				return err
			}
		}
		return nil
	}
	smallPaths := make([]string, len(small))
	smallSizes := make([]int64, len(small))
	var smallBytes int64
	for i, e := range small {
		smallPaths[i], smallSizes[i] = e.Path, e.Size
		smallBytes += e.Size
	}
	getSmall := func(ctx context.Context, c *curlRunner) (time.Duration, error) {
		return c.getEach(ctx, smallPaths, smallSizes)
	}
	settleBig := func(ctx context.Context, root string) error {
		waitComplete(ctx, bigPath(root), big.Size, s.settleTimeout)
		return nil
	}

	smallLabel := countLabel(len(small)) + " files"
	if f, ok := spec.Folder(s.smallFolder); ok && f.FileSize > 0 {
		smallLabel = countLabel(len(small)) + " × " + sizeLabel(f.FileSize) + " files"
	}
	ws := []workload{
		{key: keyColdRead, label: "cold read " + bigLabel + " (dd bs=1M)", group: groupContent, cold: true,
			run: readBig, raw: downloadBig, check: checkBig, unit: unitThroughput, readBytes: big.Size},
		{key: keyColdHead, label: "cold head -c 4096 of " + bigLabel, group: groupContent, cold: true,
			run: headBig, raw: rangeBig, unit: unitMs, readBytes: headBytes},
		{key: keyWarmRead, label: "warm re-read " + bigLabel + " (dd bs=1M)", group: groupContent,
			run: readBig, settle: settleBig, check: checkBig, unit: unitThroughput, readBytes: big.Size},
		{key: keyColdRandom, label: fmt.Sprintf("cold %d random 4 KiB preads of %s", randomReads, bigLabel), group: groupContent, cold: true,
			run: randomBig, unit: unitFetched, readBytes: randomReads * randomReadSize, counter: s.counters},
		{key: keyColdSmall, label: "cold cat of " + smallLabel + " (find -exec cat {} +)", group: groupContent, cold: true,
			run: catSmall, raw: getSmall, check: checkSmall, unit: unitPerFile, readBytes: smallBytes, items: len(small)},
	}
	for i := range ws {
		ws[i].budget = contentBudget
	}
	return ws, nil
}

// firstFile is the first file directly in the top-level folder name.
func firstFile(spec treespec.Spec, name string) (treespec.Entry, error) {
	entries, err := spec.FolderEntries(name)
	if err != nil {
		return treespec.Entry{}, err
	}
	for _, e := range entries {
		if !e.IsDir {
			return e, nil
		}
	}
	return treespec.Entry{}, fmt.Errorf("benchtool: the tree %q has no file directly in %q to read (e.g. %s=1:1G)", spec, name, name)
}

// filesUnder lists every file below the top-level folder name, at any depth.
func filesUnder(spec treespec.Spec, name string) ([]treespec.Entry, error) {
	if _, ok := spec.Folder(name); !ok {
		return nil, fmt.Errorf("benchtool: the tree %q has no folder %q (e.g. %s=10000:4K)", spec, name, name)
	}
	var out []treespec.Entry
	err := spec.Walk(func(e treespec.Entry) error {
		if !e.IsDir && strings.HasPrefix(e.Path, name+"/") {
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// sizeLabel writes 1<<30 as "1 GiB" and 4096 as "4 KiB".
func sizeLabel(n int64) string {
	s := treespec.FormatSize(n)
	if unit := s[len(s)-1]; unit >= 'A' && unit <= 'Z' {
		return s[:len(s)-1] + " " + string(unit) + "iB"
	}
	return s + " B"
}

// ddCopied finds the byte count in dd's summary (run with LC_ALL=C).
var ddCopied = regexp.MustCompile(`(?m)^(\d+) bytes`)

// timeDD reads file with `dd bs=1M` to /dev/null, as a user copies a file out, and
// checks from dd's summary that it read exactly size bytes: a short read is an error,
// not a fast result.
func timeDD(ctx context.Context, file string, size int64) (time.Duration, error) {
	r, err := timeChild(ctx, child{args: []string{"dd", "if=" + file, "of=/dev/null", "bs=1M"}, env: []string{"LC_ALL=C"}})
	if err != nil {
		return 0, err
	}
	m := ddCopied.FindStringSubmatch(r.stderr)
	if m == nil {
		return 0, fmt.Errorf("benchtool: dd printed no byte count: %q", r.stderr)
	}
	if n, _ := strconv.ParseInt(m[1], 10, 64); n != size {
		return 0, fmt.Errorf("benchtool: dd read %s bytes of %s, want %d", m[1], filepath.Base(file), size)
	}
	return r.elapsed, nil
}

// checkHead compares the bytes a head of the file gave with the file's start.
func checkHead(got []byte, e treespec.Entry) error {
	want := davtest.SyntheticBytes(e.Seed, 0, int(min(int64(headBytes), e.Size)))
	if !bytes.Equal(got, want) {
		return fmt.Errorf("benchtool: the first %d bytes of %s differ from the server's (got %d bytes)", len(want), e.Path, len(got))
	}
	return nil
}

// verifyFile reads a file whole and compares it with the synthetic content the server
// generates for e, 1 MiB at a time, so that a 1 GiB file costs no memory.
func verifyFile(p string, e treespec.Entry) error {
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("check %s: %w", e.Path, err)
	}
	defer f.Close()
	want := io.NewSectionReader(davtest.SyntheticReaderAt(e.Seed, e.Size), 0, e.Size)
	const chunk = 1 << 20
	got, exp := make([]byte, chunk), make([]byte, chunk)
	var off int64
	for {
		n, err := io.ReadFull(f, got)
		if n > 0 {
			m, _ := io.ReadFull(want, exp[:n])
			if m != n {
				return fmt.Errorf("check %s: more than the server's %d bytes", e.Path, e.Size)
			}
			if !bytes.Equal(got[:n], exp[:n]) {
				return fmt.Errorf("check %s: the bytes from offset %d differ from the server's", e.Path, off+int64(firstDiff(got[:n], exp[:n])))
			}
			off += int64(n)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("check %s at offset %d: %w", e.Path, off, err)
		}
	}
	if off != e.Size {
		return fmt.Errorf("check %s: read %d bytes, want %d", e.Path, off, e.Size)
	}
	return nil
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// checkTreeFiles counts the files below dir.
func checkTreeFiles(dir string, want int) error {
	n := 0
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			n++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("check %s: %w", path.Base(dir), err)
	}
	if n != want {
		return fmt.Errorf("check %s: %d files, want %d", path.Base(dir), n, want)
	}
	return nil
}

// waitComplete gives a mount time to finish and verify a file it has read whole: it
// waits until the file's allocated blocks cover its size (what du shows), or until d
// passes. Not reaching it is no error: some clients never report blocks.
func waitComplete(ctx context.Context, p string, size int64, d time.Duration) {
	deadline := time.Now().Add(d)
	for {
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err == nil && st.Blocks*512 >= size {
			return
		}
		if time.Now().After(deadline) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}
