package fusefs

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/ncvfs/ncvfs/cache"
	"github.com/ncvfs/ncvfs/davclient"
	"github.com/ncvfs/ncvfs/hydrate"
)

// DefaultKernelTTL is how long the kernel may keep names and attributes without asking.
// One second, as go-fuse's own default: long enough that a burst of stats on the same
// file (ls -l, a build) is served by the kernel, short enough that a change we learn of
// without a notification is seen promptly. Changes we learn of are pushed at once.
const DefaultKernelTTL = time.Second

// blockSize is what st_blksize and statfs report; it is also the unit of quota blocks.
const blockSize = 4096

// Config wires an FS.
type Config struct {
	Store   *cache.Store
	Lister  *hydrate.Lister
	Fetcher *hydrate.Fetcher
	RootID  uint64
	// UID and GID own every item: the mounting user.
	UID, GID uint32
	// SharedModes: other users see the mount (allow_other), so the modes shown are a
	// promise: a chmod that would change them is refused. Otherwise chmod is accepted
	// and changes nothing (the server keeps no modes), as tools such as rsync -a and
	// cp -p need.
	SharedModes bool
	KernelTTL   time.Duration
	Logger      *slog.Logger
	// Local keeps the content of files changed here; nil makes a read-only mount
	// (every change fails with EROFS).
	Local *hydrate.Local
	// OnChange is told after every change (the uploader wakes).
	OnChange func()
	// Excluded says whether a name is never uploaded (editor swap and lock files, the
	// desktop clients' exclude list); NameRefused whether the server refuses it.
	Excluded    func(name string) bool
	NameRefused func(name string) error
	// NoXattr refuses every extended attribute request (ENOSYS) as before pins existed.
	NoXattr bool
	// State names an item's state for user.ncvfs.state (nil: from its content alone).
	State func(it *cache.Item) string
	// SetPin sets an item's own pin and acts on it (hydrates, frees); nil: the store's.
	SetPin func(id uint64, pin cache.Pin) error
	// NoHydrate says whether a reader (the pid of a FUSE request, which may be a
	// thread's) must not cause downloads: its reads of content not here fail at once.
	// nil: every reader downloads.
	NoHydrate func(pid uint32) bool
}

// FS is one mounted account.
//
// Lock order: FS.mu is a leaf lock, never held across a bbolt transaction, a network
// call or a kernel notification.
type FS struct {
	cfg Config
	log *slog.Logger

	mu    sync.Mutex
	nodes map[uint64]*fs.Inode // item id -> live inode, for kernel notifications
	// gens holds the inode generation of items whose version was read through a
	// passthrough backing file: a new version needs a new inode (see OnVersionChange).
	gens map[uint64]uint64
}

// New returns the file system; Root gives its root node for mounting.
func New(cfg Config) *FS {
	if cfg.KernelTTL <= 0 {
		cfg.KernelTTL = DefaultKernelTTL
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &FS{cfg: cfg, log: log, nodes: make(map[uint64]*fs.Inode), gens: make(map[uint64]uint64)}
}

// Root returns the root folder's node.
func (fsys *FS) Root() *Dir {
	return &Dir{node: node{fsys: fsys, id: fsys.cfg.RootID}}
}

// node is what files and folders share: their item id and the file system.
type node struct {
	fs.Inode
	fsys *FS
	id   uint64
}

// OnAdd is called by go-fuse for the root only; the root is registered for notifications.
func (n *node) OnAdd(ctx context.Context) { n.fsys.register(n.id, &n.Inode) }

// OnForget drops the node from the notification registry once the kernel forgot it.
func (n *node) OnForget() {
	n.fsys.mu.Lock()
	if n.fsys.nodes[n.id] == &n.Inode {
		delete(n.fsys.nodes, n.id)
	}
	n.fsys.mu.Unlock()
}

// getSettled reads a node's item; if it is missing, it may be in a listing the kernel
// was shown while it was being committed (hydrate.Lister.Children), so it waits for the
// commit of the listing that showed it (its parent folder's) and reads again.
func (fsys *FS) getSettled(ctx context.Context, n *node) (cache.Item, error) {
	it, err := fsys.cfg.Store.Get(n.id)
	if errors.Is(err, cache.ErrNotFound) {
		if serr := fsys.settleParentOf(ctx, &n.Inode); serr != nil {
			return it, serr
		}
		it, err = fsys.cfg.Store.Get(n.id)
	}
	return it, err
}

// settleParentOf waits for the listing that showed in to be committed.
func (fsys *FS) settleParentOf(ctx context.Context, in *fs.Inode) error {
	if _, parent := in.Parent(); parent != nil {
		if d, ok := parent.Operations().(*Dir); ok {
			return fsys.cfg.Lister.Settle(ctx, d.id)
		}
	}
	return fsys.cfg.Lister.SettleAll(ctx)
}

// lookupSettled is getSettled for a name in a folder.
func (fsys *FS) lookupSettled(ctx context.Context, parent uint64, name string) (cache.Item, error) {
	it, err := fsys.cfg.Store.Lookup(parent, name)
	if errors.Is(err, cache.ErrNotFound) {
		if serr := fsys.cfg.Lister.Settle(ctx, parent); serr != nil {
			return it, serr
		}
		it, err = fsys.cfg.Store.Lookup(parent, name)
	}
	return it, err
}

func (fsys *FS) register(id uint64, in *fs.Inode) {
	fsys.mu.Lock()
	fsys.nodes[id] = in
	fsys.mu.Unlock()
}

func (fsys *FS) inode(id uint64) *fs.Inode {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	return fsys.nodes[id]
}

// Getattr – FUSE call; served from the cache, without a request to the server.
func (n *node) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.live()
	it, err := n.fsys.getSettled(ctx, n)
	if err != nil {
		return toErrno(err)
	}
	n.fsys.fillAttr(&it, &out.Attr)
	out.SetTimeout(n.fsys.cfg.KernelTTL)
	return 0
}

