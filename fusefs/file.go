package fusefs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// File is a remote file, shown as a placeholder.
type File struct {
	node
}

// Open – FUSE call; read-only opens succeed, writes are refused until uploads exist.
func (f *File) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_ACCMODE != syscall.O_RDONLY || flags&syscall.O_TRUNC != 0 {
		return nil, 0, syscall.EROFS
	}
	return nil, 0, 0
}

// Read – FUSE call; content hydration is not built yet, and a placeholder must never
// pretend to have bytes it does not have.
func (f *File) Read(ctx context.Context, fh fs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	f.fsys.log.Warn("reading file content is not supported yet: ncvfs shows placeholders only",
		"op", "read", "fileid", f.id)
	return nil, syscall.EIO
}
