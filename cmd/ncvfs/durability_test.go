package main

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ncvfs/ncvfs/davclient/davtest"
	"github.com/ncvfs/ncvfs/fusefs"
	"github.com/ncvfs/ncvfs/internal/mountinfo"
)

// The durability line of a read-write mount: once close returns, a kill -9 of ncvfs
// loses nothing. These tests kill the real process and mount its cache again.

// rwMount starts "ncvfs mount --experimental-writes" on mp with cacheDir.
func rwMount(t *testing.T, srv *davtest.Server, mp, cacheDir string) *proc {
	t.Helper()
	p := start(t, []string{"NCVFS_PASSWORD=" + password}, nil, "mount", "--experimental-writes",
		"--user", "alice", "--cache-dir", cacheDir, srv.URL(), mp)
	p.waitFor(t, "mounted")
	t.Cleanup(func() {
		// A test that stopped half-way must not leave its mount behind (dead or not).
		if mounted, _ := mountinfo.IsMounted(mp); mounted {
			syscall.Unmount(mp, syscall.MNT_DETACH)
		}
	})
	return p
}

// kill9 kills ncvfs the hard way and clears the dead mount it leaves, once the files
// still open in it are closed.
func kill9(t *testing.T, p *proc, mp string, open ...*os.File) {
	t.Helper()
	p.cmd.Process.Kill()
	p.wait(t)
	for _, f := range open {
		f.Close() // fails on a dead mount; what matters is what was synced
	}
	if err := fusefs.Unmount(mp); err != nil {
		t.Fatalf("clear the dead mount: %v", err)
	}
}

// stop unmounts cleanly, as Ctrl-C does.
func stop(t *testing.T, p *proc) {
	t.Helper()
	p.cmd.Process.Signal(os.Interrupt)
	if err := p.wait(t); err != nil {
		t.Fatalf("exit: %v\n%s", err, p.stderr)
	}
}

// serverGets waits (a hang guard, not a timing check) until the server holds want at p.
func serverGets(t *testing.T, srv *davtest.Server, p string, want []byte, proc *proc) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, err := srv.ReadFile(p)
		if err == nil && bytes.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 60 s the server has %d bytes at %s (%v), want %d; stderr:\n%s", len(got), p, err, len(want), proc.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// Files written and closed (or fsync'd and still open) while the server refuses every
// upload survive a kill -9, read back the same after the next mount, and reach the
// server then.
func TestKillAfterCloseLosesNothing(t *testing.T) {
	srv := newServer(t)
	mp, cacheDir := t.TempDir(), t.TempDir()
	removeFault := srv.AddFault(davtest.Fault{Method: "PUT", Status: 503})
	p := rwMount(t, srv, mp, cacheDir)

	created := randomBytes(t, 3<<20)
	edited := []byte("hi, edited here before the crash")
	if err := os.WriteFile(filepath.Join(mp, "Documents", "new.bin"), created, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mp, "Documents", "hello world.txt"), edited, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(mp, "made here"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mp, "made here", "inside.txt"), []byte("inside"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Written and fsync'd, still open when ncvfs dies.
	synced := randomBytes(t, 200<<10)
	open, err := os.Create(filepath.Join(mp, "synced.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := open.Write(synced); err != nil {
		t.Fatal(err)
	}
	if err := open.Sync(); err != nil {
		t.Fatalf("fsync: %v", err)
	}
	kill9(t, p, mp, open)
	if b, _ := srv.ReadFile("Documents/new.bin"); b != nil {
		t.Fatalf("the fault let an upload through; the test proves nothing")
	}

	// The next mount, still offline for uploads, shows the local state.
	p = rwMount(t, srv, mp, cacheDir)
	for name, want := range map[string][]byte{
		"Documents/new.bin":         created,
		"Documents/hello world.txt": edited,
		"made here/inside.txt":      []byte("inside"),
		"synced.bin":                synced,
	} {
		got, err := os.ReadFile(filepath.Join(mp, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("after kill -9, %s reads %d bytes (%v), want the %d written", name, len(got), err, len(want))
		}
	}
	removeFault()
	serverGets(t, srv, "Documents/new.bin", created, p)
	serverGets(t, srv, "Documents/hello world.txt", edited, p)
	serverGets(t, srv, "made here/inside.txt", []byte("inside"), p)
	serverGets(t, srv, "synced.bin", synced, p)
	stop(t, p)
}

// A kill -9 in the middle of a chunked upload: the next mount resumes it from the
// chunks already on the server, and the server ends with exactly the local bytes.
func TestKillDuringChunkedUploadResumes(t *testing.T) {
	srv := newServer(t)
	mp, cacheDir := t.TempDir(), t.TempDir()
	// Chunks arrive slowly, so the kill lands between them.
	removeFault := srv.AddFault(davtest.Fault{Method: "PUT", PathPrefix: "/remote.php/dav/uploads/", Delay: 300 * time.Millisecond})
	p := rwMount(t, srv, mp, cacheDir)

	const chunks = 5 // 10 MiB each, the default chunk size
	content := randomBytes(t, chunks*10<<20-12345)
	if err := os.WriteFile(filepath.Join(mp, "big.bin"), content, 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for srv.Counts().Requests["PUT"] < 3 { // chunks go one after the other: two are stored
		if time.Now().After(deadline) {
			t.Fatalf("no chunked upload after 60 s; stderr:\n%s", p.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	kill9(t, p, mp)
	removeFault()
	if b, _ := srv.ReadFile("big.bin"); b != nil {
		t.Fatalf("the upload finished before the kill; the test proves nothing")
	}

	srv.ResetCounts()
	p = rwMount(t, srv, mp, cacheDir)
	if got, err := os.ReadFile(filepath.Join(mp, "big.bin")); err != nil || !bytes.Equal(got, content) {
		t.Errorf("after kill -9, big.bin reads %d bytes (%v), want the %d written", len(got), err, len(content))
	}
	serverGets(t, srv, "big.bin", content, p)
	if puts := srv.Counts().Requests["PUT"]; puts > chunks-2 {
		t.Errorf("%d chunks sent again after the restart; at most %d were missing", puts, chunks-2)
	}
	stop(t, p)
}
