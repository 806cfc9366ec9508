package session

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ncvfs/ncvfs/davclient/davtest"
)

var sampleTime = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

// seedSample builds a tree with the names that break clients: spaces, non-ASCII,
// characters that need percent-encoding, an empty file and an empty folder.
func seedSample(t testing.TB, srv *davtest.Server) {
	t.Helper()
	for _, d := range []string{"Documents/Notes", "Photos/2025 Summer", "Música", "empty folder", "Shared/Team"} {
		if err := srv.MkdirAll(d); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"Readme.md":                            "hello\n",
		"Documents/Plan (final) #2.txt":        "plan",
		"Documents/Notes/todo 100%.md":         "- one\n- two\n",
		"Documents/Café Menü – Übersicht.txt":  "crème brûlée",
		"Música/Canción nº 1 & más?.txt":       strings.Repeat("la ", 1000),
		"empty.txt":                            "",
		"Shared/Team/Handbook.md":              "read only",
		"Photos/2025 Summer/a+b=c;d,e'f@g.jpg": strings.Repeat("x", 4097),
	}
	i := 0
	for p, body := range files {
		i++
		if _, err := srv.WriteFile(p, []byte(body), sampleTime.Add(time.Duration(i)*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := srv.WriteSynthetic("Photos/big.bin", 300<<20, 7, sampleTime); err != nil {
		t.Fatal(err)
	}
	if err := srv.SetPermissions("Shared/Team", "SRGDNV"); err != nil {
		t.Fatal(err)
	}
	if err := srv.SetPermissions("Shared/Team/Handbook.md", "SRG"); err != nil {
		t.Fatal(err)
	}
}

func TestMountShowsServerTreeWithoutDownloading(t *testing.T) {
	srv := newServer(t)
	seedSample(t, srv)
	_, mp := mountDavtest(t, srv, "")
	srv.ResetCounts()

	want := walkServer(t, srv)
	if d := diffTrees(want, walkMount(t, mp)); len(d) > 0 {
		t.Fatalf("mount differs from server:\n%s", strings.Join(d, "\n"))
	}

	// Real tools see the same: find prints every path, kind, size and mtime.
	out := runTool(t, "find", mp, "-mindepth", "1", "-printf", `%P\t%y\t%s\t%T@\n`)
	got := map[string]treeEntry{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			t.Fatalf("find line %q", line)
		}
		size, _ := strconv.ParseInt(f[2], 10, 64)
		secs, _ := strconv.ParseFloat(f[3], 64)
		e := treeEntry{Dir: f[1] == "d", MTime: int64(secs)}
		if !e.Dir {
			e.Size = size
		}
		got[f[0]] = e
	}
	if d := diffTrees(want, got); len(d) > 0 {
		t.Fatalf("find differs from server:\n%s", strings.Join(d, "\n"))
	}

	// du --apparent-size adds up to the server's total; plain du to nothing local.
	var total int64
	for _, e := range want {
		total += e.Size
	}
	apparent := strings.Fields(runTool(t, "du", "-s", "--apparent-size", "--block-size=1", mp))[0]
	if apparent != strconv.FormatInt(total, 10) {
		t.Errorf("du --apparent-size = %s, want %d", apparent, total)
	}
	if used := strings.Fields(runTool(t, "du", "-s", "--block-size=1", mp))[0]; used != "0" {
		t.Errorf("du = %s bytes local, want 0 for placeholders", used)
	}

	// ls -l of a folder with awkward names: names, sizes and mtimes.
	ls := runTool(t, "ls", "-l", "--quoting-style=literal", "--time-style=+%s", filepath.Join(mp, "Documents"))
	for _, name := range []string{"Plan (final) #2.txt", "Café Menü – Übersicht.txt", "Notes"} {
		e := want["Documents/"+name]
		line := lineEndingWith(ls, " "+name)
		if line == "" {
			t.Fatalf("ls -l has no %q:\n%s", name, ls)
		}
		f := strings.Fields(line)
		if f[4] != strconv.FormatInt(e.Size, 10) || f[5] != strconv.FormatInt(e.MTime, 10) {
			t.Errorf("ls -l %q: size %s mtime %s, want %d %d", name, f[4], f[5], e.Size, e.MTime)
		}
	}

	// stat of the large file: real size, no blocks.
	st := runTool(t, "stat", "-c", "%s %b %Y %F", filepath.Join(mp, "Photos/big.bin"))
	if wantSt := fmt.Sprintf("%d 0 %d regular file", 300<<20, sampleTime.Unix()); strings.TrimSpace(st) != wantSt {
		t.Errorf("stat big.bin = %q, want %q", st, wantSt)
	}

	c := srv.Counts()
	if c.Requests["GET"] != 0 || c.Requests["HEAD"] != 0 {
		t.Errorf("browsing downloaded content: %d GET, %d HEAD", c.Requests["GET"], c.Requests["HEAD"])
	}
	if c.Requests["PROPFIND"] == 0 {
		t.Errorf("no PROPFIND counted: the listing did not come from the server?")
	}
}

func lineEndingWith(out, suffix string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasSuffix(l, suffix) {
			return l
		}
	}
	return ""
}

func runTool(t testing.TB, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "TZ=UTC")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("%s %v: %v\n%s", name, args, err, ee.Stderr)
		}
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return string(out)
}

