package fusefs

import (
	"context"
	"syscall"
)

// Extended attributes: none yet. The answer is ENOSYS, not ENODATA, on purpose: the kernel
// then stops forwarding getxattr and listxattr for the rest of the mount. `ls -l` asks
// for two attributes (SELinux label, POSIX ACL) of every file it lists; answering each
// with a round trip made a warm `ls -l` of 5,000 files seven times slower than local disk.
// Pins (a later issue) will have to weigh this.

func (n *node) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	return 0, syscall.ENOSYS
}

func (n *node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	return 0, syscall.ENOSYS
}

// Setxattr and Removexattr: nothing is kept. ENOTSUP is what cp -a, rsync -X and tar
// --xattrs take for "this file system has no such attributes" and go on; go-fuse's
// default, ENODATA, makes cp -a fail on every file.
func (n *node) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return syscall.ENOTSUP
}

func (n *node) Removexattr(ctx context.Context, attr string) syscall.Errno {
	return syscall.ENOTSUP
}
