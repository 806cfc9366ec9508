package hydrate

// Lock order: Fetcher.mu, then fileState.dropMu, createMu, mu. Fetcher.mu and
// fileState.mu are never held across a network call or a bbolt transaction. A file's
// first load and its eviction (each may commit a drop, two fsyncs) run outside
// Fetcher.mu, marked in Fetcher.pending: other opens and releases once waited behind
// every eviction's commit. An open of that file waits for the mark to go. dropMu is
// held across the record of a file's bytes (shared) and the drop of a version
// (exclusive); createMu across creating a content file. No lock is held while the
// kernel is told anything.

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ncvfs/ncvfs/cache"
	"github.com/ncvfs/ncvfs/davclient"
)

const (
	// blockSize is what a random read fetches. The kernel asks for a single page on a
	// standalone random read, so 64 KiB keeps the bytes fetched within 16x the bytes read,
	// while one request on a fast link costs little more than its round trip.
	blockSize = 64 << 10
	// memFileMax: a file no larger than this, with nothing local yet, is downloaded into
	// memory and its readers served from there; its content file is created, written and
	// recorded after the reader has its bytes. Creating a file costs as much as the
	// download of a small one, and a folder of small files read in turn (cat, grep,
	// a build) should wait for the network only.
	memFileMax = blockSize
	// recordBatchMax bounds how many files' ranges one commit records, and recordLinger
	// is how long the recorder waits for more after the first: files read one after
	// the other (cat of a folder) arrive a fraction of a millisecond apart, and each
	// commit and flush costs about a millisecond.
	recordBatchMax = 256
	recordLinger   = 20 * time.Millisecond
	// chunkSize is one write into the content file, and the step in which readers waiting
	// on a transfer are woken.
	chunkSize = 256 << 10
	// seqSlack is how far from the previous read's end a read may start and still count as
	// sequential: the kernel sends read-ahead requests concurrently and slightly out of order.
	seqSlack = 1 << 20
	// seqTrigger sequential reads in a row turn block fetches into one stream to the end.
	seqTrigger = 2
	// streamWindow: a missing byte this close ahead of a stream's position is left to the
	// stream; farther away it gets a block fetch of its own.
	streamWindow = 4 << 20
	// streamLead bounds how far a stream runs ahead of the furthest read: a reader that
	// pauses with the file open (a video player) stops the download there. refillLead:
	// when sequential reads come this close to the end of what is local, a new stream
	// starts, so a steady reader never waits for a round trip.
	streamLead = 16 << 20
	refillLead = 4 << 20
	// recordEvery, what a running transfer brought is made durable and recorded, so a
	// restart keeps most of a long download; the rest is recorded when the last handle
	// closes. Time, not bytes: flushing every few MiB made a fast download wait for the
	// disk (curl, the yardstick, never flushes while it downloads), and on a slow link
	// a byte count would wait too long.
	recordEvery = 10 * time.Second
	// transferAttempts bounds the resumptions of one transfer whose connection broke.
	transferAttempts = 4
	// DefaultStallTimeout: a download that receives nothing for this long is dropped and
	// resumed where it stopped. A link that died without a reset (a laptop that slept, a
	// NAT that forgot the connection) otherwise keeps its readers waiting until TCP gives
	// up, minutes later.
	DefaultStallTimeout = 30 * time.Second
	// DefaultLockedWait: how long a download waits for a file the server answers 423
	// Locked for. Nextcloud locks a file while another client uploads it (PROPFIND still
	// answers); such an upload usually ends within seconds.
	DefaultLockedWait = 30 * time.Second
	// lockedPause bounds one pause between tries of a locked file.
	lockedPause = 2 * time.Second
)

// ErrChangedWhileOpen: the file changed on the server after this handle had read from it;
// reading on would mix two versions. Reopening gives the new version.
var ErrChangedWhileOpen = errors.New("hydrate: the file changed on the server while it was open; reopen it to read the new version")

// ErrChecksum: the downloaded bytes do not match the server's checksum.
var ErrChecksum = errors.New("hydrate: downloaded content does not match the server's checksum")

// FetcherConfig wires a Fetcher.
type FetcherConfig struct {
	Store  *cache.Store
	Client davclient.Interface
	Logger *slog.Logger
	// MaxTransfers bounds concurrent downloads over all files; default 8.
	MaxTransfers int
	// OnVersionChange is told (with no lock held) when a file's local bytes were dropped
	// because the server has another version, so the kernel's cached pages can go.
	// passedThrough: the old version was handed to the kernel as a backing file, which
	// go-fuse gives to every open of that inode while one lasts: new opens need another.
	OnVersionChange func(id uint64, passedThrough bool)
	// OnStored is told after bytes of id were recorded (the budget may need enforcing,
	// and the kernel's cached block count is stale).
	OnStored func(id uint64)
	// OnNoSpace is told when the cache's disk is full (a write failed with ENOSPC):
	// evicting other files' content may make room for the next attempt.
	OnNoSpace func()
	// OnIdle is told (with no lock held) when a file is closed by its last reader and
	// nothing works on it any more: its content may go (an onlineonly pin).
	OnIdle func(id uint64)
	// StallTimeout: see DefaultStallTimeout (the default when zero).
	StallTimeout time.Duration
	// LockedWait: see DefaultLockedWait (the default when zero).
	LockedWait time.Duration
}

// Fetcher hydrates file content on demand: one shared set of transfers per file, each
// reader waiting only for the bytes it needs.
type Fetcher struct {
	cfg FetcherConfig
	log *slog.Logger
	sem chan struct{}

	mu    sync.Mutex
	files map[uint64]*fileState
	// pending marks a file being loaded or evicted (outside mu); closed when done.
	pending map[uint64]chan struct{}

	// dropContent is Store.DropContent; tests hold it to see what waits on the commit.
	dropContent func(id uint64) error
	// datasync is fdatasync(2); tests count what it is given.
	datasync func(*os.File) error

	// sumStrikes counts, per file, the downloads of one version (ETag) that did not
	// match the server's checksum, so a file released and opened again is not
	// downloaded forever. Guarded by mu.
	sumStrikes map[uint64]sumStrike

	// background counts transfers, verifications and releases, so Close can wait.
	background sync.WaitGroup

	// Ranges are recorded by one goroutine, all that are waiting in one commit: a burst
	// of small files read at once costs a few commits, not one each.
	records      chan *recordReq
	stopRecorder chan struct{}
	recorderDone chan struct{}
	closeOnce    sync.Once
}

type recordReq struct {
	rec  cache.RangeRecord
	file *os.File // the content file holding rec's ranges, made durable before the commit
	out  cache.Content
	err  error
	done chan struct{}
}

