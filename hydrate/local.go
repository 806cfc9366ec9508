package hydrate

// Lock order: Local.mu, then localFile.mu. Local.mu is never held across a bbolt
// transaction or a network call; localFile.mu is held across the writes of a file's
// local content and the commits that record them (flush, materialize, an upload's
// completion), so that no write slips between a check and its record.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ncvfs/ncvfs/cache"
)

// Local holds the content of files changed here: the bytes programs wrote, in
// cache.LocalPath, until an upload makes them the server's version.
//
// Durability: a write goes to the local file before it is acknowledged, and Flush
// (every close) records the file's size and mtime and queues it in one bbolt commit
// before it returns: a kill -9 of ncvfs after close loses nothing. Fsync also
// fdatasyncs the local file: a power loss after it loses nothing.
type Local struct {
	store   *cache.Store
	fetcher *Fetcher
	log     *slog.Logger
	// OnQueued is told when an item was queued for upload (the uploader wakes).
	OnQueued func()

	mu    sync.Mutex
	files map[uint64]*localFile
	// closed holds when files no longer open were last changed, for the debounce, and
	// gens their change counters: an upload compares the counter of its snapshot with
	// the one at its end, whether or not the file was open in between.
	closed map[uint64]time.Time
	gens   map[uint64]uint64
}

// NewLocal returns the keeper of local content.
func NewLocal(store *cache.Store, fetcher *Fetcher, log *slog.Logger) *Local {
	if log == nil {
		log = slog.Default()
	}
	return &Local{store: store, fetcher: fetcher, log: log, files: make(map[uint64]*localFile),
		closed: make(map[uint64]time.Time), gens: make(map[uint64]uint64)}
}

// localFile is the open state of one file's local content, shared by its handles.
type localFile struct {
	id uint64

	mu      sync.Mutex
	f       *os.File // nil until materialized (a clean file opened for writing)
	opens   int
	writers int
	size    int64
	mtime   time.Time
	// gen counts changes of the content; recorded is the gen last recorded in bbolt.
	gen, recorded uint64
	lastChange    time.Time
	// orphan: the item is clean again (uploaded) while handles were open; the local
	// file goes at the last close.
	orphan bool
}

// ErrNoLocalContent: the file has no local changes (read it through the Fetcher).
var ErrNoLocalContent = errors.New("hydrate: the file has no local content")

// Open returns a handle on id's content for reading and, if write, writing. A file
// with local content is served from its local file; a clean file is materialized (its
// server version copied to a local file) at the first write, or at once with truncate.
func (l *Local) Open(ctx context.Context, id uint64, write, truncate bool) (*LocalHandle, error) {
	lf := l.lockFile(id)
	defer lf.mu.Unlock()
	// Read under the file's lock: an upload finishing meanwhile moves the local file
	// to the content file and marks the item clean in one step under that lock.
	it, err := l.store.Get(id)
	if err != nil {
		l.forgetIfIdle(lf)
		return nil, fmt.Errorf("hydrate: open %d: %w", id, err)
	}
	if it.IsDir {
		l.forgetIfIdle(lf)
		return nil, fmt.Errorf("hydrate: open %d: %w", id, cache.ErrIsDir)
	}
	h := &LocalHandle{l: l, lf: lf, write: write}
	lf.opens++
	if write {
		lf.writers++
	}
	fail := func(err error) (*LocalHandle, error) {
		h.closeLocked()
		return nil, err
	}
	if lf.f == nil && it.Local.HasLocalContent() {
		if err := l.openLocalFile(lf, &it); err != nil {
			return fail(err)
		}
	}
	if truncate && write {
		if err := l.truncateLocked(ctx, lf, &it, 0); err != nil {
			return fail(err)
		}
	}
	return h, nil
}

// file returns the shared state of id, creating it.
func (l *Local) file(id uint64) *localFile {
	l.mu.Lock()
	defer l.mu.Unlock()
	lf := l.files[id]
	if lf == nil {
		lf = &localFile{id: id, gen: l.gens[id]}
		lf.recorded = lf.gen
		l.files[id] = lf
	}
	return lf
}

// lockFile returns the shared state of id, locked. The state may be forgotten
// (forgetIfIdle) while a caller waits for its lock: that caller tries again, so that
// two states of one file never exist at once and every change of it is serialized.
func (l *Local) lockFile(id uint64) *localFile {
	for {
		lf := l.file(id)
		lf.mu.Lock()
		l.mu.Lock()
		live := l.files[id] == lf
		l.mu.Unlock()
		if live {
			return lf
		}
		lf.mu.Unlock()
	}
}

