package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ncvfs/ncvfs/davclient/davtest"
	"github.com/ncvfs/ncvfs/fusefs"
	"github.com/ncvfs/ncvfs/internal/control"
	"github.com/ncvfs/ncvfs/internal/mountinfo"
)

// runtimeDir is an XDG_RUNTIME_DIR of the test's own (short: socket paths are
// limited), so its control sockets are told apart from any other mount's.
func runtimeDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "rt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// cli runs ncvfs to its end in dir with env added, as cred (nil: as this process).
func cli(t *testing.T, dir string, env []string, cred *syscall.Credential, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), exitCode(err)
}

// mountCLI mounts srv with the binary and returns the mount point; the mount is
// cleared when the test ends.
func mountCLI(t *testing.T, srv *davtest.Server, env []string, extra ...string) (*proc, string) {
	t.Helper()
	mp := t.TempDir()
	args := append([]string{"mount", "--user", "alice", "--cache-dir", t.TempDir()}, extra...)
	p := start(t, env, nil, append(args, srv.URL(), mp)...)
	p.waitFor(t, "mounted")
	t.Cleanup(func() {
		if mounted, _ := mountinfo.IsMounted(mp); mounted {
			fusefs.Unmount(mp)
		}
	})
	return p, mp
}

// statusJSON runs ncvfs status --json on path and decodes it.
func statusJSON(t *testing.T, env []string, path string) control.Status {
	t.Helper()
	out, errOut, code := cli(t, "/", env, nil, "status", "--json", path)
	if code != 0 {
		t.Fatalf("ncvfs status --json %s: exit %d\n%s", path, code, errOut)
	}
	var st control.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status JSON: %v\n%s", err, out)
	}
	return st
}