var errFetcherClosed = errors.New("hydrate: the fetcher is closed")

// errNotDurable: the flush of content files failed; what was written may be lost.
var errNotDurable = errors.New("hydrate: cannot make downloaded content durable")

// Close stops every transfer and waits for the background work, recording what arrived.
// The store must stay open until it returns.
func (f *Fetcher) Close() {
	f.closeOnce.Do(func() {
		f.mu.Lock()
		for _, st := range f.files {
			st.mu.Lock()
			for _, x := range st.xfers {
				x.cancel()
			}
			st.mu.Unlock()
		}
		f.mu.Unlock()
		f.background.Wait() // what arrived is recorded before the recorder stops
		close(f.stopRecorder)
		<-f.recorderDone
	})
}

// record makes file durable and records rec, through the group committer.
func (f *Fetcher) record(rec cache.RangeRecord, file *os.File) (cache.Content, error) {
	r := &recordReq{rec: rec, file: file, done: make(chan struct{})}
	select {
	case f.records <- r:
	case <-f.stopRecorder:
		return cache.Content{}, errFetcherClosed
	}
	<-r.done // once queued, the recorder always answers
	return r.out, r.err
}

// syncFilesParallel bounds the fdatasyncs of one batch run at once: issued together,
// the file system commits them in few journal transactions rather than one each.
const syncFilesParallel = 8

// syncFiles makes the batch's content files durable: one fdatasync per file, each file
// once. Not syncfs: that flushed the whole file system the cache lives on, every other
// program's dirty pages included, on every batch.
func (f *Fetcher) syncFiles(batch []*recordReq) error {
	var files []*os.File
	seen := make(map[*os.File]bool, len(batch))
	for _, r := range batch {
		if r.file != nil && !seen[r.file] {
			seen[r.file] = true
			files = append(files, r.file)
		}
	}
	errs := make([]error, len(files))
	sem := make(chan struct{}, syncFilesParallel)
	var wg sync.WaitGroup
	for i, fh := range files {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = f.datasync(fh)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", errNotDurable, err)
	}
	return nil
}

func (f *Fetcher) recordLoop() {
	defer close(f.recorderDone)
	for {
		var batch []*recordReq
		select {
		case r := <-f.records:
			batch = append(batch, r)
		case <-f.stopRecorder:
			return
		}
		linger := time.NewTimer(recordLinger)
	gather:
		for len(batch) < recordBatchMax {
			select {
			case r := <-f.records:
				batch = append(batch, r)
			case <-linger.C:
				break gather
			case <-f.stopRecorder:
				break gather
			}
		}
		linger.Stop()
		err := f.syncFiles(batch)
		var out []cache.Content
		var errs []error
		if err == nil {
			recs := make([]cache.RangeRecord, len(batch))
			for i, r := range batch {
				recs[i] = r.rec
			}
			out, errs, err = f.cfg.Store.RecordBatch(recs)
		}
		for i, r := range batch {
			if err != nil {
				r.err = err
			} else {
				r.out, r.err = out[i], errs[i]
			}
			close(r.done)
		}
	}
}

// NewFetcher returns a Fetcher.
func NewFetcher(cfg FetcherConfig) *Fetcher {
	if cfg.MaxTransfers <= 0 {
		cfg.MaxTransfers = 8
	}
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = DefaultStallTimeout
	}
	if cfg.LockedWait <= 0 {
		cfg.LockedWait = DefaultLockedWait
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	f := &Fetcher{cfg: cfg, log: log, sem: make(chan struct{}, cfg.MaxTransfers),
		files: make(map[uint64]*fileState), pending: make(map[uint64]chan struct{}),
		sumStrikes: make(map[uint64]sumStrike), records: make(chan *recordReq, recordBatchMax),
		stopRecorder: make(chan struct{}), recorderDone: make(chan struct{})}
	f.dropContent = cfg.Store.DropContent
	f.datasync = func(fh *os.File) error { return unix.Fdatasync(int(fh.Fd())) }
	go f.recordLoop()
	return f
}

// fileState is everything known about one open file's content.
type fileState struct {
	id uint64
	// dropMu keeps a version's bytes from being dropped (reset) while they are being
	// made durable and recorded (persist holds it shared from its snapshot to its
	// commit): a record landing after the drop would claim bytes the file no longer has.
	// Order: dropMu, then createMu, then mu.
	dropMu sync.RWMutex
	// createMu serialises creating the content file (created on the first bytes, not at
	// open) and replacing it with an empty one for a new version.
	createMu sync.Mutex

	mu         sync.Mutex
	f          *os.File // the content file; nil until the first bytes need it
	mem        []byte   // a small file's bytes, downloaded into memory (see memFileMax)
	etag       string
	size       int64
	checksum   string // "SHA1:<hex>" when the server offered one
	gen        uint64 // bumped when another version replaced the local bytes
	have       rangeSet
	unrecorded rangeSet
	wake       chan struct{} // closed and replaced on every change
	opens      int
	xfers      []*transfer
	nextSeq    int64
	seqRun     int
	failures   int   // transfer failures so far; a waiter compares before and after
	lastErr    error // the latest failure
	verified   bool
	verifying  bool
	persisting bool // a persistAsync is running
	releasing  int  // last closes whose recording of what arrived is under way
	// passedThrough: this version's content file was handed to the kernel as a backing
	// file (PassthroughFd).
	passedThrough bool
	retired       []*os.File // content files of replaced versions, closed on release
	touched       time.Time  // last LRU touch
	// noIfMatch: the server refused If-Match for a version that had not changed (Apache
	// answers weak ETags for files written within the current second, and no If-Match
	// matches a weak ETag). Transfers then compare the answer's ETag themselves.
	noIfMatch bool
	// badSum: this version failed its checksum twice; reads fail with it rather than
	// download it again.
	badSum error
	wg     sync.WaitGroup // running transfers
}

// sumStrike is how many downloads of version etag failed the checksum.
type sumStrike struct {
	etag string
	n    int
}

// maxSumStrikes: downloads of one version that may fail the checksum. The second
// download tells a transfer gone wrong from bytes that differ on the server.
const maxSumStrikes = 2

// transfer is one GET filling [pos, end) of a file.
type transfer struct {
	pos, end int64
	stream   bool
	cancel   context.CancelFunc
}

// closeFiles closes the content file and those of replaced versions; only for a file
// no handle has open.
func (st *fileState) closeFiles() {
	if st.f != nil {
		st.f.Close()
	}
	for _, f := range st.retired {
		f.Close()
	}
}

