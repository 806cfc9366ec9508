package fusefs

import (
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ncvfs/ncvfs/internal/mountinfo"
)

// MountOptions are the user's choices about the mount itself.
type MountOptions struct {
	// FsName is shown by mount and df (e.g. "user@cloud.example.com"); never a secret.
	FsName string
	// AllowOther lets other users see the mount; off unless the user asks. It turns on
	// default_permissions.
	AllowOther bool
	// AllowNonEmpty mounts over a folder that has files in it (they are hidden).
	AllowNonEmpty bool
	// Debug logs every FUSE request.
	Debug bool
}

// CheckMountpoint fails fast, with a message a person can act on, when dir cannot be
// mounted on: missing, not a folder, already mounted, or a dead mount left behind.
func CheckMountpoint(dir string, allowNonEmpty bool) error {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, syscall.ENOTCONN):
		return fmt.Errorf("mount point %s is a dead mount left by a process that exited; run `ncvfs unmount %s` first", dir, dir)
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("mount point %s does not exist; create it with `mkdir -p %s`", dir, dir)
	case err != nil:
		return fmt.Errorf("mount point %s: %w", dir, err)
	case !st.IsDir():
		return fmt.Errorf("mount point %s is not a folder", dir)
	}
	if mounted, err := mountinfo.IsMounted(dir); err == nil && mounted {
		return fmt.Errorf("mount point %s is busy: something is already mounted there (run `ncvfs unmount %s` if it is an old ncvfs mount)", dir, dir)
	}
	if !allowNonEmpty {
		f, err := os.Open(dir)
		if err != nil {
			return fmt.Errorf("mount point %s: %w", dir, err)
		}
		names, _ := f.Readdirnames(1)
		f.Close()
		if len(names) > 0 {
			return fmt.Errorf("mount point %s is not empty; its files would be hidden (use --allow-non-empty to mount anyway)", dir)
		}
	}
	return nil
}

// maxRequest is the largest READ the kernel sends (and the read-ahead window): 1 MiB
// instead of 128 KiB makes an eighth of the round trips on a sequential read.
const maxRequest = 1 << 20

// Mount mounts fsys on dir and serves it in the background. As root it calls mount(2)
// itself; as a normal user go-fuse runs fusermount3 (package fuse3).
func Mount(dir string, fsys *FS, opt MountOptions) (*fuse.Server, error) {
	ttl := fsys.cfg.KernelTTL
	root := fsys.Root()
	options := &fs.Options{
		EntryTimeout:    &ttl,
		AttrTimeout:     &ttl,
		NegativeTimeout: &ttl,
		RootStableAttr:  &fs.StableAttr{Ino: fsys.cfg.RootID, Mode: syscall.S_IFDIR},
		UID:             fsys.cfg.UID,
		GID:             fsys.cfg.GID,
		MountOptions: fuse.MountOptions{
			FsName:       opt.FsName,
			Name:         "ncvfs",
			AllowOther:   opt.AllowOther,
			DirectMount:  os.Geteuid() == 0,
			Debug:        opt.Debug,
			MaxWrite:     maxRequest,
			MaxReadAhead: maxRequest,
			// Without a logger go-fuse prints to the standard logger; route it to ours.
			Logger: log.New(slogWriter{fsys}, "", 0),
			// ENOSYS at once, which the kernel remembers: xattrs cost nothing at all.
			DisableXAttrs: fsys.cfg.NoXattr,
		},
	}
	if opt.AllowOther {
		// Other users must be held to the permission bits ncvfs shows (a read-only share,
		// the owner's files); ncvfs checks no permissions itself, so the kernel must.
		options.MountOptions.Options = append(options.MountOptions.Options, "default_permissions")
	}
	if os.Geteuid() != 0 {
		if _, err := exec.LookPath("fusermount3"); err != nil {
			return nil, errors.New("fusermount3 not found: install the fuse3 package (apt-get install fuse3) to mount as a normal user")
		}
	}
	server, err := fs.Mount(dir, root, options)
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", dir, err)
	}
	return server, nil
}

// Unmount detaches a mount point left by any ncvfs process (or a dead one).
func Unmount(dir string) error {
	err := unmount(dir)
	if err != nil {
		// umount(2) says only EINVAL, fusermount3 "not found in /etc/mtab".
		if mounted, merr := mountinfo.IsMounted(dir); merr == nil && !mounted {
			return fmt.Errorf("%s is not mounted", dir)
		}
	}
	return err
}

func unmount(dir string) error {
	if os.Geteuid() == 0 {
		if err := syscall.Unmount(dir, 0); err != nil {
			if errors.Is(err, syscall.EBUSY) {
				return fmt.Errorf("unmount %s: still in use (close the programs using it, or `umount -l %s`)", dir, dir)
			}
			return fmt.Errorf("unmount %s: %w", dir, err)
		}
		return nil
	}
	out, err := exec.Command("fusermount3", "-u", dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("unmount %s: %s", dir, strings.TrimSpace(string(out)))
	}
	return nil
}

// slogWriter carries go-fuse's own log lines into the structured log.
type slogWriter struct{ fsys *FS }

func (w slogWriter) Write(p []byte) (int, error) {
	w.fsys.log.Debug(strings.TrimRight(string(p), "\n"), "op", "fuse")
	return len(p), nil
}

var _ io.Writer = slogWriter{}
