package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"
)

// commandTimeout bounds one timed command, so that a hung mount fails the run instead
// of stalling it.
const commandTimeout = 5 * time.Minute

// timeCommand runs args as a child process with stdout to /dev/null and returns the
// wall-clock time around its whole run, fork and exec included: the time a user waits.
func timeCommand(ctx context.Context, args ...string) (time.Duration, error) {
	r, err := timeChild(ctx, child{args: args})
	return r.elapsed, err
}

// child is a command to time.
type child struct {
	args []string
	env  []string // added to the driver's environment
	// keepStdout > 0 keeps the first keepStdout bytes of stdout, through a pipe;
	// otherwise stdout goes to /dev/null, so that a reader's speed is not a pipe's.
	keepStdout int
}

// childRun is what timeChild saw of a child.
type childRun struct {
	elapsed time.Duration
	stdout  []byte // the first bytes, when asked for
	stderr  string // the first 4 KiB
}

// timeChild is timeCommand that also keeps the child's stderr and, when asked, the
// start of its stdout.
func timeChild(ctx context.Context, c child) (childRun, error) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	args, keepStdout := c.args, c.keepStdout
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	if len(c.env) > 0 {
		cmd.Env = append(os.Environ(), c.env...)
	}
	// If the driver is killed, a command still inside a mount would keep it busy and
	// stop the mount's own unmount-on-SIGTERM.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout := &limitedBuffer{max: keepStdout}
	if keepStdout > 0 {
		cmd.Stdout = stdout
	} else {
		devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return childRun{}, fmt.Errorf("benchtool: %w", err)
		}
		defer devNull.Close()
		cmd.Stdout = devNull
	}
	stderr := &limitedBuffer{max: 4 << 10}
	cmd.Stderr = stderr
	start := time.Now()
	err := cmd.Run()
	r := childRun{elapsed: time.Since(start), stdout: stdout.buf.Bytes(), stderr: stderr.String()}
	if err != nil {
		return childRun{}, fmt.Errorf("benchtool: %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(r.stderr))
	}
	return r, nil
}

// runWithStdin runs a helper command (not timed) and returns its stdout.
func runWithStdin(ctx context.Context, stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout bytes.Buffer
	stderr := &limitedBuffer{max: 4 << 10}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %w: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// limitedBuffer keeps the first max bytes written to it, for error messages.
type limitedBuffer struct {
	buf bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string { return b.buf.String() }

// median of the samples; 0 when there are none. With an even count it is the mean of
// the two middle samples.
func median(samples []time.Duration) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	mid := len(s) / 2
	if len(s)%2 == 1 {
		return s[mid]
	}
	return (s[mid-1] + s[mid]) / 2
}

// ms formats a duration as milliseconds with one decimal.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond))
}
