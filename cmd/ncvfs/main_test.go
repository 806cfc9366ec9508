package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ncvfs/ncvfs/davclient/davtest"
	"github.com/ncvfs/ncvfs/fusefs"
	"github.com/ncvfs/ncvfs/internal/mountinfo"
)

// binary is the ncvfs command built once for these tests, in a folder every user can
// read (the normal-user test runs it as "nobody").
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ncvfs-bin-")
	if err == nil {
		err = os.Chmod(dir, 0o755)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "ncvfs")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build ncvfs: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const password = "correct-app-password"

func newServer(t *testing.T) *davtest.Server {
	t.Helper()
	srv, err := davtest.New(davtest.Options{User: "alice", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	if _, err := srv.WriteFile("Documents/hello world.txt", []byte("hi"), time.Unix(1700000000, 0)); err != nil {
		t.Fatal(err)
	}
	return srv
}

// proc is a running ncvfs process; one goroutine reads its stdout into lines.
type proc struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr *syncBuffer
	done   chan error
}

// syncBuffer is a buffer a test may read while the child still writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func start(t *testing.T, env []string, cred *syscall.Credential, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, lines: make(chan string, 64), stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case p.lines <- sc.Text():
			default: // nobody is waiting for lines: drop them, never block the child
			}
		}
		close(p.lines)
	}()
	go func() { p.done <- cmd.Wait() }()
	return p
}

// waitFor reads stdout until a line contains want; a hang guard, not a timing check.
func (p *proc) waitFor(t *testing.T, want string) {
	t.Helper()
	limit := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				t.Fatalf("ncvfs ended without printing %q; stderr:\n%s", want, p.stderr)
			}
			if strings.Contains(line, want) {
				return
			}
		case <-limit:
			t.Fatalf("no %q after 30 s; stderr:\n%s", want, p.stderr)
		}
	}
}

func (p *proc) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("ncvfs did not exit; stderr:\n%s", p.stderr)
	}
	return nil
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func TestWrongPasswordExitsWithAPlainMessage(t *testing.T) {
	srv := newServer(t)
	mp := t.TempDir()
	p := start(t, []string{"NCVFS_PASSWORD=not-the-password"}, nil,
		"mount", "--user", "alice", "--cache-dir", t.TempDir(), srv.URL(), mp)
	err := p.wait(t)
	if exitCode(err) != 1 {
		t.Fatalf("exit %v, want 1; stderr:\n%s", err, p.stderr)
	}
	msg := p.stderr.String()
	want := "ncvfs: the server refused the login for alice: check the user name and app password (create one in Nextcloud: Settings → Security)\n"
	if !strings.HasSuffix(msg, want) || strings.Count(msg, "refused") != 1 {
		t.Errorf("message should say once that the login was refused and what to do:\n%s", msg)
	}
	if strings.Contains(msg, "not-the-password") || strings.Contains(msg, "goroutine ") {
		t.Errorf("message leaks the password or a stack trace:\n%s", msg)
	}
	if mounted, _ := mountinfo.IsMounted(mp); mounted {
		t.Error("a mount was left behind")
	}
}

// A server that cannot be reached is one sentence, with the network's reason and no
// names of ncvfs internals.
func TestUnreachableServerIsOneSentence(t *testing.T) {
	p := start(t, []string{"NCVFS_PASSWORD=" + password}, nil,
		"mount", "--user", "alice", "--cache-dir", t.TempDir(), "http://127.0.0.1:1/", t.TempDir())
	if code := exitCode(p.wait(t)); code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, p.stderr)
	}
	lines := strings.Split(strings.TrimSpace(p.stderr.String()), "\n")
	last := lines[len(lines)-1]
	want := "ncvfs: cannot reach the server at http://127.0.0.1:1/: check the URL and your network (connection refused)"
	if last != want {
		t.Errorf("last line %q, want %q", last, want)
	}
}