// broadcast wakes every waiter. Caller holds st.mu.
func (st *fileState) broadcast() {
	close(st.wake)
	st.wake = make(chan struct{})
}

// Open returns a handle for reading id's content, loading what is already local. The
// open counts as a use of the content (LRU eviction, free --older-than).
func (f *Fetcher) Open(id uint64) (*Handle, error) { return f.open(id, true) }

// OpenUnused is Open for a reader that goes through everything (an indexer): its
// opens are no use of the content, so they neither keep it from eviction nor from
// free --older-than.
func (f *Fetcher) OpenUnused(id uint64) (*Handle, error) { return f.open(id, false) }

func (f *Fetcher) open(id uint64, use bool) (*Handle, error) {
	f.mu.Lock()
	st := f.files[id]
	for st == nil {
		if ch := f.pending[id]; ch != nil {
			f.mu.Unlock()
			<-ch // being loaded by another open, or evicted
			f.mu.Lock()
			st = f.files[id]
			continue
		}
		ch := make(chan struct{})
		f.pending[id] = ch
		f.mu.Unlock()
		loaded, err := f.load(id)
		f.mu.Lock()
		delete(f.pending, id)
		close(ch)
		if err != nil {
			f.mu.Unlock()
			return nil, err
		}
		st = loaded
		f.files[id] = st
	}
	st.mu.Lock()
	st.opens++
	// The LRU order needs no more than minute precision, and a commit per open is what
	// a small-file workload cannot afford; a file with nothing local has nothing to touch.
	now := time.Now()
	touch := use && len(st.have) > 0 && now.Sub(st.touched) > time.Minute
	if touch {
		st.touched = now
	}
	st.mu.Unlock()
	f.mu.Unlock()
	if touch {
		if err := f.cfg.Store.TouchContent(id, now); err != nil {
			f.log.Debug("touch content", "op", "open", "fileid", id, "err", err)
		}
	}
	return &Handle{f: f, st: st}, nil
}

// load reads the item and its local content record and opens the content file. The file
// is opened before the record is trusted: a drop that races with us (a listing found a
// new version) removes the path, and opening after it would find an empty file where the
// record promises bytes.
func (f *Fetcher) load(id uint64) (*fileState, error) {
	it, err := f.cfg.Store.Get(id)
	if err != nil {
		return nil, fmt.Errorf("hydrate: open %d: %w", id, err)
	}
	if it.IsDir {
		return nil, fmt.Errorf("hydrate: open %d: a folder has no content", id)
	}
	st := &fileState{id: id, etag: it.ETag, size: max(it.Size, 0), checksum: sha1Of(it.Checksums),
		wake: make(chan struct{})}
	if k := f.sumStrikes[id]; k.etag == it.ETag && k.n >= maxSumStrikes {
		st.badSum = errBadSum(it.ETag)
	}
	path := f.cfg.Store.ContentPath(id)
	if fh, err := os.OpenFile(path, os.O_RDWR, 0); err == nil {
		rec, ok, err := f.cfg.Store.Content(id)
		if err == nil && ok && rec.ETag == it.ETag && rec.Size == st.size {
			for _, r := range rec.Ranges {
				st.have.add(r.Off, r.End)
			}
			st.verified = rec.Verified
			// The LRU throttle in Open starts from the record's last use: from zero, every
			// open of a cached file nobody held cost an fsync'd commit.
			st.touched = rec.LastUse
			if err := fh.Truncate(st.size); err == nil {
				st.f = fh
				return st, nil
			}
		}
		fh.Close()
	}
	// Nothing usable: bytes of another version, or a record without its file. (A stray
	// file without a record is emptied when the first bytes arrive; a cold file costs
	// no commit and no file until then.)
	if _, had, err := f.cfg.Store.Content(id); err == nil && had {
		if err := f.dropContent(id); err != nil && !errors.Is(err, cache.ErrNotFound) {
			return nil, fmt.Errorf("hydrate: drop stale content of %d: %w", id, err)
		}
	}
	return st, nil
}

// contentFile returns the content file of version gen, creating it empty if it does
// not exist yet; an error if another version replaced gen meanwhile.
func (f *Fetcher) contentFile(st *fileState, gen uint64) (*os.File, error) {
	st.createMu.Lock()
	defer st.createMu.Unlock()
	st.mu.Lock()
	fh, current, size := st.f, st.gen == gen, st.size
	st.mu.Unlock()
	if !current {
		return nil, errVersionMoved
	}
	if fh != nil {
		return fh, nil
	}
	// Under createMu no one else creates or replaces the file, and a version change
	// (reset) waits for it: the file created here belongs to gen.
	fh, err := openContentFile(f.cfg.Store.ContentPath(st.id), size, true)
	if err != nil {
		return nil, &writeError{err}
	}
	st.mu.Lock()
	st.f = fh
	st.mu.Unlock()
	return fh, nil
}

// Evict turns a closed file back into a placeholder. The file is marked pending while
// its bytes go, so that no Open loads it meanwhile; the commit runs without the
// Fetcher's lock.
func (f *Fetcher) Evict(id uint64) error {
	f.mu.Lock()
	if f.pending[id] != nil {
		f.mu.Unlock()
		return errBusy
	}
	if st := f.files[id]; st != nil {
		st.mu.Lock()
		busy := st.opens > 0 || len(st.xfers) > 0 || st.verifying || st.persisting || st.releasing > 0
		st.mu.Unlock()
		if busy {
			f.mu.Unlock()
			return errBusy
		}
		delete(f.files, id)
		st.closeFiles()
	}
	ch := make(chan struct{})
	f.pending[id] = ch
	f.mu.Unlock()
	err := f.dropContent(id)
	f.mu.Lock()
	delete(f.pending, id)
	close(ch)
	f.mu.Unlock()
	return err
}

var errBusy = errors.New("hydrate: the file is in use")

// ErrBusy: the file is open or being downloaded; its content was not dropped.
var ErrBusy = errBusy

// Hydrating reports whether bytes of id are being downloaded now.
func (f *Fetcher) Hydrating(id uint64) bool {
	f.mu.Lock()
	st := f.files[id]
	f.mu.Unlock()
	if st == nil {
		return false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return len(st.xfers) > 0
}

// openContentFile opens (or creates) a sparse content file of the given size; fresh
// empties it first (a file without a record is garbage from an older version).
func openContentFile(path string, size int64, fresh bool) (*os.File, error) {
	flags := os.O_RDWR | os.O_CREATE
	if fresh {
		flags |= os.O_TRUNC
	}
	fh, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		return nil, fmt.Errorf("hydrate: content file: %w", err)
	}
	if err := fh.Truncate(size); err != nil {
		fh.Close()
		return nil, fmt.Errorf("hydrate: size content file: %w", err)
	}
	return fh, nil
}

