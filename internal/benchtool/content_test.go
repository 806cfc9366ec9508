package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ncvfs/ncvfs/davclient/davtest"
	"github.com/ncvfs/ncvfs/internal/benchtool/treespec"
)

const contentTestTree = "flat=3,big=1:1M,small=2x10:4K"

func testSetup(t *testing.T) contentSetup {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return contentSetup{bigFolder: "big", smallFolder: "small", helper: self}
}

// localContentTree writes spec with real content in the content folders.
func localContentTree(t *testing.T, spec treespec.Spec) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "local")
	err := buildLocalTree(dir, spec, func(e treespec.Entry) bool {
		return strings.HasPrefix(e.Path, "big/") || strings.HasPrefix(e.Path, "small/")
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestContentWorkloadsNeedTheirFolders(t *testing.T) {
	spec, _ := treespec.Parse(contentTestTree)
	ws, err := contentWorkloads(spec, testSetup(t))
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, w := range ws {
		labels = append(labels, w.label)
		if w.run == nil || w.group != groupContent {
			t.Errorf("workload %s lacks a runner or its group", w.key)
		}
	}
	want := []string{
		"cold read 1 MiB (dd bs=1M)", "cold head -c 4096 of 1 MiB", "warm re-read 1 MiB (dd bs=1M)",
		"cold 100 random 4 KiB preads of 1 MiB", "cold cat of 20 × 4 KiB files (find -exec cat {} +)",
	}
	if !slices.Equal(labels, want) {
		t.Errorf("labels %q, want %q", labels, want)
	}
	for _, bad := range []contentSetup{
		{bigFolder: "nope", smallFolder: "small"},
		{bigFolder: "big", smallFolder: "nope"},
		{bigFolder: "small", smallFolder: "small"}, // no file directly in it
		{bigFolder: "big", smallFolder: "flat", helper: "x"},
	} {
		spec := spec
		if bad.smallFolder == "flat" {
			spec, _ = treespec.Parse("flat=0,big=1:1K") // nothing to cat, and too small to read at random
		}
		if _, err := contentWorkloads(spec, bad); err == nil {
			t.Errorf("contentWorkloads(%s, %+v) succeeded", spec, bad)
		}
	}
}

// Every workload runs and checks against a local copy with the server's bytes, through
// the same commands (dd, head, the random-read helper, find and cat) it runs on a mount.
func TestContentWorkloadsRunOnALocalCopy(t *testing.T) {
	spec, _ := treespec.Parse(contentTestTree)
	ws, err := contentWorkloads(spec, testSetup(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := localContentTree(t, spec)
	ctx := context.Background()
	for _, w := range ws {
		d, err := w.run(ctx, dir)
		if err != nil || d <= 0 {
			t.Errorf("%s: run = %v, %v", w.label, d, err)
		}
		if w.check != nil {
			if err := w.check(dir); err != nil {
				t.Errorf("%s: check: %v", w.label, err)
			}
		}
		if w.settle != nil {
			if err := w.settle(ctx, dir); err != nil {
				t.Errorf("%s: settle: %v", w.label, err)
			}
		}
	}

	// Wrong bytes in the large file fail every workload that reads it: the checks for
	// the whole-file reads, the runs themselves for head and the random reads.
	big, _ := firstFile(spec, "big")
	bigPath := filepath.Join(dir, big.Path)
	if err := os.WriteFile(bigPath, make([]byte, big.Size), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		if w.key == keyColdSmall {
			continue
		}
		_, runErr := w.run(ctx, dir)
		var checkErr error
		if w.check != nil && runErr == nil {
			checkErr = w.check(dir)
		}
		if runErr == nil && checkErr == nil {
			t.Errorf("%s: zeros instead of the content went unnoticed", w.label)
		}
	}
	// A short file fails dd's byte count.
	if err := os.Truncate(bigPath, big.Size-1); err != nil {
		t.Fatal(err)
	}
	if _, err := ws[0].run(ctx, dir); err == nil || !strings.Contains(err.Error(), "dd read") {
		t.Errorf("dd of a short file gave %v, want a byte count error", err)
	}

	// One small file changed, or one missing, fails the small files' check.
	small, _ := filesUnder(spec, "small")
	victim := filepath.Join(dir, small[7].Path)
	if err := os.WriteFile(victim, []byte("not it"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ws[4].check(dir); err == nil {
		t.Error("a small file with other bytes passed the check")
	}
	if err := os.Remove(victim); err != nil {
		t.Fatal(err)
	}
	if err := ws[4].check(dir); err == nil || !strings.Contains(err.Error(), "19 files, want 20") {
		t.Errorf("a missing small file gave %v", err)
	}
}

// The raw references fetch the same files from a real test server and check them.
func TestContentRawReferences(t *testing.T) {
	spec, _ := treespec.Parse(contentTestTree)
	env := startTestServer(t, spec, "pw123")
	c, err := newCurlRunner(env)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := contentWorkloads(spec, testSetup(t))
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, w := range ws {
		if w.raw == nil {
			continue
		}
		ran++
		if d, err := w.raw(context.Background(), c); err != nil || d <= 0 {
			t.Errorf("%s: raw = %v, %v", w.label, d, err)
		}
	}
	if ran != 3 {
		t.Errorf("%d workloads have a raw reference, want 3 (download, range, many GETs)", ran)
	}
	if left, _ := filepath.Glob(filepath.Join(env.root, "*.bin")); len(left) != 0 {
		t.Errorf("downloads left behind: %q", left)
	}
	// A file the server does not have is an error, not a fast download.
	small, _ := filesUnder(spec, "small")
	paths := []string{small[0].Path, "small/missing"}
	if _, err := c.getEach(context.Background(), paths, []int64{4096, 4096}); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("GET of a missing file gave %v, want a 404 error", err)
	}
	if _, err := c.getEach(context.Background(), paths[:1], []int64{4095}); err == nil {
		t.Error("a file of another size passed")
	}
}

func TestVerifyFileFindsTheFirstWrongByte(t *testing.T) {
	e := treespec.Entry{Path: "big/f", Size: 3<<20 + 5, Seed: 42}
	p := filepath.Join(t.TempDir(), "f")
	data := davtest.SyntheticBytes(e.Seed, 0, int(e.Size))
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := verifyFile(p, e); err != nil {
		t.Fatalf("the right bytes: %v", err)
	}
	data[2<<20+77] ^= 1
	os.WriteFile(p, data, 0o644)
	if err := verifyFile(p, e); err == nil || !strings.Contains(err.Error(), "offset 2097229") {
		t.Errorf("one flipped byte gave %v, want its offset", err)
	}
	data[2<<20+77] ^= 1
	os.WriteFile(p, data[:len(data)-1], 0o644)
	if err := verifyFile(p, e); err == nil {
		t.Error("a short file passed")
	}
	os.WriteFile(p, append(data, 0), 0o644)
	if err := verifyFile(p, e); err == nil {
		t.Error("a long file passed")
	}
	if err := verifyFile(filepath.Join(t.TempDir(), "none"), e); err == nil {
		t.Error("a missing file passed")
	}
}

func TestSizeLabel(t *testing.T) {
	for n, want := range map[int64]string{1 << 30: "1 GiB", 4096: "4 KiB", 3 << 20: "3 MiB", 1000: "1000 B"} {
		if got := sizeLabel(n); got != want {
			t.Errorf("sizeLabel(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestRandomOffsetsAreFixedAlignedAndInside(t *testing.T) {
	a, err := randomOffsets(1, 1<<30, 4096, 100)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := randomOffsets(1, 1<<30, 4096, 100)
	if !slices.Equal(a, b) {
		t.Error("the same seed gave other offsets")
	}
	distinct := map[int64]bool{}
	for _, off := range a {
		if off%4096 != 0 || off < 0 || off+4096 > 1<<30 {
			t.Errorf("offset %d is unaligned or outside the file", off)
		}
		distinct[off] = true
	}
	if len(distinct) < 95 {
		t.Errorf("only %d distinct offsets of 100", len(distinct))
	}
	if c, _ := randomOffsets(2, 1<<30, 4096, 100); slices.Equal(a, c) {
		t.Error("another seed gave the same offsets")
	}
	if _, err := randomOffsets(1, 4095, 4096, 1); err == nil {
		t.Error("a file smaller than one read was accepted")
	}
}

func TestRandReadChecksWhatItRead(t *testing.T) {
	e := treespec.Entry{Size: 1 << 20, Seed: 9}
	p := filepath.Join(t.TempDir(), "f")
	data := davtest.SyntheticBytes(e.Seed, 0, int(e.Size))
	os.WriteFile(p, data, 0o644)
	var out, errOut strings.Builder
	if err := randRead([]string{"--count", "50", "--content-seed", "9", p}, &out, &errOut); err != nil {
		t.Fatalf("randRead: %v (%s)", err, errOut.String())
	}
	n, b, d, err := parseRandRead(out.String())
	if err != nil || n != 50 || b != 50*4096 || d <= 0 {
		t.Errorf("parseRandRead(%q) = %d %d %v %v", out.String(), n, b, d, err)
	}
	if err := randRead([]string{"--count", "50", "--content-seed", "8", p}, &out, &errOut); err == nil {
		t.Error("another file's content passed")
	}
	for _, bad := range [][]string{{}, {"--size", "0", p}, {p, p}, {filepath.Join(t.TempDir(), "none")}} {
		if err := randRead(bad, &out, &errOut); err == nil {
			t.Errorf("randRead(%q) succeeded", bad)
		}
	}
}

func TestParseRandReadRefusesOtherOutput(t *testing.T) {
	for _, bad := range []string{"", "reads=1 bytes=2", "reads=1 bytes=2 elapsed_ns=x", "reads=1 reads=2 bytes=3",
		"reads=1 bytes=2 elapsed_ns=3 more=4", "reads=1 bytes=-2 elapsed_ns=3", "hello world again"} {
		if _, _, _, err := parseRandRead(bad); err == nil {
			t.Errorf("parseRandRead(%q) succeeded", bad)
		}
	}
}
