package fusefs

import (
	"context"
	"errors"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ncvfs/ncvfs/cache"
	"github.com/ncvfs/ncvfs/davclient"
	"github.com/ncvfs/ncvfs/hydrate"
)

// Changes: every one is checked against the server's permissions first (refused with
// EACCES, the errno of a local read-only folder, before anything is queued), then
// recorded in the cache in one commit and queued for upload. On a read-only mount
// (Config.Local nil) every change fails with EROFS. go-fuse's defaults would report
// success for unlink and rmdir and lose the user's intent, so every method exists.

// writable reports whether changes are accepted at all.
func (fsys *FS) writable() bool { return fsys.cfg.Local != nil }

// perm returns an item's server permissions (everything on servers that send none).
func perm(it *cache.Item) davclient.Perm {
	if it.Local.Flags&(cache.LocalCreated|cache.LocalOnly) != 0 || !it.PermsKnown {
		return davclient.PermAll
	}
	return davclient.ParsePerm(it.Permissions)
}

// changed tells the uploader there is work.
func (fsys *FS) changed() {
	if fsys.cfg.OnChange != nil {
		fsys.cfg.OnChange()
	}
}

// checkName refuses names the server would refuse later, and says why once.
func (fsys *FS) checkName(op, name string) syscall.Errno {
	if fsys.cfg.NameRefused == nil {
		return 0
	}
	if err := fsys.cfg.NameRefused(name); err != nil {
		fsys.log.Warn("name refused: the server does not accept it", "op", op, "name", name, "err", err)
		return syscall.EINVAL
	}
	return 0
}

func (fsys *FS) excluded(name string) bool {
	return fsys.cfg.Excluded != nil && fsys.cfg.Excluded(name)
}

// Create – FUSE call; makes a file here at once (its upload follows its close).
func (d *Dir) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	fsys := d.fsys
	if !fsys.writable() {
		return nil, nil, 0, syscall.EROFS
	}
	dir, err := fsys.getSettled(ctx, &d.node)
	if err != nil {
		return nil, nil, 0, toErrno(err)
	}
	if perm(&dir)&davclient.PermCreateFile == 0 {
		return nil, nil, 0, syscall.EACCES
	}
	if errno := fsys.checkName("create", name); errno != 0 {
		return nil, nil, 0, errno
	}
	if err := d.fresh(ctx); err != nil && !errors.Is(err, davclient.ErrTransient) {
		return nil, nil, 0, fsys.errno("create", d.id, err)
	}
	it, err := fsys.cfg.Store.CreateLocal(d.id, name, false, time.Now(), fsys.excluded(name))
	if err != nil {
		return nil, nil, 0, fsys.errno("create", d.id, err)
	}
	lh, err := fsys.cfg.Local.Open(ctx, it.ID, true, false)
	if err != nil {
		return nil, nil, 0, fsys.errno("create", it.ID, err)
	}
	fsys.changed()
	in := fsys.entry(ctx, &d.Inode, &it, out)
	return in, &writeHandle{lh: lh, fsys: fsys, id: it.ID}, 0, 0
}

// Mkdir – FUSE call; makes a folder here at once, MKCOL follows.
func (d *Dir) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	fsys := d.fsys
	if !fsys.writable() {
		return nil, syscall.EROFS
	}
	dir, err := fsys.getSettled(ctx, &d.node)
	if err != nil {
		return nil, toErrno(err)
	}
	if perm(&dir)&davclient.PermCreateFolder == 0 {
		return nil, syscall.EACCES
	}
	if errno := fsys.checkName("mkdir", name); errno != 0 {
		return nil, errno
	}
	if err := d.fresh(ctx); err != nil && !errors.Is(err, davclient.ErrTransient) {
		return nil, fsys.errno("mkdir", d.id, err)
	}
	it, err := fsys.cfg.Store.CreateLocal(d.id, name, true, time.Now(), fsys.excluded(name))
	if err != nil {
		return nil, fsys.errno("mkdir", d.id, err)
	}
	fsys.changed()
	return fsys.entry(ctx, &d.Inode, &it, out), 0
}

// Unlink – FUSE call; the file goes here at once, the DELETE (conditional) follows.
func (d *Dir) Unlink(ctx context.Context, name string) syscall.Errno {
	return d.remove(ctx, name, false)
}

// Rmdir – FUSE call; an empty folder goes here at once. A folder never listed is listed
// first: it must be empty on the server too, not only in the cache.
func (d *Dir) Rmdir(ctx context.Context, name string) syscall.Errno {
	return d.remove(ctx, name, true)
}

