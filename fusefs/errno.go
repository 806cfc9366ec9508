package fusefs

import (
	"context"
	"errors"
	"syscall"

	"github.com/ncvfs/ncvfs/cache"
	"github.com/ncvfs/ncvfs/davclient"
)

// toErrno is the one place where Go errors become what the kernel is told.
func toErrno(err error) syscall.Errno {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, context.Canceled):
		return syscall.EINTR
	case errors.Is(err, cache.ErrNotFound), errors.Is(err, davclient.ErrNotFound):
		return syscall.ENOENT
	case errors.Is(err, davclient.ErrForbidden), errors.Is(err, davclient.ErrUnauthorized):
		return syscall.EACCES
	case errors.Is(err, davclient.ErrInsufficientStorage):
		return syscall.ENOSPC
	case errors.Is(err, davclient.ErrLocked):
		return syscall.EBUSY
	case errors.Is(err, syscall.ENOSPC):
		return syscall.ENOSPC // the local disk is full
	}
	return syscall.EIO
}
