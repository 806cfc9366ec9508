package control

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
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
)

// helperEnv makes the test binary a client that asks the socket it names and prints
// the answer: the peer check is tested with a client running as another user.
const helperEnv = "NCVFS_CONTROL_TEST_CLIENT"

func TestMain(m *testing.M) {
	if sock := os.Getenv(helperEnv); sock != "" {
		var st Status
		err := Call(context.Background(), Target{MountPoint: "test", Socket: sock, OwnerUID: -1},
			Request{Op: OpStatus}, nil, &st)
		fmt.Printf("uid %d: %v\n", os.Getuid(), err)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// shortDir is a temporary folder whose paths fit in a socket address (t.TempDir's,
// named after the test, may not).
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// logBuffer collects a server's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func listen(t *testing.T, path string, handlers map[string]Handler) (*Server, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	s, err := Listen(path, handlers, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, logs
}

func target(sock string) Target { return Target{MountPoint: "/test", Socket: sock, OwnerUID: -1} }

func echoHandlers() map[string]Handler {
	return map[string]Handler{
		OpStatus: func(ctx context.Context, req Request, progress func(any) error) (any, error) {
			return Status{MountPoint: "/m", Item: &ItemStatus{Path: req.Path, State: StateLocal}}, nil
		},
	}
}

func TestSocketFolderIsPrivateOrRefused(t *testing.T) {
	if got := socketDir("/run/user/1000", "/tmp", 1000); got != "/run/user/1000/ncvfs" {
		t.Errorf("with XDG_RUNTIME_DIR: %s", got)
	}
	if got := socketDir("", "/tmp", 1000); got != "/tmp/ncvfs-1000" {
		t.Errorf("without XDG_RUNTIME_DIR: %s", got)
	}
	uid := os.Getuid()
	base := t.TempDir()

	fresh := socketDir("", base, uid)
	if err := PrepareDir(fresh, uid); err != nil {
		t.Fatalf("a new folder: %v", err)
	}
	if fi, err := os.Stat(fresh); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("new folder: mode %v, %v; want 0700", fi.Mode(), err)
	}
	if err := PrepareDir(fresh, uid); err != nil {
		t.Errorf("the same folder again: %v", err)
	}

	open := filepath.Join(base, "open")
	os.Mkdir(open, 0o700)
	os.Chmod(open, 0o750)
	err := PrepareDir(open, uid)
	if !errors.Is(err, ErrUnsafeDir) || !strings.Contains(err.Error(), "chmod 700") {
		t.Errorf("a folder the group may read: %v", err)
	}
	if fi, _ := os.Stat(open); fi.Mode().Perm() != 0o750 {
		t.Errorf("the unsafe folder was changed behind the user's back: %v", fi.Mode())
	}

	link := filepath.Join(base, "link")
	os.Symlink(fresh, link)
	if err := PrepareDir(link, uid); !errors.Is(err, ErrUnsafeDir) {
		t.Errorf("a link to a folder: %v", err)
	}

	file := filepath.Join(base, "file")
	os.WriteFile(file, nil, 0o600)
	if err := PrepareDir(file, uid); !errors.Is(err, ErrUnsafeDir) {
		t.Errorf("a file: %v", err)
	}

	// Another user's folder (made as root and given away; as a normal user, a folder
	// we own checked for another uid is the same case).
	theirs := filepath.Join(base, "theirs")
	os.Mkdir(theirs, 0o700)
	want := uid + 1
	if uid == 0 {
		if err := os.Chown(theirs, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		want = 0
	}
	err = PrepareDir(theirs, want)
	if !errors.Is(err, ErrUnsafeDir) || !strings.Contains(err.Error(), "belongs to uid") {
		t.Errorf("another user's folder: %v", err)
	}
}

func TestStaleSocketIsReplacedAndALiveOneKept(t *testing.T) {
	dir := shortDir(t)
	sock := filepath.Join(dir, SocketName("/home/alice/Nextcloud"))

	// A socket left by a process that died: the file, nobody listening.
	old, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	old.SetUnlinkOnClose(false)
	old.Close()
	if _, err := net.Dial("unix", sock); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("the stale socket should refuse connections: %v", err)
	}

	s, _ := listen(t, sock, echoHandlers())
	fi, err := os.Lstat(sock)
	if err != nil || fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket: %v, %v; want a socket of mode 0600", fi.Mode(), err)
	}
	var st Status
	if err := Call(context.Background(), target(sock), Request{Op: OpStatus, Path: "a/b"}, nil, &st); err != nil {
		t.Fatalf("call the new server: %v", err)
	}
	if st.MountPoint != "/m" || st.Item == nil || st.Item.Path != "a/b" {
		t.Errorf("answer %+v", st)
	}

	// A live socket is another daemon's: left alone.
	if _, err := Listen(sock, echoHandlers(), nil); err == nil || !strings.Contains(err.Error(), "serves") {
		t.Errorf("second server on a live socket: %v", err)
	}
	if err := Call(context.Background(), target(sock), Request{Op: OpStatus}, nil, nil); err != nil {
		t.Errorf("the first server stopped answering: %v", err)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(sock); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket left after Close: %v", err)
	}

	// Something that is not a socket is never removed.
	os.WriteFile(sock, []byte("keep"), 0o600)
	if _, err := Listen(sock, nil, nil); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("listen over a file: %v", err)
	}
	if b, _ := os.ReadFile(sock); string(b) != "keep" {
		t.Error("a file at the socket path was replaced")
	}
}