func TestPermissionsBecomeModes(t *testing.T) {
	srv := newServer(t)
	seedSample(t, srv)
	_, mp := mountDavtest(t, srv, "")
	cases := map[string]os.FileMode{
		"Readme.md":               0o644,
		"Documents":               os.ModeDir | 0o755,
		"Shared/Team":             os.ModeDir | 0o555,
		"Shared/Team/Handbook.md": 0o444,
	}
	for p, want := range cases {
		st, err := os.Stat(filepath.Join(mp, p))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode() != want {
			t.Errorf("%s: mode %v, want %v", p, st.Mode(), want)
		}
		sys := st.Sys().(*syscall.Stat_t)
		if sys.Uid != uint32(os.Getuid()) {
			t.Errorf("%s: uid %d, want the mounting user %d", p, sys.Uid, os.Getuid())
		}
	}
}

func TestReadOnlyMountRefusesChanges(t *testing.T) {
	srv := newServer(t)
	seedSample(t, srv)
	_, mp := mount(t, mountOpts{url: srv.URL(), user: "alice", password: "app-password-1"})
	before := walkServer(t, srv)
	checks := []struct {
		what string
		err  error
	}{
		{"create", os.WriteFile(filepath.Join(mp, "new.txt"), []byte("x"), 0o644)},
		{"remove", os.Remove(filepath.Join(mp, "Readme.md"))},
		{"rmdir", os.Remove(filepath.Join(mp, "empty folder"))},
		{"mkdir", os.Mkdir(filepath.Join(mp, "dir"), 0o755)},
		{"rename", os.Rename(filepath.Join(mp, "Readme.md"), filepath.Join(mp, "R.md"))},
		{"chmod", os.Chmod(filepath.Join(mp, "Readme.md"), 0o600)},
	}
	for _, c := range checks {
		if !errors.Is(c.err, syscall.EROFS) {
			t.Errorf("%s: got %v, want EROFS", c.what, c.err)
		}
	}
	if f, err := os.OpenFile(filepath.Join(mp, "Readme.md"), os.O_WRONLY, 0); !errors.Is(err, syscall.EROFS) {
		t.Errorf("open for writing: got %v, want EROFS", err)
		if f != nil {
			f.Close()
		}
	}
	if d := diffTrees(before, walkServer(t, srv)); len(d) > 0 {
		t.Errorf("server changed: %v", d)
	}
}

