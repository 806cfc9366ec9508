package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// machineLines describes where the numbers were taken.
func machineLines(ctx context.Context, workDir, ncvfsBin string, withRclone bool) []string {
	curl, _, _ := strings.Cut(firstLineOf(ctx, "curl", "--version"), " (")
	lines := []string{
		"CPUs (nproc): " + strconv.Itoa(runtime.NumCPU()) + cpuModel(),
		"kernel: " + firstLineOfFile("/proc/sys/kernel/osrelease"),
		"file system of the caches and the local copy: " + firstLineOf(ctx, "stat", "-f", "-c", "%T", workDir),
		"go: " + firstLineOf(ctx, "go", "version"),
		"curl: " + curl,
	}
	if withRclone {
		lines = append(lines, "rclone: "+firstLineOf(ctx, "rclone", "version"))
	}
	if ncvfsBin != "" {
		lines = append(lines, "ncvfs: "+firstLineOf(ctx, ncvfsBin, "version"))
	}
	return lines
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return " × " + strings.TrimSpace(v)
		}
	}
	return ""
}

func firstLineOfFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strings.TrimSpace(line)
}

func firstLineOf(ctx context.Context, args ...string) string {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).Output()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}
