package main

import (
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func shProc(t *testing.T, reg *registry, script, ready string, timeout time.Duration) (*proc, string, error) {
	t.Helper()
	return startProc(context.Background(), reg, startOptions{
		name: "child", args: []string{"sh", "-c", script},
		env:         []string{"BENCH_TEST_VALUE=42"},
		logPath:     filepath.Join(t.TempDir(), "child.log"),
		readyPrefix: ready, timeout: timeout,
	})
}

func TestStartProcWaitsForTheReadyLine(t *testing.T) {
	reg := &registry{}
	t.Cleanup(func() { _ = reg.cleanup() })
	p, line, err := shProc(t, reg, `echo noise; echo "ready at $BENCH_TEST_VALUE"; exec sleep 60`, "ready ", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if line != "ready at 42" {
		t.Errorf("ready line %q, want the child's line with its environment", line)
	}
	if p.exited() {
		t.Fatal("the child exited early")
	}
	// The child runs in its own process group, so a terminal's Ctrl-C reaches only us.
	pgid, err := syscall.Getpgid(p.pid())
	if err != nil || pgid != p.pid() {
		t.Errorf("child pgid %d (%v), want its own %d", pgid, err, p.pid())
	}
	if err := p.stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	if !p.exited() {
		t.Error("the child survived stop")
	}
}

func TestStartProcReportsAnEarlyExitWithItsLog(t *testing.T) {
	reg := &registry{}
	_, _, err := shProc(t, reg, `echo "cannot reach the server" >&2; exit 7`, "ready", time.Minute)
	if err == nil || !strings.Contains(err.Error(), "exit status 7") || !strings.Contains(err.Error(), "cannot reach the server") {
		t.Errorf("early exit gave %v, want the status and the log", err)
	}
}

func TestStartProcGivesUpOnASilentChild(t *testing.T) {
	reg := &registry{}
	_, _, err := shProc(t, reg, `exec sleep 60`, "ready", 100*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "no \"ready\" line") {
		t.Errorf("silent child gave %v", err)
	}
	for _, p := range reg.procs {
		if !p.exited() {
			t.Error("the silent child was left running")
		}
	}
}

func TestStopKillsAChildThatIgnoresSIGTERM(t *testing.T) {
	reg := &registry{}
	p, _, err := shProc(t, reg, `trap "" TERM; echo ready; while :; do sleep 1; done`, "ready", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	p.grace = 200 * time.Millisecond
	err = p.stop()
	if err == nil || !strings.Contains(err.Error(), "ignored SIGTERM and was killed") {
		t.Errorf("stop gave %v, want the kill reported", err)
	}
	if !p.exited() {
		t.Error("the child survived stop")
	}
	if err := p.stop(); err != nil {
		t.Errorf("stop of an exited child: %v", err)
	}
}

func TestRegistryCleanupStopsEveryChild(t *testing.T) {
	reg := &registry{}
	var procs []*proc
	for range 3 {
		p, _, err := shProc(t, reg, `echo ready; exec sleep 60`, "ready", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		procs = append(procs, p)
	}
	reg.addMount(filepath.Join(t.TempDir(), "not-a-mount"))
	if err := reg.cleanup(); err != nil {
		t.Errorf("cleanup: %v", err)
	}
	for i, p := range procs {
		if !p.exited() {
			t.Errorf("child %d still running after cleanup", i)
		}
	}
}