func TestReadingThroughTheMount(t *testing.T) {
	srv := newServer(t)
	seedSample(t, srv)
	sess, mp := mountDavtest(t, srv, "")
	srv.ResetCounts()

	// Every file of the tree reads back as the server's bytes (cat, as a user would).
	want := walkServer(t, srv)
	for p, e := range want {
		if e.Dir || e.Size > 1<<20 {
			continue
		}
		got := runTool(t, "cat", filepath.Join(mp, p))
		body, err := srv.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if got != string(body) {
			t.Errorf("%s: read %d bytes that differ from the server's %d", p, len(got), len(body))
		}
	}

	// The 300 MiB file: the first 4 KiB cost one block, not the file.
	srv.ResetCounts()
	head := runTool(t, "head", "-c", "4096", filepath.Join(mp, "Photos/big.bin"))
	if head != string(davtest.SyntheticBytes(7, 0, 4096)) {
		t.Fatal("head of big.bin differs from the server's bytes")
	}
	if got := srv.Counts().ResponseBytes["GET"]; got > 1<<20 {
		t.Errorf("head -c 4096 of a 300 MiB file downloaded %d bytes", got)
	}
	// du counts what is local now (recorded when the file closes), ls still the whole size.
	eventually(t, 10*time.Second, func() error {
		st, err := os.Stat(filepath.Join(mp, "Photos/big.bin"))
		if err != nil {
			return err
		}
		blocks := st.Sys().(*syscall.Stat_t).Blocks * 512
		if st.Size() != 300<<20 || blocks == 0 || blocks > 1<<20 {
			return fmt.Errorf("big.bin after head: size %d, %d bytes local; want the full size and a little local", st.Size(), blocks)
		}
		return nil
	})
	_ = sess
}