// openLocalFile opens the local file of an item with local content. A file made here
// whose local file is missing (a crash right after its create) is empty.
func (l *Local) openLocalFile(lf *localFile, it *cache.Item) error {
	flags := os.O_RDWR
	if it.Local.Size == 0 {
		flags |= os.O_CREATE // made here and never written: a crash may have left no file
	}
	fh, err := os.OpenFile(l.store.LocalPath(it.ID), flags, 0o600)
	if err != nil {
		return fmt.Errorf("hydrate: open local content of %d: %w", it.ID, err)
	}
	fi, err := fh.Stat()
	if err != nil {
		fh.Close()
		return fmt.Errorf("hydrate: open local content of %d: %w", it.ID, err)
	}
	lf.f, lf.size, lf.mtime = fh, fi.Size(), it.VisibleMTime()
	if fi.Size() != it.Local.Size {
		// Written after its last record (a kill before the close's flush): the file is
		// the truth, and it is recorded at the next flush.
		lf.gen++
	}
	return nil
}

// materializeLocked copies the server version of a clean file into its local file,
// and records it as the item's local content: from here on it is dirty. keep is how
// many bytes to copy (the rest is cut: a truncate needs no download of what it cuts).
func (l *Local) materializeLocked(ctx context.Context, lf *localFile, it *cache.Item, keep int64) error {
	keep = min(keep, max(it.Size, 0))
	tmp, err := os.CreateTemp(l.store.Dir(), ".materialize-*")
	if err != nil {
		return fmt.Errorf("hydrate: materialize %d: %w", it.ID, err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if keep > 0 {
		h, err := l.fetcher.Open(it.ID)
		if err != nil {
			return fmt.Errorf("hydrate: materialize %d: %w", it.ID, err)
		}
		_, err = io.Copy(tmp, io.NewSectionReader(&ctxReaderAt{ctx: ctx, h: h}, 0, keep))
		h.Close()
		if err != nil {
			return fmt.Errorf("hydrate: materialize %d: download the server's version first: %w", it.ID, err)
		}
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("hydrate: materialize %d: %w", it.ID, err)
	}
	if err := os.Rename(tmp.Name(), l.store.LocalPath(it.ID)); err != nil {
		return fmt.Errorf("hydrate: materialize %d: %w", it.ID, err)
	}
	ok = true
	lf.f, lf.size, lf.mtime = tmp, keep, it.MTime
	if _, err := l.store.NoteLocalContent(it.ID, keep, it.MTime); err != nil {
		return err
	}
	lf.gen++
	lf.recorded = lf.gen
	l.queued()
	return nil
}

// ctxReaderAt reads a Fetcher handle with a context, for io.SectionReader.
type ctxReaderAt struct {
	ctx context.Context
	h   *Handle
}

func (r *ctxReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := r.h.ReadAt(r.ctx, p, off)
	if err == nil && n < len(p) {
		err = io.EOF
	}
	return n, err
}

func (l *Local) queued() {
	if l.OnQueued != nil {
		l.OnQueued()
	}
}

// truncateLocked sets the size of the file's local content, materializing it first.
func (l *Local) truncateLocked(ctx context.Context, lf *localFile, it *cache.Item, size int64) error {
	if lf.f == nil {
		if err := l.materializeLocked(ctx, lf, it, size); err != nil {
			return err
		}
	}
	if err := lf.f.Truncate(size); err != nil {
		return fmt.Errorf("hydrate: truncate %d: %w", lf.id, err)
	}
	lf.size = size
	lf.changed()
	return nil
}

// changed notes a change of the content. Caller holds lf.mu.
func (lf *localFile) changed() {
	lf.orphan = false // changed again after its upload: the local file is the content
	lf.gen++
	lf.lastChange = time.Now()
	lf.mtime = lf.lastChange
}

// Attr returns the live size and mtime of a file whose local content is open, so that
// stat shows what was written before it is recorded.
func (l *Local) Attr(id uint64) (size int64, mtime time.Time, ok bool) {
	l.mu.Lock()
	lf := l.files[id]
	l.mu.Unlock()
	if lf == nil {
		return 0, time.Time{}, false
	}
	lf.mu.Lock()
	defer lf.mu.Unlock()
	if lf.f == nil {
		return 0, time.Time{}, false
	}
	return lf.size, lf.mtime, true
}

// Busy reports whether id is open for writing or changed within quiet: its upload
// waits, so that a file still being written is not uploaded half-way.
func (l *Local) Busy(id uint64, quiet time.Duration) bool {
	l.mu.Lock()
	lf := l.files[id]
	last, ok := l.closed[id]
	if ok && time.Since(last) >= quiet {
		delete(l.closed, id)
	}
	l.mu.Unlock()
	if lf == nil {
		return ok && time.Since(last) < quiet
	}
	lf.mu.Lock()
	defer lf.mu.Unlock()
	return lf.writers > 0 || lf.gen != lf.recorded || time.Since(lf.lastChange) < quiet
}

// SetMTime sets the mtime of a file's local content (touch, utimes), materializing a
// clean file: the new mtime is uploaded with its content (X-OC-Mtime).
func (l *Local) SetMTime(ctx context.Context, id uint64, mtime time.Time) error {
	lf := l.lockFile(id)
	defer lf.mu.Unlock()
	defer l.forgetIfIdle(lf)
	it, err := l.store.Get(id)
	if err != nil {
		return err
	}
	if lf.f == nil && it.Local.HasLocalContent() {
		if err := l.openLocalFile(lf, &it); err != nil {
			return err
		}
	}
	if lf.f == nil {
		if err := l.materializeLocked(ctx, lf, &it, it.Size); err != nil {
			return err
		}
	}
	lf.mtime = mtime
	lf.gen++ // an upload in flight has the old mtime: the item stays dirty after it
	lf.orphan = false
	_, err = l.store.NoteLocalContent(id, lf.size, mtime)
	if err == nil {
		lf.recorded = lf.gen
		l.queued()
	}
	return err
}

// Truncate sets the size of a file that is not open for writing (truncate(2) by path).
func (l *Local) Truncate(ctx context.Context, id uint64, size int64) error {
	h, err := l.Open(ctx, id, true, false)
	if err != nil {
		return err
	}
	if err := h.Truncate(ctx, size); err != nil {
		h.Close()
		return err
	}
	if err := h.Flush(); err != nil {
		h.Close()
		return err
	}
	return h.Close()
}

// forgetIfIdle drops the shared state of a file nobody has open. Caller holds lf.mu.
func (l *Local) forgetIfIdle(lf *localFile) {
	if lf.opens > 0 || lf.gen != lf.recorded {
		return
	}
	l.mu.Lock()
	if l.files[lf.id] == lf {
		delete(l.files, lf.id)
		if !lf.lastChange.IsZero() {
			l.closed[lf.id] = lf.lastChange
		}
		if lf.gen != 0 {
			l.gens[lf.id] = lf.gen
		}
	}
	l.mu.Unlock()
	if lf.f != nil {
		lf.f.Close()
		lf.f = nil
	}
	if lf.orphan {
		os.Remove(l.store.LocalPath(lf.id))
	}
}

// LocalHandle is one open of a file's local content.
type LocalHandle struct {
	l      *Local
	lf     *localFile
	write  bool
	closed bool
}

// HasContent reports whether the handle reads local content (else the caller reads
// the server's version through the Fetcher until the first write).
func (h *LocalHandle) HasContent() bool {
	h.lf.mu.Lock()
	defer h.lf.mu.Unlock()
	return h.lf.f != nil
}

// ReadAt reads local content.
func (h *LocalHandle) ReadAt(p []byte, off int64) (int, error) {
	lf := h.lf
	lf.mu.Lock()
	defer lf.mu.Unlock()
	if lf.f == nil {
		return 0, ErrNoLocalContent
	}
	if off >= lf.size {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), lf.size-off)]
	n, err := lf.f.ReadAt(p, off)
	if err == io.EOF && n == len(p) {
		err = nil
	}
	return n, err
}

