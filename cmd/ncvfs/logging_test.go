package main

import (
	"bytes"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Libraries that print with the standard log package (go-fuse does) come out in the same
// format as ncvfs's own lines.
func TestStandardLogLinesShareTheFormat(t *testing.T) {
	old, flags := slog.Default(), log.Flags()
	t.Cleanup(func() {
		slog.SetDefault(old)
		log.SetOutput(os.Stderr)
		log.SetFlags(flags)
	})
	var buf bytes.Buffer
	logger, err := startLogging(&buf, "info")
	if err != nil {
		t.Fatal(err)
	}
	logger.Info("ours", "op", "mount")
	log.Printf("can't convert error type: %v", "x")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 lines, got:\n%s", buf.String())
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "time=") || !strings.Contains(l, " level=INFO msg=") {
			t.Errorf("line not in the structured format: %q", l)
		}
	}
	if !strings.Contains(lines[1], `msg="can't convert error type: x"`) {
		t.Errorf("standard log line: %q", lines[1])
	}
}

// --debug-fuse shows go-fuse's request log without a separate --log-level debug.
func TestDebugFUSEShowsRequests(t *testing.T) {
	srv := newServer(t)
	mp := t.TempDir()
	p := start(t, []string{"NCVFS_PASSWORD=" + password}, nil,
		"mount", "--user", "alice", "--cache-dir", t.TempDir(), "--debug-fuse", srv.URL(), mp)
	p.waitFor(t, "mounted")
	if _, err := os.Stat(filepath.Join(mp, "Documents")); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.wait(t); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.stderr)
	}
	if !strings.Contains(p.stderr.String(), `LOOKUP`) || !strings.Contains(p.stderr.String(), "op=fuse") {
		t.Errorf("no FUSE request in the log:\n%s", p.stderr)
	}
}
