package session

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ncvfs/ncvfs/davclient/davtest"
	"github.com/ncvfs/ncvfs/internal/control"
)

// stateIs is a check for eventually: the file's user.ncvfs.state.
func stateIs(path, want string) func() error {
	return func() error {
		got, err := getxattr(path, "user.ncvfs.state")
		if err != nil {
			return fmt.Errorf("state of %s: %w", path, err)
		}
		if got != want {
			return fmt.Errorf("%s is %s, not %s", path, got, want)
		}
		return nil
	}
}

// Files changed here whose upload the server refuses for now (503) are never freed,
// and free lists them; clean local files beside them are freed. Once the server
// takes uploads again, the changes reach it.
func TestFreeKeepsFilesNotUploaded(t *testing.T) {
	srv := newServer(t)
	seedPins(t, srv)
	s, mp := mountRW(t, srv, "")
	at := func(p string) string { return filepath.Join(mp, p) }
	if _, err := os.ReadFile(at("other.bin")); err != nil { // local and clean
		t.Fatal(err)
	}
	stopFault := srv.AddFault(davtest.Fault{Method: "PUT", Status: 503})
	edited := bytes.Repeat([]byte("edited here\n"), 1000)
	if err := os.WriteFile(at("Album/a.jpg"), edited, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(at("Album/new.txt"), []byte("new here\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, func() error {
		if srv.Counts().Requests["PUT"] < 2 {
			return fmt.Errorf("the uploads were not tried yet")
		}
		return nil
	})

	var fr control.FreeResult
	if err := call(t, s.ctlFree, "", nil, &fr); err != nil {
		t.Fatalf("free: %v", err)
	}
	var kept []string
	for _, sk := range fr.Skipped {
		kept = append(kept, sk.Path)
		if sk.Reason != "changed here and not uploaded yet" {
			t.Errorf("kept %s for %q", sk.Path, sk.Reason)
		}
	}
	slices.Sort(kept)
	if want := []string{"Album/a.jpg", "Album/new.txt"}; !slices.Equal(kept, want) {
		t.Errorf("free kept %v, want %v", kept, want)
	}
	if fr.FreedFiles != 1 || fr.FreedBytes != 100<<10 {
		t.Errorf("free freed %d files, %d bytes; want other.bin's 1, %d", fr.FreedFiles, fr.FreedBytes, 100<<10)
	}
	if got, err := os.ReadFile(at("Album/a.jpg")); err != nil || !bytes.Equal(got, edited) {
		t.Errorf("the edited file after free: %d bytes, %v", len(got), err)
	}

	stopFault()
	flush(t, s)
	if got, _ := srv.ReadFile("Album/a.jpg"); !bytes.Equal(got, edited) {
		t.Errorf("the server has %d bytes of the edited file, want %d", len(got), len(edited))
	}
	if got, _ := srv.ReadFile("Album/new.txt"); string(got) != "new here\n" {
		t.Errorf("the server has %q for the new file", got)
	}
}

// A file pinned onlineonly keeps its content while open, loses it once closed (du
// drops), and reads still work: they download again, and the content goes again at
// the next close.
func TestOnlineOnlyDropsContentOnClose(t *testing.T) {
	srv := newServer(t)
	files := seedPins(t, srv)
	_, mp := mountDavtest(t, srv, "")
	file := filepath.Join(mp, "Album/Sub/c.jpg")
	want, _ := srv.ReadFile("Album/Sub/c.jpg")

	held, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if got, err := io.ReadAll(held); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("first read: %d bytes, %v", len(got), err)
	}
	if used := duBlocks(t, file); used < files["Album/Sub/c.jpg"] {
		t.Errorf("du of a read file: %d", used)
	}
	setx(t, "user.ncvfs.pin", "onlineonly", filepath.Join(mp, "Album"))
	gets := srv.Counts().Requests["GET"]
	got := make([]byte, len(want))
	if _, err := held.ReadAt(got, 0); err != nil || !bytes.Equal(got, want) {
		t.Errorf("read through the open file after the pin: %v", err)
	}
	if n := srv.Counts().Requests["GET"] - gets; n != 0 {
		t.Errorf("the open file's content went while open: %d GETs to read it again", n)
	}
	held.Close()
	eventually(t, 2*time.Minute, stateIs(file, "online"))
	eventually(t, 2*time.Minute, func() error {
		if used := duBlocks(t, file); used != 0 {
			return fmt.Errorf("du of the closed onlineonly file: %d bytes", used)
		}
		return nil
	})

	out, code := tool(t, "cat", file)
	if code != 0 || !bytes.Equal([]byte(out), want) {
		t.Errorf("cat after the content went: exit %d, %d bytes", code, len(out))
	}
	if srv.Counts().Requests["GET"] == gets {
		t.Error("the read after the content went downloaded nothing")
	}
	eventually(t, 2*time.Minute, stateIs(file, "online"))
}

