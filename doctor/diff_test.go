package doctor

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ncvfs/ncvfs/davclient"
	"github.com/ncvfs/ncvfs/davclient/davtest"
)

const (
	tUser = "alice"
	tPass = "app-password-doctor"
)

var (
	t0 = time.Unix(1_700_000_000, 0)
	t1 = t0.Add(2 * time.Hour)
)

func newServer(t testing.TB, opt davtest.Options) (*davtest.Server, *davclient.Client) {
	t.Helper()
	opt.User, opt.Password = tUser, tPass
	s, err := davtest.New(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	c, err := davclient.New(davclient.Config{URL: s.URL(), User: tUser, Password: tPass,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

func writeLocal(t *testing.T, root, rel, data string, mtime time.Time) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func writeServer(t *testing.T, s *davtest.Server, rel, data string, mtime time.Time) {
	t.Helper()
	if _, err := s.WriteFile(rel, []byte(data), mtime); err != nil {
		t.Fatal(err)
	}
}

// desyncedTrees builds, under the server folder "Sync", a tree with every status.
func desyncedTrees(t *testing.T, s *davtest.Server, local string) {
	both := func(rel, data string, mt time.Time) {
		writeLocal(t, local, rel, data, mt)
		writeServer(t, s, "Sync/"+rel, data, mt)
	}
	both("same.txt", "same", t0)
	both("Docs/deep/same.txt", "same", t0)
	// Same bytes, another mtime: an mtime-only difference, left out.
	writeLocal(t, local, "touched.txt", "touched", t1)
	writeServer(t, s, "Sync/touched.txt", "touched", t0)
	// Same size, other bytes, checksum known on the server: content decides.
	writeLocal(t, local, "edited-sum.txt", "version B", t1)
	writeServer(t, s, "Sync/edited-sum.txt", "version A", t0)
	if err := s.SetChecksum("Sync/edited-sum.txt", "SHA1:"+sha1hex("version A")); err != nil {
		t.Fatal(err)
	}
	writeLocal(t, local, "laptop.txt", "only here", t0)
	writeLocal(t, local, "NewFolder/a.txt", "new a", t0)
	writeServer(t, s, "Sync/server.txt", "only there", t0)
	writeServer(t, s, "Sync/ServerFolder/b.txt", "bbb", t0)
	writeLocal(t, local, "local-newer.txt", "longer local text", t1)
	writeServer(t, s, "Sync/local-newer.txt", "short", t0)
	writeLocal(t, local, "server-newer.txt", "old", t0)
	writeServer(t, s, "Sync/server-newer.txt", "new and longer", t1)
	writeLocal(t, local, "conflict.txt", "twelve bytes", t0)
	writeServer(t, s, "Sync/conflict.txt", "nine byte", t0)
	// Deleted on the server by bob: in the trash bin and the activity stream.
	both("gone.txt", "gone", t0)
	if err := s.RemoveBy("Sync/gone.txt", "bob"); err != nil {
		t.Fatal(err)
	}
	// A shared folder owned by carol, with a file changed on the server.
	writeLocal(t, local, "Team/plan.txt", "plan v1", t0)
	writeServer(t, s, "Sync/Team/plan.txt", "plan v2 longer", t1)
	if err := s.SetOwner("Sync/Team", "carol", "Carol C."); err != nil {
		t.Fatal(err)
	}
	// Noise, left out by default.
	writeLocal(t, local, ".DS_Store", "junk", t0)
	writeLocal(t, local, "Docs/~$report.docx", "lock", t0)
	writeLocal(t, local, "Docs/report (conflicted copy 2024-05-01 101500).docx", "copy", t0)
	writeServer(t, s, "Sync/Thumbs.db", "thumbs", t0)
	// A symbolic link: skipped and counted.
	if err := os.Symlink("same.txt", filepath.Join(local, "link.txt")); err != nil {
		t.Fatal(err)
	}
}

func runDiff(t *testing.T, c *davclient.Client, opt DiffOptions) (map[string]Row, Summary) {
	t.Helper()
	rows := map[string]Row{}
	sum, err := Diff(context.Background(), c, opt, func(r Row) error {
		if _, dup := rows[r.RelPath]; dup {
			t.Errorf("%s reported twice", r.RelPath)
		}
		rows[r.RelPath] = r
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return rows, sum
}

func TestDiffEveryStatus(t *testing.T) {
	s, c := newServer(t, davtest.Options{Activity: true})
	local := t.TempDir()
	desyncedTrees(t, s, local)

	rows, sum := runDiff(t, c, DiffOptions{LocalDir: local, RemotePath: "Sync", History: true})
	type want struct {
		status           Status
		lsize, ssize     int64
		lmtime, smtime   time.Time
		owner, reasonHas string
	}
	var none time.Time
	wants := map[string]want{
		"edited-sum.txt":     {LocalNewer, 9, 9, t1, t0, "", "content differs (SHA1)"},
		"laptop.txt":         {LocalOnly, 9, -1, t0, none, "", ""},
		"NewFolder/a.txt":    {LocalOnly, 5, -1, t0, none, "", ""},
		"server.txt":         {ServerOnly, -1, 10, none, t0, "", ""},
		"ServerFolder/b.txt": {ServerOnly, -1, 3, none, t0, "", ""},
		"local-newer.txt":    {LocalNewer, 17, 5, t1, t0, "", "sizes differ"},
		"server-newer.txt":   {ServerNewer, 3, 14, t0, t1, "", "sizes differ"},
		"conflict.txt":       {Conflict, 12, 9, t0, t0, "", "same mtime"},
		"gone.txt":           {DeletedOnServer, 4, -1, t0, none, "", "deleted by bob at "},
		"Team/plan.txt":      {ServerNewer, 7, 14, t0, t1, "carol", ""},
	}
	for p, w := range wants {
		r, ok := rows[p]
		if !ok {
			t.Errorf("%s: no row, want %s", p, w.status)
			continue
		}
		if r.Status != w.status || r.LocalSize != w.lsize || r.ServerSize != w.ssize ||
			!r.LocalMtime.Equal(w.lmtime) || !r.ServerMtime.Equal(w.smtime) || r.Owner != w.owner ||
			!strings.Contains(r.Reason, w.reasonHas) {
			t.Errorf("%s: got %+v\nwant %+v", p, r, w)
		}
	}
	for p, r := range rows {
		if _, ok := wants[p]; !ok {
			t.Errorf("unexpected row %+v", r)
		}
	}
	if g := rows["gone.txt"]; !strings.Contains(g.Reason, "in the trash bin since") {
		t.Errorf("gone.txt reason %q does not name the trash bin", g.Reason)
	}
	if sum.Symlinks != 1 || sum.Noise != 4 || sum.SameContent != 1 || sum.Identical != 2 {
		t.Errorf("summary %+v: want 1 symlink, 4 noise, 1 same content, 2 identical", sum)
	}
}

func TestDiffIncludeNoiseAndNoContentCheck(t *testing.T) {
	s, c := newServer(t, davtest.Options{})
	local := t.TempDir()
	desyncedTrees(t, s, local)
	rows, sum := runDiff(t, c, DiffOptions{LocalDir: local, RemotePath: "Sync", IncludeNoise: true, NoContentCheck: true})
	for _, p := range []string{".DS_Store", "Docs/~$report.docx", "Docs/report (conflicted copy 2024-05-01 101500).docx", "Thumbs.db"} {
		if r, ok := rows[p]; !ok || !strings.Contains(r.Reason, "noise: ") {
			t.Errorf("%s: row %+v, want it reported as noise", p, r)
		}
	}
	// Without the content check, an mtime-only difference is a change.
	if r := rows["touched.txt"]; r.Status != LocalNewer || !strings.Contains(r.Reason, "not compared") {
		t.Errorf("touched.txt: %+v", r)
	}
	// Without History, a file deleted on the server is merely local_only.
	if r := rows["gone.txt"]; r.Status != LocalOnly {
		t.Errorf("gone.txt: %+v", r)
	}
	if sum.ContentChecks != 0 {
		t.Errorf("%d content checks despite NoContentCheck", sum.ContentChecks)
	}
}

func TestDiffComparesBytesWithoutChecksum(t *testing.T) {
	s, c := newServer(t, davtest.Options{})
	local := t.TempDir()
	writeLocal(t, local, "a.bin", strings.Repeat("x", 200<<10)+"A", t1)
	writeServer(t, s, "a.bin", strings.Repeat("x", 200<<10)+"B", t0)
	writeLocal(t, local, "b.bin", strings.Repeat("y", 100<<10), t1)
	writeServer(t, s, "b.bin", strings.Repeat("y", 100<<10), t0)
	if _, err := c.Discover(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.ResetCounts()
	rows, sum := runDiff(t, c, DiffOptions{LocalDir: local})
	if r := rows["a.bin"]; r.Status != LocalNewer || !strings.Contains(r.Reason, "bytes compared") {
		t.Errorf("a.bin: %+v", r)
	}
	if _, ok := rows["b.bin"]; ok || sum.SameContent != 1 {
		t.Errorf("b.bin (same bytes) reported: %+v, summary %+v", rows["b.bin"], sum)
	}
	if got := s.Counts().Requests["GET"]; got != 2 {
		t.Errorf("%d GETs, want one per file compared", got)
	}
}

func TestDiffHistoryWithoutActivityApp(t *testing.T) {
	s, c := newServer(t, davtest.Options{})
	local := t.TempDir()
	writeLocal(t, local, "Old/x.txt", "x", t0)
	writeServer(t, s, "Old/x.txt", "x", t0)
	if err := s.Remove("Old"); err != nil {
		t.Fatal(err)
	}
	rows, sum := runDiff(t, c, DiffOptions{LocalDir: local, History: true})
	r := rows["Old/x.txt"]
	if r.Status != DeletedOnServer || !strings.Contains(r.Reason, "with its folder Old") {
		t.Errorf("Old/x.txt: %+v", r)
	}
	if len(sum.Notes) != 1 || !strings.Contains(sum.Notes[0], "activity") {
		t.Errorf("notes %q, want one about the activity app", sum.Notes)
	}
}
