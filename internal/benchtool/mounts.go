package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/ncvfs/ncvfs/internal/mountinfo"
)

func currentMounts() ([]string, error) {
	mounts, err := mountinfo.Read()
	if err != nil {
		return nil, fmt.Errorf("benchtool: %w", err)
	}
	points := make([]string, len(mounts))
	for i, m := range mounts {
		points[i] = m.Point
	}
	return points, nil
}

func isMounted(mp string) (bool, error) {
	mounts, err := currentMounts()
	if err != nil {
		return false, err
	}
	for _, m := range mounts {
		if m == mp {
			return true, nil
		}
	}
	return false, nil
}

// mountsUnder lists the mount points at or below dir.
func mountsUnder(dir string) ([]string, error) {
	mounts, err := currentMounts()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range mounts {
		if m == dir || strings.HasPrefix(m, dir+"/") {
			out = append(out, m)
		}
	}
	return out, nil
}

// waitMounted polls until mp is a mount point, the process p exits, or d passes.
func waitMounted(ctx context.Context, mp string, p *proc, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		ok, err := isMounted(mp)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if p.exited() {
			return fmt.Errorf("benchtool: %s exited (%v) before mounting %s%s", p.name, p.waitErr, mp, logTail(p.logPath))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("benchtool: %s did not mount %s within %v%s", p.name, mp, d, logTail(p.logPath))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("benchtool: waiting for the mount %s: %w", mp, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// unmount detaches mp if it is mounted: fusermount3 -u first (what a user would run),
// umount as root when that fails, and a lazy unmount as the last resort so that nothing
// is left behind. It waits until the kernel no longer lists the mount.
func unmount(mp string) error {
	ok, err := isMounted(mp)
	if err != nil || !ok {
		return err
	}
	var tries [][]string
	tries = append(tries, []string{"fusermount3", "-u", mp})
	if os.Geteuid() == 0 {
		tries = append(tries, []string{"umount", mp})
	}
	tries = append(tries, []string{"fusermount3", "-u", "-z", mp})
	if os.Geteuid() == 0 {
		tries = append(tries, []string{"umount", "-l", mp})
	}
	var last string
	for _, args := range tries {
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil {
			last = fmt.Sprintf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
		if gone(mp, 5*time.Second) {
			return nil
		}
	}
	return fmt.Errorf("benchtool: could not unmount %s (%s); run: fusermount3 -u -z %s", mp, last, mp)
}

// gone waits up to d for mp to leave the mount table.
func gone(mp string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		ok, err := isMounted(mp)
		if err == nil && !ok {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// staleMountName matches the mount points this driver makes, below its work directories.
var staleMountName = regexp.MustCompile(`/ncvfs-bench-[^/]+/mnt-[a-z]+-[0-9]+$`)

// reapStaleMounts unmounts the mounts a killed earlier run left under dir: only ours by
// name, and only dead ones (ENOTCONN: their serving process is gone), so that a run
// going on at the same time keeps its mounts.
func reapStaleMounts(dir string) ([]string, error) {
	mounts, err := mountsUnder(dir)
	if err != nil {
		return nil, err
	}
	var reaped []string
	var errs []error
	for _, m := range mounts {
		if !staleMountName.MatchString(m) {
			continue
		}
		if _, err := os.Stat(m); !errors.Is(err, syscall.ENOTCONN) {
			continue
		}
		if err := unmount(m); err != nil {
			errs = append(errs, err)
			continue
		}
		reaped = append(reaped, m)
	}
	return reaped, errors.Join(errs...)
}

// removeWorkDir deletes the run's temporary tree, but never while anything below it is
// still mounted: removing through a live mount would delete the server's files.
func removeWorkDir(dir string) error {
	left, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	if len(left) > 0 {
		return fmt.Errorf("benchtool: not removing %s: still mounted: %s", dir, strings.Join(left, ", "))
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("benchtool: remove the work directory: %w", err)
	}
	return nil
}

// absDir resolves dir with symlinks, because mountinfo lists resolved paths.
func absDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(abs)
}
