package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ncvfs pin --wait, status --json, unpin and free against a mount served by the
// binary; a pin that cannot fit is refused with the numbers.
func TestPinUnpinFreeCLI(t *testing.T) {
	srv := newServer(t)
	mtime := time.Unix(1700000000, 0)
	for p, n := range map[string]int64{"Keep/a.bin": 3 << 20, "Keep/Deep/b.bin": 1 << 20, "Big/huge.bin": 64 << 20} {
		if _, err := srv.WriteSynthetic(p, n, uint64(n), mtime); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"NCVFS_PASSWORD=" + password, "XDG_RUNTIME_DIR=" + runtimeDir(t)}
	_, mp := mountCLI(t, srv, env, "--cache-size", "16M", "--no-xattr")
	at := func(rel string) string { return filepath.Join(mp, rel) }

	out, errOut, code := cli(t, "/", env, nil, "pin", "--wait", at("Keep"))
	if code != 0 || !strings.Contains(out, "2 of 2 files here") || !strings.Contains(out, "all here") {
		t.Fatalf("pin --wait: exit %d\n%s%s", code, out, errOut)
	}
	st := statusJSON(t, env, at("Keep/Deep/b.bin"))
	if st.PinnedFiles != 2 || st.PinnedBytes != 4<<20 || st.PinnedLocalBytes != 4<<20 {
		t.Errorf("status --json pinned: %d files, %d bytes, %d here", st.PinnedFiles, st.PinnedBytes, st.PinnedLocalBytes)
	}
	if st.Item == nil || st.Item.State != "local" || st.Item.Pin != "alwayslocal" || !st.Item.PinInherited {
		t.Errorf("status of a pinned file: %+v", st.Item)
	}

	// 64 MiB does not fit a 16 MiB budget that already holds 4 MiB of pins.
	out, errOut, code = cli(t, "/", env, nil, "pin", at("Big"))
	if code != 1 || !strings.Contains(errOut, "cannot pin Big") || !strings.Contains(errOut, "missing") ||
		!strings.Contains(errOut, "12.0 MiB") {
		t.Errorf("a pin that cannot fit: exit %d\n%s%s", code, out, errOut)
	}
	if st := statusJSON(t, env, at("Big")); st.Item.Pin != "unspecified" || st.PinnedFiles != 2 {
		t.Errorf("the refused pin was kept: %+v, %d pinned files", st.Item, st.PinnedFiles)
	}

	out, errOut, code = cli(t, "/", env, nil, "free", at("Keep"))
	if code != 0 || !strings.Contains(errOut, "pinned alwayslocal") || !strings.Contains(out, "freed 0 B") {
		t.Errorf("free of a pinned folder: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code = cli(t, "/", env, nil, "unpin", at("Keep")); code != 0 || !strings.Contains(out, "unspecified") {
		t.Errorf("unpin: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = cli(t, "/", env, nil, "free", at("Keep"))
	if code != 0 || !strings.Contains(out, "freed 4.0 MiB in 2 files") {
		t.Errorf("free: exit %d\n%s%s", code, out, errOut)
	}
	st = statusJSON(t, env, at("Keep/a.bin"))
	if st.Item.State != "online" || st.PinnedFiles != 0 || st.CacheBytes != 0 {
		t.Errorf("after free: %+v, pinned %d, cache %d bytes", st.Item, st.PinnedFiles, st.CacheBytes)
	}
	if fi, err := os.Stat(at("Keep/a.bin")); err != nil || fi.Size() != 3<<20 {
		t.Errorf("size after free: %v %v", fi, err)
	}
}

// ncvfs free --older-than frees only content not used within the duration; free
// without it frees the rest.
func TestFreeOlderThanCLI(t *testing.T) {
	srv := newServer(t)
	mtime := time.Unix(1700000000, 0)
	for p, n := range map[string]int64{"Media/old.bin": 2 << 20, "Media/recent.bin": 1 << 20} {
		if _, err := srv.WriteSynthetic(p, n, uint64(n), mtime); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"NCVFS_PASSWORD=" + password, "XDG_RUNTIME_DIR=" + runtimeDir(t)}
	_, mp := mountCLI(t, srv, env)
	at := func(rel string) string { return filepath.Join(mp, rel) }
	if _, err := os.ReadFile(at("Media/old.bin")); err != nil {
		t.Fatal(err)
	}
	// A file's last use is when it was downloaded (or opened, at most once a minute):
	// old.bin's is 6 s before recent.bin's, and the cut-off falls between them.
	const olderThan = 3 * time.Second
	time.Sleep(2 * olderThan)
	recentRead := time.Now()
	if _, err := os.ReadFile(at("Media/recent.bin")); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := cli(t, "/", env, nil, "free", "--older-than", olderThan.String(), at("Media"))
	if time.Since(recentRead) >= olderThan {
		t.Skipf("free ran %v after recent.bin was read: the cut-off is no longer between the two files", time.Since(recentRead))
	}
	if code != 0 || !strings.Contains(out, "freed 2.0 MiB in 1 files") {
		t.Errorf("free --older-than: exit %d\n%s%s", code, out, errOut)
	}
	if st := itemState(t, env, at("Media/old.bin")); st.Item == nil || st.Item.State != "online" {
		t.Errorf("old.bin after free --older-than: %+v", st.Item)
	}
	if st := itemState(t, env, at("Media/recent.bin")); st.Item == nil || st.Item.State != "local" {
		t.Errorf("recent.bin after free --older-than: %+v", st.Item)
	}
	out, errOut, code = cli(t, "/", env, nil, "free", at("Media"))
	if code != 0 || !strings.Contains(out, "freed 1.0 MiB in 1 files") {
		t.Errorf("free: exit %d\n%s%s", code, out, errOut)
	}
}