// Statfs – FUSE call; reports the account quota as last seen on the root folder, and the
// items the cache knows as used inodes. Sends no request.
func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	q := n.fsys.cfg.Lister.Quota()
	used, avail := int64(0), int64(unlimitedBytes)
	if q.Known {
		used = max(q.Used, 0)
		if q.Available >= 0 {
			avail = q.Available
		}
	}
	out.Bsize = blockSize
	out.Frsize = blockSize
	out.Blocks = uint64((used + avail) / blockSize)
	out.Bfree = uint64(avail / blockSize)
	out.Bavail = out.Bfree
	out.NameLen = 255
	// Used inodes are the items the cache knows (a counter, not a walk).
	if n, err := n.fsys.cfg.Store.Count(); err == nil {
		out.Files = uint64(n) + freeFiles
	}
	out.Ffree = freeFiles
	return 0
}

// Nextcloud says -3 for "unlimited"; df needs numbers, so an unlimited account shows
// 1 PiB free. File slots are never the limit, but a free count of 1<<32 made df -i show
// 4,294,967,325 inodes: a headroom of a million reads as a real file system.
const (
	unlimitedBytes = 1 << 50
	freeFiles      = 1 << 20
)

// fillAttr turns a cached item into what stat shows. Folders report size 0, so
// du --apparent-size of the mount adds up to the server's own total (the root's oc:size).
// Folders have one link: find must not take the "nlink-2 subfolders" shortcut.
// Blocks count the bytes actually local, so du shows local use.
func (fsys *FS) fillAttr(it *cache.Item, out *fuse.Attr) {
	out.Ino = it.ID
	out.Nlink = 1
	out.Uid = fsys.cfg.UID
	out.Gid = fsys.cfg.GID
	out.Blksize = blockSize
	out.Blocks = uint64(it.LocalBytes+511) / 512
	size, mtime := it.VisibleSize(), it.VisibleMTime()
	if it.Local.HasLocalContent() && fsys.cfg.Local != nil {
		if s, m, ok := fsys.cfg.Local.Attr(it.ID); ok {
			size, mtime = s, m // written, not recorded yet
		}
		out.Blocks = uint64(size+511) / 512
	}
	if !mtime.IsZero() {
		out.SetTimes(&mtime, &mtime, &mtime)
	}
	perm := permOf(it)
	if it.IsDir {
		out.Mode = syscall.S_IFDIR | perm
		out.Size = 0
		return
	}
	out.Mode = syscall.S_IFREG | perm
	out.Size = uint64(max(size, 0))
}

// permOf derives mode bits from oc:permissions: a file without W is read-only, a folder
// where neither files (C) nor folders (K) may be created is not writable.
func permOf(it *cache.Item) uint32 {
	p := perm(it)
	if it.IsDir {
		if p&(davclient.PermCreateFile|davclient.PermCreateFolder) != 0 {
			return 0o755
		}
		return 0o555
	}
	if p&davclient.PermWrite != 0 {
		return 0o644
	}
	return 0o444
}

// newChild returns the live inode for a cached item below parent, creating it if needed.
// Every readdir looks its children up again: the inode the kernel already has is handed
// back, so that the one registered for notifications stays the one the kernel uses (a
// new inode for a known item is dropped by go-fuse in favour of the old one).
func (fsys *FS) newChild(ctx context.Context, parent *fs.Inode, it *cache.Item) *fs.Inode {
	mode := uint32(syscall.S_IFREG)
	if it.IsDir {
		mode = syscall.S_IFDIR
	}
	in, gen := fsys.current(it.ID)
	if in != nil && in.StableAttr().Mode == mode {
		return in
	}
	var ops fs.InodeEmbedder
	if it.IsDir {
		ops = &Dir{node: node{fsys: fsys, id: it.ID}}
	} else {
		ops = &File{node: node{fsys: fsys, id: it.ID}}
	}
	in = parent.NewInode(ctx, ops, fs.StableAttr{Mode: mode, Ino: it.ID, Gen: gen})
	fsys.register(it.ID, in)
	return in
}