// WriteAt writes p at off, materializing a clean file first.
func (h *LocalHandle) WriteAt(ctx context.Context, p []byte, off int64) (int, error) {
	if !h.write {
		return 0, os.ErrPermission
	}
	lf := h.lf
	lf.mu.Lock()
	defer lf.mu.Unlock()
	if lf.f == nil {
		it, err := h.l.store.Get(lf.id)
		if err != nil {
			return 0, err
		}
		if err := h.l.materializeLocked(ctx, lf, &it, it.Size); err != nil {
			return 0, err
		}
	}
	n, err := lf.f.WriteAt(p, off)
	if n > 0 {
		lf.size = max(lf.size, off+int64(n))
		lf.changed()
	}
	if err != nil {
		return n, fmt.Errorf("hydrate: write local content of %d: %w", lf.id, err)
	}
	return n, nil
}

// Truncate sets the size.
func (h *LocalHandle) Truncate(ctx context.Context, size int64) error {
	if !h.write {
		return os.ErrPermission
	}
	lf := h.lf
	lf.mu.Lock()
	defer lf.mu.Unlock()
	it, err := h.l.store.Get(lf.id)
	if err != nil {
		return err
	}
	return h.l.truncateLocked(ctx, lf, &it, size)
}

// Flush records what was written (size, mtime) and queues the upload, in one commit.
// Every close calls it: when it returns, a kill -9 loses nothing.
func (h *LocalHandle) Flush() error {
	lf := h.lf
	lf.mu.Lock()
	defer lf.mu.Unlock()
	return h.l.flushLocked(lf)
}

