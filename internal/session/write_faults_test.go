package session

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ncvfs/ncvfs/cache"
	"github.com/ncvfs/ncvfs/davclient"
	"github.com/ncvfs/ncvfs/davclient/davtest"
)

// The write-back's promise under upload faults: whatever the server answers (or fails
// to answer) on the way, once it works again every change made in the mount reaches
// it exactly once, nothing is lost, and no conflict copy appears where nobody else
// changed anything.

const filesPrefix = "/remote.php/dav/files/alice/"

// newRecordingServer is newServer with a record of every request.
func newRecordingServer(t *testing.T) *davtest.Server {
	t.Helper()
	srv, err := davtest.New(davtest.Options{User: "alice", Password: "app-password-1",
		QuotaBytes: 5 << 30, RecordRequests: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// storedPuts counts, per path below the files root, the PUTs that took effect (the
// server stored the bytes, whether or not its answer arrived).
func storedPuts(srv *davtest.Server) map[string]int {
	n := map[string]int{}
	for _, r := range srv.Requests() {
		if r.Method == http.MethodPut && r.Status/100 == 2 && strings.HasPrefix(r.Path, filesPrefix) {
			n[strings.TrimPrefix(r.Path, filesPrefix)]++
		}
	}
	return n
}

// faulted counts the requests of a method that a fault answered or dropped.
func faulted(srv *davtest.Server, method string) int {
	n := 0
	for _, r := range srv.Requests() {
		if r.Fault && r.Method == method {
			n++
		}
	}
	return n
}

// drain is what `ncvfs flush` does: retry now whatever waits for its backoff, and
// wait until everything is on the server.
func drain(t *testing.T, s *Session) {
	t.Helper()
	s.Uploader.RetryNow()
	flush(t, s)
}

// noConflictCopies fails the test if a conflict copy exists in the mount or on the server.
func noConflictCopies(t *testing.T, srv *davtest.Server, mp string) {
	t.Helper()
	for _, tree := range []map[string]treeEntry{walkMount(t, mp), walkServer(t, srv)} {
		for p := range tree {
			if strings.Contains(p, "(conflicted copy") {
				t.Errorf("conflict copy %s, though nobody else changed anything", p)
			}
		}
	}
}

// wantStoredOnce checks that each path was stored by exactly one PUT.
func wantStoredOnce(t *testing.T, srv *davtest.Server, paths ...string) {
	t.Helper()
	puts := storedPuts(srv)
	for _, p := range paths {
		if puts[p] != 1 {
			t.Errorf("%s stored by %d PUTs, want 1 (all stored PUTs: %v)", p, puts[p], puts)
		}
	}
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n+8)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b[:n]
}

func writeFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatalf("write %s: %v", p, err)
	}
}

func appendFile(t *testing.T, p, s string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		f.Close()
		t.Fatalf("append to %s: %v", p, err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close %s: %v", p, err)
	}
}

func mustRename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatalf("mv: %v", err)
	}
}

func waitFaulted(t *testing.T, srv *davtest.Server, method string, n int) {
	t.Helper()
	eventually(t, 30*time.Second, func() error {
		if got := faulted(srv, method); got < n {
			return fmt.Errorf("%d %s requests met a fault, want at least %d", got, method, n)
		}
		return nil
	})
}