func TestPasswordOnTheCommandLineIsRefused(t *testing.T) {
	srv := newServer(t)
	u := strings.Replace(srv.URL(), "http://", "http://alice:secret@", 1)
	p := start(t, nil, nil, "mount", u, t.TempDir())
	if code := exitCode(p.wait(t)); code != 2 {
		t.Fatalf("exit %d, want 2 (usage)", code)
	}
	if strings.Contains(p.stderr.String(), "secret") {
		t.Errorf("the password was echoed:\n%s", p.stderr)
	}
}

func TestMountServesAndUnmountsOnSignal(t *testing.T) {
	srv := newServer(t)
	mp := t.TempDir()
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte(password+"\n"), 0o600)
	p := start(t, nil, nil, "mount", "--user", "alice", "--password-file", pwFile,
		"--cache-dir", t.TempDir(), srv.URL(), mp)
	p.waitFor(t, "mounted")
	if _, err := os.Stat(filepath.Join(mp, "Documents", "hello world.txt")); err != nil {
		t.Fatalf("mounted tree: %v", err)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.wait(t); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.stderr)
	}
	if mounted, _ := mountinfo.IsMounted(mp); mounted {
		t.Fatal("still mounted after SIGTERM")
	}
}

// A killed ncvfs leaves a dead mount; a new mount explains it, and unmount clears it.
func TestDeadMountIsExplainedAndCleared(t *testing.T) {
	srv := newServer(t)
	mp := t.TempDir()
	env := []string{"NCVFS_PASSWORD=" + password}
	args := []string{"mount", "--user", "alice", "--cache-dir", t.TempDir(), srv.URL(), mp}
	p := start(t, env, nil, args...)
	p.waitFor(t, "mounted")
	p.cmd.Process.Kill()
	p.wait(t)
	t.Cleanup(func() { fusefs.Unmount(mp) })

	again := start(t, env, nil, args...)
	if code := exitCode(again.wait(t)); code != 1 {
		t.Fatalf("mount over a dead mount: exit %d; stderr:\n%s", code, again.stderr)
	}
	if !strings.Contains(again.stderr.String(), "ncvfs unmount") {
		t.Errorf("message should say how to clear it:\n%s", again.stderr)
	}
	un := start(t, nil, nil, "unmount", mp)
	if err := un.wait(t); err != nil {
		t.Fatalf("unmount: %v\n%s", err, un.stderr)
	}
	third := start(t, env, nil, args...)
	third.waitFor(t, "mounted")
	third.cmd.Process.Signal(syscall.SIGINT)
	if err := third.wait(t); err != nil {
		t.Fatalf("exit: %v\n%s", err, third.stderr)
	}
}

