package main

import (
	"bytes"
	"log"
	"log/slog"
	"os"
	"strings"
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