func (l *Local) flushLocked(lf *localFile) error {
	if lf.f == nil || lf.gen == lf.recorded {
		return nil
	}
	gen := lf.gen
	if _, err := l.store.NoteLocalContent(lf.id, lf.size, lf.mtime); err != nil {
		return err
	}
	lf.recorded = gen
	l.queued()
	return nil
}

// Fsync makes the written bytes and their record durable: a power loss after it
// returns loses nothing.
func (h *LocalHandle) Fsync() error {
	lf := h.lf
	lf.mu.Lock()
	defer lf.mu.Unlock()
	if lf.f == nil {
		return nil
	}
	if err := unix.Fdatasync(int(lf.f.Fd())); err != nil {
		return fmt.Errorf("hydrate: fsync local content of %d: %w", lf.id, err)
	}
	return h.l.flushLocked(lf)
}

// Close flushes and releases the handle.
func (h *LocalHandle) Close() error {
	lf := h.lf
	lf.mu.Lock()
	defer lf.mu.Unlock()
	err := h.l.flushLocked(lf)
	h.closeLocked()
	return err
}

func (h *LocalHandle) closeLocked() {
	if h.closed {
		return
	}
	h.closed = true
	h.lf.opens--
	if h.write {
		h.lf.writers--
		h.lf.lastChange = time.Now() // the debounce starts at close
	}
	h.l.forgetIfIdle(h.lf)
}

// Remove forgets the local content of an item that is gone (removed here before its
// upload); open handles keep reading what they have.
func (l *Local) Remove(id uint64) {
	l.mu.Lock()
	lf := l.files[id]
	l.mu.Unlock()
	if lf != nil {
		lf.mu.Lock()
		lf.recorded = lf.gen // nothing left to record
		lf.mu.Unlock()
	}
	os.Remove(l.store.LocalPath(id))
}

// snapshot is what an upload sends: the local file's bytes as of gen.
type snapshot struct {
	file  *os.File // a descriptor of its own; the caller closes it
	size  int64
	mtime time.Time
	gen   uint64
	// parent, name and path: where it is uploaded.
	parent uint64
	name   string
	path   string
}

// snapshotForUpload opens the local content of id for an upload, unless it is busy.
func (l *Local) snapshotForUpload(id uint64, it *cache.Item) (*snapshot, error) {
	lf := l.lockFile(id)
	defer lf.mu.Unlock()
	defer l.forgetIfIdle(lf)
	fh, err := os.Open(l.store.LocalPath(id))
	if errors.Is(err, os.ErrNotExist) && it.Local.Size == 0 {
		// Made here and never written (a crash before its local file existed): empty.
		if fh, err = os.OpenFile(l.store.LocalPath(id), os.O_RDWR|os.O_CREATE, 0o600); err == nil {
			fh.Close()
			fh, err = os.Open(l.store.LocalPath(id))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("hydrate: read local content of %d: %w", id, err)
	}
	fi, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, err
	}
	size, mtime := fi.Size(), it.VisibleMTime()
	if lf.f != nil {
		size, mtime = lf.size, lf.mtime
	}
	return &snapshot{file: fh, size: size, mtime: mtime, gen: lf.gen}, nil
}

// finishUpload stores the result of an upload in one commit, under the file's lock so
// that no write slips in between: if the content changed since the snapshot, the item
// stays dirty (and queued). Otherwise the local file becomes the content file of the
// new version when nobody has it open (no download when it is read next), or goes
// at its last close.
func (l *Local) finishUpload(id uint64, snap *snapshot, up cache.Uploaded) (cache.Item, error) {
	lf := l.lockFile(id)
	defer lf.mu.Unlock()
	defer l.forgetIfIdle(lf)
	up.StillDirty = lf.gen != snap.gen
	if !up.StillDirty {
		l.mu.Lock()
		delete(l.gens, id) // counted afresh from here; no snapshot of it is left
		l.mu.Unlock()
		lf.gen, lf.recorded = 0, 0
	}
	if !up.StillDirty && lf.opens == 0 {
		if err := os.Rename(l.store.LocalPath(id), l.store.ContentPath(id)); err == nil {
			up.ContentPlaced = true
		}
	}
	it, err := l.store.CompleteUpload(id, up)
	if err != nil {
		if up.ContentPlaced { // still dirty: its bytes go back where a dirty file's are
			os.Rename(l.store.ContentPath(id), l.store.LocalPath(id))
		}
		return it, err
	}
	if !up.StillDirty && !up.ContentPlaced {
		if lf.opens > 0 {
			lf.orphan = true
		} else {
			os.Remove(l.store.LocalPath(id))
		}
	}
	if l.fetcher != nil {
		l.fetcher.Invalidate(id)
	}
	return it, nil
}
