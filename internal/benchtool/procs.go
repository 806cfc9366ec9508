package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a long-lived child process (the server, a mount). Its stderr and the stdout
// lines after the ready line go to its log file.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
	waitErr error         // valid after done
	// grace is how long stop waits after SIGTERM before killing; 0 means 15 s, time
	// for a mount to flush and detach.
	grace time.Duration
}

// startOptions describe a child process to start.
type startOptions struct {
	name    string
	args    []string
	env     []string // added to the driver's environment
	logPath string
	// readyPrefix, when set, is the start of the stdout line the child prints when it
	// is ready; startProc returns that line.
	readyPrefix string
	timeout     time.Duration
}

// startProc starts a child in its own process group, so that a Ctrl-C in the terminal
// reaches only the driver, which then stops children in order (unmount first). If the
// driver dies without cleaning up, the kernel sends the child SIGTERM (Pdeathsig), on
// which both ncvfs and rclone unmount.
func startProc(ctx context.Context, reg *registry, o startOptions) (*proc, string, error) {
	logFile, err := os.OpenFile(o.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, "", fmt.Errorf("benchtool: %s: open the log: %w", o.name, err)
	}
	cmd := exec.Command(o.args[0], o.args[1:]...)
	cmd.Env = append(os.Environ(), o.env...)
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logFile.Close()
		return nil, "", fmt.Errorf("benchtool: %s: %w", o.name, err)
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, "", fmt.Errorf("benchtool: start %s: %w", o.name, err)
	}
	p := &proc{name: o.name, cmd: cmd, logPath: o.logPath, done: make(chan struct{})}
	reg.addProc(p)

	ready := make(chan string, 1)
	var copied sync.WaitGroup
	copied.Add(1)
	go func() {
		defer copied.Done()
		sc := bufio.NewScanner(stdout)
		sent := o.readyPrefix == ""
		for sc.Scan() {
			line := sc.Text()
			if !sent && strings.HasPrefix(line, o.readyPrefix) {
				ready <- line
				sent = true
				continue
			}
			fmt.Fprintln(logFile, line)
		}
		// Keep draining after a very long line so the child never blocks on stdout.
		_, _ = io.Copy(logFile, stdout)
	}()
	go func() {
		copied.Wait() // Wait closes the pipe: finish reading it first
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()

	if o.readyPrefix == "" {
		return p, "", nil
	}
	timer := time.NewTimer(o.timeout)
	defer timer.Stop()
	select {
	case line := <-ready:
		return p, line, nil
	case <-p.done:
		return nil, "", fmt.Errorf("benchtool: %s exited (%v) before it was ready%s", o.name, p.waitErr, logTail(o.logPath))
	case <-timer.C:
		p.stop()
		return nil, "", fmt.Errorf("benchtool: %s printed no %q line within %v%s", o.name, o.readyPrefix, o.timeout, logTail(o.logPath))
	case <-ctx.Done():
		p.stop()
		return nil, "", fmt.Errorf("benchtool: waiting for %s: %w", o.name, ctx.Err())
	}
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitExit waits up to d for the process to end on its own.
func (p *proc) waitExit(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-p.done:
		return true
	case <-timer.C:
		return false
	}
}

// stop asks the process to end (SIGTERM, which makes ncvfs and rclone unmount), then
// kills its process group if it is still there after a grace period.
func (p *proc) stop() error {
	if p.exited() {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	grace := p.grace
	if grace == 0 {
		grace = 15 * time.Second
	}
	if p.waitExit(grace) {
		return nil
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	if p.waitExit(5 * time.Second) {
		return fmt.Errorf("benchtool: %s (pid %d) ignored SIGTERM and was killed", p.name, p.pid())
	}
	return fmt.Errorf("benchtool: %s (pid %d) survived SIGKILL (stuck in the kernel?)", p.name, p.pid())
}

// logTail returns the last lines of a log file, prefixed for an error message.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 6 {
		lines = lines[len(lines)-6:]
	}
	return "; its log ends with:\n  " + strings.Join(lines, "\n  ")
}

// registry remembers every child and mount point, so that the driver can remove them
// all on exit, whatever path the run took.
type registry struct {
	mu     sync.Mutex
	procs  []*proc
	mounts []string
}

func (r *registry) addProc(p *proc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.procs = append(r.procs, p)
}

func (r *registry) addMount(mp string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mounts = append(r.mounts, mp)
}

// cleanup unmounts every mount point still mounted, then stops every child still
// running, newest first. It returns all failures.
func (r *registry) cleanup() error {
	r.mu.Lock()
	mounts := append([]string(nil), r.mounts...)
	procs := append([]*proc(nil), r.procs...)
	r.mu.Unlock()
	var errs []error
	for i := len(mounts) - 1; i >= 0; i-- {
		if err := unmount(mounts[i]); err != nil {
			errs = append(errs, err)
		}
	}
	for i := len(procs) - 1; i >= 0; i-- {
		if err := procs[i].stop(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