func (d *Dir) remove(ctx context.Context, name string, isDir bool) syscall.Errno {
	fsys := d.fsys
	if !fsys.writable() {
		return syscall.EROFS
	}
	op := "unlink"
	if isDir {
		op = "rmdir"
	}
	it, err := fsys.lookupSettled(ctx, d.id, name)
	if err != nil {
		return toErrno(err)
	}
	switch {
	case isDir && !it.IsDir:
		return syscall.ENOTDIR
	case !isDir && it.IsDir:
		return syscall.EISDIR
	case perm(&it)&davclient.PermDelete == 0:
		return syscall.EACCES
	}
	if isDir && it.Local.Flags&(cache.LocalCreated|cache.LocalOnly) == 0 {
		if err := fsys.cfg.Lister.Ensure(ctx, it.ID); err != nil {
			return fsys.errno(op, it.ID, err)
		}
	}
	removed, gone, err := fsys.cfg.Store.Remove(d.id, name)
	if err != nil {
		return fsys.errno(op, d.id, err)
	}
	if gone && !removed.IsDir {
		fsys.cfg.Local.Remove(removed.ID)
	}
	fsys.changed()
	return 0
}

// Rename – FUSE call; moves here at once (content kept: no download), MOVE follows.
// A new file renamed over an existing one (an editor's save) becomes an update of
// that file, which keeps its file id, shares and versions on the server.
func (d *Dir) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	fsys := d.fsys
	if !fsys.writable() {
		return syscall.EROFS
	}
	if flags&^uint32(unix.RENAME_NOREPLACE) != 0 {
		return syscall.EINVAL // RENAME_EXCHANGE, RENAME_WHITEOUT: no server has them
	}
	to, ok := newParent.(*Dir)
	if !ok {
		return syscall.EXDEV
	}
	it, err := fsys.lookupSettled(ctx, d.id, name)
	if err != nil {
		return toErrno(err)
	}
	p := perm(&it)
	if to.id == d.id && p&davclient.PermRename == 0 || to.id != d.id && p&davclient.PermMove == 0 {
		return syscall.EACCES
	}
	if to.id != d.id || it.IsDir {
		target, err := fsys.getSettled(ctx, &to.node)
		if err != nil {
			return toErrno(err)
		}
		need := davclient.PermCreateFile
		if it.IsDir {
			need = davclient.PermCreateFolder
		}
		if to.id != d.id && perm(&target)&need == 0 {
			return syscall.EACCES
		}
	}
	if errno := fsys.checkName("rename", newName); errno != 0 {
		return errno
	}
	if old, err := fsys.lookupSettled(ctx, to.id, newName); err == nil {
		if flags&unix.RENAME_NOREPLACE != 0 {
			return syscall.EEXIST
		}
		if perm(&old)&davclient.PermDelete == 0 && !(old.Local.Flags&(cache.LocalCreated|cache.LocalOnly) == 0 && !it.IsDir && !old.IsDir && perm(&old)&davclient.PermWrite != 0) {
			return syscall.EACCES
		}
		if old.IsDir && old.Local.Flags&(cache.LocalCreated|cache.LocalOnly) == 0 {
			if err := fsys.cfg.Lister.Ensure(ctx, old.ID); err != nil {
				return fsys.errno("rename", old.ID, err)
			}
		}
	}
	res, err := fsys.cfg.Store.Rename(d.id, name, to.id, newName, fsys.excluded(newName))
	if err != nil {
		return fsys.errno("rename", it.ID, err)
	}
	if r := res.Replaced; r != nil && res.ReplacedGone && !r.IsDir {
		fsys.cfg.Local.Remove(r.ID)
	}
	fsys.changed()
	return 0
}

// Symlink, Link and Mknod – FUSE calls; a Nextcloud folder holds files and folders only.
func (d *Dir) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if !d.fsys.writable() {
		return nil, syscall.EROFS
	}
	return nil, syscall.EPERM
}

func (d *Dir) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if !d.fsys.writable() {
		return nil, syscall.EROFS
	}
	return nil, syscall.EPERM
}

func (d *Dir) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if !d.fsys.writable() {
		return nil, syscall.EROFS
	}
	return nil, syscall.EPERM
}

