package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// buildCommands builds ncvfs and davtest-server for the end-to-end run, with the race
// detector when the test has it, so that the build reuses the test run's packages.
func buildCommands(t *testing.T) (ncvfs, server string) {
	t.Helper()
	dir := t.TempDir()
	args := []string{"build", "-o", dir + "/"}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "github.com/ncvfs/ncvfs/cmd/ncvfs", "github.com/ncvfs/ncvfs/cmd/davtest-server")
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return filepath.Join(dir, "ncvfs"), filepath.Join(dir, "davtest-server")
}

// A whole run with real processes and real ncvfs and rclone mounts on a tiny tree: the
// tables are filled, the listings and the bytes read are checked, the logs are kept
// where asked, and nothing is left mounted, running or on disk.
func TestRunEndToEndLeavesNothingBehind(t *testing.T) {
	ncvfs, server := buildCommands(t)
	work, err := absDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	outFile := filepath.Join(t.TempDir(), "report.md")
	logDir := t.TempDir()
	var stdout, stderr strings.Builder
	err = run(context.Background(), []string{
		"--ncvfs-bin", ncvfs, "--server-bin", server, "--workdir", work,
		"--tree", "flat=30,tree=3x4,big=1:8M,small=40:4K", "--repeat-cold", "1", "--repeat-warm", "2",
		"--repeat-content", "1", "--out", outFile, "--log-dir", logDir,
	}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v\nstderr:\n%s\nstdout:\n%s", err, stderr.String(), stdout.String())
	}
	report := stdout.String()
	num := `\d+\.\d`
	mibs := `\d+ MiB/s \(\d+\.\d\d s\)`
	fetched := `×\d+\.\d fetched, ` + num + ` ms`
	perFile := `\d+\.\d{3} ms/file \(\d+\.\d\d s\)`
	for _, row := range []string{
		`\| cold read 8 MiB \(dd bs=1M\) \| ` + mibs + ` \| ` + mibs + ` \| ` + mibs + ` \| — \|`,
		`\| cold head -c 4096 of 8 MiB \| ` + num + ` \| ` + num + ` \| ` + num + ` \| — \|`,
		`\| warm re-read 8 MiB \(dd bs=1M\) \| — \| ` + mibs + ` \| ` + mibs + ` \| ` + mibs + ` \|`,
		`\| cold 100 random 4 KiB preads of 8 MiB \| — \| ` + fetched + ` \| ` + fetched + ` \| — \|`,
		`\| cold cat of 40 × 4 KiB files \(find -exec cat \{\} \+\) \| ` + perFile + ` \| ` + perFile + ` \| ` + perFile + ` \| — \|`,
		`\| cold ls -l 30 \| ` + num + ` \| ` + num + ` \| ` + num + ` \| — \|`,
		`\| warm ls -l 30 \| ` + num + ` \| ` + num + ` \| ` + num + ` \| ` + num + ` \|`,
		`\| cold find 12 \| ` + num + ` \| ` + num + ` \| ` + num + ` \| — \|`,
		`\| warm find 12 \| ` + num + ` \| ` + num + ` \| ` + num + ` \| ` + num + ` \|`,
		`ncvfs: ` + num + ` MiB at most`,
		`rclone mount: ` + num + ` MiB at most`,
		`\| (PASS|FAIL) \|`,
	} {
		if !regexp.MustCompile(row).MatchString(report) {
			t.Errorf("report lacks a row matching %s:\n%s", row, report)
		}
	}
	// Every goal had its data (whether it passes depends on the machine).
	if strings.Contains(report, "no data") {
		t.Errorf("a goal lacked data:\n%s", report)
	}
	logs, _ := filepath.Glob(filepath.Join(logDir, "ncvfs-bench-*", "*.log"))
	if len(logs) < 3 {
		t.Errorf("kept logs %q, want the server's and the mounts'", logs)
	}
	saved, err := os.ReadFile(outFile)
	if err != nil || string(saved) != report {
		t.Errorf("--out file differs from stdout (%v)", err)
	}
	left, err := os.ReadDir(work)
	if err != nil || len(left) != 0 {
		t.Errorf("work directory not cleaned: %v %v", left, err)
	}
	if mounts, _ := mountsUnder(work); len(mounts) != 0 {
		t.Errorf("left mounted: %q", mounts)
	}
}