func TestProgressResultAndErrors(t *testing.T) {
	sock := filepath.Join(shortDir(t), "s.sock")
	listen(t, sock, map[string]Handler{
		"count": func(ctx context.Context, req Request, progress func(any) error) (any, error) {
			var n int
			if err := json.Unmarshal(req.Args, &n); err != nil {
				return nil, err
			}
			for i := 1; i <= n; i++ {
				if err := progress(FlushProgress{Queued: n - i}); err != nil {
					return nil, err
				}
			}
			return FlushResult{Refused: []UploadError{{Path: req.Path, Error: "no"}}}, nil
		},
		"fail": func(context.Context, Request, func(any) error) (any, error) {
			return nil, errors.New("Documents/x is not known to the mount")
		},
		"panic": func(context.Context, Request, func(any) error) (any, error) {
			panic("bug")
		},
	})
	var seen []int
	var res FlushResult
	err := Call(context.Background(), target(sock), Request{Op: "count", Path: "p", Args: json.RawMessage("3")},
		func(m json.RawMessage) {
			var p FlushProgress
			json.Unmarshal(m, &p)
			seen = append(seen, p.Queued)
		}, &res)
	if err != nil || fmt.Sprint(seen) != "[2 1 0]" || len(res.Refused) != 1 || res.Refused[0].Path != "p" {
		t.Errorf("count: %v, progress %v, result %+v", err, seen, res)
	}

	var re *RemoteError
	err = Call(context.Background(), target(sock), Request{Op: "fail"}, nil, nil)
	if !errors.As(err, &re) || err.Error() != "Documents/x is not known to the mount" {
		t.Errorf("a handler's error should come back as its sentence: %v", err)
	}
	err = Call(context.Background(), target(sock), Request{Op: "nonsense"}, nil, nil)
	if !errors.As(err, &re) || !strings.Contains(err.Error(), `unknown operation "nonsense"`) {
		t.Errorf("unknown op: %v", err)
	}
	err = Call(context.Background(), target(sock), Request{Op: "panic"}, nil, nil)
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "internal error") {
		t.Errorf("a panicking handler: %v", err)
	}
	// The server survived the panic.
	if err := Call(context.Background(), target(sock), Request{Op: "count", Args: json.RawMessage("0")}, nil, nil); err != nil {
		t.Errorf("after a panic: %v", err)
	}
}

// rawExchange sends raw bytes and returns the server's one line.
func rawExchange(t *testing.T, sock string, send []byte) message {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go c.Write(send) // the server may answer (and close) before it has read it all
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadBytes('\n')
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	var m message
	if err := json.Unmarshal(line, &m); err != nil {
		t.Fatalf("answer %q: %v", line, err)
	}
	return m
}