// itemState asks for one path's state. An upload attempt in flight at that instant
// shows as "uploading": asked again then.
func itemState(t *testing.T, env []string, path string) control.Status {
	t.Helper()
	for range 5 {
		st := statusJSON(t, env, path)
		if st.Item == nil {
			t.Fatalf("status of %s has no item", path)
		}
		if st.Item.State != control.StateUploading {
			return st
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s stays uploading", path)
	return control.Status{}
}

func TestStatusAndFlushThroughTheDaemon(t *testing.T) {
	srv := newServer(t)
	srv.WriteFile("Documents/never read.txt", []byte("untouched"), time.Unix(1700000000, 0))
	srv.WriteFile("read me.txt", []byte("read"), time.Unix(1700000000, 0))
	removeFault := srv.AddFault(davtest.Fault{Method: "PUT", Status: 503})
	defer removeFault()
	rt := runtimeDir(t)
	env := []string{"NCVFS_PASSWORD=" + password, "XDG_RUNTIME_DIR=" + rt}
	p, mp := mountCLI(t, srv, env, "--experimental-writes")
	at := func(rel string) string { return filepath.Join(mp, rel) }

	sock := filepath.Join(rt, "ncvfs", control.SocketName(mp))
	if fi, err := os.Lstat(sock); err != nil || fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("control socket %s: %v, %v", sock, fi, err)
	}
	if fi, err := os.Stat(filepath.Dir(sock)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("socket folder: %v, %v; want 0700", fi, err)
	}

	if err := os.WriteFile(at("new.txt"), []byte("new bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(at("Documents/hello world.txt"), []byte("changed here"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(at("read me.txt")); err != nil || string(b) != "read" {
		t.Fatalf("read: %q %v", b, err)
	}

	st := itemState(t, env, at("Documents/hello world.txt"))
	if st.ReadOnly || st.MountPoint != mp || st.User != "alice" || st.ServerURL != srv.URL() {
		t.Errorf("status: %+v", st)
	}
	if st.UploadQueue != 2 || st.Dirty+st.Uploading != 2 || len(st.UploadErrors) != 0 {
		t.Errorf("queue %d, dirty %d, uploading %d, errors %v; want 2 changes queued",
			st.UploadQueue, st.Dirty, st.Uploading, st.UploadErrors)
	}
	if it := st.Item; it.State != control.StateDirty || it.Kind != "file" || it.Size != 12 || it.Path != "Documents/hello world.txt" {
		t.Errorf("changed file: %+v, want dirty", it)
	}
	if st.Items < 5 {
		t.Errorf("items known %d", st.Items)
	}
	if it := itemState(t, env, at("Documents/never read.txt")).Item; it.State != control.StateOnline || it.LocalBytes != 0 {
		t.Errorf("never read: %+v, want online", it)
	}
	// A small file's content is recorded just after the read returns.
	limit := time.Now().Add(15 * time.Second)
	for {
		it := itemState(t, env, at("read me.txt")).Item
		if it.State == control.StateLocal && it.LocalBytes == 4 {
			break
		}
		if time.Now().After(limit) {
			t.Fatalf("read file: %+v, want local", it)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if st := statusJSON(t, env, at("Documents")); st.Item == nil || st.Item.Kind != "folder" {
		t.Errorf("folder: %+v", st.Item)
	}

	// The plain text, asked from a folder inside the mount.
	out, errOut, code := cli(t, at("Documents"), env, nil, "status")
	if code != 0 || !strings.Contains(out, "Mount point:     "+mp+" (read-write)") ||
		!strings.Contains(out, "Upload queue:    2") || !strings.Contains(out, "Documents: online (folder)") {
		t.Errorf("status in a folder of the mount: exit %d\n%s%s", code, out, errOut)
	}

	// While the server refuses, a flush with a timeout fails with the server's error.
	_, errOut, code = cli(t, "/", env, nil, "flush", "--timeout", "1s", mp)
	if code != 1 || !strings.Contains(errOut, "2 changes not uploaded after 1s") || !strings.Contains(errOut, "503") {
		t.Errorf("flush against a failing server: exit %d\n%s", code, errOut)
	}

	removeFault()
	out, errOut, code = cli(t, "/", env, nil, "flush", "--wait", at("Documents"))
	if code != 0 {
		t.Fatalf("flush: exit %d\n%s%s", code, out, errOut)
	}
	for p, want := range map[string]string{"new.txt": "new bytes", "Documents/hello world.txt": "changed here"} {
		if b, err := srv.ReadFile(p); err != nil || string(b) != want {
			t.Errorf("server's %s: %q %v, want %q", p, b, err, want)
		}
	}
	st = statusJSON(t, env, mp)
	if st.UploadQueue != 0 || st.Dirty != 0 || st.Uploading != 0 || st.Item != nil {
		t.Errorf("after the flush: queue %d, dirty %d, uploading %d, item %+v", st.UploadQueue, st.Dirty, st.Uploading, st.Item)
	}
	if it := itemState(t, env, at("new.txt")).Item; it.State != control.StateLocal && it.State != control.StateOnline {
		t.Errorf("uploaded file: %+v", it)
	}

	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.wait(t); err != nil {
		t.Fatalf("exit: %v\n%s", err, p.stderr)
	}
	if _, err := os.Lstat(sock); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the socket outlived the mount: %v", err)
	}
}

func TestStatusOutsideADeadAndAReadOnlyMount(t *testing.T) {
	rt := runtimeDir(t)
	env := []string{"NCVFS_PASSWORD=" + password, "XDG_RUNTIME_DIR=" + rt}
	outside := t.TempDir()
	for _, cmd := range []string{"status", "flush", "conflicts"} {
		out, errOut, code := cli(t, "/", env, nil, cmd, outside)
		if code != 1 || errOut != "ncvfs: "+outside+" is not inside an ncvfs mount\n" || out != "" {
			t.Errorf("%s outside a mount: exit %d\nstdout: %s\nstderr: %s", cmd, code, out, errOut)
		}
	}
	if _, errOut, code := cli(t, outside, env, nil, "status"); code != 1 || !strings.Contains(errOut, "is not inside an ncvfs mount") {
		t.Errorf("status in a folder outside: exit %d %s", code, errOut)
	}
	if _, errOut, code := cli(t, "/", env, nil, "status", filepath.Join(outside, "nothing")); code != 1 || !strings.Contains(errOut, "no such file or folder") {
		t.Errorf("status of a missing path: exit %d %s", code, errOut)
	}
	if _, errOut, code := cli(t, "/", env, nil, "status", "a", "b"); code != 2 || !strings.Contains(errOut, "usage: ncvfs status") {
		t.Errorf("two paths: exit %d %s", code, errOut)
	}
	if _, errOut, code := cli(t, "/", env, nil, "flush", "--timeout", "soon"); code != 2 {
		t.Errorf("a bad timeout: exit %d %s", code, errOut)
	}

	srv := newServer(t)
	p, mp := mountCLI(t, srv, env)
	out, errOut, code := cli(t, "/", env, nil, "status", mp)
	if code != 0 || !strings.Contains(out, "("+"read-only)") || strings.Contains(out, "Upload queue") {
		t.Errorf("status of a read-only mount: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = cli(t, "/", env, nil, "flush", mp)
	if code != 0 || !strings.Contains(out, "nothing to flush") {
		t.Errorf("flush of a read-only mount: exit %d\n%s%s", code, out, errOut)
	}
	out, _, code = cli(t, "/", env, nil, "conflicts", mp)
	if code != 0 || out != "no conflict copies\n" {
		t.Errorf("conflicts of a mount without any: exit %d %q", code, out)
	}

	if os.Geteuid() == 0 {
		// Another user is told the mount is not theirs, before any socket is tried.
		nobody, err := user.Lookup("nobody")
		if err != nil {
			t.Fatal(err)
		}
		uid, _ := strconv.Atoi(nobody.Uid)
		gid, _ := strconv.Atoi(nobody.Gid)
		_, errOut, code := cli(t, "/", nil, &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, "status", mp)
		if code != 1 || !strings.Contains(errOut, "belongs to another user") {
			t.Errorf("status as nobody: exit %d %s", code, errOut)
		}
	}

	// A daemon that died leaves its socket; status says what to do, and the next
	// mount replaces the stale socket.
	p.cmd.Process.Kill()
	p.wait(t)
	_, errOut, code = cli(t, "/", env, nil, "status", mp)
	if code != 1 || !strings.Contains(errOut, "does not answer") || !strings.Contains(errOut, "ncvfs unmount "+mp) {
		t.Errorf("status of a dead mount: exit %d %s", code, errOut)
	}
	if _, errOut, code := cli(t, "/", env, nil, "unmount", mp); code != 0 {
		t.Fatalf("unmount: %s", errOut)
	}
	again := start(t, env, nil, "mount", "--user", "alice", "--cache-dir", t.TempDir(), srv.URL(), mp)
	again.waitFor(t, "mounted")
	if st := statusJSON(t, env, mp); st.MountPoint != mp {
		t.Errorf("status after a remount: %+v", st)
	}
	again.cmd.Process.Signal(syscall.SIGTERM)
	if err := again.wait(t); err != nil {
		t.Fatalf("exit: %v\n%s", err, again.stderr)
	}
}

func TestConflictsListsEachCopyWithItsOriginal(t *testing.T) {
	srv := newServer(t)
	mtime := time.Unix(1700000000, 0)
	srv.WriteFile("report.txt", []byte("original"), mtime)
	removeFault := srv.AddFault(davtest.Fault{Method: "PUT", Status: 503})
	defer removeFault()
	env := []string{"NCVFS_PASSWORD=" + password, "XDG_RUNTIME_DIR=" + runtimeDir(t)}
	_, mp := mountCLI(t, srv, env, "--experimental-writes")
	at := func(rel string) string { return filepath.Join(mp, rel) }

	// Both sides change two files while the uploads fail.
	for _, f := range []string{"report.txt", "Documents/hello world.txt"} {
		if err := os.WriteFile(at(f), []byte("local edit"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := srv.WriteFile(f, []byte("server edit"), mtime.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	before := time.Now().Add(-time.Second)
	removeFault()
	if _, errOut, code := cli(t, "/", env, nil, "flush", "--timeout", "60s", mp); code != 0 {
		t.Fatalf("flush: exit %d\n%s", code, errOut)
	}

	out, errOut, code := cli(t, "/", env, nil, "conflicts", "--json", mp)
	if code != 0 {
		t.Fatalf("conflicts: exit %d\n%s", code, errOut)
	}
	var res control.ConflictsReply
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("conflicts JSON: %v\n%s", err, out)
	}
	if len(res.Conflicts) != 2 {
		t.Fatalf("conflicts %+v, want two", res.Conflicts)
	}
	wantOrig := []string{"Documents/hello world.txt", "report.txt"} // sorted by the copies' paths
	for i, c := range res.Conflicts {
		if c.Original != wantOrig[i] || !c.OriginalExists || !strings.Contains(path.Base(c.Path), "(conflicted copy ") ||
			path.Dir(c.Path) != path.Dir(wantOrig[i]) {
			t.Errorf("conflict %d: %+v, want a copy of %s beside it", i, c, wantOrig[i])
		}
		if c.When.Before(before.Truncate(time.Second)) || c.When.After(time.Now()) || c.Size != int64(len("local edit")) {
			t.Errorf("conflict %d: when %v (want since %v), size %d", i, c.When, before, c.Size)
		}
		if b, err := os.ReadFile(at(c.Path)); err != nil || string(b) != "local edit" {
			t.Errorf("copy %s holds %q, %v", c.Path, b, err)
		}
	}

	// The plain list, and one folder's only.
	out, _, code = cli(t, "/", env, nil, "conflicts", at("Documents"))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 1 || !strings.HasPrefix(lines[0], res.Conflicts[0].Path+"\tDocuments/hello world.txt\t") {
		t.Errorf("conflicts of Documents: exit %d\n%s", code, out)
	}

	st := statusJSON(t, env, at(res.Conflicts[1].Path))
	if st.Conflicts != 2 || st.Item.State != control.StateConflict || !st.Item.LocalOnly || st.UploadQueue != 0 {
		t.Errorf("status of a conflict copy: conflicts %d, item %+v, queue %d", st.Conflicts, st.Item, st.UploadQueue)
	}
}

// A change the server refuses stays here with its error: status lists it, and flush
// does not pass it off as uploaded.
func TestRefusedChangeIsReportedByStatusAndFlush(t *testing.T) {
	srv := newServer(t)
	defer srv.AddFault(davtest.Fault{Method: "PUT", Status: 403})()
	env := []string{"NCVFS_PASSWORD=" + password, "XDG_RUNTIME_DIR=" + runtimeDir(t)}
	_, mp := mountCLI(t, srv, env, "--experimental-writes")
	if err := os.WriteFile(filepath.Join(mp, "refused.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := cli(t, "/", env, nil, "flush", "--timeout", "60s", mp)
	if code != 1 || !strings.Contains(errOut, "ncvfs: refused by the server: refused.txt: ") ||
		!strings.Contains(errOut, "1 change refused by the server is kept here") {
		t.Errorf("flush of a refused change: exit %d\n%s%s", code, out, errOut)
	}
	st := statusJSON(t, env, filepath.Join(mp, "refused.txt"))
	if len(st.UploadErrors) != 1 || st.UploadErrors[0].Path != "refused.txt" || st.UploadErrors[0].Error == "" {
		t.Errorf("upload errors %+v", st.UploadErrors)
	}
	if st.Item.State != control.StateError || st.Item.Error != st.UploadErrors[0].Error || st.UploadQueue != 0 {
		t.Errorf("refused file: %+v, queue %d", st.Item, st.UploadQueue)
	}
	out, _, _ = cli(t, "/", env, nil, "status", mp)
	if !strings.Contains(out, "  refused: refused.txt: "+st.UploadErrors[0].Error) {
		t.Errorf("status text does not show the refusal:\n%s", out)
	}
}

// status says whether the mount reaches the server, and since when it does not.
func TestPrintStatusConnection(t *testing.T) {
	var b bytes.Buffer
	printStatus(&b, &control.Status{Connection: "online"})
	if !strings.Contains(b.String(), "Connection:      online\n") {
		t.Errorf("online:\n%s", b.String())
	}
	b.Reset()
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.Local)
	printStatus(&b, &control.Status{Connection: "offline", OfflineSince: &since})
	if !strings.Contains(b.String(), "Connection:      offline since 2026-01-02 03:04:05") {
		t.Errorf("offline:\n%s", b.String())
	}
	raw, err := json.Marshal(control.Status{Connection: "offline", OfflineSince: &since})
	if err != nil || !bytes.Contains(raw, []byte(`"connection":"offline","offline_since":"2026-01-02T03:04:05`)) {
		t.Errorf("json: %s, %v", raw, err)
	}
}
