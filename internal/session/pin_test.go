package session

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ncvfs/ncvfs/davclient/davtest"
	"github.com/ncvfs/ncvfs/internal/control"
)

// seedPins makes a small tree for pin tests: Album (with a subfolder) and one file
// beside it.
func seedPins(t *testing.T, srv *davtest.Server) map[string]int64 {
	t.Helper()
	if err := srv.MkdirAll("Album/Sub"); err != nil {
		t.Fatal(err)
	}
	files := map[string]int64{
		"Album/a.jpg": 300 << 10, "Album/b.jpg": 70 << 10, "Album/Sub/c.jpg": 2 << 20,
		"Album/empty.txt": 0, "other.bin": 100 << 10,
	}
	i := uint64(0)
	for p, n := range files {
		i++
		if _, err := srv.WriteSynthetic(p, n, i, sampleTime); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// tool runs a program on absolute paths (never with a working folder inside the
// mount this process serves) and returns its output and exit status.
func tool(t *testing.T, name string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return string(out), code
}

// getx reads one extended attribute with getfattr.
func getx(t *testing.T, name, path string) string {
	t.Helper()
	out, code := tool(t, "getfattr", "--absolute-names", "--only-values", "-n", name, path)
	if code != 0 {
		t.Fatalf("getfattr -n %s %s: exit %d: %s", name, path, code, out)
	}
	return out
}

func setx(t *testing.T, name, value, path string) {
	t.Helper()
	if out, code := tool(t, "setfattr", "-n", name, "-v", value, path); code != 0 {
		t.Fatalf("setfattr -n %s -v %s %s: exit %d: %s", name, value, path, code, out)
	}
}

// waitStates waits until every file named has the state, with a generous hang guard.
func waitStates(t *testing.T, mp, state string, names ...string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for _, n := range names {
		for {
			got := getx(t, "user.ncvfs.state", filepath.Join(mp, n))
			if got == state {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s is %s, not %s, after 2 minutes", n, got, state)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func duBlocks(t *testing.T, args ...string) int64 {
	t.Helper()
	out, code := tool(t, "du", append([]string{"-s", "-B1"}, args...)...)
	if code != 0 {
		t.Fatalf("du %v: %s", args, out)
	}
	n, err := strconv.ParseInt(strings.Fields(out)[0], 10, 64)
	if err != nil {
		t.Fatalf("du output %q", out)
	}
	return n
}

// Pinning a folder with setfattr hydrates everything below it, the state and pin
// attributes say so, and it stays so across a remount; read-only names, bad values
// and unknown names are refused as documented.
func TestPinWithXattrs(t *testing.T) {
	if _, err := exec.LookPath("getfattr"); err != nil {
		t.Fatal("getfattr not found: apt-get install attr")
	}
	srv := newServer(t)
	files := seedPins(t, srv)
	cacheDir := t.TempDir()
	s, mp := mountDavtest(t, srv, cacheDir)
	album := filepath.Join(mp, "Album")
	inAlbum := []string{"Album/a.jpg", "Album/b.jpg", "Album/Sub/c.jpg", "Album/empty.txt"}

	if got := getx(t, "user.ncvfs.pin", album); got != "unspecified" {
		t.Errorf("pin of an unpinned folder: %q", got)
	}
	if got := getx(t, "user.ncvfs.state", filepath.Join(mp, "Album/a.jpg")); got != "online" {
		t.Errorf("state before pinning: %q", got)
	}
	id, _ := srv.Stat("Album/a.jpg")
	if got := getx(t, "user.ncvfs.fileid", filepath.Join(mp, "Album/a.jpg")); got != strconv.FormatUint(id.FileID, 10) {
		t.Errorf("fileid %q, want %d", got, id.FileID)
	}
	out, _ := tool(t, "getfattr", "--absolute-names", "-d", "-m", "-", filepath.Join(mp, "Album/a.jpg"))
	for _, n := range []string{"user.ncvfs.pin", "user.ncvfs.state", "user.ncvfs.etag", "user.ncvfs.local-bytes"} {
		if !strings.Contains(out, n+"=") {
			t.Errorf("getfattr -d does not list %s:\n%s", n, out)
		}
	}

	setx(t, "user.ncvfs.pin", "alwayslocal", album)
	waitStates(t, mp, "local", inAlbum...)
	if got := getx(t, "user.ncvfs.pin", filepath.Join(mp, "Album/Sub/c.jpg")); got != "alwayslocal" {
		t.Errorf("inherited pin %q", got)
	}
	if got := getx(t, "user.ncvfs.state", filepath.Join(mp, "other.bin")); got != "online" {
		t.Errorf("a file beside the pinned folder is %q", got)
	}
	if got := getx(t, "user.ncvfs.local-bytes", filepath.Join(mp, "Album/Sub/c.jpg")); got != strconv.FormatInt(files["Album/Sub/c.jpg"], 10) {
		t.Errorf("local-bytes %q", got)
	}

	// Override below, and back to inheriting.
	setx(t, "user.ncvfs.pin", "unspecified", filepath.Join(mp, "Album/Sub"))
	if got := getx(t, "user.ncvfs.pin", filepath.Join(mp, "Album/Sub/c.jpg")); got != "unspecified" {
		t.Errorf("pin below an override %q", got)
	}
	if out, code := tool(t, "setfattr", "-x", "user.ncvfs.pin", filepath.Join(mp, "Album/Sub")); code != 0 {
		t.Fatalf("setfattr -x: %s", out)
	}
	if got := getx(t, "user.ncvfs.pin", filepath.Join(mp, "Album/Sub/c.jpg")); got != "alwayslocal" {
		t.Errorf("pin after setfattr -x %q", got)
	}

	// Refusals.
	refusals := []struct {
		args []string
		want string
	}{
		{[]string{"setfattr", "-n", "user.ncvfs.pin", "-v", "always", album}, "Invalid argument"},
		{[]string{"setfattr", "-n", "user.ncvfs.state", "-v", "local", album}, "Operation not permitted"},
		{[]string{"getfattr", "-n", "user.ncvfs.nothing", album}, "No such attribute"},
		{[]string{"getfattr", "-n", "user.other", album}, "No such attribute"},
		{[]string{"getfattr", "-n", "security.selinux", album}, "Operation not supported"},
	}
	for _, r := range refusals {
		out, code := tool(t, r.args[0], r.args[1:]...)
		if code == 0 || !strings.Contains(out, r.want) {
			t.Errorf("%v: exit %d, %q; want a failure saying %q", r.args, code, out, r.want)
		}
	}

	// A remount keeps the pin and the content.
	if err := s.Unmount(); err != nil {
		t.Fatal(err)
	}
	_, mp = mountDavtest(t, srv, cacheDir)
	for _, n := range inAlbum {
		if got := getx(t, "user.ncvfs.state", filepath.Join(mp, n)); got != "local" {
			t.Errorf("%s after a remount: %q", n, got)
		}
	}
	if got := getx(t, "user.ncvfs.pin", filepath.Join(mp, "Album/b.jpg")); got != "alwayslocal" {
		t.Errorf("pin after a remount %q", got)
	}
}

// With --no-xattr every attribute request is refused as before pins existed.
func TestNoXattr(t *testing.T) {
	srv := newServer(t)
	seedPins(t, srv)
	mp := t.TempDir()
	s, err := Start(context.Background(), Config{URL: srv.URL(), User: "alice", Password: "app-password-1",
		Mountpoint: mp, CacheDir: t.TempDir(), Logger: testLogger(t), NoXattr: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Unmount() })
	_, err = getxattr(filepath.Join(mp, "Album"), "user.ncvfs.pin")
	if err != syscall.EOPNOTSUPP && err != syscall.ENOSYS {
		t.Errorf("getxattr with --no-xattr: %v, want not supported", err)
	}
}

func getxattr(path, name string) (string, error) {
	buf := make([]byte, 256)
	n, err := syscall.Getxattr(path, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// call runs a control operation as the CLI would, through the handler.
func call(t *testing.T, h control.Handler, rel string, args any, out any) error {
	t.Helper()
	req := control.Request{Path: rel}
	if args != nil {
		raw, err := json.Marshal(args)
		if err != nil {
			t.Fatal(err)
		}
		req.Args = raw
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := h(ctx, req, func(any) error { return nil })
	if err != nil {
		return err
	}
	raw, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	return json.Unmarshal(raw, out)
}

// pin --wait returns once everything is local; free brings du down to about zero
// while sizes stay, and the next read downloads again; a pinned or open file is kept.
func TestPinWaitAndFree(t *testing.T) {
	srv := newServer(t)
	files := seedPins(t, srv)
	s, mp := mountDavtest(t, srv, "")
	if _, err := os.ReadDir(filepath.Join(mp, "Album")); err != nil {
		t.Fatal(err)
	}
	var pr control.PinProgress
	if err := call(t, s.ctlPin, "Album", control.PinArgs{Wait: true}, &pr); err != nil {
		t.Fatalf("pin --wait: %v", err)
	}
	if !pr.Done || pr.Files != 4 || pr.LocalFiles != 4 {
		t.Errorf("pin --wait answered %+v, want 4 of 4 files local", pr)
	}
	var st control.Status
	if err := call(t, s.ctlStatus, "Album/a.jpg", nil, &st); err != nil {
		t.Fatal(err)
	}
	want := files["Album/a.jpg"] + files["Album/b.jpg"] + files["Album/Sub/c.jpg"]
	if st.PinnedFiles != 4 || st.PinnedBytes != want || st.PinnedLocalBytes != want {
		t.Errorf("status pinned %d files, %d bytes (%d here); want 4, %d, %d", st.PinnedFiles, st.PinnedBytes, st.PinnedLocalBytes, want, want)
	}
	if st.Item == nil || st.Item.State != "local" || st.Item.Pin != "alwayslocal" || !st.Item.PinInherited {
		t.Errorf("status of a pinned file %+v", st.Item)
	}

	// Pinned content is not freed.
	var fr control.FreeResult
	if err := call(t, s.ctlFree, "Album", nil, &fr); err != nil {
		t.Fatal(err)
	}
	if fr.FreedFiles != 0 || len(fr.Skipped) != 1 {
		t.Errorf("free of a pinned folder: %+v", fr)
	}

	var unp control.ItemStatus
	if err := call(t, s.ctlUnpin, "Album", nil, &unp); err != nil {
		t.Fatal(err)
	}
	if unp.Pin != "unspecified" {
		t.Errorf("after unpin: %+v", unp)
	}
	album := filepath.Join(mp, "Album")
	lsBefore := lsLong(t, album)
	apparent := duBlocks(t, "--apparent-size", album)
	if used := duBlocks(t, album); used < want {
		t.Errorf("du before free: %d, want at least %d", used, want)
	}
	held, err := os.Open(filepath.Join(mp, "Album/b.jpg")) // an open file is kept
	if err != nil {
		t.Fatal(err)
	}
	if err := call(t, s.ctlFree, "Album", nil, &fr); err != nil {
		t.Fatal(err)
	}
	held.Close()
	if fr.FreedFiles != 2 || fr.FreedBytes != files["Album/a.jpg"]+files["Album/Sub/c.jpg"] ||
		len(fr.Skipped) != 1 || fr.Skipped[0].Path != "Album/b.jpg" {
		t.Errorf("free: %+v", fr)
	}
	if used := duBlocks(t, album); used > files["Album/b.jpg"]+64<<10 {
		t.Errorf("du after free: %d bytes", used)
	}
	if got := duBlocks(t, "--apparent-size", album); got != apparent {
		t.Errorf("du --apparent-size %d after free, %d before", got, apparent)
	}
	if lsAfter := lsLong(t, album); lsAfter != lsBefore {
		t.Errorf("ls -l changed by free:\n%s\nbefore:\n%s", lsAfter, lsBefore)
	}
	if got := getx(t, "user.ncvfs.state", filepath.Join(mp, "Album/a.jpg")); got != "online" {
		t.Errorf("a freed file is %q", got)
	}
	before := srv.Counts()
	got, err := os.ReadFile(filepath.Join(mp, "Album/Sub/c.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	server, _ := srv.ReadFile("Album/Sub/c.jpg")
	if !bytes.Equal(got, server) {
		t.Error("the bytes read after free differ from the server's")
	}
	if after := srv.Counts(); after.Requests["GET"] == before.Requests["GET"] {
		t.Error("the read after free downloaded nothing: the old bytes were still served")
	}
}

// lsLong is ls -lR without its "total" lines (the blocks used, which free changes).
func lsLong(t *testing.T, dir string) string {
	t.Helper()
	out, code := tool(t, "ls", "-lR", "--time-style=+%s", dir)
	if code != 0 {
		t.Fatalf("ls -lR %s: %s", dir, out)
	}
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, "total ") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