// Setattr – FUSE call; size (truncate) and mtime (touch, utimes) of files. chown
// succeeds only when it changes nothing: the server keeps no owners. chmod is accepted
// and ignored (the server keeps no modes) unless others see the mount (SharedModes).
// A folder's times are not kept.
func (n *node) Setattr(ctx context.Context, fh fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	fsys := n.fsys
	if !fsys.writable() {
		return syscall.EROFS
	}
	it, err := fsys.getSettled(ctx, n)
	if err != nil {
		return toErrno(err)
	}
	if m, ok := in.GetMode(); ok && m&0o7777 != permOf(&it) && fsys.cfg.SharedModes {
		return syscall.EPERM
	}
	if uid, ok := in.GetUID(); ok && uid != fsys.cfg.UID {
		return syscall.EPERM
	}
	if gid, ok := in.GetGID(); ok && gid != fsys.cfg.GID {
		return syscall.EPERM
	}
	size, hasSize := in.GetSize()
	mtime, hasMTime := in.GetMTime()
	if in.Valid&fuse.FATTR_MTIME_NOW != 0 {
		mtime, hasMTime = time.Now(), true
	}
	if !it.IsDir && (hasSize || hasMTime) {
		if perm(&it)&davclient.PermWrite == 0 {
			return syscall.EACCES
		}
		wh, _ := fh.(*writeHandle)
		if hasSize {
			if wh != nil {
				err = wh.lh.Truncate(ctx, int64(size))
			} else {
				err = fsys.cfg.Local.Truncate(ctx, n.id, int64(size))
			}
			if err != nil {
				return fsys.errno("truncate", n.id, err)
			}
		}
		if hasMTime {
			if err := fsys.cfg.Local.SetMTime(ctx, n.id, mtime); err != nil {
				return fsys.errno("setattr", n.id, err)
			}
		}
		fsys.changed()
		if it, err = fsys.cfg.Store.Get(n.id); err != nil {
			return toErrno(err)
		}
	}
	fsys.fillAttr(&it, &out.Attr)
	out.SetTimeout(fsys.cfg.KernelTTL)
	return 0
}

// writeHandle is an open of a file with local content, or of a clean file opened for
// writing: reads come from the server's version (Fetcher) until the first write copies
// it to a local file.
type writeHandle struct {
	lh   *hydrate.LocalHandle
	rh   *hydrate.Handle // opened for reads before the first write
	fsys *FS
	id   uint64
}

// Read – FUSE call; local content, or the server's version before the first write.
func (wh *writeHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if wh.lh.HasContent() {
		n, err := wh.lh.ReadAt(dest, off)
		if err != nil && !errors.Is(err, errEOF) {
			return nil, wh.fsys.errno("read", wh.id, err)
		}
		return fuse.ReadResultData(dest[:n]), 0
	}
	if wh.rh == nil {
		h, err := wh.fsys.cfg.Fetcher.Open(wh.id)
		if err != nil {
			return nil, wh.fsys.errno("read", wh.id, err)
		}
		wh.rh = h
	}
	n, err := wh.rh.ReadAt(ctx, dest, off)
	if err != nil && !errors.Is(err, errEOF) {
		return nil, wh.fsys.errno("read", wh.id, err)
	}
	return fuse.ReadResultData(dest[:n]), 0
}

// Write – FUSE call; the bytes are in the local file when it returns.
func (wh *writeHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	n, err := wh.lh.WriteAt(ctx, data, off)
	if err != nil {
		return uint32(n), wh.fsys.errno("write", wh.id, err)
	}
	return uint32(n), 0
}

// Flush – FUSE call (every close); records size and mtime and queues the upload in one
// commit: after it a kill -9 of ncvfs loses nothing.
func (wh *writeHandle) Flush(ctx context.Context) syscall.Errno {
	if err := wh.lh.Flush(); err != nil {
		return wh.fsys.errno("flush", wh.id, err)
	}
	wh.fsys.changed()
	return 0
}

// Fsync – FUSE call; the bytes and their record are on disk: a power loss loses nothing.
func (wh *writeHandle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	if err := wh.lh.Fsync(); err != nil {
		return wh.fsys.errno("fsync", wh.id, err)
	}
	wh.fsys.changed()
	return 0
}

// Release – FUSE call; releases the handle (Flush has recorded everything).
func (wh *writeHandle) Release(ctx context.Context) syscall.Errno {
	if wh.rh != nil {
		wh.rh.Close()
	}
	if err := wh.lh.Close(); err != nil {
		wh.fsys.log.Error("release: local changes could not be recorded", "op", "release", "fileid", wh.id, "err", err)
	}
	wh.fsys.changed()
	return 0
}

// Getattr through a handle: the live size while it writes.
func (wh *writeHandle) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	it, err := wh.fsys.cfg.Store.Get(wh.id)
	if err != nil {
		return toErrno(err)
	}
	wh.fsys.fillAttr(&it, &out.Attr)
	out.SetTimeout(wh.fsys.cfg.KernelTTL)
	return 0
}

// OnUploaded makes the kernel ask again for an uploaded item's attributes (its mtime is
// the server's now, in whole seconds).
func (fsys *FS) OnUploaded(id uint64) {
	if in := fsys.inode(id); in != nil {
		go in.NotifyContent(-1, 0)
	}
}

// OnNames tells the kernel that names in a folder changed behind its back (a conflict
// copy appeared, a name went back to the server's version).
func (fsys *FS) OnNames(dirID uint64, names ...string) {
	dir := fsys.inode(dirID)
	if dir == nil {
		return
	}
	go func() {
		for _, name := range names {
			if child := dir.GetChild(name); child != nil {
				child.NotifyContent(0, 0)
			}
			dir.NotifyEntry(name)
		}
	}()
}