func TestBadRequestsAreBounded(t *testing.T) {
	defer func(d time.Duration) { requestTimeout = d }(requestTimeout)
	requestTimeout = 300 * time.Millisecond
	sock := filepath.Join(shortDir(t), "s.sock")
	called := make(chan string, 10)
	listen(t, sock, map[string]Handler{OpStatus: func(_ context.Context, req Request, _ func(any) error) (any, error) {
		called <- req.Path
		return nil, nil
	}})

	huge := []byte(`{"v":1,"op":"status","path":"` + strings.Repeat("a", MaxRequest) + `"}`)
	if m := rawExchange(t, sock, huge); m.Type != typeError || !strings.Contains(m.Error, "larger than") {
		t.Errorf("oversized request: %+v", m)
	}
	if m := rawExchange(t, sock, []byte("{not json\n")); m.Type != typeError || !strings.Contains(m.Error, "malformed") {
		t.Errorf("garbage: %+v", m)
	}
	if m := rawExchange(t, sock, []byte(`{"v":99,"op":"status"}`)); m.Type != typeError || !strings.Contains(m.Error, "older ncvfs") {
		t.Errorf("newer protocol: %+v", m)
	}
	start := time.Now()
	if m := rawExchange(t, sock, nil); m.Type != typeError || !strings.Contains(m.Error, "no request within") {
		t.Errorf("silent client: %+v", m)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a silent client was held %v", d)
	}
	select {
	case p := <-called:
		t.Errorf("a bad request reached the handler (path %.20q)", p)
	default:
	}
}

func TestClientGoingAwayAndCloseCancelTheWork(t *testing.T) {
	sock := filepath.Join(shortDir(t), "s.sock")
	started, ended := make(chan struct{}, 2), make(chan error, 2)
	s, _ := listen(t, sock, map[string]Handler{"wait": func(ctx context.Context, _ Request, _ func(any) error) (any, error) {
		started <- struct{}{}
		<-ctx.Done()
		ended <- ctx.Err()
		return nil, ctx.Err()
	}})

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- Call(ctx, target(sock), Request{Op: "wait"}, nil, nil) }()
	<-started
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled call: %v", err)
	}
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler went on after its client left")
	}

	go func() { errc <- Call(context.Background(), target(sock), Request{Op: "wait"}, nil, nil) }()
	<-started
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end a running operation")
	}
	if err := <-errc; err == nil {
		t.Error("the call of an operation cancelled by Close succeeded")
	}
	if _, err := os.Lstat(sock); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket left after Close: %v", err)
	}
}

// Only the daemon's user and root are answered; the peer's uid is the kernel's word.
func TestAnotherUserIsRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root: this test runs a client as the user nobody (run it as root, as scripts/test does)")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)

	// A folder and a socket nobody may reach, so that only the peer check stands in
	// the way (a real socket's 0700 folder would stop it first).
	dir := shortDir(t)
	os.Chmod(dir, 0o755)
	sock := filepath.Join(dir, "s.sock")
	var calls sync.Map
	_, logs := listen(t, sock, map[string]Handler{OpStatus: func(context.Context, Request, func(any) error) (any, error) {
		calls.Store("status", true)
		return Status{MountPoint: "/m"}, nil
	}})
	os.Chmod(sock, 0o666)

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "client")
	copyFile(t, self, bin)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), helperEnv+"="+sock)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("client as nobody: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), fmt.Sprintf("uid %d: permission denied", uid)) {
		t.Errorf("nobody's client got %q, want a refusal", out)
	}
	if _, ok := calls.Load("status"); ok {
		t.Error("the handler ran for another user")
	}
	if l := logs.String(); !strings.Contains(l, "refused a connection from another user") || !strings.Contains(l, "uid="+nobody.Uid) {
		t.Errorf("no log line names the refused uid:\n%s", l)
	}

	// Root (this test) is answered.
	cmd = exec.Command(bin)
	cmd.Env = append(os.Environ(), helperEnv+"="+sock)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "uid 0: <nil>") {
		t.Errorf("client as root: %v %s", err, out)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestLocateOutsideAnyMount(t *testing.T) {
	_, err := Locate(t.TempDir())
	if !errors.Is(err, ErrNotInMount) {
		t.Errorf("Locate of a plain folder: %v", err)
	}
}

func TestSocketNameIsStableAndShort(t *testing.T) {
	a, b := SocketName("/home/alice/Nextcloud"), SocketName("/home/alice/Nextcloud/")
	if a != b {
		t.Errorf("a trailing slash changes the name: %s %s", a, b)
	}
	if a == SocketName("/home/alice/Nextcloud2") || len(a) > 40 || strings.ContainsAny(a, "/ ") {
		t.Errorf("name %q", a)
	}
}
