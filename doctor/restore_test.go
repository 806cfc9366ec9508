package doctor

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ncvfs/ncvfs/davclient/davtest"
)

// writes counts the requests that change something on the server.
func writes(s *davtest.Server) int64 {
	c := s.Counts().Requests
	return c["PUT"] + c["MKCOL"] + c["MOVE"] + c["COPY"] + c["DELETE"] + c["PROPPATCH"]
}

func TestRestoreRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, c := newServer(t, davtest.Options{Activity: true})
	local := t.TempDir()
	desyncedTrees(t, s, local)

	// 1. diff, as CSV.
	var report bytes.Buffer
	cw, err := NewCSVWriter(&report)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Diff(ctx, c, DiffOptions{LocalDir: local, RemotePath: "Sync", History: true}, cw.Write); err != nil {
		t.Fatal(err)
	}
	if err := cw.Flush(); err != nil {
		t.Fatal(err)
	}
	// 2. curate: keep what exists only here, what the server lost, and one file newer on
	// the server (which must survive); add junk and a path the backup lacks.
	lines := strings.Split(strings.TrimSpace(report.String()), "\n")
	curated := []string{lines[0]}
	for _, l := range lines[1:] {
		if strings.Contains(l, ",local_only,") || strings.Contains(l, ",deleted_on_server,") ||
			strings.HasPrefix(l, "server-newer.txt,") || strings.HasPrefix(l, "server.txt,") {
			curated = append(curated, l)
		}
	}
	curated = append(curated, ".DS_Store,local_only,,,,,,,,", "not-in-backup.txt,local_only,,,,,,,,")
	manifest, err := ReadManifest(strings.NewReader(strings.Join(curated, "\n") + "\n"))
	if err != nil {
		t.Fatal(err)
	}

	// 3. dry run: a plan, and no writing request.
	if _, err := c.Discover(ctx); err != nil {
		t.Fatal(err)
	}
	s.ResetCounts()
	plan, err := Restore(ctx, c, manifest, RestoreOptions{From: local, To: "Sync"})
	if err != nil {
		t.Fatal(err)
	}
	if n := writes(s); n != 0 {
		t.Fatalf("the dry run sent %d writing requests", n)
	}
	wantUpload := []string{"NewFolder/a.txt", "gone.txt", "laptop.txt", "server-newer.txt"}
	if got := relPaths(plan.Upload); strings.Join(got, ",") != strings.Join(wantUpload, ",") {
		t.Errorf("plan uploads %v, want %v", got, wantUpload)
	}
	if got := relPaths(plan.Skipped); strings.Join(got, ",") != ".DS_Store,server.txt" {
		t.Errorf("plan skips %v", got)
	}
	if got := relPaths(plan.Missing); strings.Join(got, ",") != "not-in-backup.txt" || plan.OK() {
		t.Errorf("plan missing %v, OK %v", got, plan.OK())
	}

	// 4. execute.
	newer, _ := s.Stat("Sync/server-newer.txt")
	done, err := Restore(ctx, c, manifest, RestoreOptions{From: local, To: "Sync", Execute: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := relPaths(done.Upload); strings.Join(got, ",") != "NewFolder/a.txt,gone.txt,laptop.txt" {
		t.Errorf("uploaded %v", got)
	}
	if len(done.Failed) != 1 || done.Failed[0].RelPath != "server-newer.txt" || !strings.Contains(done.Failed[0].Reason, "not overwritten") {
		t.Errorf("failed %+v, want server-newer.txt refused", done.Failed)
	}
	if done.Folders != 1 {
		t.Errorf("%d folders created, want 1 (NewFolder)", done.Folders)
	}
	after, _ := s.Stat("Sync/server-newer.txt")
	if after.ETag != newer.ETag {
		t.Errorf("the newer server file was overwritten")
	}
	if b, _ := s.ReadFile("Sync/server-newer.txt"); string(b) != "new and longer" {
		t.Errorf("server-newer.txt now holds %q", b)
	}
	a, err := s.Stat("Sync/NewFolder/a.txt")
	if err != nil || !a.ModTime.Equal(t0) {
		t.Errorf("restored file %+v, %v: want mtime %v kept", a, err, t0)
	}

	// 5. a new diff no longer lists the restored rows.
	rows, _ := runDiff(t, c, DiffOptions{LocalDir: local, RemotePath: "Sync", History: true})
	for _, p := range []string{"NewFolder/a.txt", "gone.txt", "laptop.txt"} {
		if r, ok := rows[p]; ok {
			t.Errorf("%s still listed after the restore: %+v", p, r)
		}
	}
	if r := rows["server-newer.txt"]; r.Status != ServerNewer {
		t.Errorf("server-newer.txt: %+v", r)
	}
}

func TestRestoreOverwriteUsesIfMatch(t *testing.T) {
	ctx := context.Background()
	s, c := newServer(t, davtest.Options{})
	local := t.TempDir()
	writeLocal(t, local, "a.txt", "backup copy", t0)
	writeServer(t, s, "dst/a.txt", "server copy", t1)
	m := []ManifestEntry{{Line: 2, RelPath: "a.txt"}}
	rep, err := Restore(ctx, c, m, RestoreOptions{From: local, To: "dst", Execute: true, Overwrite: true})
	if err != nil || !rep.OK() || len(rep.Upload) != 1 {
		t.Fatalf("report %+v, err %v", rep, err)
	}
	if b, _ := s.ReadFile("dst/a.txt"); string(b) != "backup copy" {
		t.Errorf("dst/a.txt holds %q after --overwrite", b)
	}
}

func TestReadManifestRefusesBadInput(t *testing.T) {
	bad := map[string]string{
		"":                                "empty",
		"path,status\na.txt,local_only\n": "line 1 has no relpath",
		"relpath\nok.txt\n/etc/passwd\n":  "line 3",
		"relpath\n../outside.txt\n":       "line 2",
		"relpath\na/../../b\n":            "climbs",
		"relpath\n\"a\x00b\"\n":           "NUL",
		"relpath\na//b\n":                 "not a clean path",
		"relpath\nwin\\path.txt\n":        "backslash",
	}
	for in, want := range bad {
		_, err := ReadManifest(strings.NewReader(in))
		if !errors.Is(err, ErrBadManifest) || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadManifest(%q) = %v, want ErrBadManifest mentioning %q", in, err, want)
		}
	}
	m, err := ReadManifest(strings.NewReader("status,relpath,reason\nlocal_only,\"a, b.txt\",x\n"))
	if err != nil || len(m) != 1 || m[0].RelPath != "a, b.txt" || m[0].Status != LocalOnly || m[0].Line != 2 {
		t.Errorf("ReadManifest = %+v, %v", m, err)
	}
}

func relPaths(items []PlanItem) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.RelPath)
	}
	return out
}