// sha1Of picks the SHA1 entry of an oc:checksums value ("SHA1:ab.. MD5:..").
func sha1Of(checksums string) string {
	for _, c := range strings.Fields(checksums) {
		if strings.HasPrefix(strings.ToUpper(c), "SHA1:") {
			return strings.ToLower(c[5:])
		}
	}
	return ""
}

// Handle is one open of a file. A handle that has returned bytes of one version never
// returns bytes of another: if the server's version changes under it, its reads fail
// with ErrChangedWhileOpen.
type Handle struct {
	f       *Fetcher
	st      *fileState
	gen     uint64
	started bool
	closed  bool
}

// ReadAt reads len(p) bytes at off (fewer at the end of the file), waiting only until
// those bytes are local. It returns ctx's error when ctx ends first; the transfers it
// started go on for other readers.
func (h *Handle) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	loc, err := h.Locate(ctx, off, len(p))
	if err != nil {
		return 0, err
	}
	if loc.Mem != nil {
		return copy(p, loc.Mem), nil
	}
	n, err := loc.File.ReadAt(p[:loc.Len], off)
	if err != nil && !(err == io.EOF && n == loc.Len) {
		return n, fmt.Errorf("hydrate: read content file: %w", err)
	}
	return n, nil
}

// Location says where local bytes are: in Mem (a small file's memory; never changed
// afterwards), or else Len bytes of File at the offset asked for. File stays open at
// least until the handle is closed, so the kernel may splice from it after Locate
// returns.
type Location struct {
	Mem  []byte
	File *os.File
	Len  int
}

// Locate waits until the n bytes at off (fewer at the end of the file) are local and
// says where they are, without copying them; io.EOF at or past the end. It returns
// ctx's error when ctx ends first; the transfers it started go on for other readers.
func (h *Handle) Locate(ctx context.Context, off int64, n int) (Location, error) {
	st := h.st
	st.mu.Lock()
	defer st.mu.Unlock()
	seenFailures := st.failures
	for {
		if h.started && h.gen != st.gen {
			return Location{}, ErrChangedWhileOpen
		}
		if !h.started {
			h.gen = st.gen // nothing returned yet: follow the newest version
		}
		if off >= st.size || n <= 0 {
			return Location{}, io.EOF
		}
		end := min(off+int64(n), st.size)
		if st.badSum != nil {
			return Location{}, st.badSum
		}
		if st.have.has(off, end) {
			h.started = true
			st.noteRead(off, end)
			h.f.readAhead(st, end)
			if st.mem != nil {
				return Location{Mem: st.mem[off:end:end], Len: int(end - off)}, nil
			}
			return Location{File: st.f, Len: int(end - off)}, nil
		}
		if st.failures != seenFailures {
			return Location{}, st.lastErr
		}
		h.f.ensure(st, off, end)
		wake := st.wake
		st.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			st.mu.Lock() // for the deferred unlock
			return Location{}, ctx.Err()
		}
		st.mu.Lock()
	}
}

// ErrNotLocal: the bytes asked for are not here, and the reader asked not to download.
var ErrNotLocal = errors.New("hydrate: the content is not local and this reader does not download")

// LocateLocal is Locate for a reader that must not cause downloads (an indexer, see
// session's --no-hydrate-for): the bytes are located only when they are here already,
// else ErrNotLocal. Nothing is fetched, not even read-ahead.
func (h *Handle) LocateLocal(off int64, n int) (Location, error) {
	st := h.st
	st.mu.Lock()
	defer st.mu.Unlock()
	if h.started && h.gen != st.gen {
		return Location{}, ErrChangedWhileOpen
	}
	if off >= st.size || n <= 0 {
		return Location{}, io.EOF
	}
	end := min(off+int64(n), st.size)
	if st.badSum != nil {
		return Location{}, st.badSum
	}
	if !st.have.has(off, end) {
		return Location{}, ErrNotLocal
	}
	if !h.started {
		h.gen = st.gen
	}
	h.started = true
	if st.mem != nil {
		return Location{Mem: st.mem[off:end:end], Len: int(end - off)}, nil
	}
	return Location{File: st.f, Len: int(end - off)}, nil
}

// noteRead tracks whether reads follow each other. Caller holds st.mu.
func (st *fileState) noteRead(off, end int64) {
	if off >= st.nextSeq-seqSlack && off <= st.nextSeq+seqSlack && off != 0 {
		st.seqRun++
	} else {
		st.seqRun = 0
	}
	st.nextSeq = max(end, st.nextSeq)
}

// readAhead starts a new stream for a sequential reader that is refillLead from the
// end of what is local, unless one is running there. Caller holds st.mu.
func (f *Fetcher) readAhead(st *fileState, end int64) {
	if st.seqRun < seqTrigger {
		return
	}
	next := st.have.firstMissing(end, st.size)
	if next >= st.size || next-end > refillLead {
		return
	}
	for _, x := range st.xfers {
		if x.pos <= next && next < x.end {
			return
		}
	}
	f.start(st, next, min(st.size, st.have.nextPresent(next, st.size)), true)
}

// ensure starts what it takes to bring [off, end) in, unless a running transfer will.
// Caller holds st.mu.
func (f *Fetcher) ensure(st *fileState, off, end int64) {
	miss := st.have.firstMissing(off, end)
	for _, x := range st.xfers {
		if x.pos <= miss && miss < x.end && (!x.stream || miss-x.pos <= streamWindow) {
			return // on its way
		}
	}
	sequential := st.seqRun >= seqTrigger && miss >= st.nextSeq-seqSlack && miss <= st.nextSeq+seqSlack
	stop := st.size
	if !sequential {
		stop = min((max(end, miss+1)+blockSize-1)/blockSize*blockSize, st.size)
	}
	// Never fetch again what is already here.
	stop = min(stop, st.have.nextPresent(miss, st.size))
	for _, x := range st.xfers {
		if x.pos > miss && x.pos < stop {
			stop = x.pos // a running transfer already covers the rest
		}
	}
	f.start(st, miss, stop, sequential)
}

// start launches a transfer of [off, end). Caller holds st.mu.
func (f *Fetcher) start(st *fileState, off, end int64, stream bool) {
	ctx, cancel := context.WithCancel(context.Background())
	x := &transfer{pos: off, end: end, stream: stream, cancel: cancel}
	st.xfers = append(st.xfers, x)
	st.wg.Add(1)
	f.background.Add(1)
	ifMatch := st.etag
	if st.noIfMatch {
		ifMatch = ""
	}
	go f.run(ctx, st, x, st.gen, st.etag, ifMatch)
}

