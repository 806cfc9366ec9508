// Package realservers starts real WebDAV servers from Debian packages (Apache httpd with
// mod_dav, `rclone serve webdav`) on loopback, for interop tests. Only tests import it.
//
// Each server is started through its script under scripts/ in its own process group and
// stopped by t.Cleanup. A missing server binary fails the test with the package to install:
// the interop suite is part of the project's tests, not an optional extra.
package realservers

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// readyTimeout bounds how long a server may take to answer its first request.
const readyTimeout = 20 * time.Second

// Server is a running WebDAV server.
type Server struct {
	Name           string // "apache" or "rclone"
	URL            string // root of the share, ends in "/"
	User, Password string
	DataDir        string // the served folder on disk: tests seed files here directly

	// owner is who files seeded into DataDir must belong to (Apache's workers run as
	// www-data when started by root); nil keeps the test process's own ownership.
	owner *fileOwner
}

type fileOwner struct{ uid, gid int }

// serverSpec says how to start one kind of server.
type serverSpec struct {
	name     string
	script   string   // under scripts/
	urlPath  string   // path of the share on the server
	binaries []binary // what must be installed
	stateDir string   // the script's state folder inside DIR, for its logs
	errorLog string   // log file inside stateDir worth showing on failure, "" if none
	owner    *fileOwner
}

type binary struct{ name, pkg string }

// StartApache starts Apache httpd (mod_dav, mod_dav_fs, Basic auth) serving a fresh folder
// at http://127.0.0.1:PORT/dav/.
func StartApache(t testing.TB) *Server {
	t.Helper()
	spec := serverSpec{
		name:     "apache",
		script:   "serve-apache",
		urlPath:  "/dav/",
		binaries: []binary{{"apache2", "apache2"}, {"htpasswd", "apache2-utils"}, {"curl", "curl"}},
		stateDir: "apache-state",
		errorLog: "error.log",
	}
	if os.Geteuid() == 0 {
		owner, err := lookupOwner("www-data")
		if err != nil {
			t.Fatalf("realservers: apache: %v (install it with: apt-get install apache2)", err)
		}
		spec.owner = owner
	}
	return start(t, spec)
}

// StartRclone starts `rclone serve webdav` (Basic auth) serving a fresh folder at
// http://127.0.0.1:PORT/.
func StartRclone(t testing.TB) *Server {
	t.Helper()
	return start(t, serverSpec{
		name:     "rclone",
		script:   "serve-rclone",
		urlPath:  "/",
		binaries: []binary{{"rclone", "rclone"}, {"htpasswd", "apache2-utils"}, {"curl", "curl"}},
		stateDir: "rclone-state",
	})
}

func start(t testing.TB, spec serverSpec) *Server {
	t.Helper()
	for _, b := range spec.binaries {
		if !installed(b.name) {
			t.Fatalf("realservers: %s: %s not found; install it with: apt-get install %s", spec.name, b.name, b.pkg)
		}
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatalf("realservers: %v", err)
	}
	// Not t.TempDir: its folders are 0700, which Apache's www-data workers cannot traverse.
	dir, err := os.MkdirTemp("", "ncvfs-"+spec.name+"-")
	if err != nil {
		t.Fatalf("realservers: %v", err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("realservers: remove %s: %v", dir, err)
		}
	})
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatalf("realservers: %v", err)
	}
	srv := &Server{
		Name:     spec.name,
		User:     "ncvfs",
		Password: randomPassword(),
		DataDir:  filepath.Join(dir, "data"),
		owner:    spec.owner,
	}
	if err := os.Mkdir(srv.DataDir, 0o755); err != nil {
		t.Fatalf("realservers: %v", err)
	}
	if err := srv.chown(srv.DataDir); err != nil {
		t.Fatalf("realservers: %v", err)
	}
	passwordFile := filepath.Join(dir, "password")
	if err := os.WriteFile(passwordFile, []byte(srv.Password+"\n"), 0o600); err != nil {
		t.Fatalf("realservers: %v", err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatalf("realservers: %v", err)
	}
	srv.URL = fmt.Sprintf("http://127.0.0.1:%d%s", port, spec.urlPath)

	out := newReadyWriter("ready " + srv.URL + "\n")
	cmd := exec.Command("bash", filepath.Join(root, "scripts", spec.script),
		dir, strconv.Itoa(port), srv.User, passwordFile)
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so cleanup stops the script and every server process under it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("realservers: %s: start %s: %v", spec.name, spec.script, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() { stopGroup(t, spec.name, cmd.Process.Pid, exited) }

	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	var failure string
	select {
	case <-out.ready:
		t.Cleanup(stop)
		return srv
	case err := <-exited:
		exited <- err // stop waits on it too
		failure = fmt.Sprintf("exited before it was ready (%v)", err)
	case <-timer.C:
		failure = fmt.Sprintf("not ready after %s", readyTimeout)
	}
	stop()
	t.Fatalf("realservers: %s %s\noutput:\n%s%s", spec.script, failure, out.String(),
		logTail(filepath.Join(dir, spec.stateDir, spec.errorLog), spec.errorLog != ""))
	return nil
}

// stopGroup ends the server's process group: TERM, then KILL if it lingers.
func stopGroup(t testing.TB, name string, pgid int, exited chan error) {
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-exited
		t.Errorf("realservers: %s ignored SIGTERM for 10s; killed", name)
	}
	// Workers that outlived their parent would keep the port and the data folder busy.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

func installed(name string) bool {
	if _, err := exec.LookPath(name); err == nil {
		return true
	}
	// Daemons live in sbin, which is not on every user's PATH (the scripts add it).
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err == nil && fi.Mode()&0o111 != 0 {
			return true
		}
	}
	return false
}

// repoRoot walks up from the working directory to the folder holding go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// freePort asks the kernel for a free loopback port. Another process could take it before
// the server binds it; the server then fails to start and the test says so.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomPassword() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails on Linux
	return hex.EncodeToString(b)
}

func lookupOwner(name string) (*fileOwner, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("user %s: %w", name, err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return nil, fmt.Errorf("user %s: uid %q: %w", name, u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return nil, fmt.Errorf("user %s: gid %q: %w", name, u.Gid, err)
	}
	return &fileOwner{uid: uid, gid: gid}, nil
}

func logTail(path string, wanted bool) string {
	if !wanted {
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("\n(%s: %v)", filepath.Base(path), err)
	}
	const tail = 4 << 10
	if len(b) > tail {
		b = b[len(b)-tail:]
	}
	return fmt.Sprintf("\n%s:\n%s", filepath.Base(path), b)
}

// readyWriter collects a script's output (bounded, for failure messages) and closes ready
// once the script has printed its ready line.
type readyWriter struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	readyLine []byte
	ready     chan struct{}
	seen      bool
}

// maxOutput bounds the output kept from a chatty server.
const maxOutput = 64 << 10

func newReadyWriter(readyLine string) *readyWriter {
	return &readyWriter{readyLine: []byte(readyLine), ready: make(chan struct{})}
}

func (w *readyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if room := maxOutput - w.buf.Len(); room > 0 {
		w.buf.Write(p[:min(len(p), room)])
	}
	if !w.seen && bytes.Contains(w.buf.Bytes(), w.readyLine) {
		w.seen = true
		close(w.ready)
	}
	return len(p), nil
}

func (w *readyWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
