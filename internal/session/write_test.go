package session

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ncvfs/ncvfs/davclient/davtest"
)

// mountRW mounts read-write with a short upload debounce.
func mountRW(t *testing.T, srv *davtest.Server, cacheDir string) (*Session, string) {
	return mount(t, mountOpts{url: srv.URL(), user: "alice", password: "app-password-1",
		cacheDir: cacheDir, debounce: 20 * time.Millisecond, chunkThreshold: 5 << 20, writes: true})
}

// flush waits until every change is on the server.
func flush(t *testing.T, s *Session) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Uploader.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

func run(t *testing.T, dir string, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// sameContent checks that every file of the server has the bytes the mount shows, and
// that both have the same tree.
func sameContent(t *testing.T, srv *davtest.Server, mp string) {
	t.Helper()
	want, got := walkServer(t, srv), walkMount(t, mp)
	// A folder's times are not kept (see fusefs' Setattr): files' are compared.
	for _, tree := range []map[string]treeEntry{want, got} {
		for p, e := range tree {
			if e.Dir {
				e.MTime = 0
				tree[p] = e
			}
		}
	}
	if d := diffTrees(want, got); len(d) > 0 {
		t.Errorf("server and mount differ: %v", d)
	}
	for p, e := range want {
		if e.Dir {
			continue
		}
		sb, err := srv.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		mb, err := os.ReadFile(filepath.Join(mp, p))
		if err != nil {
			t.Errorf("read %s through the mount: %v", p, err)
			continue
		}
		if !bytes.Equal(sb, mb) {
			t.Errorf("%s: the server has %d bytes %.20q, the mount %d bytes %.20q", p, len(sb), sb, len(mb), mb)
		}
	}
}

func mustStat(t *testing.T, srv *davtest.Server, p string) davtest.NodeInfo {
	t.Helper()
	st, err := srv.Stat(p)
	if err != nil {
		t.Fatalf("server stat %s: %v", p, err)
	}
	return st
}

func TestReadOnlyShareRefusesWrites(t *testing.T) {
	srv := newServer(t)
	seedSample(t, srv)
	_, mp := mountRW(t, srv, "")
	srv.ResetCounts()
	at := func(p string) string { return filepath.Join(mp, p) }
	checks := []struct {
		what string
		err  error
	}{
		{"create in a read-only share", os.WriteFile(at("Shared/Team/new.txt"), []byte("x"), 0o644)},
		{"mkdir in a read-only share", os.Mkdir(at("Shared/Team/dir"), 0o755)},
		{"truncate a read-only file", os.Truncate(at("Shared/Team/Handbook.md"), 0)},
		{"remove a read-only file", os.Remove(at("Shared/Team/Handbook.md"))},
		{"rename a read-only file", os.Rename(at("Shared/Team/Handbook.md"), at("Shared/Team/H.md"))},
		{"symlink", os.Symlink("Readme.md", at("link"))},
	}
	for _, c := range checks {
		if !errors.Is(c.err, syscall.EACCES) && !errors.Is(c.err, syscall.EPERM) {
			t.Errorf("%s: got %v, want EACCES or EPERM", c.what, c.err)
		}
	}
	if f, err := os.OpenFile(at("Shared/Team/Handbook.md"), os.O_WRONLY, 0); !errors.Is(err, syscall.EACCES) {
		t.Errorf("open a read-only file for writing: %v, want EACCES", err)
		if f != nil {
			f.Close()
		}
	}
	time.Sleep(100 * time.Millisecond) // an upload, if one were queued, would start now
	c := srv.Counts()
	for _, m := range []string{"PUT", "MKCOL", "MOVE", "DELETE"} {
		if c.Requests[m] != 0 {
			t.Errorf("%d %s requests reached the server", c.Requests[m], m)
		}
	}
}
