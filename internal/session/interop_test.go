package session

import (
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ncvfs/ncvfs/internal/realservers"
)

// countingProxy sits between ncvfs and a real server and counts requests to the share by
// method, so the interop tests can assert "no content was downloaded" on servers we do not
// control. Discovery's OCS probes (outside the share) are not counted.
type countingProxy struct {
	mu     sync.Mutex
	counts map[string]int
	srv    *httptest.Server
}

func newCountingProxy(t *testing.T, target string) (*countingProxy, string) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{counts: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: u.Scheme, Host: u.Host})
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, u.Path) && !strings.Contains(r.URL.Path, "/ocs/") {
			p.mu.Lock()
			p.counts[r.Method]++
			p.mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	return p, p.srv.URL + u.Path
}

func (p *countingProxy) count(method string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts[method]
}

// seedReal writes the sample tree straight into the server's folder on disk.
func seedReal(t *testing.T, s *realservers.Server) {
	t.Helper()
	for _, d := range []string{"Documents/Notes", "Música", "empty folder", "deep/a/b/c"} {
		if err := s.SeedDir(d); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"Readme.md":                           "hello\n",
		"Documents/Plan (final) #2.txt":       "plan",
		"Documents/Notes/todo 100%.md":        "- one\n",
		"Documents/Café Menü – Übersicht.txt": "crème brûlée",
		"Música/Canción nº 1 & más?.txt":      strings.Repeat("la ", 1000),
		"empty.txt":                           "",
		"deep/a/b/c/leaf.bin":                 strings.Repeat("z", 70_000),
	}
	i := 0
	for p, body := range files {
		i++
		if err := s.Seed(p, []byte(body), sampleTime.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
}

// walkDisk records the served folder as it is on disk: the truth for a generic server.
func walkDisk(t *testing.T, root string) map[string]treeEntry {
	t.Helper()
	want := map[string]treeEntry{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		st, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		e := treeEntry{Dir: st.IsDir(), MTime: st.ModTime().Unix()}
		if !e.Dir {
			e.Size = st.Size()
		}
		want[filepath.ToSlash(rel)] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return want
}

func TestInteropApache(t *testing.T) { testInterop(t, realservers.StartApache(t), false) }

// rclone serve webdav (1.60) keeps answering a folder's old mtime after files are added
// to it on disk (seen with curl: its own directory cache, even with --dir-cache-time 0s),
// so after a change its folder mtimes are not compared.
func TestInteropRclone(t *testing.T) { testInterop(t, realservers.StartRclone(t), true) }

// testInterop mounts a real WebDAV server from Debian (generic fallback: no file ids, no
// permissions, no quota) and checks the mount shows the served folder exactly, without
// downloading content.
func testInterop(t *testing.T, s *realservers.Server, staleFolderMtimes bool) {
	seedReal(t, s)
	proxy, viaProxy := newCountingProxy(t, s.URL)
	sess, mp := mount(t, mountOpts{url: viaProxy, user: s.User, password: s.Password,
		listingTTL: 50 * time.Millisecond, kernelTTL: 50 * time.Millisecond})
	if got := sess.Info.Dialect.String(); got != "generic-webdav" {
		t.Errorf("dialect %s, want the generic fallback", got)
	}
	want := walkDisk(t, s.DataDir)
	if d := diffTrees(want, walkMount(t, mp)); len(d) > 0 {
		t.Fatalf("mount of %s differs from the served folder:\n%s", s.Name, strings.Join(d, "\n"))
	}
	out := runTool(t, "ls", "-l", "--quoting-style=literal", filepath.Join(mp, "Documents"))
	if !strings.Contains(out, "Café Menü – Übersicht.txt") || !strings.Contains(out, "Plan (final) #2.txt") {
		t.Errorf("ls -l misses names:\n%s", out)
	}
	if n := proxy.count("GET") + proxy.count("HEAD"); n != 0 {
		t.Errorf("browsing %s downloaded content: %d GET/HEAD", s.Name, n)
	}
	if proxy.count("PROPFIND") == 0 {
		t.Error("no PROPFIND went through the proxy")
	}

	// A large file reads back byte-exact through the mount.
	big := make([]byte, 24<<20+123)
	for i := range big {
		big[i] = byte(rand.Uint32())
	}
	if err := s.Seed("big file.bin", big, sampleTime); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		got, err := os.ReadFile(filepath.Join(mp, "big file.bin"))
		if err != nil {
			return err
		}
		if sha256.Sum256(got) != sha256.Sum256(big) {
			return errString(fmt.Sprintf("read %d bytes that differ from the %d served", len(got), len(big)))
		}
		return nil
	})

	// Without propagated ETags a change deep down is still found: folders are relisted
	// after their TTL.
	if err := s.Seed("deep/a/b/c/new.txt", []byte("new"), sampleTime); err != nil {
		t.Fatal(err)
	}
	want = walkDisk(t, s.DataDir)
	eventually(t, 10*time.Second, func() error {
		got := walkMount(t, mp)
		if staleFolderMtimes {
			want, got = withoutFolderMtimes(want), withoutFolderMtimes(got)
		}
		if d := diffTrees(want, got); len(d) > 0 {
			return errString(strings.Join(d, "; "))
		}
		return nil
	})
}

func withoutFolderMtimes(m map[string]treeEntry) map[string]treeEntry {
	out := make(map[string]treeEntry, len(m))
	for p, e := range m {
		if e.Dir {
			e.MTime = 0
		}
		out[p] = e
	}
	return out
}

type errString string

func (e errString) Error() string { return string(e) }

// Apache answers a weak W/"..." ETag, in PROPFIND and GET alike, for a file modified
// within the current second, and the strong form of the same tag afterwards. A file
// written just before the mount must read back right, also through a handle opened while
// its tag was weak and read on after a relisting brought the strong form.
func TestInteropApacheFileWrittenJustBeforeTheMount(t *testing.T) {
	s := realservers.StartApache(t)
	// A modification time a little ahead keeps the tag weak while the mount lists and
	// reads, whatever the machine's speed; it turns strong once that time has passed.
	mtime := time.Now().Add(3 * time.Second)
	small := []byte("written just now\n")
	large := make([]byte, 300<<10+7)
	for i := range large {
		large[i] = byte(rand.Uint32())
	}
	if err := s.Seed("fresh.txt", small, mtime); err != nil {
		t.Fatal(err)
	}
	if err := s.Seed("fresh.bin", large, mtime); err != nil {
		t.Fatal(err)
	}
	proxy, viaProxy := newCountingProxy(t, s.URL)
	_, mp := mount(t, mountOpts{url: viaProxy, user: s.User, password: s.Password,
		listingTTL: 50 * time.Millisecond, kernelTTL: 50 * time.Millisecond})

	got, err := os.ReadFile(filepath.Join(mp, "fresh.txt"))
	if err != nil || string(got) != string(small) {
		t.Fatalf("cat of a file written just before the mount: %q, %v", got, err)
	}
	f, err := os.Open(filepath.Join(mp, "fresh.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	head := make([]byte, 4096)
	if _, err := io.ReadFull(f, head); err != nil || string(head) != string(large[:4096]) {
		t.Fatalf("first read while the tag is weak: %v", err)
	}
	if !time.Now().Before(mtime) {
		t.Fatalf("the tag was no longer weak while reading; the test needs a later mtime")
	}

	// Once the tag is strong, a relisting sees its strong form: the same version.
	time.Sleep(time.Until(mtime.Add(1500 * time.Millisecond)))
	if _, err := os.ReadDir(mp); err != nil {
		t.Fatal(err)
	}
	rest, err := io.ReadAll(f)
	if err != nil || string(rest) != string(large[4096:]) {
		t.Fatalf("reading on through the same handle: %d bytes, %v", len(rest), err)
	}
	gets := proxy.count("GET")
	got, err = os.ReadFile(filepath.Join(mp, "fresh.txt"))
	if err != nil || string(got) != string(small) {
		t.Fatalf("cat after the tag turned strong: %q, %v", got, err)
	}
	if n := proxy.count("GET") - gets; n != 0 {
		t.Errorf("the strong form of the same tag downloaded the file again (%d GETs)", n)
	}
}
