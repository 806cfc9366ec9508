package session

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ncvfs/ncvfs/davclient/davtest"
	"github.com/ncvfs/ncvfs/internal/control"
)

// offlineBound is how long a call may take while the server is gone. The client
// waits 30 s for an answer's headers and retries reads four times: a call that went
// to a server that does not answer would take minutes, not this.
const offlineBound = 2 * time.Second

// timed runs fn and fails the test if it took offlineBound or more.
func timed(t *testing.T, what string, fn func() error) time.Duration {
	t.Helper()
	time.Sleep(5 * time.Millisecond) // past the kernel's and the listing's TTL: the call reaches ncvfs
	start := time.Now()
	err := fn()
	took := time.Since(start)
	if err != nil {
		t.Errorf("%s: %v", what, err)
	}
	if took >= offlineBound {
		t.Errorf("%s took %s while offline; want an answer from the cache", what, took)
	}
	t.Logf("offline: %-28s %8s", what, took.Round(10*time.Microsecond))
	return took
}

func sum(b []byte) string { return fmt.Sprintf("%x", sha256.Sum256(b)) }

// The server goes away, first refusing connections, then taking them and never
// answering. Browsing, reading what is local and writing answer from the cache at
// once; content never downloaded fails at once with EHOSTUNREACH; status says since
// when the mount is offline. When the server is back, the changes made here arrive
// (same bytes), a change made there meanwhile shows without a visit (the poller's
// pass on reconnect), and a file changed on both sides keeps both versions.
func TestOfflineAnswersFromTheCacheAndCatchesUp(t *testing.T) {
	srv := newServer(t)
	seedSample(t, srv)
	s, mp := mount(t, mountOpts{url: srv.URL(), user: "alice", password: "app-password-1",
		// Every call reaches ncvfs and every visit revalidates: nothing is answered by a
		// cache that would not ask the server anyway. The poller runs only when kicked.
		listingTTL: time.Millisecond, kernelTTL: time.Millisecond, poll: time.Hour,
		writes: true, debounce: 20 * time.Millisecond, chunkThreshold: 5 << 20,
		probeMin: 100 * time.Millisecond, probeTimeout: 500 * time.Millisecond})
	at := func(p string) string { return filepath.Join(mp, p) }
	const todo = "Documents/Notes/todo 100%.md"
	walkMount(t, mp) // every folder listed once
	for _, p := range []string{"Readme.md", todo} {
		if _, err := os.ReadFile(at(p)); err != nil {
			t.Fatal(err)
		}
		st := mustStat(t, srv, p)
		waitComplete(t, at(p), st.Size)
	}

	written := map[string][]byte{}
	offlineOps := func(phase string) {
		timed(t, "ls /", func() error {
			ents, err := os.ReadDir(mp)
			if err == nil && len(ents) < 5 {
				err = fmt.Errorf("%d entries", len(ents))
			}
			return err
		})
		timed(t, "ls Documents/Notes", func() error {
			_, err := os.ReadDir(at("Documents/Notes"))
			return err
		})
		timed(t, "stat Readme.md", func() error {
			st, err := os.Stat(at("Readme.md"))
			if err == nil && st.Size() != 6 {
				err = fmt.Errorf("size %d", st.Size())
			}
			return err
		})
		timed(t, "stat of a missing name", func() error {
			if _, err := os.Stat(at("Documents/no such file")); !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("got %v, want ENOENT", err)
			}
			return nil
		})
		timed(t, "cat Readme.md (local)", func() error {
			b, err := os.ReadFile(at("Readme.md"))
			if err == nil && string(b) != "hello\n" {
				err = fmt.Errorf("read %q", b)
			}
			return err
		})
		name := "Documents/written offline " + phase + ".txt"
		body := []byte(strings.Repeat("offline "+phase+"\n", 1000))
		written[name] = body
		timed(t, "write a new file", func() error { return os.WriteFile(at(name), body, 0o644) })
		timed(t, "read it back", func() error {
			b, err := os.ReadFile(at(name))
			if err == nil && sum(b) != sum(body) {
				err = errors.New("other bytes")
			}
			return err
		})
		timed(t, "cat of a placeholder", func() error {
			_, err := os.ReadFile(at("Documents/Plan (final) #2.txt"))
			if !errors.Is(err, syscall.EHOSTUNREACH) {
				return fmt.Errorf("got %v, want EHOSTUNREACH", err)
			}
			return nil
		})
		// The same through the real tools, process start included.
		timed(t, "ls -l (the program)", func() error {
			out, err := exec.Command("ls", "-l", at("Documents")).CombinedOutput()
			if err == nil && !strings.Contains(string(out), "Plan (final) #2.txt") {
				err = fmt.Errorf("output %q", out)
			}
			return err
		})
		timed(t, "cat (the program)", func() error {
			out, err := exec.Command("cat", at("Readme.md")).CombinedOutput()
			if err == nil && string(out) != "hello\n" {
				err = fmt.Errorf("output %q", out)
			}
			return err
		})
		timed(t, "cat of a placeholder (program)", func() error {
			cmd := exec.Command("cat", at("Documents/Plan (final) #2.txt"))
			cmd.Env = append(os.Environ(), "LC_ALL=C")
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), "No route to host") {
				return fmt.Errorf("cat: %v, %q; want it to fail with No route to host", err, out)
			}
			return nil
		})
	}

	// Phase 1: the server is gone; connections are refused.
	srv.Stop()
	start := time.Now()
	if _, err := os.ReadDir(mp); err != nil {
		t.Fatalf("ls while the server goes away: %v", err)
	}
	t.Logf("offline: first ls after the server went away (detection) %s", time.Since(start).Round(time.Millisecond))
	eventually(t, 10*time.Second, func() error {
		if _, off := s.Online.OfflineSince(); !off {
			return errors.New("not offline yet")
		}
		return nil
	})
	var st control.Status
	if err := call(t, s.ctlStatus, "", nil, &st); err != nil {
		t.Fatal(err)
	}
	if st.Connection != "offline" || st.OfflineSince == nil || time.Since(*st.OfflineSince) > time.Minute {
		t.Errorf("status: connection %q since %v, want offline since just now", st.Connection, st.OfflineSince)
	}
	offlineOps("refused")
	timed(t, "edit a local file", func() error {
		return os.WriteFile(at(todo), []byte("local edit made offline\n"), 0o644)
	})

	// Phase 2: the server takes connections but answers nothing. Only probes may reach it.
	stopHanging := srv.AddFault(davtest.Fault{Delay: time.Hour})
	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	srv.ResetCounts()
	offlineOps("hanging")
	c := srv.Counts()
	for m, n := range c.Requests {
		if !strings.HasPrefix(m, "PROPFIND") && n > 0 {
			t.Errorf("%d %s requests reached a server that was offline; only probes should", n, m)
		}
	}

	// Meanwhile another client changes the server.
	if _, err := srv.WriteFile(todo, []byte("server edit made meanwhile\n"), sampleTime.Add(48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	const added = "Photos/2025 Summer/added elsewhere.txt"
	if _, err := srv.WriteFile(added, []byte("from another client"), sampleTime); err != nil {
		t.Fatal(err)
	}

	// Back.
	back := time.Now()
	stopHanging()
	eventually(t, 30*time.Second, func() error {
		if _, off := s.Online.OfflineSince(); off {
			return errors.New("still offline")
		}
		return nil
	})
	t.Logf("online again %s after the server answered", time.Since(back).Round(time.Millisecond))
	// The poller's pass on reconnect brings the other client's change into the cache,
	// without anyone visiting the folder (the next pass would be an hour away).
	eventually(t, 20*time.Second, func() error {
		_, err := s.Store.LookupPath(s.rootID, added)
		return err
	})
	flush(t, s)

	for name, body := range written {
		got, err := srv.ReadFile(name)
		if err != nil {
			t.Errorf("%s written offline is not on the server: %v", name, err)
			continue
		}
		if sum(got) != sum(body) {
			t.Errorf("%s: the server holds %d bytes (sha256 %s), written %d (sha256 %s)",
				name, len(got), sum(got), len(body), sum(body))
		}
	}
	if b, err := os.ReadFile(at(added)); err != nil || string(b) != "from another client" {
		t.Errorf("the server's change through the mount: %q, %v", b, err)
	}
	if b, err := os.ReadFile(at("Documents/Plan (final) #2.txt")); err != nil || string(b) != "plan" {
		t.Errorf("the placeholder once online: %q, %v", b, err)
	}
	// Both sides changed todo: the server's version keeps the name, ours is a copy.
	if b, _ := srv.ReadFile(todo); string(b) != "server edit made meanwhile\n" {
		t.Errorf("the server's version was overwritten: %q", b)
	}
	if b, err := os.ReadFile(at(todo)); err != nil || string(b) != "server edit made meanwhile\n" {
		t.Errorf("%s reads %q, %v; want the server's version", todo, b, err)
	}
	var copies []string
	ents, err := os.ReadDir(at("Documents/Notes"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.Contains(e.Name(), "(conflicted copy ") {
			copies = append(copies, e.Name())
		}
	}
	if len(copies) != 1 {
		t.Fatalf("conflict copies %v, want one", copies)
	}
	if b, err := os.ReadFile(at("Documents/Notes/" + copies[0])); err != nil || string(b) != "local edit made offline\n" {
		t.Errorf("conflict copy holds %q, %v", b, err)
	}
	var after control.Status
	if err := call(t, s.ctlStatus, "", nil, &after); err != nil {
		t.Fatal(err)
	}
	if after.Connection != "online" || after.OfflineSince != nil {
		t.Errorf("status after reconnect: %q since %v", after.Connection, after.OfflineSince)
	}
}

// A server that keeps taking connections and never answers (a hung proxy, a server
// stuck on its database): the first ls waits only until a quick check of the root goes
// unanswered too, not for the client's timeouts; then everything local answers at once.
func TestServerThatStopsAnsweringIsDetected(t *testing.T) {
	srv := newServer(t)
	seedSample(t, srv)
	s, mp := mount(t, mountOpts{url: srv.URL(), user: "alice", password: "app-password-1",
		listingTTL: time.Millisecond, kernelTTL: time.Millisecond,
		writes: true, debounce: 20 * time.Millisecond, chunkThreshold: 5 << 20,
		probeMin: 100 * time.Millisecond, probeTimeout: 500 * time.Millisecond, suspectAfter: 200 * time.Millisecond})
	at := func(p string) string { return filepath.Join(mp, p) }
	walkMount(t, mp)
	if _, err := os.ReadFile(at("Readme.md")); err != nil {
		t.Fatal(err)
	}
	waitComplete(t, at("Readme.md"), 6)

	stopHanging := srv.AddFault(davtest.Fault{Delay: time.Hour})
	time.Sleep(5 * time.Millisecond)
	start := time.Now()
	ents, err := os.ReadDir(mp)
	took := time.Since(start)
	if err != nil || len(ents) < 5 {
		t.Fatalf("ls while the server stopped answering: %d entries, %v", len(ents), err)
	}
	t.Logf("offline: first ls after the server stopped answering (detection) %s", took.Round(time.Millisecond))
	if took >= 10*time.Second {
		t.Errorf("the first ls took %s; the client's header timeout is 30 s", took)
	}
	if _, off := s.Online.OfflineSince(); !off {
		t.Fatal("not offline after the server stopped answering")
	}
	timed(t, "ls Documents", func() error { _, err := os.ReadDir(at("Documents")); return err })
	timed(t, "cat Readme.md (local)", func() error { _, err := os.ReadFile(at("Readme.md")); return err })
	timed(t, "write a new file", func() error { return os.WriteFile(at("new.txt"), []byte("new"), 0o644) })
	timed(t, "cat of a placeholder", func() error {
		if _, err := os.ReadFile(at("Documents/Plan (final) #2.txt")); !errors.Is(err, syscall.EHOSTUNREACH) {
			return fmt.Errorf("got %v, want EHOSTUNREACH", err)
		}
		return nil
	})

	stopHanging()
	flush(t, s)
	if b, err := srv.ReadFile("new.txt"); err != nil || string(b) != "new" {
		t.Errorf("new.txt on the server: %q, %v", b, err)
	}
	if _, off := s.Online.OfflineSince(); off {
		t.Error("still offline after the server answers again")
	}
}

// A folder pinned while offline cannot be downloaded then; it is once the server is
// back, without pinning it again.
func TestPinnedWhileOfflineHydratesOnReconnect(t *testing.T) {
	srv := newServer(t)
	seedPins(t, srv)
	s, mp := mount(t, mountOpts{url: srv.URL(), user: "alice", password: "app-password-1",
		listingTTL: time.Millisecond, kernelTTL: time.Millisecond,
		probeMin: 100 * time.Millisecond, probeTimeout: 500 * time.Millisecond})
	walkMount(t, mp)
	srv.Stop()
	if _, err := os.ReadDir(mp); err != nil {
		t.Fatal(err)
	}
	if _, off := s.Online.OfflineSince(); !off {
		t.Fatal("not offline")
	}
	setx(t, "user.ncvfs.pin", "alwayslocal", filepath.Join(mp, "Album"))
	eventually(t, 10*time.Second, func() error {
		if s.Pinner.LastError() == nil {
			return errors.New("the pin has not been tried yet")
		}
		return nil
	})
	if got := getx(t, "user.ncvfs.state", filepath.Join(mp, "Album/a.jpg")); got == "local" {
		t.Fatalf("a.jpg is %s while the server is gone", got)
	}
	if err := srv.Resume(); err != nil {
		t.Fatal(err)
	}
	waitStates(t, mp, "local", "Album/a.jpg", "Album/b.jpg", "Album/Sub/c.jpg")
}
