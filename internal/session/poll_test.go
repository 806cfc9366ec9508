package session

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ncvfs/ncvfs/davclient/davtest"
)

const testPoll = 200 * time.Millisecond

// mountPolled mounts with the poller on and kernel and listing caches of an hour: only
// the poller, and the invalidations it sends, can make a server change visible.
func mountPolled(t *testing.T, srv *davtest.Server) (*Session, string) {
	t.Helper()
	return mount(t, mountOpts{url: srv.URL(), user: "alice", password: "app-password-1",
		listingTTL: time.Hour, kernelTTL: time.Hour, poll: testPoll})
}

// mountMatchesServer is a check for eventually: the whole tree through the mount is
// the server's.
func mountMatchesServer(t *testing.T, srv *davtest.Server, mp string) func() error {
	return func() error {
		got, err := readMount(mp)
		if err != nil {
			return err
		}
		if d := diffTrees(walkServer(t, srv), got); len(d) > 0 {
			return fmt.Errorf("mount differs from the server:\n%s", strings.Join(d, "\n"))
		}
		return nil
	}
}

// A second writer changes the server: files and folders created, edited, renamed,
// moved and removed. The mount shows exactly the server's tree without a visit
// revalidating anything, and a stat and a read the kernel had cached show the new size
// and bytes.
func TestPollerShowsOthersChanges(t *testing.T) {
	srv := newServer(t)
	seedSample(t, srv)
	_, mp := mountPolled(t, srv)
	walkMount(t, mp) // every folder listed, every name and attribute in the kernel
	todo := filepath.Join(mp, "Documents/Notes/todo 100%.md")
	if got := runTool(t, "cat", todo); got != "- one\n- two\n" {
		t.Fatalf("cat before: %q", got)
	}

	newBody := strings.Repeat("edited elsewhere\n", 50)
	steps := []func() error{
		func() error {
			_, err := srv.WriteFile("Documents/Notes/added.txt", []byte("12345"), sampleTime)
			return err
		},
		func() error {
			_, err := srv.WriteFile("Documents/Notes/todo 100%.md", []byte(newBody), sampleTime.Add(time.Hour))
			return err
		},
		func() error { return srv.Rename("Readme.md", "Documents/Readme moved.md") },
		func() error { return srv.Rename("Photos/2025 Summer", "Summer 2025") },
		func() error { return srv.Rename("Documents/Plan (final) #2.txt", "Documents/Plan v3.txt") },
		func() error { return srv.Remove("Música") },
		func() error { return srv.Remove("empty.txt") },
		func() error { return srv.MkdirAll("New/Deeper") },
		func() error { _, err := srv.WriteFile("New/Deeper/n.txt", []byte("n"), sampleTime); return err },
		func() error {
			_, err := srv.WriteFile("empty folder/now full.txt", []byte("full"), sampleTime)
			return err
		},
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("server change %d: %v", i, err)
		}
	}
	eventually(t, 20*time.Second, mountMatchesServer(t, srv, mp))

	st, err := os.Stat(todo)
	if err != nil || st.Size() != int64(len(newBody)) {
		t.Fatalf("stat of the edited file: %v, %v; want size %d", st, err, len(newBody))
	}
	if got, err := os.ReadFile(todo); err != nil || string(got) != newBody {
		t.Fatalf("read of the edited file: %q, %v; want the new bytes", got, err)
	}
	for _, gone := range []string{"Readme.md", "Música", "Photos/2025 Summer", "empty.txt"} {
		if _, err := os.Stat(filepath.Join(mp, gone)); !os.IsNotExist(err) {
			t.Errorf("%s: %v, want it gone", gone, err)
		}
	}

	// A second round on the folders seen after the first: the poller keeps up.
	if _, err := srv.WriteFile("Summer 2025/later.txt", []byte("later"), sampleTime); err != nil {
		t.Fatal(err)
	}
	if err := srv.Remove("New/Deeper/n.txt"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, mountMatchesServer(t, srv, mp))
}