func TestLargeFolderListsCompletely(t *testing.T) {
	srv := newServer(t)
	const n = 10_000
	if err := srv.MkdirAll("big"); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := srv.WriteFile(fmt.Sprintf("big/file-%05d ü.txt", i), []byte(strconv.Itoa(i)), sampleTime); err != nil {
			t.Fatal(err)
		}
	}
	_, mp := mountDavtest(t, srv, "")
	entries, err := os.ReadDir(filepath.Join(mp, "big"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != n {
		t.Fatalf("listed %d entries, want %d", len(entries), n)
	}
	for i, e := range entries {
		if want := fmt.Sprintf("file-%05d ü.txt", i); e.Name() != want {
			t.Fatalf("entry %d is %q, want %q", i, e.Name(), want)
		}
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if info.Size() != int64(len(strconv.Itoa(i))) {
			t.Fatalf("%s: size %d", e.Name(), info.Size())
		}
	}
	if c := srv.Counts(); c.Requests["PROPFIND/1"] > 3 {
		t.Errorf("%d Depth-1 PROPFINDs for one folder: listed more than once", c.Requests["PROPFIND/1"])
	}
}

func TestRemountRevalidatesWithoutRelisting(t *testing.T) {
	srv := newServer(t)
	seedSample(t, srv)
	cacheDir := t.TempDir()
	s, mp := mountDavtest(t, srv, cacheDir)
	first := walkMount(t, mp)
	if err := s.Unmount(); err != nil {
		t.Fatal(err)
	}

	srv.ResetCounts()
	s2, mp2 := mountDavtest(t, srv, cacheDir)
	if d := diffTrees(first, walkMount(t, mp2)); len(d) > 0 {
		t.Fatalf("second mount differs:\n%s", strings.Join(d, "\n"))
	}
	c := srv.Counts()
	if c.Requests["PROPFIND/1"] != 0 {
		t.Errorf("remount relisted %d folders; unchanged folders must only be checked (Depth 0)", c.Requests["PROPFIND/1"])
	}
	if c.Requests["PROPFIND/0"] == 0 {
		t.Errorf("remount made no Depth-0 check: the cache was trusted blindly")
	}
	t.Logf("remount walk: %d Depth-0, %d Depth-1 PROPFINDs", c.Requests["PROPFIND/0"], c.Requests["PROPFIND/1"])
	if err := s2.Unmount(); err != nil {
		t.Fatal(err)
	}

	// A change on the server while unmounted: the next mount relists exactly the folders
	// on the changed path (root, Documents, Notes), and shows the new file.
	if _, err := srv.WriteFile("Documents/Notes/new note.md", []byte("new"), sampleTime); err != nil {
		t.Fatal(err)
	}
	srv.ResetCounts()
	_, mp3 := mountDavtest(t, srv, cacheDir)
	if d := diffTrees(walkServer(t, srv), walkMount(t, mp3)); len(d) > 0 {
		t.Fatalf("third mount differs:\n%s", strings.Join(d, "\n"))
	}
	if got := srv.Counts().Requests["PROPFIND/1"]; got != 3 {
		t.Errorf("relisted %d folders after one change, want 3 (the changed path only)", got)
	}
}

func TestRemoteChangesShowWithoutRemount(t *testing.T) {
	srv := newServer(t)
	seedSample(t, srv)
	_, mp := mount(t, mountOpts{url: srv.URL(), user: "alice", password: "app-password-1",
		listingTTL: 50 * time.Millisecond, kernelTTL: 50 * time.Millisecond})
	if _, err := os.Stat(filepath.Join(mp, "Documents/Notes/todo 100%.md")); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.WriteFile("Documents/Notes/added.txt", []byte("12345"), sampleTime); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.WriteFile("Documents/Notes/todo 100%.md", []byte("changed and longer"), sampleTime); err != nil {
		t.Fatal(err)
	}
	if err := srv.Remove("Readme.md"); err != nil {
		t.Fatal(err)
	}
	want := walkServer(t, srv)
	eventually(t, 10*time.Second, func() error {
		got, err := readMount(mp)
		if err != nil {
			return err
		}
		if d := diffTrees(want, got); len(d) > 0 {
			return fmt.Errorf("mount still differs: %v", d)
		}
		return nil
	})
}

// eventually retries check until it passes or the deadline ends; it asserts an outcome,
// not a duration.
func eventually(t *testing.T, limit time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestStatfsReportsQuota(t *testing.T) {
	srv := newServer(t)
	seedSample(t, srv)
	_, mp := mountDavtest(t, srv, "")
	var st syscall.Statfs_t
	if err := syscall.Statfs(mp, &st); err != nil {
		t.Fatal(err)
	}
	total := int64(st.Blocks) * st.Bsize
	free := int64(st.Bavail) * st.Bsize
	const quota = 5 << 30
	if total < quota-st.Bsize || total > quota {
		t.Errorf("statfs total %d, want the 5 GiB quota", total)
	}
	if used := total - free; used < 300<<20 || used > 301<<20 {
		t.Errorf("statfs used %d, want about 300 MiB", used)
	}
}

// df -i shows the items the cache knows as used inodes and a plausible number free,
// not the 4,294,967,325 inodes a free count of 1<<32 made it show.
func TestStatfsCountsItemsAsInodes(t *testing.T) {
	srv := newServer(t)
	seedSample(t, srv)
	s, mp := mountDavtest(t, srv, "")
	// Every folder listed: the cache holds the whole tree, and the root.
	walkMount(t, mp)
	want := uint64(len(walkServer(t, srv)) + 1)
	var st syscall.Statfs_t
	if err := syscall.Statfs(mp, &st); err != nil {
		t.Fatal(err)
	}
	if used := st.Files - st.Ffree; used != want {
		t.Errorf("statfs: %d inodes used (files %d, free %d), want the %d items of the tree", used, st.Files, st.Ffree, want)
	}
	if n, err := s.Store.Count(); err != nil || uint64(n) != want {
		t.Errorf("the cache counts %d items (%v), want %d", n, err, want)
	}
	if st.Files >= 1<<31 {
		t.Errorf("statfs: %d inodes in all, want a plausible figure (below 2^31)", st.Files)
	}
}

func TestWrongPasswordFailsFast(t *testing.T) {
	srv := newServer(t)
	mp := t.TempDir()
	_, err := Start(t.Context(), Config{URL: srv.URL(), User: "alice", Password: "wrong",
		Mountpoint: mp, CacheDir: t.TempDir(), Logger: testLogger(t)})
	if err == nil {
		t.Fatal("mounted with a wrong password")
	}
	if !strings.Contains(err.Error(), "refused the credentials") || strings.Contains(err.Error(), "wrong") {
		t.Errorf("error should say the credentials were refused and never echo the password: %v", err)
	}
	if m, _ := isMounted(mp); m {
		t.Error("left a mount behind")
	}
}

func isMounted(dir string) (bool, error) {
	for _, m := range ncvfsMounts() {
		if m == dir {
			return true, nil
		}
	}
	return false, nil
}

func TestMountpointProblemsAreExplained(t *testing.T) {
	srv := newServer(t)
	base := Config{URL: srv.URL(), User: "alice", Password: "app-password-1", CacheDir: t.TempDir(), Logger: testLogger(t)}

	missing := base
	missing.Mountpoint = filepath.Join(t.TempDir(), "nope")
	if _, err := Start(t.Context(), missing); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing mount point: %v", err)
	}

	_, mp := mountDavtest(t, srv, "")
	busy := base
	busy.Mountpoint = mp
	busy.AllowNonEmpty = true
	if _, err := Start(t.Context(), busy); err == nil || !strings.Contains(err.Error(), "busy") {
		t.Errorf("busy mount point: %v", err)
	}
}

// With a kernel cache of an hour, only ncvfs's own invalidations can make a remote change
// visible: a listing that finds changes must push them to the kernel.
func TestRemoteChangesInvalidateTheKernelCache(t *testing.T) {
	srv := newServer(t)
	seedSample(t, srv)
	_, mp := mount(t, mountOpts{url: srv.URL(), user: "alice", password: "app-password-1",
		listingTTL: 20 * time.Millisecond, kernelTTL: time.Hour})
	todo := filepath.Join(mp, "Documents/Notes/todo 100%.md")
	added := filepath.Join(mp, "Documents/Notes/added.txt")
	readme := filepath.Join(mp, "Readme.md")
	before, err := os.Stat(todo)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(added); !os.IsNotExist(err) {
		t.Fatalf("added.txt before it exists: %v", err)
	}
	if _, err := os.Stat(readme); err != nil {
		t.Fatal(err)
	}

	newBody := strings.Repeat("changed ", 100)
	if _, err := srv.WriteFile("Documents/Notes/todo 100%.md", []byte(newBody), sampleTime.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.WriteFile("Documents/Notes/added.txt", []byte("new"), sampleTime); err != nil {
		t.Fatal(err)
	}
	if err := srv.Remove("Readme.md"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		// Visiting the folders is what lets ncvfs notice (no poller yet).
		os.ReadDir(filepath.Join(mp, "Documents/Notes"))
		os.ReadDir(mp)
		st, err := os.Stat(todo)
		if err != nil {
			return err
		}
		if st.Size() == before.Size() || st.Size() != int64(len(newBody)) {
			return fmt.Errorf("todo size still %d", st.Size())
		}
		if _, err := os.Stat(added); err != nil {
			return fmt.Errorf("added.txt: %w", err)
		}
		if _, err := os.Stat(readme); !os.IsNotExist(err) {
			return fmt.Errorf("Readme.md still there: %v", err)
		}
		return nil
	})
}

// Content read through the mount is kept: small files (served from memory, stored
// after) and a large one (streamed, handed to the kernel by splice) read back as the
// server's bytes, and after a remount with the same cache they read again without a GET.
func TestReadContentIsKeptAcrossRemounts(t *testing.T) {
	srv := newServer(t)
	files := map[string]int64{"big/stream.bin": 40 << 20}
	for i := range 40 {
		files[fmt.Sprintf("small/f%02d.txt", i)] = int64(i*1700 + 1) // 1 B to 65 KiB
	}
	seeds := map[string]uint64{}
	i := uint64(0)
	for name, size := range files {
		i++
		seeds[name] = i
		if _, err := srv.WriteSynthetic(name, size, i, sampleTime); err != nil {
			t.Fatal(err)
		}
	}
	check := func(mp string) {
		t.Helper()
		for name, size := range files {
			f, err := os.Open(filepath.Join(mp, name))
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			n, err := io.CopyBuffer(h, f, make([]byte, 1<<20))
			f.Close()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			want := sha256.Sum256(davtest.SyntheticBytes(seeds[name], 0, int(size)))
			if n != size || !bytes.Equal(h.Sum(nil), want[:]) {
				t.Fatalf("%s: read %d bytes that differ from the server's %d", name, n, size)
			}
		}
	}
	cacheDir := t.TempDir()
	s, mp := mountDavtest(t, srv, cacheDir)
	check(mp)
	if err := s.Unmount(); err != nil { // waits until what arrived is recorded
		t.Fatal(err)
	}
	_, mp2 := mountDavtest(t, srv, cacheDir)
	srv.ResetCounts() // after discovery's requests
	check(mp2)
	if got := srv.Counts().Requests["GET"]; got != 0 {
		t.Errorf("reading after a remount made %d GETs; the content read before should be local", got)
	}
}

// A folder's first listing reaches readdir before it is committed; whatever the kernel
// was shown can be opened, stat'ed and read at once, while the commit may still run.
func TestItemsShownBeforeTheCommitCanBeUsedAtOnce(t *testing.T) {
	srv := newServer(t)
	const folders, files = 4, 2000
	for d := range folders {
		for i := range files {
			if _, err := srv.WriteFile(fmt.Sprintf("d%d/f%04d.txt", d, i), []byte(fmt.Sprintf("%d/%d", d, i)), sampleTime); err != nil {
				t.Fatal(err)
			}
		}
	}
	_, mp := mountDavtest(t, srv, "")
	for d := range folders {
		dir := filepath.Join(mp, fmt.Sprintf("d%d", d))
		f, err := os.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		names, err := f.Readdirnames(-1)
		f.Close()
		if err != nil || len(names) != files {
			t.Fatalf("d%d: %d names, %v; want %d", d, len(names), err, files)
		}
		last := filepath.Join(dir, fmt.Sprintf("f%04d.txt", files-1))
		if _, err := os.Stat(last); err != nil {
			t.Fatalf("stat right after readdir: %v", err)
		}
		got, err := os.ReadFile(last)
		if err != nil || string(got) != fmt.Sprintf("%d/%d", d, files-1) {
			t.Fatalf("read right after readdir: %q, %v", got, err)
		}
	}
}

// A first listing that breaks off after the kernel was shown part of it: readdir fails
// (never a silently short folder), nothing of it is kept, and the next visit, with the
// server healthy again, shows the whole folder.
func TestListingCutWhileShownFailsThenRecovers(t *testing.T) {
	srv := newServer(t)
	const files = 3000
	for i := range files {
		if _, err := srv.WriteFile(fmt.Sprintf("wide/f%04d.txt", i), []byte("x"), sampleTime); err != nil {
			t.Fatal(err)
		}
	}
	remove := srv.AddFault(davtest.Fault{Method: "PROPFIND", PathPrefix: "/remote.php/dav/files/alice/wide",
		CutAfter: 1 << 20, Nth: 1})
	_, mp := mountDavtest(t, srv, "")
	dir := filepath.Join(mp, "wide")
	readAll := func() ([]string, error) {
		f, err := os.Open(dir)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return f.Readdirnames(-1)
	}
	names, err := readAll()
	if err == nil {
		t.Fatalf("a listing cut half-way read as a folder of %d names", len(names))
	}
	if !errors.Is(err, syscall.EIO) {
		t.Errorf("cut listing: %v, want EIO", err)
	}
	remove()
	names, err = readAll()
	if err != nil || len(names) != files {
		t.Fatalf("after the server recovered: %d names, %v; want %d", len(names), err, files)
	}
}

// Items are looked up anew by every readdir of their folder; what ncvfs tells the kernel
// about them afterwards must still reach the inode the kernel uses. Here: the blocks a
// read made local, with a kernel attribute cache of an hour.
func TestKernelHearsOfItemsLookedUpAgain(t *testing.T) {
	srv := newServer(t)
	seedSample(t, srv)
	_, mp := mount(t, mountOpts{url: srv.URL(), user: "alice", password: "app-password-1",
		kernelTTL: time.Hour})
	music := filepath.Join(mp, "Música")
	song := filepath.Join(music, "Canción nº 1 & más?.txt")
	for range 3 {
		if _, err := os.ReadDir(music); err != nil {
			t.Fatal(err)
		}
	}
	var st syscall.Stat_t
	if err := syscall.Stat(song, &st); err != nil || st.Blocks != 0 {
		t.Fatalf("before reading: %d blocks, %v; want 0", st.Blocks, err)
	}
	if _, err := os.ReadFile(song); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		if err := syscall.Stat(song, &st); err != nil {
			return err
		}
		if st.Blocks == 0 {
			return errors.New("the kernel still shows 0 blocks")
		}
		return nil
	})
}

