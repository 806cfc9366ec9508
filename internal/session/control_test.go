package session

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// A socket folder that is not safe costs the control socket, never the mount.
func TestUnsafeSocketFolderStillMounts(t *testing.T) {
	rt, err := os.MkdirTemp("", "rt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(rt) })
	if err := os.Mkdir(filepath.Join(rt, "ncvfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_RUNTIME_DIR", rt)
	srv := newServer(t)
	seedSample(t, srv)
	var logs syncBuf
	mp := t.TempDir()
	s, err := Start(context.Background(), Config{
		URL: srv.URL(), User: "alice", Password: "app-password-1", Mountpoint: mp, CacheDir: t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatalf("mount with an unsafe socket folder: %v", err)
	}
	defer func() {
		if err := s.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
		}
	}()
	if _, err := os.ReadFile(filepath.Join(mp, "Readme.md")); err != nil {
		t.Errorf("the mount does not serve: %v", err)
	}
	if l := logs.String(); !strings.Contains(l, "no control socket") || !strings.Contains(l, "chmod 700") {
		t.Errorf("no warning that says why:\n%s", l)
	}
	if ents, _ := os.ReadDir(filepath.Join(rt, "ncvfs")); len(ents) != 0 {
		t.Errorf("a socket was made in the unsafe folder: %v", ents)
	}
	if s.ctl != nil {
		t.Error("a control server runs")
	}
}

// syncBuf collects log lines written from several goroutines.
type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncBuf) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuf) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
