package session

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ncvfs/ncvfs/internal/realservers"
)

// Write-back against Apache mod_dav: a generic server without file ids or checksums,
// which answers weak ETags for a file changed within the current second and cannot
// set a file's modification time. What ordinary tools do in the mount must end up in
// the served folder, byte for byte.
func TestInteropApacheWrites(t *testing.T) {
	for _, tool := range []string{"cp", "mv", "rm", "mkdir", "truncate", "touch", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("needs %s on PATH: %v", tool, err)
		}
	}
	s := realservers.StartApache(t)
	seedReal(t, s)
	sess, mp := mount(t, mountOpts{url: s.URL, user: s.User, password: s.Password,
		listingTTL: 50 * time.Millisecond, kernelTTL: 50 * time.Millisecond,
		writes: true, debounce: 20 * time.Millisecond})
	at := func(p string) string { return filepath.Join(mp, p) }

	src := t.TempDir()
	for i := range 20 {
		dir := filepath.Join(src, "tree", string(rune('a'+i%4)))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, strings.Repeat("f", i%5+1)+".txt"), randomBytes(i*300, uint64(i)))
	}
	run(t, src, "cp", "-a", "tree", mp)
	run(t, mp, "mkdir", "-p", "x/y/z")
	run(t, mp, "mv", "Readme.md", "Readme2.md")
	run(t, mp, "mv", "Documents/Plan (final) #2.txt", "x/y/")
	run(t, mp, "mv", "tree/a", "x/moved-a")
	run(t, mp, "rm", "-r", "deep", "tree/b")
	run(t, mp, "sh", "-c", `echo more >> "Documents/Notes/todo 100%.md"`)
	run(t, mp, "truncate", "-s", "10", "Música/Canción nº 1 & más?.txt")
	run(t, mp, "touch", "-d", "2001-02-03 04:05:06", "empty.txt")
	// An editor's save: a temporary file, fsync, renamed over the original.
	tmp, err := os.Create(at(".Readme2.md.tmp"))
	if err != nil {
		t.Fatal(err)
	}
	tmp.WriteString("saved by an editor\n")
	if err := tmp.Sync(); err != nil {
		t.Fatalf("fsync: %v", err)
	}
	tmp.Close()
	mustRename(t, at(".Readme2.md.tmp"), at("Readme2.md"))
	flush(t, sess)
	// A second save of the same file right away, while Apache's ETag for it may
	// still be weak.
	writeFile(t, at("Readme2.md"), []byte("saved again\n"))

	run(t, mp, "git", "init", "-q", "repo")
	writeFile(t, at("repo/hello.txt"), []byte("hello\n"))
	run(t, at("repo"), "git", "add", ".")
	run(t, at("repo"), "git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "first")
	if out, err := exec.Command("git", "-C", at("repo"), "status", "--porcelain").CombinedOutput(); err != nil || len(out) != 0 {
		t.Errorf("git status in the mount: %q, %v", out, err)
	}
	run(t, at("repo"), "git", "gc", "-q")
	flush(t, sess)

	sameContentDisk(t, s.DataDir, mp)
	for p := range walkDisk(t, s.DataDir) {
		if strings.HasSuffix(p, ".lock") || strings.Contains(p, "(conflicted copy") || strings.HasSuffix(p, ".tmp") {
			t.Errorf("left on the server: %s", p)
		}
	}
	if b, err := os.ReadFile(filepath.Join(s.DataDir, "Readme2.md")); err != nil || string(b) != "saved again\n" {
		t.Errorf("Readme2.md on the server: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(s.DataDir, "x/y/Plan (final) #2.txt")); err != nil {
		t.Errorf("a file moved across folders is not there on the server: %v", err)
	}
	// A fresh mount with an empty cache reads the same from the server, and git finds
	// its repository whole there.
	_, mp2 := mount(t, mountOpts{url: s.URL, user: s.User, password: s.Password})
	sameContentDisk(t, s.DataDir, mp2)
	if out, err := exec.Command("git", "-C", filepath.Join(mp2, "repo"), "fsck", "--no-progress").CombinedOutput(); err != nil {
		t.Errorf("git fsck through a fresh mount: %v\n%s", err, out)
	}
	if out, err := exec.Command("git", "-C", filepath.Join(mp2, "repo"), "log", "--format=%s").CombinedOutput(); err != nil || string(out) != "first\n" {
		t.Errorf("git log through a fresh mount: %q, %v", out, err)
	}
}

// sameContentDisk checks that a served folder on disk and a mount hold the same tree
// with the same bytes. Modification times are not compared: Apache sets its own.
func sameContentDisk(t *testing.T, root, mp string) {
	t.Helper()
	want, got := walkDisk(t, root), walkMount(t, mp)
	for _, tree := range []map[string]treeEntry{want, got} {
		for p, e := range tree {
			e.MTime = 0
			tree[p] = e
		}
	}
	if d := diffTrees(want, got); len(d) > 0 {
		t.Errorf("served folder and mount differ:\n%s", strings.Join(d, "\n"))
	}
	for p, e := range want {
		if e.Dir {
			continue
		}
		db, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		mb, err := os.ReadFile(filepath.Join(mp, p))
		if err != nil {
			t.Errorf("read %s through the mount: %v", p, err)
			continue
		}
		if !bytes.Equal(db, mb) {
			t.Errorf("%s: the server has %d bytes %.20q, the mount %d bytes %.20q", p, len(db), db, len(mb), mb)
		}
	}
}

// answerDropper forwards to a real server and, the first time a request of a listed
// method and path comes, lets the server do it but drops the connection instead of
// answering: the client cannot tell whether its request took effect.
func answerDropper(t *testing.T, target string, drops ...string) (string, func() []string) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	pending := map[string]bool{}
	for _, d := range drops {
		pending[d] = true
	}
	var dropped []string
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: u.Scheme, Host: u.Host})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Method + " " + strings.TrimPrefix(r.URL.Path, u.Path)
		mu.Lock()
		drop := pending[key]
		if drop {
			delete(pending, key)
			dropped = append(dropped, key)
		}
		mu.Unlock()
		if !drop {
			rp.ServeHTTP(w, r)
			return
		}
		rp.ServeHTTP(httptest.NewRecorder(), r)
		panic(http.ErrAbortHandler)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + u.Path, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(dropped)
	}
}

