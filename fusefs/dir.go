package fusefs

import (
	"context"
	"errors"
	"log/slog"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ncvfs/ncvfs/cache"
	"github.com/ncvfs/ncvfs/davclient"
	"github.com/ncvfs/ncvfs/hydrate"
)

// Dir is a remote folder.
type Dir struct {
	node
}

// fresh makes sure the folder's listing is current. When the server cannot be reached
// but the folder was listed before, the cached listing is served and the failure logged:
// browsing must keep working offline.
func (d *Dir) fresh(ctx context.Context) error {
	err := d.fsys.cfg.Lister.Ensure(ctx, d.id)
	if err == nil || !errors.Is(err, davclient.ErrTransient) {
		return err
	}
	// Offline, the breaker logged it once; a line per lookup would drown the log.
	level := slog.LevelWarn
	if errors.Is(err, hydrate.ErrOffline) {
		level = slog.LevelDebug
	}
	it, gerr := d.fsys.cfg.Store.Get(d.id)
	if gerr != nil || it.ListedETag == "" {
		d.fsys.log.Log(ctx, level, "folder cannot be listed: server unreachable", "op", "list", "fileid", d.id, "err", err)
		return err
	}
	d.fsys.log.Log(ctx, level, "server unreachable, showing the cached listing", "op", "list", "fileid", d.id, "err", err)
	return nil
}

// Lookup – FUSE call; blocks on the folder's listing (first visit or revalidation),
// honours interrupts.
func (d *Dir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	d.live()
	if err := d.fresh(ctx); err != nil {
		return nil, d.fsys.errno("lookup", d.id, err)
	}
	it, err := d.fsys.cfg.Store.Lookup(d.id, name)
	if err != nil {
		return nil, toErrno(err)
	}
	return d.fsys.entry(ctx, &d.Inode, &it, out), 0
}

// entry fills a lookup answer for a cached item and returns its inode.
func (fsys *FS) entry(ctx context.Context, parent *fs.Inode, it *cache.Item, out *fuse.EntryOut) *fs.Inode {
	fsys.fillAttr(it, &out.Attr)
	out.SetEntryTimeout(fsys.cfg.KernelTTL)
	out.SetAttrTimeout(fsys.cfg.KernelTTL)
	return fsys.newChild(ctx, parent, it)
}

// errno logs what the kernel will only see as a number, then converts it.
func (fsys *FS) errno(op string, id uint64, err error) syscall.Errno {
	e := toErrno(err)
	if e != syscall.ENOENT && e != syscall.EINTR && e != syscall.ENOTEMPTY && e != syscall.EEXIST {
		fsys.log.Warn("request failed", "op", op, "fileid", id, "err", err)
	}
	return e
}

// OpendirHandle – FUSE call; blocks on the folder's listing, then hands the kernel a
// snapshot of it, so a listing stays consistent while it is being read.
func (d *Dir) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	d.live()
	h := &dirHandle{dir: d}
	if errno := h.load(ctx); errno != 0 {
		return nil, 0, errno
	}
	return h, 0, 0
}

// dirHandle is one open folder: a snapshot of its children taken at open (and rewind).
// A folder's first listing is read while it still arrives from the server.
type dirHandle struct {
	dir    *Dir
	parent uint64
	list   hydrate.ChildList
	pos    int // entries handed out; 0 and 1 are "." and ".."
	// batch is the request (READDIR or READDIRPLUS) being filled, and batchServed
	// whether it has an entry yet. lastGave: the previous call returned an entry; if it
	// was the last call of its request, the entry did not fit and go-fuse puts it first
	// in the next request without asking us.
	batch       context.Context
	batchServed bool
	lastGave    bool
}

// load takes the snapshot: the folder's listing, current within the TTL (and, for a
// first listing, possibly still being decoded and committed), or the cached one when
// the server cannot be reached.
func (h *dirHandle) load(ctx context.Context) syscall.Errno {
	fsys := h.dir.fsys
	self, err := fsys.getSettled(ctx, &h.dir.node)
	if err != nil {
		return toErrno(err)
	}
	list, err := fsys.cfg.Lister.Children(ctx, h.dir.id)
	if errors.Is(err, davclient.ErrTransient) {
		if err = h.dir.fresh(ctx); err == nil { // served from the cache if listed before
			var items []cache.Item
			items, err = fsys.cfg.Store.Children(h.dir.id)
			list = hydrate.NewChildList(items)
		}
	}
	if err != nil {
		return fsys.errno("readdir", h.dir.id, err)
	}
	h.parent = self.Parent
	if h.parent == 0 {
		h.parent = self.ID
	}
	h.list = list
	h.pos, h.lastGave = 0, false
	return 0
}

// Readdirent – FUSE call; never blocks on the network, except to wait for the next
// items of a first listing that is still arriving, and only while the request has
// nothing to return yet: a part of a batch goes to the kernel at once (an interrupted
// wait after some entries would otherwise fail the next, uninterrupted request).
func (h *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	if ctx != h.batch {
		h.batch, h.batchServed = ctx, h.lastGave
	}
	h.lastGave = false
	i := h.pos
	de := &fuse.DirEntry{Off: uint64(i + 1), Mode: syscall.S_IFDIR}
	switch i {
	case 0:
		de.Name, de.Ino = ".", h.dir.id
	case 1:
		de.Name, de.Ino = "..", h.parent
	default:
		if h.batchServed && !h.list.Ready(i-2) {
			return nil, 0 // not the end of the folder: the kernel asks again
		}
		it, err := h.list.At(ctx, i-2)
		if err != nil {
			return nil, h.dir.fsys.errno("readdir", h.dir.id, err)
		}
		if it == nil {
			return nil, 0
		}
		de.Name, de.Ino = it.Name, it.ID
		if !it.IsDir {
			de.Mode = syscall.S_IFREG
		}
	}
	h.pos++
	h.batchServed, h.lastGave = true, true
	return de, 0
}

// lookupReplayMax bounds how far back Lookup searches the entries already handed out:
// go-fuse replays the last batch after an interrupted or short read (a 32 KiB batch is
// about 200 entries).
const lookupReplayMax = 1024

// Lookup – FUSE call (READDIRPLUS); answers from the snapshot, without a bbolt read.
func (h *dirHandle) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	for i := h.pos - 3; i >= 0 && i >= h.pos-3-lookupReplayMax; i-- {
		if it, ok := h.list.Seen(i); ok && it.Name == name {
			return h.dir.fsys.entry(ctx, &h.dir.Inode, it, out), 0
		}
	}
	it, err := h.dir.fsys.lookupSettled(ctx, h.dir.id, name)
	if err != nil {
		return nil, toErrno(err)
	}
	return h.dir.fsys.entry(ctx, &h.dir.Inode, &it, out), 0
}

// Seekdir – FUSE call; offset 0 (rewinddir) takes a new snapshot; other offsets are
// ones this handle gave out.
func (h *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	if off == 0 {
		return h.load(ctx)
	}
	if off > uint64(h.list.Len()+2) {
		return syscall.EINVAL
	}
	h.pos, h.lastGave = int(off), false
	return 0
}
