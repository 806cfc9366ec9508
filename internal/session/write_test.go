package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

// mountRW mounts read-write with a short upload debounce.
func mountRW(t *testing.T, srv *davtest.Server, cacheDir string) (*Session, string) {
	return mount(t, mountOpts{url: srv.URL(), user: "alice", password: "app-password-1",
		cacheDir: cacheDir, debounce: 20 * time.Millisecond, chunkThreshold: 5 << 20, writes: true})
}

// flush waits until every change is on the server.
func flush(t *testing.T, s *Session) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.Uploader.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

// run runs a program in dir, which may be inside a mount served by this process. The
// child changes into dir only after exec, through sh: with cmd.Dir the chdir happens
// between fork and exec, while the forking thread still holds its P; a garbage
// collection then waits for that P while the chdir waits for this process's FUSE
// server, and both hang for ever. (ncvfs itself never has this: the programs using a
// mount are other processes.)
func run(t *testing.T, dir string, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", append([]string{"-c", `cd "$0" && exec "$@"`, dir, name}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// sameContent checks that every file of the server has the bytes the mount shows, and
// that both have the same tree.
func sameContent(t *testing.T, srv *davtest.Server, mp string) {
	t.Helper()
	want, got := walkServer(t, srv), walkMount(t, mp)
	// A folder's times are not kept (see fusefs' Setattr): files' are compared.
	for _, tree := range []map[string]treeEntry{want, got} {
		for p, e := range tree {
			if e.Dir {
				e.MTime = 0
				tree[p] = e
			}
		}
	}
	if d := diffTrees(want, got); len(d) > 0 {
		t.Errorf("server and mount differ: %v", d)
	}
	for p, e := range want {
		if e.Dir {
			continue
		}
		sb, err := srv.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		mb, err := os.ReadFile(filepath.Join(mp, p))
		if err != nil {
			t.Errorf("read %s through the mount: %v", p, err)
			continue
		}
		if !bytes.Equal(sb, mb) {
			t.Errorf("%s: the server has %d bytes %.20q, the mount %d bytes %.20q", p, len(sb), sb, len(mb), mb)
		}
	}
}

func mustStat(t *testing.T, srv *davtest.Server, p string) davtest.NodeInfo {
	t.Helper()
	st, err := srv.Stat(p)
	if err != nil {
		t.Fatalf("server stat %s: %v", p, err)
	}
	return st
}

func TestWritesReachTheServer(t *testing.T) {
	srv := newServer(t)
	seedSample(t, srv)
	readmeID := mustStat(t, srv, "Readme.md").FileID
	s, mp := mountRW(t, srv, "")
	at := func(p string) string { return filepath.Join(mp, p) }

	if err := os.WriteFile(at("new.txt"), []byte("new file\n"), 0o644); err != nil {
		t.Fatalf("create: %v", err)
	}
	// chmod is accepted and changes nothing: the server keeps no modes (rsync -a and
	// cp -p chmod every file they write).
	if err := os.Chmod(at("new.txt"), 0o600); err != nil {
		t.Errorf("chmod: %v", err)
	}
	if st, err := os.Stat(at("new.txt")); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("after chmod the mode shown is %v, %v; want 0644 as before", st.Mode(), err)
	}
	if err := os.MkdirAll(at("a/b/c"), 0o755); err != nil {
		t.Fatalf("mkdir -p: %v", err)
	}
	if err := os.WriteFile(at("a/b/c/deep.txt"), bytes.Repeat([]byte("d"), 100_000), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(at("Documents/Plan (final) #2.txt"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatalf("open for append: %v", err)
	}
	if _, err := f.WriteString(" and more"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := os.Truncate(at("Música/Canción nº 1 & más?.txt"), 10); err != nil {
		t.Fatalf("truncate: %v", err)
	}
	old := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := os.Chtimes(at("Documents/Notes/todo 100%.md"), old, old); err != nil {
		t.Fatalf("touch -d: %v", err)
	}
	if err := os.Rename(at("Documents/Café Menü – Übersicht.txt"), at("a/menu.txt")); err != nil {
		t.Fatalf("mv across folders: %v", err)
	}
	if err := os.Rename(at("empty.txt"), at("still empty.txt")); err != nil {
		t.Fatalf("mv: %v", err)
	}
	if err := os.RemoveAll(at("Photos")); err != nil {
		t.Fatalf("rm -r: %v", err)
	}
	if err := os.Remove(at("empty folder")); err != nil {
		t.Fatalf("rmdir: %v", err)
	}
	// An editor's save: a temporary file, fsync, renamed over the original.
	tmp, err := os.Create(at(".Readme.md.tmp"))
	if err != nil {
		t.Fatal(err)
	}
	tmp.WriteString("saved by an editor\n")
	if err := tmp.Sync(); err != nil {
		t.Fatalf("fsync: %v", err)
	}
	tmp.Close()
	if err := os.Rename(at(".Readme.md.tmp"), at("Readme.md")); err != nil {
		t.Fatalf("rename over: %v", err)
	}
	// Excluded names stay here.
	if err := os.WriteFile(at(".~lock.new.txt#"), []byte("lock"), 0o644); err != nil {
		t.Fatal(err)
	}

	// Before the uploads, the mount shows the local state.
	if b, err := os.ReadFile(at("Documents/Plan (final) #2.txt")); err != nil || string(b) != "plan and more" {
		t.Errorf("appended file reads %q, %v", b, err)
	}
	if st, err := os.Stat(at("Documents/Notes/todo 100%.md")); err != nil || !st.ModTime().Equal(old) {
		t.Errorf("touched file: %v, %v", st.ModTime(), err)
	}

	flush(t, s)
	if _, err := srv.Stat(".~lock.new.txt#"); err == nil {
		t.Errorf("an excluded lock file reached the server")
	}
	if err := os.Remove(at(".~lock.new.txt#")); err != nil {
		t.Fatal(err)
	}
	sameContent(t, srv, mp)
	if st := mustStat(t, srv, "Readme.md"); st.FileID != readmeID {
		t.Errorf("the editor's save gave Readme.md file id %d, want %d kept", st.FileID, readmeID)
	}
	if st := mustStat(t, srv, "Documents/Notes/todo 100%.md"); !st.ModTime.Equal(old) {
		t.Errorf("server mtime %v, want %v", st.ModTime, old)
	}

	// A fresh mount with an empty cache sees the same tree.
	_, mp2 := mountDavtest(t, srv, "")
	sameContent(t, srv, mp2)
}

func TestRealToolsInTheMount(t *testing.T) {
	for _, tool := range []string{"cp", "tar", "git", "rsync", "sqlite3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("needs %s on PATH: %v", tool, err)
		}
	}
	srv := newServer(t)
	s, mp := mountRW(t, srv, "")
	src := t.TempDir()
	for i := range 50 {
		dir := filepath.Join(src, "tree", string(rune('a'+i%5)))
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, strings.Repeat("f", i%7+1)+".txt"), bytes.Repeat([]byte{byte(i)}, i*100), 0o644)
	}
	run(t, src, "cp", "-a", "tree", mp)
	run(t, src, "tar", "cf", filepath.Join(src, "t.tar"), "tree")
	os.Mkdir(filepath.Join(mp, "untar"), 0o755)
	run(t, filepath.Join(mp, "untar"), "tar", "xf", filepath.Join(src, "t.tar"))
	run(t, mp, "git", "init", "-q", "repo")
	repo := filepath.Join(mp, "repo")
	os.WriteFile(filepath.Join(repo, "hello.txt"), []byte("hello\n"), 0o644)
	run(t, repo, "git", "add", ".")
	run(t, repo, "git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "first")
	out, err := exec.Command("git", "-C", repo, "status", "--porcelain").CombinedOutput()
	if err != nil || len(out) != 0 {
		t.Errorf("git status in the mount: %q, %v", out, err)
	}
	run(t, repo, "git", "gc", "-q")

	// A clone into the mount, from a repository with some history.
	origin := filepath.Join(src, "origin")
	run(t, src, "git", "init", "-q", "origin")
	for i := range 5 {
		os.WriteFile(filepath.Join(origin, fmt.Sprintf("file%d.txt", i)), bytes.Repeat([]byte{'a' + byte(i)}, 3000*i), 0o644)
		run(t, origin, "git", "add", ".")
		run(t, origin, "git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", fmt.Sprint("commit ", i))
	}
	run(t, mp, "git", "clone", "-q", origin, "clone")
	if out, err := exec.Command("git", "-C", filepath.Join(mp, "clone"), "status", "--porcelain").CombinedOutput(); err != nil || len(out) != 0 {
		t.Errorf("git status of the clone: %q, %v", out, err)
	}

	// rsync writes a temporary file per file, sets its times and renames it.
	run(t, src, "rsync", "-a", "tree/", filepath.Join(mp, "rsynced"))

	// SQLite: a journal created and removed per transaction, fsyncs, small writes at offsets.
	out, err = exec.Command("sqlite3", filepath.Join(mp, "db.sqlite"),
		"create table t(id integer primary key, v text);",
		"insert into t(v) with recursive n(i) as (select 1 union all select i+1 from n where i < 2000) select printf('row %d', i) from n;",
		"update t set v = v || '!' where id % 3 = 0;",
		"delete from t where id % 5 = 0;",
		"pragma integrity_check;",
		"select count(*) from t;").CombinedOutput()
	if err != nil || string(out) != "ok\n1600\n" {
		t.Errorf("sqlite3 in the mount: %q, %v; want ok and 1600 rows", out, err)
	}

	flush(t, s)
	sameContent(t, srv, mp)
	// A fresh mount with an empty cache sees the same tree and bytes.
	_, mp2 := mountDavtest(t, srv, "")
	sameContent(t, srv, mp2)
	out, err = exec.Command("sqlite3", "-readonly", filepath.Join(mp2, "db.sqlite"), "pragma integrity_check;").CombinedOutput()
	if err != nil || string(out) != "ok\n" {
		t.Errorf("the uploaded database, read from a fresh mount: %q, %v", out, err)
	}
}

// tar x of many small files: every one reaches the server, nothing else does. 2,000
// here (each close is a committed record today, about 5 ms with -race); scripts/bench
// extracts 10,000 and times it, and NCVFS_TAR_FILES=10000 runs this test at that size.
func TestTarOfManyFilesInTheMount(t *testing.T) {
	srv := newServer(t)
	s, mp := mountRW(t, srv, "")
	src := t.TempDir()
	files := 2_000
	if n, err := strconv.Atoi(os.Getenv("NCVFS_TAR_FILES")); err == nil {
		files = n
	}
	for i := range files {
		dir := filepath.Join(src, "many", fmt.Sprintf("d%02d", i%50))
		if i < 50 {
			os.MkdirAll(dir, 0o755)
		}
		os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%05d.txt", i)), []byte(fmt.Sprintf("file %d\n", i)), 0o644)
	}
	run(t, src, "tar", "cf", filepath.Join(src, "many.tar"), "many")
	t0 := time.Now()
	run(t, mp, "tar", "xf", filepath.Join(src, "many.tar"))
	t.Logf("tar x: %v", time.Since(t0))
	flush(t, s)
	server := walkServer(t, srv)
	n := 0
	for p, e := range server {
		if !e.Dir {
			n++
			if b, err := srv.ReadFile(p); err != nil || !strings.HasPrefix(string(b), "file ") {
				t.Errorf("%s on the server: %q, %v", p, b, err)
			}
		}
	}
	if n != files {
		t.Errorf("%d files on the server, want %d", n, files)
	}
	sameContent(t, srv, mp)
}

func TestBothSidesChangedKeepsBoth(t *testing.T) {
	srv := newServer(t)
	srv.WriteFile("report.txt", []byte("original"), sampleTime)
	srv.WriteFile("gone.txt", []byte("original"), sampleTime)
	s, mp := mount(t, mountOpts{url: srv.URL(), user: "alice", password: "app-password-1",
		debounce: time.Hour, writes: true}) // nothing is uploaded until the test says so
	if err := os.WriteFile(filepath.Join(mp, "report.txt"), []byte("local edit"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mp, "gone.txt"), []byte("local edit of a removed file"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Meanwhile another client changes one and removes the other.
	if _, err := srv.WriteFile("report.txt", []byte("server edit"), sampleTime.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Remove("gone.txt"); err != nil {
		t.Fatal(err)
	}
	flush(t, s) // a flush does not wait for the debounce

	var copies []string
	walk := walkServer(t, srv)
	for p := range walkMount(t, mp) {
		if strings.Contains(p, "(conflicted copy ") {
			copies = append(copies, p)
		}
	}
	if len(copies) != 2 {
		t.Fatalf("conflict copies %v, want two", copies)
	}
	for _, c := range copies {
		if _, onServer := walk[c]; onServer {
			t.Errorf("conflict copy %s was uploaded", c)
		}
		b, err := os.ReadFile(filepath.Join(mp, c))
		if err != nil || !strings.HasPrefix(string(b), "local edit") {
			t.Errorf("%s holds %q, %v", c, b, err)
		}
		if !strings.HasSuffix(c, ").txt") {
			t.Errorf("conflict copy name %q: the tag goes before the extension", c)
		}
	}
	if b, err := os.ReadFile(filepath.Join(mp, "report.txt")); err != nil || string(b) != "server edit" {
		t.Errorf("report.txt reads %q, %v; want the server's version", b, err)
	}
	if b, _ := srv.ReadFile("report.txt"); string(b) != "server edit" {
		t.Errorf("the server's version was overwritten: %q", b)
	}
	if _, err := os.Stat(filepath.Join(mp, "gone.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("gone.txt: %v, want it gone as on the server", err)
	}
}

// The user's own exclude file: matching files live only here, the rest goes up.
func TestUserExcludePatternsStayLocal(t *testing.T) {
	srv := newServer(t)
	file := filepath.Join(t.TempDir(), "exclude")
	os.WriteFile(file, []byte("# scratch files of my tools\n*.scratch\n"), 0o600)
	s, mp := mount(t, mountOpts{url: srv.URL(), user: "alice", password: "app-password-1",
		debounce: 20 * time.Millisecond, writes: true, excludeFile: file})
	for _, name := range []string{"notes.scratch", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(mp, name), []byte("bytes of "+name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	flush(t, s)
	if _, err := srv.Stat("notes.scratch"); err == nil {
		t.Errorf("a file matching the user's pattern reached the server")
	}
	if _, err := srv.Stat("notes.txt"); err != nil {
		t.Errorf("notes.txt did not reach the server: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(mp, "notes.scratch")); err != nil || string(b) != "bytes of notes.scratch" {
		t.Errorf("the excluded file in the mount: %q, %v", b, err)
	}

	// A bad pattern stops the mount with the line to fix.
	os.WriteFile(file, []byte("[oops\n"), 0o600)
	_, err := Start(context.Background(), Config{URL: srv.URL(), User: "alice", Password: "app-password-1",
		Mountpoint: t.TempDir(), CacheDir: t.TempDir(), Writes: true, ExcludeFile: file, Logger: testLogger(t)})
	if err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("mount with a bad pattern: %v; want an error naming line 1", err)
	}
}

func TestReadOnlyShareRefusesWrites(t *testing.T) {
	srv := newServer(t)
	seedSample(t, srv)
	_, mp := mountRW(t, srv, "")
	srv.ResetCounts()
	at := func(p string) string { return filepath.Join(mp, p) }
	checks := []struct {
		what string
		err  error
	}{
		{"create in a read-only share", os.WriteFile(at("Shared/Team/new.txt"), []byte("x"), 0o644)},
		{"mkdir in a read-only share", os.Mkdir(at("Shared/Team/dir"), 0o755)},
		{"truncate a read-only file", os.Truncate(at("Shared/Team/Handbook.md"), 0)},
		{"remove a read-only file", os.Remove(at("Shared/Team/Handbook.md"))},
		{"rename a read-only file", os.Rename(at("Shared/Team/Handbook.md"), at("Shared/Team/H.md"))},
		{"symlink", os.Symlink("Readme.md", at("link"))},
	}
	for _, c := range checks {
		if !errors.Is(c.err, syscall.EACCES) && !errors.Is(c.err, syscall.EPERM) {
			t.Errorf("%s: got %v, want EACCES or EPERM", c.what, c.err)
		}
	}
	if f, err := os.OpenFile(at("Shared/Team/Handbook.md"), os.O_WRONLY, 0); !errors.Is(err, syscall.EACCES) {
		t.Errorf("open a read-only file for writing: %v, want EACCES", err)
		if f != nil {
			f.Close()
		}
	}
	time.Sleep(100 * time.Millisecond) // an upload, if one were queued, would start now
	c := srv.Counts()
	for _, m := range []string{"PUT", "MKCOL", "MOVE", "DELETE"} {
		if c.Requests[m] != 0 {
			t.Errorf("%d %s requests reached the server", c.Requests[m], m)
		}
	}
}