// On a server without checksums or file ids, a change whose answer was lost is
// recognised when it is retried: a file by reading it back, a move by the ETag at its
// new place. Nothing becomes a conflict copy.
func TestInteropApacheLostAnswers(t *testing.T) {
	s := realservers.StartApache(t)
	seedReal(t, s)
	drops := []string{"PUT new.txt", "PUT Readme.md", "MKCOL dir", "MOVE empty.txt",
		"MOVE Documents/Plan (final) #2.txt", "DELETE Música/Canción nº 1 & más?.txt"}
	via, dropped := answerDropper(t, s.URL, drops...)
	sess, mp := mount(t, mountOpts{url: via, user: s.User, password: s.Password,
		listingTTL: 50 * time.Millisecond, kernelTTL: 50 * time.Millisecond,
		writes: true, debounce: 20 * time.Millisecond})
	at := func(p string) string { return filepath.Join(mp, p) }
	writeFile(t, at("new.txt"), []byte("made here"))
	appendFile(t, at("Readme.md"), "edited here\n")
	if err := os.Mkdir(at("dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, at("dir/in.txt"), []byte("inside"))
	mustRename(t, at("empty.txt"), at("still empty.txt"))
	mustRename(t, at("Documents/Plan (final) #2.txt"), at("dir/Plan.txt"))
	if err := os.Remove(at("Música/Canción nº 1 & más?.txt")); err != nil {
		t.Fatal(err)
	}
	drain(t, sess)
	if got := dropped(); len(got) != len(drops) {
		t.Errorf("answers dropped: %v, want %v", got, drops)
	}
	sameContentDisk(t, s.DataDir, mp)
	for p := range walkMount(t, mp) {
		if strings.Contains(p, "(conflicted copy") {
			t.Errorf("conflict copy %s, though nobody else changed anything", p)
		}
	}
	if b, err := os.ReadFile(filepath.Join(s.DataDir, "Readme.md")); err != nil || string(b) != "hello\nedited here\n" {
		t.Errorf("Readme.md on the server: %q, %v", b, err)
	}
}
