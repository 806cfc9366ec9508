package fusefs

import (
	"context"
	"errors"
	"io"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ncvfs/ncvfs/cache"
	"github.com/ncvfs/ncvfs/davclient"
	"github.com/ncvfs/ncvfs/hydrate"
)

// Open – FUSE call; read-only opens succeed at once (nothing is fetched until a read),
// writes are refused until uploads exist. The kernel keeps cached pages across opens
// (FOPEN_KEEP_CACHE): they are dropped by NotifyContent when the server's version changes.
func (f *File) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	write := flags&syscall.O_ACCMODE != syscall.O_RDONLY
	if (write || flags&syscall.O_TRUNC != 0) && !f.fsys.writable() {
		return nil, 0, syscall.EROFS
	}
	f.live()
	if f.fsys.writable() {
		it, err := f.fsys.getSettled(ctx, &f.node)
		if err != nil {
			return nil, 0, toErrno(err)
		}
		if write && perm(&it)&davclient.PermWrite == 0 {
			return nil, 0, syscall.EACCES
		}
		if write || it.Local.HasLocalContent() {
			// No passthrough, no kept pages: this content changes here.
			lh, err := f.fsys.cfg.Local.Open(ctx, f.id, write, write && flags&syscall.O_TRUNC != 0)
			if err != nil {
				return nil, 0, f.fsys.errno("open", f.id, err)
			}
			if write {
				f.fsys.changed()
			}
			return &writeHandle{lh: lh, fsys: f.fsys, id: f.id}, 0, 0
		}
	}
	open := f.fsys.cfg.Fetcher.Open
	if f.fsys.noHydrate(ctx) {
		open = f.fsys.cfg.Fetcher.OpenUnused // an indexer's pass is no use of the content
	}
	h, err := open(f.id)
	if errors.Is(err, cache.ErrNotFound) {
		// Shown from a listing still being committed?
		if serr := f.fsys.settleParentOf(ctx, &f.Inode); serr != nil {
			return nil, 0, toErrno(serr)
		}
		h, err = open(f.id)
	}
	if err != nil {
		return nil, 0, f.fsys.errno("open", f.id, err)
	}
	return &fileHandle{h: h, fsys: f.fsys, id: f.id}, fuse.FOPEN_KEEP_CACHE, 0
}

// fileHandle is one open file.
type fileHandle struct {
	h    *hydrate.Handle
	fsys *FS
	id   uint64
}

// Read – FUSE call; blocks until the bytes asked for are local (not the whole file),
// honours interrupts with EINTR while the download goes on for other readers. Bytes in
// the content file go to the kernel by splice, without a copy through this process.
//
// A reader Config.NoHydrate names gets only what is here: for the rest, EIO at once.
// EIO, not EAGAIN: indexers and thumbnailers (tracker, baloo, GIO) take EIO as "this
// file cannot be read", skip it and go on, while EAGAIN on a regular file means
// "retry" to code written for non-blocking sockets, and some loop on it at full speed.
func (fh *fileHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	var loc hydrate.Location
	var err error
	if fh.fsys.noHydrate(ctx) {
		loc, err = fh.h.LocateLocal(off, len(dest))
	} else {
		loc, err = fh.h.Locate(ctx, off, len(dest))
	}
	switch {
	case errors.Is(err, io.EOF):
		return fuse.ReadResultData(nil), 0
	case errors.Is(err, hydrate.ErrNotLocal):
		// Debug: an indexer meets every placeholder of a folder.
		fh.fsys.log.Debug("read refused: not local", "op", "read", "fileid", fh.id, "offset", off)
		return nil, toErrno(err)
	case err != nil:
		return nil, fh.fsys.errno("read", fh.id, err)
	case loc.Mem != nil:
		return fuse.ReadResultData(loc.Mem), 0
	}
	return fuse.ReadResultFd(loc.File.Fd(), off, loc.Len), 0
}

// PassthroughFd – called by go-fuse at open while the file has no backing file: a
// complete, verified file opened by nobody else is handed to the kernel, which then
// reads it at local-disk speed without asking us. go-fuse gives that backing file to
// every open of the file until the last of them closes.
//
// Never on a read-write mount: the kernel keeps one io mode per inode, and an open in
// the other mode fails with EIO (a passthrough open while a program has the file open
// for writing through us, or the reverse), which tools such as git meet at once.
func (fh *fileHandle) PassthroughFd() (int, bool) {
	if fh.fsys.writable() {
		return -1, false
	}
	return fh.h.PassthroughFd()
}

// Release – FUSE call; the last release of a file stops its downloads.
func (fh *fileHandle) Release(ctx context.Context) syscall.Errno {
	fh.h.Close()
	return 0
}

// errEOF is the end of a file's content.
var errEOF = io.EOF

// noHydrate reports whether the caller of a request is a program that must not cause
// downloads (Config.NoHydrate).
func (fsys *FS) noHydrate(ctx context.Context) bool {
	if fsys.cfg.NoHydrate == nil {
		return false
	}
	caller, ok := fuse.FromContext(ctx)
	return ok && fsys.cfg.NoHydrate(caller.Pid)
}
