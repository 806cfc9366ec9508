package fusefs

import (
	"context"
	"errors"
	"syscall"

	"github.com/ncvfs/ncvfs/cache"
	"github.com/ncvfs/ncvfs/davclient"
	"github.com/ncvfs/ncvfs/hydrate"
)

// toErrno is the one place where Go errors become what the kernel is told.
func toErrno(err error) syscall.Errno {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, context.Canceled):
		return syscall.EINTR
	case errors.Is(err, hydrate.ErrOffline):
		// "No route to host": says what is wrong, unlike EIO, which ncvfs keeps for
		// bytes that cannot be trusted (bad checksums, a failing disk).
		return syscall.EHOSTUNREACH
	case errors.Is(err, cache.ErrNotFound), errors.Is(err, davclient.ErrNotFound):
		return syscall.ENOENT
	case errors.Is(err, cache.ErrExists):
		return syscall.EEXIST
	case errors.Is(err, cache.ErrNotEmpty):
		return syscall.ENOTEMPTY
	case errors.Is(err, cache.ErrNotDir):
		return syscall.ENOTDIR
	case errors.Is(err, cache.ErrIsDir):
		return syscall.EISDIR
	case errors.Is(err, cache.ErrBadListing):
		return syscall.EINVAL // a name no folder can hold, a folder moved into itself
	case errors.Is(err, davclient.ErrForbidden), errors.Is(err, davclient.ErrUnauthorized):
		return syscall.EACCES
	case errors.Is(err, davclient.ErrInsufficientStorage):
		return syscall.ENOSPC
	case errors.Is(err, davclient.ErrLocked):
		return syscall.EBUSY
	case errors.Is(err, syscall.ENOSPC):
		return syscall.ENOSPC // the local disk is full
	case errors.Is(err, hydrate.ErrNotLocal):
		return syscall.EIO // a reader that must not download (see fileHandle.Read for why EIO)
	case errors.Is(err, hydrate.ErrChangedWhileOpen), errors.Is(err, hydrate.ErrReplaced):
		return syscall.ESTALE // what the handle or folder refers to is gone: reopen it
	}
	return syscall.EIO
}
