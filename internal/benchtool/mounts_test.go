package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/ncvfs/ncvfs/internal/benchtool/treespec"
)

func TestRemoveWorkDirRemovesAnUnmountedTree(t *testing.T) {
	dir, err := absDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(dir, "work")
	if err := os.MkdirAll(filepath.Join(work, "mnt-x", "deep"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := removeWorkDir(work); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(work); !os.IsNotExist(err) {
		t.Errorf("work directory still there: %v", err)
	}
	// Nothing is mounted below a fresh temp dir, so unmount has nothing to do.
	if err := unmount(filepath.Join(dir, "never-mounted")); err != nil {
		t.Errorf("unmount of a plain directory: %v", err)
	}
}

func TestMountsUnderSeesTheRootMount(t *testing.T) {
	// "/" is always mounted; a prefix match must not treat "/x" as being under "/x2".
	under, err := mountsUnder("/")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(under, "/") {
		t.Errorf("mountsUnder(/) = %q, want it to include /", under)
	}
	ok, err := isMounted("/")
	if err != nil || !ok {
		t.Errorf("isMounted(/) = %v, %v", ok, err)
	}
}

func TestStaleMountNameMatchesOnlyOurMountPoints(t *testing.T) {
	for p, want := range map[string]bool{
		"/srv/ncvfs-bench-123/mnt-ncvfs-004":   true,
		"/srv/x/ncvfs-bench-9/mnt-rclone-010":  true,
		"/srv/ncvfs-bench-123/local":           false,
		"/srv/ncvfs-bench-123/mnt-ncvfs-004/x": false,
		"/home/me/Nextcloud":                   false,
		"/srv/other-123/mnt-ncvfs-004":         false,
		"/srv/ncvfs-bench-123/cache-ncvfs-003": false,
	} {
		if got := staleMountName.MatchString(p); got != want {
			t.Errorf("staleMountName(%q) = %v, want %v", p, got, want)
		}
	}
}

// A mount whose server was SIGKILLed is dead (ENOTCONN) and gets reaped; a live one
// next to it, as a concurrent run would have, is left alone.
func TestReapStaleMountsUnmountsOnlyDeadMounts(t *testing.T) {
	spec, _ := treespec.Parse("flat=3")
	env := startTestServer(t, spec, "pw")
	parent, err := absDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	env.root = filepath.Join(parent, "ncvfs-bench-test")
	if err := os.Mkdir(env.root, 0o700); err != nil {
		t.Fatal(err)
	}
	env.reg = &registry{}
	t.Cleanup(func() {
		if err := env.reg.cleanup(); err != nil {
			t.Error(err)
		}
	})
	if err := os.Mkdir(filepath.Join(env.root, "logs"), 0o700); err != nil {
		t.Fatal(err)
	}
	rc, err := newRcloneClient(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	dead, err := rc.open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	live, err := rc.open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer live.close()
	p := dead.(*mountView).p
	_ = syscall.Kill(p.pid(), syscall.SIGKILL)
	if !p.waitExit(10 * time.Second) {
		t.Fatal("rclone survived SIGKILL")
	}
	if _, err := os.Stat(dead.dir()); !errors.Is(err, syscall.ENOTCONN) {
		t.Fatalf("stat of the dead mount: %v, want ENOTCONN", err)
	}
	reaped, err := reapStaleMounts(parent)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(reaped, []string{dead.dir()}) {
		t.Errorf("reaped %q, want only %s", reaped, dead.dir())
	}
	if ok, _ := isMounted(live.dir()); !ok {
		t.Error("the live mount was unmounted")
	}
	if entries, err := os.ReadDir(filepath.Join(live.dir(), "flat")); err != nil || len(entries) != 3 {
		t.Errorf("live mount lists %d entries (%v), want 3", len(entries), err)
	}
}