// Files that appear on the server in a pinned folder, or in a folder below it, are
// downloaded once the poller lists the folder again, without anyone reading them.
func TestPinnedFolderHydratesNewFiles(t *testing.T) {
	srv := newServer(t)
	seedPins(t, srv)
	_, mp := mountPolled(t, srv)
	setx(t, "user.ncvfs.pin", "alwayslocal", filepath.Join(mp, "Album"))
	waitStates(t, mp, "local", "Album/a.jpg", "Album/Sub/c.jpg")

	for i, p := range []string{"Album/late.jpg", "Album/Sub/late.jpg", "late-outside.bin"} {
		if _, err := srv.WriteSynthetic(p, 50<<10, uint64(100+i), sampleTime); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 2*time.Minute, stateIs(filepath.Join(mp, "Album/late.jpg"), "local"))
	eventually(t, 2*time.Minute, stateIs(filepath.Join(mp, "Album/Sub/late.jpg"), "local"))
	if err := stateIs(filepath.Join(mp, "late-outside.bin"), "online")(); err != nil {
		t.Errorf("a new file outside the pinned folder: %v", err)
	}
}

// logBuffer keeps what a test's mount logs, and shows it in the test's log too.
type logBuffer struct {
	t  *testing.T
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.b.Write(p)
	l.mu.Unlock()
	return testWriter{l.t}.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A pin that cannot fit the cache budget is refused the same way from setfattr
// (ENOSPC) and from the CLI (the sentence with the numbers), each with a log line
// holding the numbers; nothing is pinned or downloaded. A pin that fits is taken.
func TestPinWithoutRoomRefused(t *testing.T) {
	srv := newServer(t)
	files := seedPins(t, srv)
	logs := &logBuffer{t: t}
	s, mp := mount(t, mountOpts{url: srv.URL(), user: "alice", password: "app-password-1",
		cacheSize: 1 << 20, logger: slog.New(slog.NewTextHandler(logs, nil))})
	album := filepath.Join(mp, "Album")
	if _, err := os.ReadDir(filepath.Join(album, "Sub")); err != nil {
		t.Fatal(err)
	}
	gets := srv.Counts().Requests["GET"]
	need := files["Album/a.jpg"] + files["Album/b.jpg"] + files["Album/Sub/c.jpg"]

	out, code := tool(t, "setfattr", "-n", "user.ncvfs.pin", "-v", "alwayslocal", album)
	if code == 0 || !strings.Contains(out, "No space left on device") {
		t.Errorf("setfattr of a pin that cannot fit: exit %d, %q; want ENOSPC", code, out)
	}
	wantLog := []string{"pin refused", "path=Album", fmt.Sprintf("need=%d", need), fmt.Sprintf("cache_budget=%d", 1<<20),
		fmt.Sprintf("missing=%d", need-(1<<20))}
	for _, w := range wantLog {
		if !strings.Contains(logs.String(), w) {
			t.Errorf("the log of the refused setfattr has no %q", w)
		}
	}
	if got := getx(t, "user.ncvfs.pin", album); got != "unspecified" {
		t.Errorf("pin after the refusal: %q", got)
	}

	before := strings.Count(logs.String(), "pin refused")
	var pr control.PinProgress
	err := call(t, s.ctlPin, "Album", nil, &pr)
	if err == nil || !strings.Contains(err.Error(), "cannot pin Album") || !strings.Contains(err.Error(), "missing") {
		t.Errorf("pin from the CLI: %v", err)
	}
	if strings.Count(logs.String(), "pin refused") != before+1 {
		t.Error("the refused CLI pin logged no line")
	}
	if n := srv.Counts().Requests["GET"] - gets; n != 0 {
		t.Errorf("refused pins downloaded: %d GETs", n)
	}

	setx(t, "user.ncvfs.pin", "alwayslocal", filepath.Join(album, "b.jpg"))
	waitStates(t, mp, "local", "Album/b.jpg")
}

// A file written in a folder pinned onlineonly keeps its content until it is
// uploaded, then loses it like any closed, clean file; it still reads the same.
func TestOnlineOnlyDropsContentAfterUpload(t *testing.T) {
	srv := newServer(t)
	seedPins(t, srv)
	s, mp := mountRW(t, srv, "")
	setx(t, "user.ncvfs.pin", "onlineonly", filepath.Join(mp, "Album"))
	file := filepath.Join(mp, "Album/new.txt")
	body := bytes.Repeat([]byte("written here\n"), 10000)
	if err := os.WriteFile(file, body, 0o644); err != nil {
		t.Fatal(err)
	}
	flush(t, s)
	if got, _ := srv.ReadFile("Album/new.txt"); !bytes.Equal(got, body) {
		t.Fatalf("the server has %d bytes, want %d", len(got), len(body))
	}
	eventually(t, 2*time.Minute, stateIs(file, "online"))
	eventually(t, 2*time.Minute, func() error {
		if used := duBlocks(t, file); used != 0 {
			return fmt.Errorf("du of the uploaded onlineonly file: %d bytes", used)
		}
		return nil
	})
	if got, err := os.ReadFile(file); err != nil || !bytes.Equal(got, body) {
		t.Errorf("read after the content went: %d bytes, %v", len(got), err)
	}
}