// run performs one transfer, resuming after a broken connection, and records what came.
func (f *Fetcher) run(ctx context.Context, st *fileState, x *transfer, gen uint64, etag, ifMatch string) {
	defer f.background.Done()
	defer st.wg.Done()
	defer x.cancel()
	err := f.transfer(ctx, st, x, gen, etag, ifMatch)
	// A stream that paused ahead of its reader is recorded later (by the stream that
	// follows it, or the last close): flushing now would slow the reading going on.
	paused := errors.Is(err, errFarAhead)
	if paused {
		err = nil
	}
	st.mu.Lock()
	for i, y := range st.xfers {
		if y == x {
			st.xfers = append(st.xfers[:i], st.xfers[i+1:]...)
			break
		}
	}
	versionMoved := errors.Is(err, davclient.ErrPrecondition) || errors.Is(err, errVersionMoved)
	if err != nil && !versionMoved && ctx.Err() == nil && st.gen == gen {
		st.failures++
		st.lastErr = err
		f.log.Warn("download failed", "op", "get", "fileid", st.id, "etag", etag,
			"offset", x.pos, "err", err)
	}
	st.broadcast()
	st.mu.Unlock()
	if versionMoved && ctx.Err() == nil {
		f.versionChanged(st, gen, ifMatch != "") // waiters go on with the new version, or without If-Match
		return
	}
	if !paused {
		f.persist(st)
	}
}

var errVersionMoved = errors.New("the server answered with another version of the file")

// errFarAhead ends a stream that got streamLead ahead of its reader; not a failure.
var errFarAhead = errors.New("the download is far enough ahead of its reader")