// Polling an unchanged tree of 10,000 files costs one request per interval: a Depth-0
// PROPFIND of the root, nothing else.
func TestPollingAnUnchangedTreeCostsOneRequest(t *testing.T) {
	srv := newServer(t)
	for i := range 10_000 {
		p := fmt.Sprintf("d%02d/s%d/f%05d.txt", i%20, i%3, i)
		if _, err := srv.WriteFile(p, []byte("x"), sampleTime); err != nil {
			t.Fatal(err)
		}
	}
	_, mp := mountPolled(t, srv)
	if got := len(walkMount(t, mp)); got != 10_000+20+60 {
		t.Fatalf("walked %d items", got)
	}
	// One pass over the walked tree first, so that what the walk started has ended.
	time.Sleep(2 * testPoll)

	srv.ResetCounts()
	began := time.Now()
	time.Sleep(10 * testPoll)
	c := srv.Counts()
	elapsed := time.Since(began)
	checks := c.Requests["PROPFIND/0"]
	t.Logf("%v unchanged: %d requests (%d Depth-0, %d Depth-1 PROPFINDs)", elapsed.Round(time.Millisecond),
		c.Total(), checks, c.Requests["PROPFIND/1"])
	if checks == 0 {
		t.Fatal("no poll in ten intervals")
	}
	// Passes are an interval apart at least: never more than one per interval.
	if most := int64(elapsed/testPoll) + 1; checks > most {
		t.Errorf("%d root checks in %v, want at most one per interval (%d)", checks, elapsed, most)
	}
	if c.Total() != checks {
		t.Errorf("%d requests in all, want only the %d root checks: %v", c.Total(), checks, c.Requests)
	}
}

// A file read here and then renamed or moved on the server keeps its content: the
// poller sees the same file id at its new path, and reading it there downloads nothing,
// whichever of the two folders the pass lists first.
func TestPollerRenameKeepsContent(t *testing.T) {
	srv := newServer(t)
	bodies := map[string][]byte{}
	for i, p := range []string{"a/one.bin", "b/two.bin", "a/same.bin"} {
		body := davtest.SyntheticBytes(uint64(i+1), 0, 200<<10)
		bodies[p] = body
		if _, err := srv.WriteFile(p, body, sampleTime); err != nil {
			t.Fatal(err)
		}
	}
	_, mp := mountPolled(t, srv)
	walkMount(t, mp)
	for p, body := range bodies {
		if got, err := os.ReadFile(filepath.Join(mp, p)); err != nil || !bytes.Equal(got, body) {
			t.Fatalf("read %s: %d bytes, %v", p, len(got), err)
		}
		waitComplete(t, filepath.Join(mp, p), int64(len(body)))
	}

	srv.ResetCounts()
	moves := map[string]string{ // a -> b and b -> a: one of them is seen source first
		"a/one.bin":  "b/one moved.bin",
		"b/two.bin":  "a/two moved.bin",
		"a/same.bin": "a/same renamed.bin",
	}
	for from, to := range moves {
		if err := srv.Rename(from, to); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 20*time.Second, mountMatchesServer(t, srv, mp))
	for from, to := range moves {
		got, err := os.ReadFile(filepath.Join(mp, to))
		if err != nil || !bytes.Equal(got, bodies[from]) {
			t.Fatalf("read %s after the move: %d bytes, %v", to, len(got), err)
		}
	}
	if got := srv.Counts().Requests["GET"]; got != 0 {
		t.Errorf("%d GETs after renames on the server; the content should have moved with the files", got)
	}
}

// Unmount stops the poller: no request reaches the server after it returns.
func TestPollerStopsAtUnmount(t *testing.T) {
	srv := newServer(t)
	seedSample(t, srv)
	s, mp := mount(t, mountOpts{url: srv.URL(), user: "alice", password: "app-password-1",
		poll: 20 * time.Millisecond})
	walkMount(t, mp)
	eventually(t, 20*time.Second, func() error {
		if srv.Counts().Requests["PROPFIND/0"] < 3 {
			return fmt.Errorf("the poller has not polled yet")
		}
		return nil
	})
	if err := s.Unmount(); err != nil {
		t.Fatal(err)
	}
	srv.ResetCounts()
	time.Sleep(20 * 20 * time.Millisecond)
	if c := srv.Counts(); c.Total() != 0 {
		t.Errorf("%d requests after Unmount returned: %v", c.Total(), c.Requests)
	}
}