func TestUploadsSurvive503Bursts(t *testing.T) {
	srv := newRecordingServer(t)
	for p, body := range map[string]string{
		"docs/a.txt": "a", "docs/b.txt": "bb", "docs/c.txt": "ccc",
		"old/x.txt": "x", "old/sub/y.txt": "y", "gone.txt": "gone",
	} {
		if _, err := srv.WriteFile(p, []byte(body), sampleTime); err != nil {
			t.Fatal(err)
		}
	}
	s, mp := mountRW(t, srv, "")
	at := func(p string) string { return filepath.Join(mp, p) }

	// Phase 1: the server answers 503 to every change while a tree is made, renamed
	// and removed; nothing reaches it until it recovers.
	var removes []func()
	for _, m := range []string{"MKCOL", "PUT", "MOVE", "DELETE"} {
		removes = append(removes, srv.AddFault(davtest.Fault{Method: m, Status: http.StatusServiceUnavailable}))
	}
	if err := os.MkdirAll(at("new/deep/er"), 0o755); err != nil {
		t.Fatal(err)
	}
	var made []string
	for i := range 12 {
		p := []string{"new", "new/deep", "new/deep/er"}[i%3] + fmt.Sprintf("/f%02d.txt", i)
		writeFile(t, at(p), randomBytes(i*1000+1, uint64(i)))
		made = append(made, p)
	}
	writeFile(t, at("new/tmp.txt"), []byte("renamed before its upload"))
	mustRename(t, at("new/tmp.txt"), at("new/final.txt"))
	writeFile(t, at("new/ephemeral.txt"), []byte("removed before its upload"))
	if err := os.Remove(at("new/ephemeral.txt")); err != nil {
		t.Fatal(err)
	}
	mustRename(t, at("docs/a.txt"), at("docs/a2.txt"))
	mustRename(t, at("docs/b.txt"), at("new/b.txt"))
	appendFile(t, at("docs/c.txt"), " and more")
	if err := os.RemoveAll(at("old")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(at("gone.txt")); err != nil {
		t.Fatal(err)
	}
	waitFaulted(t, srv, "MKCOL", 2) // the uploader tried, and tried again
	if got := storedPuts(srv); len(got) != 0 {
		t.Fatalf("PUTs stored during the outage: %v", got)
	}
	for _, remove := range removes {
		remove()
	}
	drain(t, s)
	sameContent(t, srv, mp)
	noConflictCopies(t, srv, mp)
	wantStoredOnce(t, srv, append(made, "new/final.txt", "docs/c.txt")...)
	for _, p := range []string{"new/tmp.txt", "new/ephemeral.txt"} {
		if n := storedPuts(srv)[p]; n != 0 {
			t.Errorf("%s was uploaded %d times, though it changed name or went before its upload", p, n)
		}
	}
	if n := srv.Counts().Requests["MOVE"] - int64(faulted(srv, "MOVE")); n != 2 {
		t.Errorf("%d MOVEs took effect, want 2 (the renames of server files)", n)
	}

	// Phase 2: single 503s, one per kind of change, in the middle of the work.
	srv.ResetCounts()
	for _, f := range []davtest.Fault{
		{Method: "PUT", Nth: 1}, {Method: "PUT", Nth: 2}, {Method: "MKCOL", Nth: 1},
		{Method: "MOVE", Nth: 1}, {Method: "DELETE", Nth: 1},
	} {
		f.Status = http.StatusServiceUnavailable
		defer srv.AddFault(f)()
	}
	appendFile(t, at(made[0]), "edited")
	writeFile(t, at("new/deep/p2.txt"), []byte("phase two"))
	if err := os.Mkdir(at("p2dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, at("p2dir/in.txt"), []byte("inside"))
	mustRename(t, at(made[1]), at("p2dir/moved.txt"))
	mustRename(t, at("docs/a2.txt"), at("docs/a3.txt"))
	if err := os.Remove(at(made[2])); err != nil {
		t.Fatal(err)
	}
	drain(t, s)
	for _, m := range []string{"PUT", "MKCOL", "MOVE", "DELETE"} {
		want := 1
		if m == "PUT" {
			want = 2
		}
		if got := faulted(srv, m); got != want {
			t.Errorf("%d %s requests met a 503, want %d", got, m, want)
		}
	}
	sameContent(t, srv, mp)
	noConflictCopies(t, srv, mp)
	wantStoredOnce(t, srv, made[0], "new/deep/p2.txt", "p2dir/in.txt")
	if n := len(storedPuts(srv)); n != 3 {
		t.Errorf("%d paths stored in phase two, want 3: %v", n, storedPuts(srv))
	}
}

func TestUploadsSurviveDroppedConnections(t *testing.T) {
	srv := newRecordingServer(t)
	for p, body := range map[string]string{
		"edit.txt": "version one", "moved.txt": "moved", "moved-edited.txt": "moved and edited",
		"rm.txt": "removed", "rmdir/x.txt": "x",
	} {
		if _, err := srv.WriteFile(p, []byte(body), sampleTime); err != nil {
			t.Fatal(err)
		}
	}
	s, mp := mountRW(t, srv, "")
	at := func(p string) string { return filepath.Join(mp, p) }
	big := randomBytes(1<<20+17, 1)
	faults := []struct {
		method, path string
		f            davtest.Fault
	}{
		// Nothing stored: dropped before the body was read, and in the middle of it.
		{"PUT", "abort.bin", davtest.Fault{Abort: true}},
		{"PUT", "cut.bin", davtest.Fault{CutRequestAfter: 64 << 10}},
		// Stored, but the answer was lost: the retry meets our own bytes (412).
		{"PUT", "stored-new.txt", davtest.Fault{DropAnswer: true}},
		{"PUT", "edit.txt", davtest.Fault{DropAnswer: true}},
		{"MKCOL", "newdir", davtest.Fault{DropAnswer: true}},
		{"MOVE", "moved.txt", davtest.Fault{DropAnswer: true}},
		{"MOVE", "moved-edited.txt", davtest.Fault{DropAnswer: true}},
		{"DELETE", "rm.txt", davtest.Fault{DropAnswer: true}},
		{"DELETE", "rmdir", davtest.Fault{DropAnswer: true}},
	}
	for _, f := range faults {
		f.f.Method, f.f.PathPrefix, f.f.Nth = f.method, filesPrefix+f.path, 1
		defer srv.AddFault(f.f)()
	}

	writeFile(t, at("abort.bin"), big[:300<<10])
	writeFile(t, at("cut.bin"), big)
	writeFile(t, at("stored-new.txt"), []byte("new, stored, answer lost"))
	writeFile(t, at("edit.txt"), []byte("version two, stored, answer lost"))
	if err := os.Mkdir(at("newdir"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, at("newdir/in.txt"), []byte("in a folder whose MKCOL answer was lost"))
	mustRename(t, at("moved.txt"), at("moved-to.txt"))
	mustRename(t, at("moved-edited.txt"), at("newdir/moved-edited.txt"))
	appendFile(t, at("newdir/moved-edited.txt"), ", then edited")
	if err := os.Remove(at("rm.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(at("rmdir")); err != nil {
		t.Fatal(err)
	}
	drain(t, s)

	var dropped []string
	for _, r := range srv.Requests() {
		if r.Dropped {
			dropped = append(dropped, r.Method+" "+strings.TrimPrefix(r.Path, filesPrefix))
		}
	}
	if len(dropped) != len(faults) {
		t.Errorf("dropped %d requests, want %d: %v", len(dropped), len(faults), dropped)
	}
	sameContent(t, srv, mp)
	noConflictCopies(t, srv, mp)
	wantStoredOnce(t, srv, "abort.bin", "cut.bin", "stored-new.txt", "edit.txt", "newdir/in.txt",
		"newdir/moved-edited.txt")
	for p, want := range map[string]string{
		"edit.txt":                "version two, stored, answer lost",
		"newdir/moved-edited.txt": "moved and edited, then edited",
	} {
		if b, err := srv.ReadFile(p); err != nil || string(b) != want {
			t.Errorf("server %s: %q, %v; want %q", p, b, err, want)
		}
	}
	if b, err := srv.ReadFile("cut.bin"); err != nil || !bytes.Equal(b, big) {
		t.Errorf("server cut.bin: %d bytes, %v; want the %d written", len(b), err, len(big))
	}
}

func TestUploadRefusedForQuotaIsKeptAndRetried(t *testing.T) {
	srv := newRecordingServer(t)
	if _, err := srv.WriteFile("Readme.md", []byte("hello\n"), sampleTime); err != nil {
		t.Fatal(err)
	}
	s, mp := mountRW(t, srv, "")
	remove := srv.AddFault(davtest.Fault{Method: "PUT", Status: http.StatusInsufficientStorage})
	data := randomBytes(200<<10, 2)
	writeFile(t, filepath.Join(mp, "big.dat"), data)
	appendFile(t, filepath.Join(mp, "Readme.md"), "more\n")

	var it cache.Item
	eventually(t, 30*time.Second, func() error {
		var err error
		if it, err = s.Store.LookupPath(s.rootID, "big.dat"); err != nil {
			return err
		}
		if it.Local.Error == "" {
			return errors.New("no upload error recorded yet")
		}
		return nil
	})
	if !strings.Contains(it.Local.Error, "space") || it.Local.Flags&cache.LocalCreated == 0 {
		t.Errorf("item after a 507: error %q, flags %v; want a quota error on a file still to upload", it.Local.Error, it.Local.Flags)
	}
	if b, err := os.ReadFile(filepath.Join(mp, "big.dat")); err != nil || !bytes.Equal(b, data) {
		t.Errorf("the refused file reads %d bytes, %v; want its %d bytes", len(b), err, len(data))
	}
	if b, err := os.ReadFile(filepath.Join(mp, "Readme.md")); err != nil || string(b) != "hello\nmore\n" {
		t.Errorf("the refused edit reads %q, %v", b, err)
	}
	// A flush says why it cannot finish.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	err := s.Uploader.Flush(ctx)
	cancel()
	if !errors.Is(err, davclient.ErrInsufficientStorage) {
		t.Errorf("flush during the refusal: %v, want the quota error", err)
	}
	if _, err := srv.Stat("big.dat"); err == nil {
		t.Error("the refused file is on the server")
	}

	remove()
	drain(t, s)
	sameContent(t, srv, mp)
	wantStoredOnce(t, srv, "big.dat", "Readme.md")
	for _, p := range []string{"big.dat", "Readme.md"} {
		it, err := s.Store.LookupPath(s.rootID, p)
		if err != nil {
			t.Fatal(err)
		}
		if it.Local.Error != "" || it.Local.Flags != 0 {
			t.Errorf("%s after its upload: error %q, flags %v", p, it.Local.Error, it.Local.Flags)
		}
	}
}

func TestUploadRetriedWhileLocked(t *testing.T) {
	srv := newRecordingServer(t)
	if _, err := srv.WriteFile("shared.odt", []byte("the server's version"), sampleTime); err != nil {
		t.Fatal(err)
	}
	s, mp := mountRW(t, srv, "")
	// Another client's upload holds the file's lock for a while.
	remove := srv.AddFault(davtest.Fault{Method: "PUT", PathPrefix: filesPrefix + "shared.odt", Status: http.StatusLocked})
	writeFile(t, filepath.Join(mp, "shared.odt"), []byte("our version"))
	writeFile(t, filepath.Join(mp, "other.txt"), []byte("not locked"))
	waitFaulted(t, srv, "PUT", 2)
	if b, err := os.ReadFile(filepath.Join(mp, "shared.odt")); err != nil || string(b) != "our version" {
		t.Errorf("while locked the file reads %q, %v", b, err)
	}
	remove()
	flush(t, s) // no RetryNow: the uploader retries a locked file by itself
	sameContent(t, srv, mp)
	noConflictCopies(t, srv, mp)
	wantStoredOnce(t, srv, "shared.odt", "other.txt")
}

func TestChunkedUploadResumesAfterChunkFaults(t *testing.T) {
	srv := newRecordingServer(t)
	s, mp := mountRW(t, srv, "") // 5 MiB chunks above 5 MiB
	const uploads = "/remote.php/dav/uploads/alice/"
	// The second chunk is cut mid-body, then refused until the client gives up on this
	// attempt; the next attempt resumes after the first chunk.
	for n := 2; n <= 5; n++ {
		f := davtest.Fault{Method: "PUT", PathPrefix: uploads, Nth: n, Status: http.StatusServiceUnavailable}
		if n == 2 {
			f = davtest.Fault{Method: "PUT", PathPrefix: uploads, Nth: n, CutRequestAfter: 1 << 20}
		}
		defer srv.AddFault(f)()
	}
	data := randomBytes(12<<20+123, 3)
	writeFile(t, filepath.Join(mp, "big.bin"), data)
	drain(t, s)
	if b, err := srv.ReadFile("big.bin"); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("server big.bin: %d bytes, %v; want the %d written", len(b), err, len(data))
	}
	chunks := map[string]int{}
	for _, r := range srv.Requests() {
		if r.Method == http.MethodPut && r.Status/100 == 2 && strings.HasPrefix(r.Path, uploads) {
			chunks[r.Path[strings.LastIndexByte(r.Path, '/')+1:]]++
		}
	}
	if chunks["00001"] != 1 || chunks["00002"] != 1 || chunks["00003"] != 1 || len(chunks) != 3 {
		t.Errorf("chunks stored %v, want each of 00001..00003 once (a resume sends only what is missing)", chunks)
	}
	if n := faulted(srv, "PUT"); n != 4 {
		t.Errorf("%d chunk PUTs met a fault, want 4", n)
	}

	// An update whose final MOVE took effect but whose answer was lost: the retry
	// finds the server has our bytes, and adopts them.
	srv.ResetCounts()
	defer srv.AddFault(davtest.Fault{Method: "MOVE", PathPrefix: uploads, Nth: 1, DropAnswer: true})()
	copy(data[7<<20:], "changed in the middle")
	f, err := os.OpenFile(filepath.Join(mp, "big.bin"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("changed in the middle"), 7<<20); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	drain(t, s)
	if b, err := srv.ReadFile("big.bin"); err != nil || !bytes.Equal(b, data) {
		t.Errorf("server big.bin after the update: %d bytes, %v", len(b), err)
	}
	if n := faulted(srv, "MOVE"); n != 1 {
		t.Errorf("%d final MOVEs met a fault, want 1", n)
	}
	sameContent(t, srv, mp)
	noConflictCopies(t, srv, mp)
}