// transfer streams [x.pos, x.end) into the content file.
func (f *Fetcher) transfer(ctx context.Context, st *fileState, x *transfer, gen uint64, etag, ifMatch string) error {
	select {
	case f.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	holding := true // a slot of f.sem; given back while waiting for a lock
	defer func() {
		if holding {
			<-f.sem
		}
	}()
	// Where the server has it: a file renamed here is still at its old place there
	// until the MOVE is uploaded.
	path, err := f.cfg.Store.ServerPath(st.id)
	if err != nil {
		return fmt.Errorf("hydrate: path of %d: %w", st.id, err)
	}
	st.mu.Lock()
	toMem := st.gen == gen && (st.mem != nil || (st.f == nil && st.size <= memFileMax))
	if toMem && st.mem == nil {
		st.mem = make([]byte, st.size)
	}
	st.mu.Unlock()
	// The content file is created while the request is under way.
	var fileReady chan error
	if !toMem {
		fileReady = make(chan error, 1)
		go func() {
			_, err := f.contentFile(st, gen)
			fileReady <- err
		}()
		defer func() {
			if fileReady != nil {
				<-fileReady
			}
		}()
	}
	buf := make([]byte, min(chunkSize, max(x.end-x.pos, 1)))
	moved := false // the path was asked for again after a 404
	var lastErr error
	lastRecord := time.Now()
	var lockedSince time.Time
	locked := false // the last try met a lock: it paused already and counts as no attempt
	for attempt := 0; attempt < transferAttempts; attempt++ {
		if attempt > 0 && !locked {
			select {
			case <-time.After(time.Duration(attempt*attempt) * 100 * time.Millisecond):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		st.mu.Lock()
		pos := x.pos
		st.mu.Unlock()
		if pos >= x.end {
			return nil
		}
		err := f.attempt(ctx, st, x, gen, etag, path, ifMatch, pos, buf, &fileReady, &lastRecord)
		locked = errors.Is(err, davclient.ErrLocked)
		if locked {
			if lockedSince.IsZero() {
				lockedSince = time.Now()
				f.log.Info("the file is locked on the server (another client is uploading it?); waiting",
					"op", "get", "path", path, "fileid", st.id, "wait", f.cfg.LockedWait)
			}
			if err := f.waitForLock(ctx, lockedSince, &holding); err != nil {
				return err
			}
			attempt--
			continue
		}
		if errors.Is(err, davclient.ErrNotFound) && !moved {
			if p, ok := f.movedMeanwhile(ctx, st.id, path); ok {
				path, moved = p, true
				attempt--
				continue
			}
		}
		if err == nil || errors.Is(err, errFarAhead) || errors.Is(err, errVersionMoved) ||
			errors.Is(err, davclient.ErrPrecondition) || ctx.Err() != nil {
			return err
		}
		var werr *writeError
		if errors.As(err, &werr) {
			f.noteWriteError(err)
			return err // the local disk failed: retrying will not help
		}
		if !errors.Is(err, davclient.ErrTransient) || errors.Is(err, ErrOffline) {
			return err // offline: fail now, the probe tells when trying makes sense again
		}
		lastErr = err
	}
	return fmt.Errorf("hydrate: download of %q gave up after %d attempts: %w", path, transferAttempts, lastErr)
}

// movedMeanwhile gives the server path of id when it is no longer path: the upload of
// a MOVE made here landed while the file was asked for at its old place (the store
// learns of it a moment after the server, hence the short waits).
func (f *Fetcher) movedMeanwhile(ctx context.Context, id uint64, path string) (string, bool) {
	for i := range 3 {
		if i > 0 {
			select {
			case <-time.After(50 * time.Millisecond):
			case <-ctx.Done():
				return "", false
			}
		}
		p, err := f.cfg.Store.ServerPath(id)
		if err != nil {
			return "", false
		}
		if p != path {
			return p, true
		}
	}
	return "", false
}

// waitForLock pauses before the next try of a locked file, with a growing pause, giving
// back the transfer slot meanwhile; ErrLocked once the file stayed locked for LockedWait.
func (f *Fetcher) waitForLock(ctx context.Context, since time.Time, holding *bool) error {
	left := f.cfg.LockedWait - time.Since(since)
	if left <= 0 {
		return fmt.Errorf("hydrate: the file stayed locked on the server for %s (another client is uploading it?); try again later: %w",
			f.cfg.LockedWait, davclient.ErrLocked)
	}
	pause := min(max(time.Since(since), 100*time.Millisecond), lockedPause, left)
	<-f.sem
	*holding = false
	t := time.NewTimer(pause)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case f.sem <- struct{}{}:
		*holding = true
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// errStalled: nothing arrived for StallTimeout; the attempt is dropped and resumed.
var errStalled = fmt.Errorf("hydrate: the download stalled (nothing received for a while): %w", davclient.ErrTransient)

// attempt is one GET of [pos, x.end), copied into the file as it arrives. A watchdog
// drops it when nothing arrives for StallTimeout.
func (f *Fetcher) attempt(ctx context.Context, st *fileState, x *transfer, gen uint64, etag, path, ifMatch string,
	pos int64, buf []byte, fileReady *chan error, lastRecord *time.Time) error {
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	watchdog := time.AfterFunc(f.cfg.StallTimeout, cancel)
	defer watchdog.Stop()
	stalled := func(err error) error {
		if ctx.Err() == nil && actx.Err() != nil {
			return errStalled
		}
		return err
	}
	resp, err := f.cfg.Client.Get(actx, path, davclient.GetOptions{Offset: pos, Length: x.end - pos, IfMatch: ifMatch})
	if err != nil {
		return stalled(err)
	}
	defer resp.Body.Close()
	if resp.ETag != "" && !davclient.SameVersion(resp.ETag, etag) {
		return errVersionMoved // a server that ignores If-Match: compare ourselves
	}
	if *fileReady != nil {
		err := <-*fileReady
		*fileReady = nil
		if err != nil {
			f.noteWriteError(err)
			return err
		}
	}
	body := &watchedReader{r: resp.Body, watchdog: watchdog, timeout: f.cfg.StallTimeout}
	err = f.copyBody(st, x, gen, body, buf, lastRecord)
	var werr *writeError
	switch {
	case err == nil, errors.Is(err, errFarAhead), errors.Is(err, errVersionMoved), errors.As(err, &werr):
		return err
	case ctx.Err() == nil && actx.Err() != nil:
		return errStalled
	case !errors.Is(err, davclient.ErrTransient):
		// The connection broke (reset, timeout): resumable where it stopped.
		return fmt.Errorf("hydrate: download broke off: %w: %w", davclient.ErrTransient, err)
	}
	return err
}

// watchedReader pushes a watchdog back on every byte received.
type watchedReader struct {
	r        io.Reader
	watchdog *time.Timer
	timeout  time.Duration
}

func (w *watchedReader) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if n > 0 {
		w.watchdog.Reset(w.timeout)
	}
	return n, err
}

// noteWriteError passes a full disk on to OnNoSpace.
func (f *Fetcher) noteWriteError(err error) {
	if errors.Is(err, syscall.ENOSPC) && f.cfg.OnNoSpace != nil {
		f.cfg.OnNoSpace()
	}
}

// writeError marks a failure of the local content file (a full disk, say).
type writeError struct{ err error }

func (e *writeError) Error() string {
	if errors.Is(e.err, syscall.ENOSPC) {
		return "the cache's disk is full (free space there, or lower --cache-size / raise --min-free-space): " + e.err.Error()
	}
	return "write content file: " + e.err.Error()
}
func (e *writeError) Unwrap() error { return e.err }

// copyBody writes a response body into the content file (or a small file's memory),
// publishing each chunk.
func (f *Fetcher) copyBody(st *fileState, x *transfer, gen uint64, body io.Reader, buf []byte, lastRecord *time.Time) error {
	for {
		st.mu.Lock()
		pos, fh, toMem, current := x.pos, st.f, st.mem != nil, st.gen == gen
		st.mu.Unlock()
		if !current {
			return errVersionMoved
		}
		if pos >= x.end {
			return nil
		}
		n, rerr := io.ReadFull(body, buf[:min(int64(len(buf)), x.end-pos)])
		if n > 0 {
			if !toMem {
				if _, err := fh.WriteAt(buf[:n], pos); err != nil {
					return &writeError{err}
				}
			}
			st.mu.Lock()
			if st.gen != gen {
				st.mu.Unlock()
				return errVersionMoved
			}
			if toMem {
				copy(st.mem[pos:], buf[:n])
			}
			st.have.add(pos, pos+int64(n))
			st.unrecorded.add(pos, pos+int64(n))
			x.pos = pos + int64(n)
			ahead := x.stream && x.pos-st.nextSeq > streamLead
			st.broadcast()
			st.mu.Unlock()
			if ahead {
				return errFarAhead
			}
			if now := time.Now(); now.Sub(*lastRecord) >= recordEvery {
				*lastRecord = now
				f.persistAsync(st)
			}
		}
		if rerr != nil {
			if x.pos >= x.end {
				return nil
			}
			if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
				return fmt.Errorf("hydrate: connection ended early at byte %d of %d: %w", x.pos, x.end, davclient.ErrTransient)
			}
			return rerr
		}
	}
}

// persistAsync records what arrived so far without holding up the transfer (a flush
// of what a fast stream wrote stalls it); one at a time per file.
// The caller is a running transfer, so st.wg is above zero and the last Close waits
// for this too.
func (f *Fetcher) persistAsync(st *fileState) {
	st.mu.Lock()
	busy := st.persisting
	st.persisting = true
	st.mu.Unlock()
	if busy {
		return
	}
	st.wg.Add(1)
	f.background.Add(1)
	go func() {
		defer f.background.Done()
		defer st.wg.Done()
		f.persist(st)
		st.mu.Lock()
		st.persisting = false
		st.mu.Unlock()
	}()
}

// persist makes the bytes that arrived durable and records them; a complete file is
// then verified in the background.
func (f *Fetcher) persist(st *fileState) {
	st.dropMu.RLock() // the bytes snapshotted here stay until their record is committed
	st.mu.Lock()
	rs, etag, size, gen, fh, mem := st.unrecorded, st.etag, st.size, st.gen, st.f, st.mem
	st.unrecorded = nil
	complete := !st.verified && !st.verifying && st.have.has(0, size)
	// Without a checksum to check, a complete file is recorded and marked local in one
	// commit: the common case of every small file read.
	completeNow := complete && st.checksum == "" && len(rs) > 0
	if complete && !completeNow {
		st.verifying = true
	}
	st.mu.Unlock()
	if len(rs) > 0 {
		if mem != nil {
			var err error
			if fh, err = f.writeMem(st, gen, mem, rs); err != nil {
				st.dropMu.RUnlock()
				if !errors.Is(err, errVersionMoved) {
					f.log.Warn("cannot store downloaded content (it stays readable while open)",
						"op", "store", "fileid", st.id, "err", err)
					f.noteWriteError(err)
				}
				f.undoVerifying(st, complete && !completeNow)
				return
			}
		}
		_, err := f.record(cache.RangeRecord{ID: st.id, ETag: etag, Size: size, Ranges: rs, Complete: completeNow}, fh)
		if err != nil {
			f.unrecord(st, gen, rs, err)
			st.dropMu.RUnlock()
			if !errors.Is(err, cache.ErrStale) {
				f.log.Warn("cannot record downloaded ranges", "op", "record", "fileid", st.id, "err", err)
			}
			f.undoVerifying(st, complete && !completeNow)
			return
		}
		if completeNow {
			st.mu.Lock()
			if st.gen == gen {
				st.verified = true
			}
			st.mu.Unlock()
		}
	}
	st.dropMu.RUnlock()
	if len(rs) > 0 && f.cfg.OnStored != nil {
		f.cfg.OnStored(st.id)
	}
	if complete && !completeNow {
		if fh == nil { // nothing was ever written: nothing to check
			f.undoVerifying(st, true)
			return
		}
		f.background.Add(1)
		go f.verify(st, gen, etag, fh, size)
	}
}

// unrecord handles ranges of version gen that could not be recorded: bytes whose flush
// failed may be lost, so they are fetched again when read; ranges refused for another
// reason (a file marked complete before the rest of it was recorded) wait for the next
// record. Nothing is kept for a version that moved on or an item that is gone.
func (f *Fetcher) unrecord(st *fileState, gen uint64, rs rangeSet, err error) {
	if errors.Is(err, cache.ErrStale) || errors.Is(err, cache.ErrNotFound) || errors.Is(err, errFetcherClosed) {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.gen != gen {
		return
	}
	for _, r := range rs {
		if errors.Is(err, errNotDurable) {
			st.have.remove(r.Off, r.End)
		} else {
			st.unrecorded.add(r.Off, r.End)
		}
	}
}

// writeMem writes a small file's downloaded ranges from memory into its content file.
func (f *Fetcher) writeMem(st *fileState, gen uint64, mem []byte, rs rangeSet) (*os.File, error) {
	fh, err := f.contentFile(st, gen)
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		if _, err := fh.WriteAt(mem[r.Off:r.End], r.Off); err != nil {
			return nil, &writeError{err}
		}
	}
	return fh, nil
}

// undoVerifying clears the verifying mark persist set, when it stops before verify runs.
func (f *Fetcher) undoVerifying(st *fileState, set bool) {
	if !set {
		return
	}
	st.mu.Lock()
	st.verifying = false
	st.mu.Unlock()
}

// verify checks a complete file against the server's checksum (when there is one) and
// marks it local. A mismatch drops the bytes: they are not what the server has.
func (f *Fetcher) verify(st *fileState, gen uint64, etag string, fh *os.File, size int64) {
	defer f.background.Done()
	defer f.releaseIfIdle(st)
	st.mu.Lock()
	want := st.checksum
	st.mu.Unlock()
	var err error
	if want != "" {
		h := sha1.New()
		if _, err = io.Copy(h, io.NewSectionReader(fh, 0, size)); err == nil {
			if got := hex.EncodeToString(h.Sum(nil)); got != want {
				err = fmt.Errorf("%w (SHA1 %s, server says %s)", ErrChecksum, got, want)
				if f.repairChecksum(st, gen, etag, size, got) {
					err = nil
				}
			}
		}
	}
	if err == nil {
		err = f.cfg.Store.MarkVerified(st.id, etag)
	}
	st.mu.Lock()
	st.verifying = false
	if st.gen == gen && err == nil {
		st.verified = true
	}
	st.mu.Unlock()
	if errors.Is(err, ErrChecksum) {
		f.mu.Lock()
		k := f.sumStrikes[st.id]
		if k.etag != etag {
			k = sumStrike{etag: etag}
		}
		k.n++
		f.sumStrikes[st.id] = k
		f.mu.Unlock()
		st.mu.Lock()
		if k.n >= maxSumStrikes && st.gen == gen {
			st.badSum = fmt.Errorf("%w; %w", errBadSum(etag), err)
		}
		st.failures++
		st.lastErr = err
		st.mu.Unlock()
		if k.n >= maxSumStrikes {
			f.log.Error("downloaded file does not match the server's checksum again; it is not downloaded again until it changes on the server",
				"op", "verify", "fileid", st.id, "etag", etag, "err", err)
		} else {
			f.log.Warn("downloaded file does not match the server's checksum; dropping it, it will be downloaded once more",
				"op", "verify", "fileid", st.id, "etag", etag, "err", err)
		}
		f.reset(st, gen, nil)
	} else if err != nil && !errors.Is(err, cache.ErrStale) {
		f.log.Warn("cannot mark content local", "op", "verify", "fileid", st.id, "err", err)
	}
}

// errBadSum is what reads of a version that failed its checksum for good return.
func errBadSum(etag string) error {
	return fmt.Errorf("%w: version %s was downloaded twice and differed from the checksum both times", ErrChecksum, etag)
}

// repairChecksum decides, as the desktop client does, whether the server's stored
// checksum is what is wrong (Nextcloud stores what uploaders claim, unverified): the
// server hashes its bytes again (davclient.RecalculateChecksum), and when that gives the
// hash of the bytes received while ETag and size still hold, the corrected checksum is
// stored and the bytes kept. It reports whether it did so.
func (f *Fetcher) repairChecksum(st *fileState, gen uint64, etag string, size int64, got string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	path, err := f.cfg.Store.ServerPath(st.id)
	if err != nil {
		return false
	}
	sum, err := f.cfg.Client.RecalculateChecksum(ctx, path)
	if err != nil || sha1Of(sum) != got {
		f.log.Info("the server does not vouch for the downloaded bytes", "op", "recalculate-checksum",
			"fileid", st.id, "etag", etag, "server", sum, "err", err)
		return false
	}
	e, err := f.cfg.Client.Stat(ctx, path)
	if err != nil || !davclient.SameVersion(e.ETag, etag) || e.Size != size {
		return false // changed meanwhile: the version check will see to it
	}
	it := itemFromEntry(e, st.id)
	if sha1Of(it.Checksums) != got {
		it.Checksums = sum
	}
	if _, err := f.cfg.Store.UpdateRemote(it); err != nil {
		f.log.Warn("cannot store the corrected checksum", "op", "recalculate-checksum", "fileid", st.id, "err", err)
		return false
	}
	st.mu.Lock()
	if st.gen == gen {
		st.checksum = got
	}
	st.mu.Unlock()
	f.log.Info("the server's stored checksum was wrong; it recomputed it to match the download",
		"op", "recalculate-checksum", "fileid", st.id, "etag", etag, "checksum", sum)
	return true
}

// versionChanged refreshes the file's metadata from the server after a transfer found
// another version, then drops the old bytes.
func (f *Fetcher) versionChanged(st *fileState, gen uint64, sentIfMatch bool) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	path, err := f.cfg.Store.ServerPath(st.id)
	if err == nil {
		var e davclient.Entry
		if e, err = f.cfg.Client.Stat(ctx, path); err == nil {
			st.mu.Lock()
			unchanged := st.gen == gen && davclient.SameVersion(e.ETag, st.etag) && e.Size == st.size
			// A refused If-Match for an unchanged file is spurious, however many
			// transfers sent one before the first refusal was understood.
			spurious := unchanged && sentIfMatch
			first := spurious && !st.noIfMatch
			if spurious {
				st.noIfMatch = true
				st.broadcast() // waiters retry, without If-Match
			} else if unchanged {
				// Even compared by hand, the download's ETag is not the listing's for an
				// unchanged file: versions cannot be told apart. Fail the readers rather
				// than drop and fetch again forever.
				st.failures++
				st.lastErr = fmt.Errorf("hydrate: the server answers downloads of this file with another ETag than its listing (%s); cannot tell its versions apart: %w",
					e.ETag, davclient.ErrBadResponse)
				st.broadcast()
			}
			st.mu.Unlock()
			if first {
				f.log.Info("the server refuses If-Match for an unchanged file; comparing ETags instead",
					"op", "get", "fileid", st.id, "etag", e.ETag)
			}
			if unchanged {
				return
			}
			_, err = f.cfg.Store.UpdateRemote(itemFromEntry(e, st.id))
		}
	}
	if err != nil {
		f.log.Warn("file changed on the server and cannot be checked again", "op", "stat", "fileid", st.id, "err", err)
	}
	f.reset(st, gen, err)
}

// Invalidate drops the local bytes of id if they are not of the version the cache now
// holds (a listing found a new ETag). Safe to call for files that are not open.
func (f *Fetcher) Invalidate(id uint64) {
	f.mu.Lock()
	st, ch := f.files[id], f.pending[id]
	f.mu.Unlock()
	if st == nil && ch != nil {
		// A load may have read the item before the listing's commit: check what it got.
		<-ch
		f.mu.Lock()
		st = f.files[id]
		f.mu.Unlock()
	}
	if st == nil {
		return
	}
	it, err := f.cfg.Store.Get(id)
	st.mu.Lock()
	gen, current := st.gen, err == nil && it.ETag == st.etag && max(it.Size, 0) == st.size
	st.mu.Unlock()
	if current {
		return // opened after the listing's commit: already the new version
	}
	f.reset(st, gen, nil)
}

// reset replaces the local state of st (generation gen) by the version the cache holds
// now. Transfers of the old version are cancelled; their bytes are never used.
func (f *Fetcher) reset(st *fileState, gen uint64, cause error) {
	it, err := f.cfg.Store.Get(st.id)
	st.dropMu.Lock()   // no record of the old version is under way, or starts, from here on
	st.createMu.Lock() // no content file is created for the old version from here on
	st.mu.Lock()
	if st.gen != gen {
		st.mu.Unlock()
		st.createMu.Unlock()
		st.dropMu.Unlock()
		return // someone else already did
	}
	st.gen++
	for _, x := range st.xfers {
		x.cancel()
	}
	st.xfers = nil
	st.have, st.unrecorded = nil, nil
	st.verified, st.seqRun = false, 0
	if err == nil {
		if it.ETag != st.etag {
			st.badSum = nil
		}
		st.etag, st.size, st.checksum = it.ETag, max(it.Size, 0), sha1Of(it.Checksums)
	} else if cause == nil {
		cause = err
	}
	if cause != nil {
		st.failures++
		st.lastErr = cause
	}
	// The old version's file and memory go at once, so that nothing started for the new
	// version writes into them. The file stays open until the file is released: a read
	// located in it may still be on its way to the kernel. The new version's file is
	// created when its bytes arrive, after the drop (createMu).
	if st.f != nil {
		st.retired = append(st.retired, st.f)
	}
	st.f, st.mem = nil, nil
	passedThrough := st.passedThrough
	st.passedThrough = false
	st.broadcast()
	st.mu.Unlock()
	if derr := f.cfg.Store.DropContent(st.id); derr != nil && !errors.Is(derr, cache.ErrNotFound) {
		f.log.Warn("cannot drop stale content", "op", "drop", "fileid", st.id, "err", derr)
	}
	st.createMu.Unlock()
	st.dropMu.Unlock()
	// With no lock held: the kernel's invalidation may wait for a read that waits for a
	// new content file (createMu).
	if f.cfg.OnVersionChange != nil {
		f.cfg.OnVersionChange(st.id, passedThrough)
	}
}

// Close releases the handle. When the last handle of a file closes, its transfers stop
// (nobody is waiting for them) and what arrived is recorded.
func (h *Handle) Close() error {
	if h.closed {
		return nil
	}
	h.closed = true
	f, st := h.f, h.st
	f.mu.Lock()
	st.mu.Lock()
	st.opens--
	last := st.opens == 0
	if last {
		for _, x := range st.xfers {
			x.cancel()
		}
		st.releasing++ // until recorded and released: no eviction meanwhile
	}
	st.mu.Unlock()
	f.mu.Unlock()
	if !last {
		return nil
	}
	f.background.Add(1)
	go func() {
		defer f.background.Done()
		st.wg.Wait()
		f.persist(st)
		st.mu.Lock()
		st.releasing--
		st.mu.Unlock()
		f.releaseIfIdle(st)
	}()
	return nil
}

// releaseIfIdle forgets a file nobody has open and nothing works on, closing its content
// file; the next Open loads it again from the cache.
func (f *Fetcher) releaseIfIdle(st *fileState) {
	f.mu.Lock()
	st.mu.Lock()
	idle := st.opens == 0 && len(st.xfers) == 0 && !st.verifying && !st.persisting && st.releasing == 0 &&
		f.files[st.id] == st
	if idle {
		delete(f.files, st.id)
		st.closeFiles()
	}
	st.mu.Unlock()
	f.mu.Unlock()
	if idle && f.cfg.OnIdle != nil {
		f.cfg.OnIdle(st.id)
	}
}

// PassthroughFd returns the content file's descriptor when every byte is local and
// verified and this is the file's only open, so the kernel can serve reads itself. Only
// then: the kernel refuses a passthrough open next to a cached one (a second reader of a
// file being read would fail), and go-fuse hands the backing file of a passthrough open
// to every open that follows while it lasts.
func (h *Handle) PassthroughFd() (int, bool) {
	h.st.mu.Lock()
	defer h.st.mu.Unlock()
	if !h.st.verified || h.st.f == nil || h.st.opens != 1 {
		return 0, false
	}
	h.st.passedThrough = true
	return int(h.st.f.Fd()), true
}