// A file stays readable by a second program while a first one has it open, after it was
// read whole (the kernel refuses to mix a passthrough open with a cached one, so ncvfs
// must not offer one).
func TestSecondOpenWhileTheFirstIsOpen(t *testing.T) {
	srv := newServer(t)
	const size = 3 << 20
	if _, err := srv.WriteSynthetic("doc/video.bin", size, 77, sampleTime); err != nil {
		t.Fatal(err)
	}
	_, mp := mountDavtest(t, srv, "")
	name := filepath.Join(mp, "doc/video.bin")
	first, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	if got, err := io.ReadAll(first); err != nil || len(got) != size {
		t.Fatalf("first reader: %d bytes, %v", len(got), err)
	}
	waitComplete(t, name, size)
	for i := range 3 {
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatalf("second reader %d while the first has the file open: %v", i, err)
		}
		if !bytes.Equal(got, davtest.SyntheticBytes(77, 0, size)) {
			t.Fatalf("second reader %d: wrong bytes", i)
		}
	}
}

// The other way round: a complete file opened alone (handed to the kernel as a backing
// file where it can), then opened again while the first is open: both read the bytes.
func TestSecondOpenOfACompleteFile(t *testing.T) {
	srv := newServer(t)
	const size = 3 << 20
	if _, err := srv.WriteSynthetic("doc/movie.bin", size, 78, sampleTime); err != nil {
		t.Fatal(err)
	}
	_, mp := mountDavtest(t, srv, "")
	name := filepath.Join(mp, "doc/movie.bin")
	want := davtest.SyntheticBytes(78, 0, size)
	if got, err := os.ReadFile(name); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("first read: %d bytes, %v", len(got), err)
	}
	waitComplete(t, name, size)
	first, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	second, err := os.Open(name)
	if err != nil {
		t.Fatalf("second open while the first is open: %v", err)
	}
	defer second.Close()
	for i, f := range []*os.File{second, first} {
		got, err := io.ReadAll(f)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("reader %d: %d bytes, %v", i, len(got), err)
		}
	}
}

