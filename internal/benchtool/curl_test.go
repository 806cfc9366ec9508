package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ncvfs/ncvfs/davclient/davtest"
	"github.com/ncvfs/ncvfs/internal/benchtool/treespec"
)

func TestNetrcEntryRefusesWhatNetrcCannotHold(t *testing.T) {
	got, err := netrcEntry("127.0.0.1", "bench", "0123abcd")
	if err != nil || got != "machine 127.0.0.1 login bench password 0123abcd\n" {
		t.Errorf("netrcEntry = %q, %v", got, err)
	}
	for _, pw := range []string{"", "two words", `quo"te`, "tab\there", "new\nline", `back\slash`} {
		if _, err := netrcEntry("h", "u", pw); err == nil {
			t.Errorf("netrcEntry accepted password %q", pw)
		}
	}
}

func TestFolderURLEscapesEachSegment(t *testing.T) {
	c := &curlRunner{filesURL: "http://h/remote.php/dav/files/u/"}
	for in, want := range map[string]string{
		"flat":          "http://h/remote.php/dav/files/u/flat/",
		"tree/dir-0001": "http://h/remote.php/dav/files/u/tree/dir-0001/",
		"/a b/c#d/":     "http://h/remote.php/dav/files/u/a%20b/c%23d/",
		"":              "http://h/remote.php/dav/files/u/",
		"Música/x%y?z":  "http://h/remote.php/dav/files/u/M%C3%BAsica/x%25y%3Fz/",
	} {
		if got := c.folderURL(in); got != want {
			t.Errorf("folderURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCheckStatuses(t *testing.T) {
	if err := checkStatuses("207\n207\n", 2, "207"); err != nil {
		t.Errorf("two 207s: %v", err)
	}
	for out, n := range map[string]int{"207\n": 2, "207\n401\n": 2, "": 1, "207\n207\n207\n": 2} {
		if err := checkStatuses(out, n, "207"); err == nil {
			t.Errorf("checkStatuses(%q, %d) passed", out, n)
		}
	}
}

// startTestServer runs davtest in-process with a generated tree.
func startTestServer(t *testing.T, spec treespec.Spec, password string) *benchEnv {
	t.Helper()
	srv, err := davtest.New(davtest.Options{User: serverUser, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	err = spec.Walk(func(e treespec.Entry) error {
		if e.IsDir {
			return srv.MkdirAll(e.Path)
		}
		_, err := srv.WriteSynthetic(e.Path, e.Size, e.Seed, e.ModTime)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return &benchEnv{root: t.TempDir(), serverURL: srv.URL(), user: serverUser, password: password, spec: spec}
}

func TestCurlPropfindTimesEveryFolder(t *testing.T) {
	spec, _ := treespec.Parse("flat=20,tree=4x3")
	env := startTestServer(t, spec, "pw123")
	c, err := newCurlRunner(env)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(c.netrc)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("netrc file mode %v (%v), want 0600", info.Mode(), err)
	}
	tree, _ := spec.Folder("tree")
	d, err := c.propfind(context.Background(), tree.Dirs())
	if err != nil || d <= 0 {
		t.Fatalf("propfind of the tree = %v, %v", d, err)
	}
	// A folder that does not exist answers 404: the reference must not count it.
	if _, err := c.propfind(context.Background(), []string{"flat", "nope"}); err == nil ||
		!strings.Contains(err.Error(), "404") {
		t.Errorf("propfind of a missing folder gave %v, want a 404 error", err)
	}
	// Config files are removed after each run.
	left, _ := filepath.Glob(filepath.Join(env.root, "curl-*.cfg"))
	if len(left) != 0 {
		t.Errorf("left behind %q", left)
	}
}

func TestCurlPropfindFailsOnWrongCredentials(t *testing.T) {
	spec, _ := treespec.Parse("flat=2")
	env := startTestServer(t, spec, "right")
	env.password = "wrong"
	c, err := newCurlRunner(env)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.propfind(context.Background(), []string{"flat"}); err == nil ||
		!strings.Contains(err.Error(), "401") {
		t.Errorf("wrong password gave %v, want a 401 error", err)
	}
}