func TestDemoMountsSamplesAndCleansUp(t *testing.T) {
	mp := filepath.Join(t.TempDir(), "demo")
	p := start(t, nil, nil, "demo", mp)
	p.waitFor(t, "Press Ctrl-C")
	for _, f := range []string{"Readme.md", "Videos/Holiday (4K).mp4", "Documents/Café Menü – Übersicht.txt"} {
		if _, err := os.Stat(filepath.Join(mp, f)); err != nil {
			t.Errorf("demo file %s: %v", f, err)
		}
	}
	st, err := os.Stat(filepath.Join(mp, "Shared with me", "Team Handbook"))
	if err != nil || st.Mode().Perm() != 0o555 {
		t.Errorf("read-only share: %v %v", st.Mode(), err)
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	if err := p.wait(t); err != nil {
		t.Fatalf("demo exit: %v\n%s", err, p.stderr)
	}
	if _, err := os.Stat(mp); !os.IsNotExist(err) {
		t.Errorf("demo left its mount point behind: %v", err)
	}
}

// As a normal user, ncvfs mounts through fusermount3; only that user sees the mount.
func TestMountAsNormalUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root: this test switches to the user nobody (run it as root, as scripts/test does)")
	}
	if st, err := os.Stat("/dev/fuse"); err != nil || st.Mode().Perm()&0o006 != 0o006 {
		t.Fatal("/dev/fuse must be usable by every user (mode 0666, as the kernel creates it); scripts/test sets it")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	base, err := os.MkdirTemp("", "ncvfs-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	mp, cacheDir, pwFile := filepath.Join(base, "mnt"), filepath.Join(base, "cache"), filepath.Join(base, "pw")
	os.Mkdir(mp, 0o755)
	os.WriteFile(pwFile, []byte(password), 0o600)
	for _, p := range []string{mp, pwFile} {
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	os.Mkdir(cacheDir, 0o700)
	os.Chown(cacheDir, uid, gid)

	srv := newServer(t)
	p := start(t, []string{"HOME=" + base}, cred,
		"mount", "--user", "alice", "--password-file", pwFile, "--cache-dir", cacheDir, srv.URL(), mp)
	p.waitFor(t, "mounted")
	t.Cleanup(func() { fusefs.Unmount(mp) })

	ls := exec.Command("ls", filepath.Join(mp, "Documents"))
	ls.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	out, err := ls.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "hello world.txt") {
		t.Fatalf("ls as the mounting user: %v\n%s", err, out)
	}
	// Without --allow-other even root is kept out.
	if _, err := os.Stat(filepath.Join(mp, "Documents")); err == nil {
		t.Error("another user could see into the mount without --allow-other")
	}
	un := start(t, nil, cred, "unmount", mp)
	if err := un.wait(t); err != nil {
		t.Fatalf("unmount as the user: %v\n%s", err, un.stderr)
	}
	if err := p.wait(t); err != nil {
		t.Fatalf("ncvfs exit after unmount: %v\n%s", err, p.stderr)
	}
	st, err := os.Stat(filepath.Join(cacheDir, "metadata.db"))
	if err != nil || st.Mode().Perm() != 0o600 || st.Sys().(*syscall.Stat_t).Uid != uint32(uid) {
		t.Errorf("cache database: %v, mode %v", err, st.Mode())
	}
}

// Ctrl-C while a program works inside the mount: one line names the program, ncvfs
// waits, and it unmounts once the program is gone.
func TestInterruptWhileBusyNamesTheHolderOnce(t *testing.T) {
	srv := newServer(t)
	mp := t.TempDir()
	t.Cleanup(func() {
		if mounted, _ := mountinfo.IsMounted(mp); mounted {
			fusefs.Unmount(mp)
		}
	})
	p := start(t, []string{"NCVFS_PASSWORD=" + password}, nil,
		"mount", "--user", "alice", "--cache-dir", t.TempDir(), srv.URL(), mp)
	p.waitFor(t, "mounted")
	holder := exec.Command("sleep", "600")
	holder.Dir = filepath.Join(mp, "Documents")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })

	p.cmd.Process.Signal(syscall.SIGINT)
	want := fmt.Sprintf("ncvfs: %s is in use by sleep (pid %d)", mp, holder.Process.Pid)
	limit := time.Now().Add(30 * time.Second)
	for !strings.Contains(p.stderr.String(), want) {
		if time.Now().After(limit) {
			t.Fatalf("no %q after 30 s; stderr:\n%s", want, p.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(5 * time.Second) // a few more unmount attempts, which must stay quiet
	holder.Process.Kill()
	holder.Wait()
	if err := p.wait(t); err != nil {
		t.Fatalf("exit once the holder is gone: %v\n%s", err, p.stderr)
	}
	var busy []string
	for _, line := range strings.Split(p.stderr.String(), "\n") {
		if strings.HasPrefix(line, "ncvfs: ") && !strings.HasPrefix(line, "ncvfs: unmounting") {
			busy = append(busy, line)
		}
	}
	if len(busy) != 1 || !strings.HasPrefix(busy[0], want) {
		t.Errorf("want one line starting %q, got:\n%s", want, strings.Join(busy, "\n"))
	}
	if mounted, _ := mountinfo.IsMounted(mp); mounted {
		t.Error("still mounted")
	}
}
