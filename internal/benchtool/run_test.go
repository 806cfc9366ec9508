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
		"--repeat-content", "1", "--out", outFile, "--log-dir", logDir, "--workloads", "list,content",
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

// The write workloads with real processes and mounts on small sources: curl, rclone and
// local disk give figures, the server's bytes are checked, and nothing is left behind.
// ncvfs's write path is experimental and known to lose a file now and then (an upload
// after close that cannot find the file's local content), so its cells may show wrong
// data, as long as that is all that went wrong.
func TestRunWritesEndToEnd(t *testing.T) {
	ncvfs, server := buildCommands(t)
	work, err := absDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr strings.Builder
	err = run(context.Background(), []string{
		"--ncvfs-bin", ncvfs, "--server-bin", server, "--workdir", work, "--tree", "a=1",
		"--workloads", "write", "--repeat-write", "1", "--upload-stall", "10s",
		// 12 MiB: above ncvfs's chunked-upload threshold.
		"--write-tree", "big=1:12M,small=20:4K,tar=2x5:4K",
	}, &stdout, &stderr)
	report := stdout.String()
	notes := regexp.MustCompile(`(?m)^\[\d+\] (.*)$`).FindAllStringSubmatch(report, -1)
	for _, n := range notes {
		if !strings.HasPrefix(n[1], "ncvfs, ") || !strings.Contains(n[1], "the server never held everything") {
			t.Errorf("a failure other than ncvfs's known lost upload: %s", n[1])
		}
	}
	if err != nil && len(notes) == 0 {
		t.Fatalf("run: %v\nstderr:\n%s\nstdout:\n%s", err, stderr.String(), report)
	}
	mibs := `\d+ MiB/s \(\d+\.\d\d s`
	perFile := `\d+\.\d{3} ms/file \(\d+\.\d\d s`
	returned := `; returned after \d+\.\d\d s\)`
	onServer := `; on the server after \d+\.\d\d s\)`
	ours := `[^|]+` // ncvfs: a figure, or wrong data
	for _, row := range []string{
		`\| write 12 MiB \(dd bs=1M conv=fsync\), until on the server \| ` + mibs + `\) \| ` + ours + ` \| ` + mibs + returned + ` \| ` + mibs + `\) \|`,
		`\| write 20 × 4 KiB files \(cp -r\), until on the server \| ` + perFile + `\) \| ` + ours + ` \| ` + perFile + returned + ` \| ` + perFile + `\) \|`,
		`\| tar x of 10 × 4 KiB files, until tar returns \| — \| ` + ours + ` \| ` + perFile + onServer + ` \| ` + perFile + `\) \|`,
		`ncvfs: \d+\.\d MiB at most`,
		`\| ncvfs write 12 MiB until the server holds it ≤ 1.25 × ` + "`curl -T`" + ` \| `,
	} {
		if !regexp.MustCompile(row).MatchString(report) {
			t.Errorf("report lacks a row matching %s:\n%s", row, report)
		}
	}
	left, err := os.ReadDir(work)
	if err != nil || len(left) != 0 {
		t.Errorf("work directory not cleaned: %v %v", left, err)
	}
	if mounts, _ := mountsUnder(work); len(mounts) != 0 {
		t.Errorf("left mounted: %q", mounts)
	}
}
