// Package holders finds the processes that keep a folder busy: their working folder or
// one of their open files lies inside it. It reads only the link strings under /proc
// and never stats anything inside the folder, so the process serving a mount can ask
// about its own mount point (touching its own mount could deadlock it).
package holders

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Process is one holder.
type Process struct {
	PID  int
	Name string // the command name, from /proc/PID/comm
}

func (p Process) String() string { return fmt.Sprintf("%s (pid %d)", p.Name, p.PID) }

// Of lists the processes visible to this one whose working folder or open files are
// dir or inside it, by pid. Processes of other users are visible only to root.
func Of(dir string) ([]Process, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	// The kernel's links name the real path; resolve symlinks above dir, never in it.
	if parent, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		abs = filepath.Join(parent, filepath.Base(abs))
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("holders: %w", err)
	}
	var out []Process
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if holds(pid, abs) {
			name, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
			out = append(out, Process{PID: pid, Name: strings.TrimSpace(string(name))})
		}
	}
	slices.SortFunc(out, func(a, b Process) int { return a.PID - b.PID })
	return out, nil
}

// holds reports whether pid's working folder or an open file lies in dir. Processes that
// end meanwhile, or that this one may not inspect, hold nothing.
func holds(pid int, dir string) bool {
	in := func(link string) bool { return link == dir || strings.HasPrefix(link, dir+"/") }
	if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); err == nil && in(cwd) {
		return true
	}
	fdDir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(fdDir)
	if err != nil {
		return false
	}
	for _, fd := range fds {
		if link, err := os.Readlink(filepath.Join(fdDir, fd.Name())); err == nil && in(link) {
			return true
		}
	}
	return false
}
