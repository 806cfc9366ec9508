package main

import (
	"bytes"
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runDoctorBinary runs ncvfs to completion with the test password in the environment.
func runDoctorBinary(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "NCVFS_PASSWORD="+password)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), errb.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), 0
}

func TestDiffAndRestoreCommands(t *testing.T) {
	srv := newServer(t)
	local := t.TempDir()
	mt := time.Unix(1700000000, 0)
	for _, f := range []string{"hello world.txt", "new, with comma.txt", "Sub/deep.txt"} {
		p := filepath.Join(local, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		data := "hi"
		if f != "hello world.txt" {
			data = "local only " + f
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	// Flags after the arguments, too.
	out, errOut, code := runDoctorBinary(t, "diff", local, "Documents", "--url", srv.URL(), "--user", "alice")
	if code != 0 {
		t.Fatalf("diff exit %d: %s", code, errOut)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("diff output is not CSV: %v\n%s", err, out)
	}
	if strings.Join(recs[0], ",") != "relpath,status,local_size,local_mtime,local_mtime_iso,server_size,server_mtime,server_mtime_iso,owner,reason" {
		t.Errorf("header %v", recs[0])
	}
	got := map[string]string{}
	for _, r := range recs[1:] {
		got[r[0]] = r[1] + " " + r[3] + " " + r[4]
	}
	want := map[string]string{
		"new, with comma.txt": "local_only 1700000000 2023-11-14T22:13:20Z",
		"Sub/deep.txt":        "local_only 1700000000 2023-11-14T22:13:20Z",
	}
	if len(got) != len(want) || got["new, with comma.txt"] != want["new, with comma.txt"] || got["Sub/deep.txt"] != want["Sub/deep.txt"] {
		t.Errorf("rows %v, want %v", got, want)
	}
	if !strings.Contains(errOut, "2 local_only") {
		t.Errorf("summary on stderr: %s", errOut)
	}

	manifest := filepath.Join(t.TempDir(), "m.csv")
	if err := os.WriteFile(manifest, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	srv.ResetCounts()
	out, errOut, code = runDoctorBinary(t, "restore", "--url", srv.URL(), "--user", "alice", "--manifest", manifest,
		"--from", local, "--to", "Documents")
	if code != 0 || !strings.Contains(out, "plan: 2 to upload") || !strings.Contains(out, "dry run") {
		t.Fatalf("dry run exit %d:\n%s%s", code, out, errOut)
	}
	if c := srv.Counts().Requests; c["PUT"]+c["MKCOL"] != 0 {
		t.Fatalf("the dry run wrote: %v", c)
	}
	out, errOut, code = runDoctorBinary(t, "restore", "--url", srv.URL(), "--user", "alice", "--manifest", manifest,
		"--from", local, "--to", "Documents", "--execute")
	if code != 0 || !strings.Contains(out, "uploaded 2 files") {
		t.Fatalf("restore exit %d:\n%s%s", code, out, errOut)
	}
	if b, err := srv.ReadFile("Documents/Sub/deep.txt"); err != nil || string(b) != "local only Sub/deep.txt" {
		t.Errorf("restored file %q, %v", b, err)
	}
	// Again: the files exist now and are left alone, which is a failure to report.
	out, _, code = runDoctorBinary(t, "restore", "--url", srv.URL(), "--user", "alice", "--manifest", manifest,
		"--from", local, "--to", "Documents", "--execute")
	if code != 1 || !strings.Contains(out, "failed   Sub/deep.txt: the server has a file there") {
		t.Errorf("second restore exit %d:\n%s", code, out)
	}
}

func TestRestoreRefusesBadManifest(t *testing.T) {
	srv := newServer(t)
	manifest := filepath.Join(t.TempDir(), "m.csv")
	if err := os.WriteFile(manifest, []byte("relpath,status\nok.txt,local_only\n../../etc/passwd,local_only\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv.ResetCounts()
	_, errOut, code := runDoctorBinary(t, "restore", "--url", srv.URL(), "--user", "alice", "--manifest", manifest,
		"--from", t.TempDir(), "--to", "Documents", "--execute")
	if code != 1 || !strings.Contains(errOut, "line 3") || !strings.Contains(errOut, "..") {
		t.Errorf("exit %d: %s", code, errOut)
	}
	if n := srv.Counts().Total(); n != 0 {
		t.Errorf("a refused manifest still sent %d requests", n)
	}
}