// The poller does not fight changes made here: a file written here and not uploaded
// yet (a long upload delay) stays while the poller applies others' changes to the same
// folder, and once uploaded both sides agree.
func TestPollerKeepsLocalChanges(t *testing.T) {
	srv := newServer(t)
	seedSample(t, srv)
	s, mp := mount(t, mountOpts{url: srv.URL(), user: "alice", password: "app-password-1",
		listingTTL: time.Hour, kernelTTL: time.Hour, poll: 20 * time.Millisecond,
		writes: true, debounce: time.Hour, chunkThreshold: 5 << 20})
	walkMount(t, mp)
	mine := filepath.Join(mp, "Documents/mine.txt")
	if err := os.WriteFile(mine, []byte("written here"), 0o644); err != nil {
		t.Fatal(err)
	}
	edited := filepath.Join(mp, "Documents/Notes/todo 100%.md")
	if err := os.WriteFile(edited, []byte("edited here"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.WriteFile("Documents/theirs.txt", []byte("written there"), sampleTime); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.WriteFile("Documents/Notes/other.md", []byte("there too"), sampleTime); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func() error {
		if _, err := os.Stat(filepath.Join(mp, "Documents/theirs.txt")); err != nil {
			return fmt.Errorf("the server's new file: %w", err)
		}
		_, err := os.Stat(filepath.Join(mp, "Documents/Notes/other.md"))
		return err
	})
	time.Sleep(5 * 20 * time.Millisecond) // a few more passes over the changed folders
	for p, want := range map[string]string{mine: "written here", edited: "edited here"} {
		if got, err := os.ReadFile(p); err != nil || string(got) != want {
			t.Fatalf("%s while its upload waits: %q, %v; want %q", p, got, err, want)
		}
	}
	flush(t, s)
	eventually(t, 20*time.Second, mountMatchesServer(t, srv, mp))
	for p, want := range map[string]string{"Documents/mine.txt": "written here", "Documents/Notes/todo 100%.md": "edited here"} {
		if got, err := srv.ReadFile(p); err != nil || string(got) != want {
			t.Errorf("server %s: %q, %v; want %q", p, got, err, want)
		}
	}
}

// A folder whose ETag changed (something below it changed on the server) keeps its
// kernel entry: a program working in it still knows where it is (getcwd).
func TestChangedFolderStaysTheWorkingDirectory(t *testing.T) {
	srv := newServer(t)
	if _, err := srv.WriteFile("work/a.txt", []byte("a"), sampleTime); err != nil {
		t.Fatal(err)
	}
	_, mp := mountPolled(t, srv)
	dir := filepath.Join(mp, "work")
	if _, err := os.Stat(filepath.Join(dir, "a.txt")); err != nil {
		t.Fatal(err)
	}
	// The program enters the folder (through sh: never a Dir inside this process's
	// own mount), waits while the server changes below it, then asks where it is.
	cmd := exec.Command("sh", "-c", `cd "$0" && read line && /bin/pwd`, dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // let it get into the folder; not a timing assertion
	before := srv.Counts().Requests["PROPFIND/1"]
	if _, err := srv.WriteFile("work/b.txt", []byte("b"), sampleTime); err != nil {
		t.Fatal(err)
	}
	// Wait for the pass that lists the root and the folder again, without looking the
	// folder up from here (a lookup would put a dropped entry back before pwd runs).
	eventually(t, 20*time.Second, func() error {
		if n := srv.Counts().Requests["PROPFIND/1"] - before; n < 2 {
			return fmt.Errorf("%d folder listings since the change, want the root's and the folder's", n)
		}
		return nil
	})
	time.Sleep(50 * time.Millisecond) // the kernel is told after the pass is stored
	stdin.Write([]byte("go\n"))
	stdin.Close()
	if err := cmd.Wait(); err != nil || strings.TrimSpace(out.String()) != dir {
		t.Errorf("pwd in the folder after the poll: %q, %v; want %s", out.String(), err, dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "b.txt")); err != nil {
		t.Errorf("b.txt after the poll: %v", err)
	}
}
