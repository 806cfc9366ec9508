package fusefs

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ncvfs/ncvfs/cache"
	"github.com/ncvfs/ncvfs/davclient"
)

func TestModesFollowServerPermissions(t *testing.T) {
	cases := []struct {
		dir   bool
		perms string
		known bool
		want  uint32
	}{
		{false, "RGDNVW", true, 0o644},
		{false, "RGDNV", true, 0o444},  // no W: read-only
		{false, "SRG", true, 0o444},    // a read-only share
		{false, "", false, 0o644},      // generic WebDAV: everything allowed
		{true, "RGDNVCK", true, 0o755}, // may create files and folders
		{true, "RGDNVC", true, 0o755},  // files only: still writable
		{true, "SRGDNV", true, 0o555},  // neither C nor K
		{true, "", false, 0o755},
	}
	for _, c := range cases {
		it := cache.Item{IsDir: c.dir, Permissions: c.perms, PermsKnown: c.known}
		if got := permOf(&it); got != c.want {
			t.Errorf("dir=%v perms=%q known=%v: mode %o, want %o", c.dir, c.perms, c.known, got, c.want)
		}
	}
}

func TestAttributesOfAPlaceholder(t *testing.T) {
	fsys := New(Config{UID: 1000, GID: 1000})
	mtime := time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)
	var a fuse.Attr
	fsys.fillAttr(&cache.Item{ID: 42, Size: 300 << 20, MTime: mtime, LocalBytes: 4096}, &a)
	if a.Ino != 42 || a.Size != 300<<20 || a.Blocks != 8 || a.Mtime != uint64(mtime.Unix()) || a.Uid != 1000 || a.Nlink != 1 {
		t.Errorf("file attributes %+v", a)
	}
	fsys.fillAttr(&cache.Item{ID: 43, IsDir: true, Size: 12345, MTime: mtime}, &a)
	if a.Size != 0 || a.Mode&syscall.S_IFDIR == 0 || a.Nlink != 1 {
		t.Errorf("folder attributes %+v: want size 0 (du adds files only) and one link", a)
	}
}

func TestErrnoMapping(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("context: %w", err) }
	cases := map[error]syscall.Errno{
		nil:                                    0,
		wrap(context.Canceled):                 syscall.EINTR,
		wrap(cache.ErrNotFound):                syscall.ENOENT,
		wrap(davclient.ErrNotFound):            syscall.ENOENT,
		wrap(davclient.ErrForbidden):           syscall.EACCES,
		wrap(davclient.ErrInsufficientStorage): syscall.ENOSPC,
		wrap(syscall.ENOSPC):                   syscall.ENOSPC,
		wrap(davclient.ErrTransient):           syscall.EIO,
		errors.New("anything else"):            syscall.EIO,
	}
	for err, want := range cases {
		if got := toErrno(err); got != want {
			t.Errorf("toErrno(%v) = %v, want %v", err, got, want)
		}
	}
}