// current returns the registered inode of id, if it is of the current generation, and
// that generation.
func (fsys *FS) current(id uint64) (*fs.Inode, uint64) {
	fsys.mu.Lock()
	defer fsys.mu.Unlock()
	gen := fsys.gens[id]
	if in := fsys.nodes[id]; in != nil && in.StableAttr().Gen == gen {
		return in, gen
	}
	return nil, gen
}

// live notes that the kernel uses this node: if two lookups raced and the registry
// kept the inode go-fuse dropped, the first request on the kept one puts it right.
func (n *node) live() {
	n.fsys.mu.Lock()
	defer n.fsys.mu.Unlock()
	if n.fsys.nodes[n.id] != &n.Inode && n.Inode.StableAttr().Gen == n.fsys.gens[n.id] {
		n.fsys.nodes[n.id] = &n.Inode // an inode of an older generation stays out
	}
}

// OnListingChange tells the kernel what a folder listing changed. It returns at once;
// the notifications run in a goroutine of their own because the kernel may be holding
// the folder's lock while it waits for the very request that triggered the listing.
func (fsys *FS) OnListingChange(dirID uint64, diff cache.Diff) {
	go fsys.notify(dirID, diff)
	for _, id := range diff.ContentDropped {
		fsys.OnContentDropped(id)
	}
}

func (fsys *FS) notify(dirID uint64, diff cache.Diff) {
	// An item moved here on the server must vanish from where the kernel last saw it.
	for _, mv := range diff.MovedIn {
		if from := fsys.inode(mv.FromParent); from != nil {
			from.RmChild(mv.FromName)
			from.NotifyEntry(mv.FromName)
		}
	}
	dir := fsys.inode(dirID)
	if dir == nil {
		return // the kernel holds nothing of this folder
	}
	for _, name := range diff.Removed {
		dir.RmChild(name)
		dir.NotifyEntry(name)
	}
	for _, name := range diff.Changed {
		child := dir.GetChild(name)
		if child != nil {
			child.NotifyContent(0, 0) // attributes and cached pages
			if fsys.sameItem(dirID, name, child) {
				// Still the same file or folder under that name: dropping the entry
				// would unhash a folder that programs work in (getcwd then fails with
				// ENOENT), and a plain ETag change of a folder is common (generic
				// WebDAV changes it on every write below it).
				continue
			}
		}
		dir.NotifyEntry(name)
	}
	for _, name := range diff.Added {
		dir.NotifyEntry(name) // a cached "no such file" must go
	}
}

// sameItem reports whether name in dirID is still the item (and kind) that the
// kernel's inode child stands for.
func (fsys *FS) sameItem(dirID uint64, name string, child *fs.Inode) bool {
	it, err := fsys.cfg.Store.Lookup(dirID, name)
	if err != nil || it.ID != child.StableAttr().Ino {
		return false
	}
	return it.IsDir == (child.StableAttr().Mode&syscall.S_IFMT == syscall.S_IFDIR)
}

// maxParents bounds the names of one inode dropped on a version change.
const maxParents = 8

// OnContentDropped tells open files and the kernel that a file's local bytes are gone
// because the server has another version. Returns at once, like OnListingChange.
func (fsys *FS) OnContentDropped(id uint64) {
	go func() {
		if fsys.cfg.Fetcher != nil {
			fsys.cfg.Fetcher.Invalidate(id)
		}
		fsys.OnVersionChange(id, false)
	}()
}

// OnLocalBytesChange makes the kernel ask again for a file's attributes (its block count
// changed), keeping its cached pages: they are still this version's bytes.
func (fsys *FS) OnLocalBytesChange(id uint64) {
	if in := fsys.inode(id); in != nil {
		in.NotifyContent(-1, 0) // a negative offset invalidates attributes only
	}
}

// OnVersionChange drops the kernel's cached pages and attributes of a file. It returns
// at once: dropping pages waits for reads in flight on them, which may be waiting for us.
//
// If the old version was read through a passthrough backing file, go-fuse gives that
// file to every new open of the inode while one open lasts; so the item gets a new inode
// generation: its name is dropped from the kernel, the next lookup makes a new inode, and
// the opens of the old one go on reading the old version.
func (fsys *FS) OnVersionChange(id uint64, passedThrough bool) {
	fsys.mu.Lock()
	in := fsys.nodes[id]
	if passedThrough {
		fsys.gens[id]++
		delete(fsys.nodes, id)
	}
	fsys.mu.Unlock()
	if in == nil {
		return
	}
	go func() {
		in.NotifyContent(0, 0)
		if !passedThrough {
			return
		}
		for range maxParents { // an item has one parent; the bound only guards the loop
			name, parent := in.Parent()
			if parent == nil {
				return
			}
			parent.RmChild(name)
			parent.NotifyEntry(name)
		}
	}()
}
