package session

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ncvfs/ncvfs/davclient/davtest"
	"github.com/ncvfs/ncvfs/internal/mountinfo"
)

// TestMain fails the run if any test left an ncvfs mount behind. Mounts that existed
// before the run belong to someone else and are left alone.
func TestMain(m *testing.M) {
	// Every t.TempDir of this run lives below a root of its own, so a mount left
	// behind is told apart from another run's on the same machine.
	root, err := os.MkdirTemp("", "ncvfs-session-test-")
	if err == nil {
		err = os.Chmod(root, 0o755) // Apache's user must reach the folders it serves below it
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: temporary folder: %v\n", err)
		os.Exit(1)
	}
	os.Setenv("TMPDIR", root)
	code := m.Run()
	var left []string
	for _, mp := range ncvfsMounts() {
		if strings.HasPrefix(mp, root+string(filepath.Separator)) {
			left = append(left, mp)
		}
	}
	if len(left) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: mounts left behind by tests: %v\n", left)
		for _, mp := range left {
			syscall.Unmount(mp, syscall.MNT_DETACH)
		}
		code = 1
	}
	if len(left) == 0 {
		os.RemoveAll(root)
	}
	os.Exit(code)
}

func ncvfsMounts() []string {
	mounts, err := mountinfo.Read()
	if err != nil {
		return nil
	}
	var out []string
	for _, m := range mounts {
		if m.FSType == "fuse.ncvfs" {
			out = append(out, m.Point)
		}
	}
	return out
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: testLogLevel()}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// newServer starts the Nextcloud-dialect test server.
func newServer(t testing.TB) *davtest.Server {
	t.Helper()
	srv, err := davtest.New(davtest.Options{User: "alice", Password: "app-password-1", QuotaBytes: 5 << 30})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

type mountOpts struct {
	url, user, password string
	cacheDir            string
	listingTTL          time.Duration
	kernelTTL           time.Duration
	writes              bool
	debounce            time.Duration
	chunkThreshold      int64
	excludeFile         string
	poll                time.Duration
	noHydrateFor        []string
	cacheSize           int64
	logger              *slog.Logger // default testLogger
	// probeMin and probeTimeout tune the probing of an unreachable server.
	probeMin, probeTimeout, suspectAfter time.Duration
}

// mount mounts for real in a temporary folder and unmounts when the test ends.
func mount(t testing.TB, o mountOpts) (*Session, string) {
	t.Helper()
	mp := t.TempDir()
	if o.cacheDir == "" {
		o.cacheDir = t.TempDir()
	}
	if o.logger == nil {
		o.logger = testLogger(t)
	}
	s, err := Start(context.Background(), Config{
		URL: o.url, User: o.user, Password: o.password, Mountpoint: mp, CacheDir: o.cacheDir,
		ListingTTL: o.listingTTL, KernelTTL: o.kernelTTL, Logger: o.logger, CacheSize: o.cacheSize,
		Writes: o.writes, UploadDebounce: o.debounce, ChunkThreshold: o.chunkThreshold,
		ChunkSize: o.chunkThreshold, ExcludeFile: o.excludeFile, Poll: o.poll, NoHydrateFor: o.noHydrateFor,
		ProbeMin: o.probeMin, ProbeMax: o.probeMin, ProbeTimeout: o.probeTimeout,
		SuspectAfter: o.suspectAfter, Debug: os.Getenv("NCVFS_TEST_FUSE_DEBUG") != "",
	})
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	return s, mp
}

func mountDavtest(t testing.TB, srv *davtest.Server, cacheDir string) (*Session, string) {
	return mount(t, mountOpts{url: srv.URL(), user: "alice", password: "app-password-1", cacheDir: cacheDir})
}

// treeEntry is what a tree walk compares: kind, size (files) and mtime to the second.
type treeEntry struct {
	Dir   bool
	Size  int64
	MTime int64
}

// walkMount records every item below root as seen through the file system.
func walkMount(t testing.TB, root string) map[string]treeEntry {
	t.Helper()
	got, err := readMount(root)
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	return got
}

// readMount is walkMount for a test that waits for a change to show: while it is being
// noticed, a name listed a moment ago may be gone by the time it is looked up.
func readMount(root string) (map[string]treeEntry, error) {
	got := map[string]treeEntry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		st, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		e := treeEntry{Dir: st.IsDir(), MTime: st.ModTime().Unix()}
		if !e.Dir {
			e.Size = st.Size()
		}
		got[filepath.ToSlash(rel)] = e
		return nil
	})
	return got, err
}

// walkServer records the test server's tree.
func walkServer(t testing.TB, srv *davtest.Server) map[string]treeEntry {
	t.Helper()
	want := map[string]treeEntry{}
	err := srv.Walk(func(p string, info davtest.NodeInfo) error {
		if p == "" {
			return nil
		}
		e := treeEntry{Dir: info.IsDir, MTime: info.ModTime.Unix()}
		if !e.Dir {
			e.Size = info.Size
		}
		want[p] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return want
}

func diffTrees(want, got map[string]treeEntry) []string {
	var out []string
	for p, w := range want {
		g, ok := got[p]
		switch {
		case !ok:
			out = append(out, "missing: "+p)
		case g != w:
			out = append(out, fmt.Sprintf("%s: got %+v, want %+v", p, g, w))
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			out = append(out, "unexpected: "+p)
		}
	}
	sort.Strings(out)
	return out
}

// testLogLevel is Info, or Debug with NCVFS_TEST_DEBUG=1.
func testLogLevel() slog.Level {
	if os.Getenv("NCVFS_TEST_DEBUG") != "" {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}