// waitComplete waits until a file read through the mount is all local (recorded), and
// a moment more for its verification.
func waitComplete(t *testing.T, name string, size int64) {
	t.Helper()
	eventually(t, 10*time.Second, func() error {
		var st syscall.Stat_t
		if err := syscall.Stat(name, &st); err != nil {
			return err
		}
		if st.Blocks*512 < size {
			return fmt.Errorf("%d bytes local", st.Blocks*512)
		}
		return nil
	})
	time.Sleep(100 * time.Millisecond) // the verification after the record
}

// A file read through a passthrough backing file (complete, opened alone) that changes
// on the server while that open lasts: new opens read the new version.
func TestNewVersionWhileAPassthroughOpenLasts(t *testing.T) {
	srv := newServer(t)
	const size = 2 << 20
	if _, err := srv.WriteSynthetic("doc/clip.bin", size, 81, sampleTime); err != nil {
		t.Fatal(err)
	}
	_, mp := mount(t, mountOpts{url: srv.URL(), user: "alice", password: "app-password-1",
		listingTTL: 20 * time.Millisecond})
	dir := filepath.Join(mp, "doc")
	name := filepath.Join(dir, "clip.bin")
	if _, err := os.ReadFile(name); err != nil {
		t.Fatal(err)
	}
	waitComplete(t, name, size)
	held, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	head := make([]byte, 4096)
	if _, err := io.ReadFull(held, head); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.WriteSynthetic("doc/clip.bin", size+100, 82, sampleTime.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	want := davtest.SyntheticBytes(82, 0, size+100)
	probe := 0
	eventually(t, 10*time.Second, func() error {
		probe++
		os.Stat(filepath.Join(dir, fmt.Sprintf("probe-%d", probe))) // a visit: ncvfs notices
		got, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("a new open reads %d bytes, not the new version", len(got))
		}
		return nil
	})
	// The open that lasted reads on in the old version (through its backing file), or
	// is told the file changed; never a mix.
	more := make([]byte, 4096)
	_, err = io.ReadFull(held, more)
	switch {
	case errors.Is(err, syscall.ESTALE):
	case err != nil:
		t.Fatalf("the lasting open: %v, want the old bytes or ESTALE", err)
	case !bytes.Equal(more, davtest.SyntheticBytes(81, 4096, 4096)):
		t.Fatal("the lasting open reads bytes of the new version")
	}
}
