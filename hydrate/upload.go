package hydrate

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/ncvfs/ncvfs/cache"
	"github.com/ncvfs/ncvfs/davclient"
)

// Upload defaults.
const (
	// DefaultDebounce: a file is uploaded once it has been closed and left alone this
	// long, so that a program writing it in several opens (or a build) is uploaded once.
	DefaultDebounce = 2 * time.Second
	// DefaultChunkThreshold: larger files go up in chunks (Nextcloud's chunked upload
	// v2), resumable after a restart; Nextcloud's own clients use 10 MB chunks.
	DefaultChunkThreshold = 10 << 20
	// DefaultUploadWorkers: files uploaded at once. Small files are bound by round
	// trips and commits, not bandwidth: a few in flight hide both.
	DefaultUploadWorkers = 4
	uploadMaxBackoff     = time.Minute
	uploadMinBackoff     = 500 * time.Millisecond
	uploadTimeout        = 30 * time.Minute
)

// UploaderConfig wires an Uploader.
type UploaderConfig struct {
	Store  *cache.Store
	Client davclient.Interface
	Local  *Local
	Lister *Lister
	Logger *slog.Logger
	// Workers: content uploads running at once (default DefaultUploadWorkers).
	Workers int
	// Debounce, ChunkThreshold and ChunkSize: see the defaults. Chunked uploads are
	// used only on Nextcloud (Chunked true).
	Debounce       time.Duration
	ChunkThreshold int64
	ChunkSize      int64
	Chunked        bool
	// UploadConflicts uploads conflict copies like new files (else they stay local).
	UploadConflicts bool
	// OnNames is told (no lock held) that names in a folder changed: a conflict copy
	// appeared, the original name went back to the server's version.
	OnNames func(dirID uint64, names ...string)
	// OnUploaded is told that an item is the server's version now.
	OnUploaded func(id uint64)
	// OnConflict is told of every conflict copy made (path of the copy).
	OnConflict func(copyPath string)
	// Now, for tests; time.Now by default.
	Now func() time.Time
}

// Uploader drains the upload queue: every change made in the mount reaches the server,
// always conditionally (If-Match on the version the edit started from, If-None-Match: *
// for a new file), and where both sides changed the local version is kept as a
// conflict copy. Namespace work in queue order, so that a folder is made before what
// is made in it; file contents a few at a time.
type Uploader struct {
	cfg  UploaderConfig
	log  *slog.Logger
	wake chan struct{}
	stop context.CancelFunc
	done chan struct{}

	mu       sync.Mutex
	changed  *sync.Cond // broadcast after every pass
	passes   uint64
	lastErr  error
	failures int
	inFlight map[uint64]bool // items being uploaded (or moved, made, removed)
	urgent   int             // Flush calls waiting: closed files go up without their debounce
	// retryAt: when an item that failed is tried again, and its failures in a row.
	retryAt map[uint64]time.Time
	failedN map[uint64]int
}

// NewUploader returns a stopped uploader; Start runs it.
func NewUploader(cfg UploaderConfig) *Uploader {
	if cfg.Debounce == 0 {
		cfg.Debounce = DefaultDebounce
	}
	if cfg.ChunkThreshold <= 0 {
		cfg.ChunkThreshold = DefaultChunkThreshold
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	u := &Uploader{cfg: cfg, log: log, wake: make(chan struct{}, 1), done: make(chan struct{}),
		retryAt: make(map[uint64]time.Time), failedN: make(map[uint64]int), inFlight: make(map[uint64]bool)}
	if u.cfg.Workers <= 0 {
		u.cfg.Workers = DefaultUploadWorkers
	}
	u.changed = sync.NewCond(&u.mu)
	return u
}

// Start runs the worker until Close. Work queued before (a previous mount, a crash)
// is picked up at once.
func (u *Uploader) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	u.stop = cancel
	go u.loop(ctx)
	u.Wake()
}

// Wake tells the worker there may be new work.
func (u *Uploader) Wake() {
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

// Close stops the worker, cancelling an upload in flight (it is retried at the next
// mount; a chunked one resumes from the chunks already sent).
func (u *Uploader) Close() {
	if u.stop == nil {
		return
	}
	u.stop()
	<-u.done
	u.mu.Lock()
	u.changed.Broadcast()
	u.mu.Unlock()
}

func (u *Uploader) loop(ctx context.Context) {
	defer close(u.done)
	var timer <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-u.wake:
		case <-timer:
		}
		next := u.pass(ctx)
		timer = nil
		if next > 0 {
			timer = time.After(next)
		}
		u.mu.Lock()
		u.passes++
		u.changed.Broadcast()
		u.mu.Unlock()
	}
}

// pass works through the queue once and says when to look again (0: when woken).
func (u *Uploader) pass(ctx context.Context) time.Duration {
	ids, err := u.cfg.Store.Queued(0)
	if err != nil {
		u.log.Error("read the upload queue", "op", "upload", "err", err)
		return uploadMaxBackoff
	}
	u.mu.Lock()
	quiet := u.cfg.Debounce
	if u.urgent > 0 {
		quiet = 0
	}
	u.mu.Unlock()
	p := &queuePass{quiet: quiet, waiting: make(map[uint64]bool), done: make(map[uint64]bool),
		slots: make(chan struct{}, u.cfg.Workers)}
	for _, id := range ids {
		if ctx.Err() != nil || p.stopped() {
			break
		}
		if u.step(ctx, p, id, 0) == stepStop {
			break
		}
	}
	p.uploads.Wait()
	if ctx.Err() != nil {
		return 0
	}
	return p.again
}

// queuePass is the state of one pass through the queue. Namespace work (MKCOL, MOVE,
// DELETE) is done one item at a time, in order, after the uploads started before it
// have ended; the content uploads of files run up to Workers at once (a file has
// nothing below it, and nothing waits for it).
type queuePass struct {
	quiet   time.Duration
	waiting map[uint64]bool // items left for later: what is below them waits too
	done    map[uint64]bool // items this pass has dealt with
	slots   chan struct{}   // one per upload running
	uploads sync.WaitGroup

	mu     sync.Mutex // what the uploads running change
	again  time.Duration
	stop   bool              // the server is unreachable: the rest would fail the same way
	places map[placeKey]bool // where the uploads running go
}

// placeKey is a name in a folder.
type placeKey struct {
	parent uint64
	name   string
}

func (p *queuePass) busyPlace(k placeKey) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.places[k]
}

func (p *queuePass) setPlace(k placeKey, on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.places == nil {
		p.places = make(map[placeKey]bool)
	}
	if on {
		p.places[k] = true
	} else {
		delete(p.places, k)
	}
}

func (p *queuePass) soon(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.again == 0 || d < p.again {
		p.again = d
	}
}

func (p *queuePass) stopped() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stop
}

// uploadsOnly reports whether the only work an item needs is the upload of its
// content, which may run beside other uploads.
func uploadsOnly(it *cache.Item) bool {
	f := it.Local.Flags
	return !it.IsDir && f&(cache.LocalDeleted|cache.LocalMoved|cache.LocalOnly) == 0 && it.Local.HasLocalContent()
}

type stepResult int

const (
	stepDone stepResult = iota // nothing more to do in this pass
	stepWait                   // left for later
	stepStop                   // the server is unreachable: the rest would fail the same way
)

// maxVacaterDepth bounds the chain of items processed early because each frees the
// server place of the one before (a cycle, such as two names swapped, stops there).
const maxVacaterDepth = 8

// step processes one queued item, after the item that still occupies its server place.
func (u *Uploader) step(ctx context.Context, p *queuePass, id uint64, depth int) stepResult {
	if p.done[id] {
		if p.waiting[id] {
			return stepWait
		}
		return stepDone
	}
	p.done[id] = true
	wait := func() stepResult { p.waiting[id] = true; return stepWait }
	if u.cfg.Local.Busy(id, p.quiet) {
		p.soon(max(p.quiet, 50*time.Millisecond))
		return wait()
	}
	u.mu.Lock()
	at, backingOff := u.retryAt[id]
	u.mu.Unlock()
	if backingOff && time.Until(at) > 0 {
		p.soon(time.Until(at))
		return wait()
	}
	it, err := u.cfg.Store.Get(id)
	if errors.Is(err, cache.ErrNotFound) {
		_ = u.cfg.Store.Dequeue(id)
		return stepDone
	}
	if err != nil {
		u.log.Error("read a queued item", "op", "upload", "fileid", id, "err", err)
		return wait()
	}
	if p.waiting[it.Parent] {
		return wait()
	}
	if it.Local.Flags&cache.LocalDeleted == 0 {
		// Whatever left this item's server place (a removal, a move away) reaches the
		// server first, even when it was queued later: a file made under a temporary
		// name and renamed over a removed one must not meet the removed one's copy.
		v, ok, err := u.cfg.Store.QueuedVacater(it.Parent, it.Name)
		if err != nil {
			u.log.Error("read a queued item", "op", "upload", "fileid", id, "err", err)
			return wait()
		}
		if ok && v != id {
			// Past the bound (a cycle), in queue order: the server refuses what
			// would overwrite, and the item keeps its error.
			if depth < maxVacaterDepth {
				switch u.step(ctx, p, v, depth+1) {
				case stepStop:
					return stepStop
				case stepWait:
					return wait()
				}
			}
		}
	}
	if uploadsOnly(&it) {
		place := placeKey{it.Parent, it.Name}
		if p.busyPlace(place) {
			// Another file goes to that name now (one made, removed and made again):
			// the first one's answer, and the cleanup after it, land first.
			p.uploads.Wait()
		}
		p.slots <- struct{}{}
		p.uploads.Add(1)
		p.setPlace(place, true)
		go func() {
			defer p.uploads.Done()
			defer func() { <-p.slots }()
			defer p.setPlace(place, false)
			if u.run(ctx, p, &it) == stepStop {
				p.mu.Lock()
				p.stop = true
				p.mu.Unlock()
			}
		}()
		return stepDone // nothing waits for a file's content
	}
	p.uploads.Wait() // namespace work keeps its order after the uploads before it
	r := u.run(ctx, p, &it)
	if r == stepWait {
		p.waiting[id] = true
	}
	return r
}

// run does the work of one item and records the outcome: on failure a backoff.
func (u *Uploader) run(ctx context.Context, p *queuePass, it *cache.Item) stepResult {
	id := it.ID
	u.mu.Lock()
	u.inFlight[id] = true
	u.mu.Unlock()
	err := u.process(ctx, it)
	u.mu.Lock()
	delete(u.inFlight, id)
	u.lastErr = err
	if err == nil {
		u.failures = 0
		delete(u.retryAt, id)
		delete(u.failedN, id)
	}
	u.mu.Unlock()
	if err == nil {
		return stepDone
	}
	if ctx.Err() != nil {
		return stepStop
	}
	u.mu.Lock()
	u.failures++
	u.failedN[id]++
	backoff := min(uploadMinBackoff<<min(u.failedN[id]-1, 10), uploadMaxBackoff)
	u.retryAt[id] = time.Now().Add(backoff)
	u.mu.Unlock()
	u.log.Warn("upload failed; it is retried", "op", "upload", "fileid", id, "retry_in", backoff, "err", err)
	p.soon(backoff)
	if errors.Is(err, davclient.ErrTransient) {
		return stepStop
	}
	return stepWait
}

// Flush waits until nothing is queued (every change is on the server, or was refused
// and is kept with its error), or ctx ends. It returns the last upload error while
// work remains.
func (u *Uploader) Flush(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		u.mu.Lock()
		u.changed.Broadcast()
		u.mu.Unlock()
	})
	defer stop()
	u.mu.Lock()
	defer u.mu.Unlock()
	u.urgent++
	defer func() { u.urgent-- }()
	u.Wake()
	for {
		n, err := u.cfg.Store.QueueLen()
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if ctx.Err() != nil {
			if u.lastErr != nil {
				return fmt.Errorf("%d items not uploaded yet: %w (last error: %w)", n, ctx.Err(), u.lastErr)
			}
			return fmt.Errorf("%d items not uploaded yet: %w", n, ctx.Err())
		}
		select {
		case <-u.done:
			return fmt.Errorf("%d items not uploaded yet: the uploader stopped", n)
		default:
		}
		seen := u.passes
		for u.passes == seen && ctx.Err() == nil {
			u.changed.Wait()
			select {
			case <-u.done:
				return fmt.Errorf("%d items not uploaded yet: the uploader stopped", n)
			default:
			}
		}
	}
}

// process does the work one item needs. A nil error means the item needs no more of
// this pass (done, or kept with an error the user must see); an error means retry.
func (u *Uploader) process(ctx context.Context, it *cache.Item) error {
	ctx, cancel := context.WithTimeout(ctx, uploadTimeout)
	defer cancel()
	f := it.Local.Flags
	switch {
	case f&cache.LocalOnly != 0 || f == 0:
		return u.cfg.Store.Dequeue(it.ID)
	case f&cache.LocalDeleted != 0:
		return u.remove(ctx, it)
	}
	parent, err := u.cfg.Store.Get(it.Parent)
	if err != nil {
		return err
	}
	if parent.Local.Flags&(cache.LocalCreated|cache.LocalOnly) != 0 {
		return fmt.Errorf("hydrate: upload %d: its folder is not on the server yet", it.ID)
	}
	if f&cache.LocalMoved != 0 {
		if err := u.move(ctx, it); err != nil {
			return err
		}
		if *it, err = u.cfg.Store.Get(it.ID); err != nil {
			return err
		}
	}
	switch {
	case it.IsDir && it.Local.Flags&cache.LocalCreated != 0:
		return u.mkcol(ctx, it)
	case !it.IsDir && it.Local.HasLocalContent():
		return u.upload(ctx, it)
	}
	return u.cfg.Store.Dequeue(it.ID)
}

// targetPath is where an item goes on the server: its folder's server path and its name.
func (u *Uploader) targetPath(it *cache.Item) (string, error) {
	dir, err := u.cfg.Store.ServerPath(it.Parent)
	if err != nil {
		return "", err
	}
	return path.Join(dir, it.Name), nil
}

// remove deletes a tombstone's server copy. A file changed on the server since we saw
// it is not deleted blindly: it comes back, with a log line.
func (u *Uploader) remove(ctx context.Context, it *cache.Item) error {
	p, err := u.cfg.Store.ServerPath(it.ID)
	if err != nil {
		return u.cfg.Store.ForgetTombstone(it.ID) // never reached the server
	}
	ifMatch := ""
	if !it.IsDir {
		ifMatch = strongETag(it.ETag)
	}
	err = u.cfg.Client.Delete(ctx, p, ifMatch)
	u.log.Debug("delete", "op", "upload", "fileid", it.ID, "path", p, "if_match", ifMatch, "err", err)
	switch {
	case err == nil, errors.Is(err, davclient.ErrNotFound):
	case errors.Is(err, davclient.ErrPrecondition) && u.weakForNow(ctx, p, ifMatch):
		return errWeakForNow
	case errors.Is(err, davclient.ErrPrecondition):
		u.log.Warn("not deleted on the server: it changed there since it was last seen; it comes back",
			"op", "delete", "path", p, "fileid", it.ID)
		u.relistNames(it.Local.FromParent, it.Local.FromName)
	case errors.Is(err, davclient.ErrForbidden):
		u.log.Warn("the server refused the deletion; it comes back", "op", "delete", "path", p, "err", err)
		u.relistNames(it.Local.FromParent, it.Local.FromName)
	default:
		return err
	}
	return u.cfg.Store.ForgetTombstone(it.ID)
}

// move renames an item on the server to where it is here.
func (u *Uploader) move(ctx context.Context, it *cache.Item) error {
	from, err := u.cfg.Store.ServerPath(it.ID)
	if err != nil {
		return err
	}
	to, err := u.targetPath(it)
	if err != nil {
		return err
	}
	err = u.cfg.Client.Move(ctx, from, to, false, "")
	u.log.Debug("move", "op", "upload", "fileid", it.ID, "from", from, "to", to, "err", err)
	switch {
	case err == nil:
		return u.cfg.Store.CompleteMove(it.ID, it.Parent, it.Name)
	case errors.Is(err, davclient.ErrNotFound):
		if u.landed(ctx, it, to) {
			// Our own MOVE took effect and its answer was lost: this is its retry.
			u.log.Info("the server has the item where it was moved already", "op", "move", "from", from, "to", to)
			return u.cfg.Store.CompleteMove(it.ID, it.Parent, it.Name)
		}
		// The server removed it meanwhile. Local changes become a conflict copy; an
		// unchanged item simply goes, as it did on the server.
		if it.Local.Flags&cache.LocalDirty != 0 {
			return u.conflict(it, "the server removed it while it was moved here")
		}
		u.log.Warn("the server removed an item moved here; it goes", "op", "move", "path", from)
		return u.forget(it)
	case errors.Is(err, davclient.ErrPrecondition), errors.Is(err, davclient.ErrForbidden),
		errors.Is(err, davclient.ErrBadRequest), errors.Is(err, davclient.ErrConflict):
		return u.refuse(it, err)
	}
	return err
}

// landed reports whether the server has the item at to: the same file id, or where
// the server has none, a file of the same ETag and size, or a folder.
func (u *Uploader) landed(ctx context.Context, it *cache.Item, to string) bool {
	e, err := u.cfg.Client.Stat(ctx, to)
	if err != nil || e.IsDir != it.IsDir {
		return false
	}
	if id := it.ServerFileID(); id != 0 && e.FileID != 0 {
		return e.FileID == id
	}
	if it.IsDir {
		return true // folders of one name become one, as when a MKCOL finds one there
	}
	return e.ETag != "" && davclient.SameVersion(e.ETag, it.ETag) && e.Size == it.Size
}

// forget drops an item the server removed and that has nothing only here.
func (u *Uploader) forget(it *cache.Item) error {
	if err := u.cfg.Store.ForgetTombstone(it.ID); err != nil {
		return err
	}
	u.relistNames(it.Parent, it.Name)
	return nil
}

// mkcol makes a folder made here on the server.
func (u *Uploader) mkcol(ctx context.Context, it *cache.Item) error {
	p, err := u.targetPath(it)
	if err != nil {
		return err
	}
	id, err := u.cfg.Client.Mkcol(ctx, p)
	etag, made := "", err == nil
	if errors.Is(err, davclient.ErrExists) {
		// Made meanwhile (by someone else, or by us with the answer lost): the two
		// folders become one, as the desktop clients merge them.
		e, serr := u.cfg.Client.Stat(ctx, p)
		if serr != nil {
			return serr
		}
		if !e.IsDir {
			return u.refuse(it, fmt.Errorf("a file of that name exists on the server"))
		}
		id, etag, err = e.FileID, e.ETag, nil
	}
	if err != nil {
		if errors.Is(err, davclient.ErrForbidden) || errors.Is(err, davclient.ErrBadRequest) ||
			errors.Is(err, davclient.ErrConflict) {
			return u.refuse(it, err)
		}
		return err
	}
	if id == 0 && u.cfg.Client.Info().Dialect == davclient.DialectNextcloud {
		// The answer named no file id: ask, so that listings know the folder.
		if e, serr := u.cfg.Client.Stat(ctx, p); serr == nil && e.IsDir {
			id, etag = e.FileID, e.ETag
		}
	}
	err = u.cfg.Store.CompleteMkcol(it.ID, id, etag, it.Parent, it.Name)
	if errors.Is(err, cache.ErrNotFound) {
		// Made and removed here while the MKCOL was in flight: it goes there too, unless
		// it was someone else's folder merged with ours.
		if !made {
			return nil
		}
		if derr := u.cfg.Client.Delete(ctx, p, ""); derr != nil && !errors.Is(derr, davclient.ErrNotFound) {
			u.log.Warn("a folder removed here while it was made on the server is still there", "op", "mkcol", "path", p, "err", derr)
		}
		return nil
	}
	if err != nil {
		return err
	}
	u.uploaded(it.ID)
	return nil
}

// refuse records a refusal the server will repeat: the item keeps its local changes
// and its error, and leaves the queue until it changes again.
func (u *Uploader) refuse(it *cache.Item, err error) error {
	msg := err.Error()
	var de *davclient.Error
	if errors.As(err, &de) && de.Message != "" {
		msg = de.Message
	}
	u.log.Error("the server refused a change; it is kept here", "op", "upload", "fileid", it.ID, "name", it.Name, "err", err)
	return u.cfg.Store.SetUploadError(it.ID, msg, false)
}

// upload sends a file's local content: If-None-Match: * for a new file, If-Match on the
// version the edit started from for an existing one.
func (u *Uploader) upload(ctx context.Context, it *cache.Item) error {
	// From the mark on, no rename gives this item's server identity to another file; its
	// state is read again with the mark, so a rename just before it is seen.
	fresh, err := u.cfg.Store.BeginUpload(it.ID)
	if errors.Is(err, cache.ErrNotFound) {
		return nil // removed (or replaced) here meanwhile: nothing to upload
	}
	if err != nil {
		return err
	}
	defer u.cfg.Store.MarkUploading(it.ID, false)
	*it = fresh
	if !it.Local.HasLocalContent() || it.Local.Flags&(cache.LocalDeleted|cache.LocalMoved) != 0 {
		return u.cfg.Store.Requeue(it.ID) // its work changed: the next pass does it in order
	}
	if v, ok, err := u.cfg.Store.QueuedVacater(it.Parent, it.Name); err != nil {
		return err
	} else if ok && v != it.ID {
		// Renamed since the pass looked, onto a place the server still has another
		// item at (an editor's save): that item goes first, in the next pass.
		u.Wake()
		return u.cfg.Store.Requeue(it.ID)
	}
	p, err := u.targetPath(it)
	if err != nil {
		return err
	}
	snap, err := u.cfg.Local.snapshotForUpload(it.ID, it)
	if err != nil {
		return err
	}
	defer snap.file.Close()
	snap.parent, snap.name, snap.path = it.Parent, it.Name, p
	sum, err := sha1File(ctx, snap.file, snap.size)
	if err != nil {
		return err
	}
	opt := davclient.PutOptions{ModTime: snap.mtime, Checksum: "SHA1:" + sum, RequestHash: true}
	isNew := it.ServerFileID() == 0 && it.Local.Flags&cache.LocalCreated != 0
	if isNew {
		opt.IfNoneMatchAny = true
	} else if opt.IfMatch = strongETag(it.Local.BaseETag); opt.IfMatch == "" {
		// A weak or missing ETag never matches an If-Match: compare the server's
		// current version by hand first (it narrows, not closes, the race).
		e, err := u.cfg.Client.Stat(ctx, p)
		if err != nil && !errors.Is(err, davclient.ErrNotFound) {
			return err
		}
		if err != nil || !davclient.SameVersion(e.ETag, it.Local.BaseETag) {
			return u.conflict(it, "the server's copy changed while it was changed here")
		}
		opt.IfMatch = strongETag(e.ETag)
	}
	var res davclient.PutResult
	if u.cfg.Chunked && snap.size > u.cfg.ChunkThreshold {
		copt := davclient.ChunkedOptions{PutOptions: opt, ChunkSize: u.cfg.ChunkSize,
			// The same bytes resume the same transfer after a restart.
			TransferID: fmt.Sprintf("ncvfs-%x-%s", it.ID, sum[:16])}
		res, err = u.cfg.Client.UploadChunked(ctx, p, snap.file, snap.size, copt)
	} else {
		res, err = u.cfg.Client.Put(ctx, p, io.NewSectionReader(snap.file, 0, snap.size), snap.size, opt)
	}
	u.log.Debug("put", "op", "upload", "fileid", it.ID, "path", p, "flags", it.Local.Flags, "if_match", opt.IfMatch, "if_none_match", opt.IfNoneMatchAny, "err", err)
	switch {
	case err == nil:
	case errors.Is(err, davclient.ErrPrecondition) && opt.IfMatch != "" && u.weakForNow(ctx, p, opt.IfMatch):
		return errWeakForNow
	case errors.Is(err, davclient.ErrPrecondition):
		return u.precondition(ctx, it, p, snap, sum)
	case errors.Is(err, davclient.ErrNotFound) && !isNew:
		return u.conflict(it, "the server removed it while it was changed here")
	case errors.Is(err, davclient.ErrInsufficientStorage):
		_ = u.cfg.Store.SetUploadError(it.ID, "not enough space on the server (quota); kept here and retried", true)
		return err
	case errors.Is(err, davclient.ErrForbidden), errors.Is(err, davclient.ErrBadRequest),
		errors.Is(err, davclient.ErrConflict), errors.Is(err, davclient.ErrNotFound):
		return u.refuse(it, err)
	default:
		return err // transient, locked (423), cancelled: retried
	}
	if res.HashSHA1 != "" && !strings.EqualFold(res.HashSHA1, sum) {
		return fmt.Errorf("hydrate: upload %q: the server stored other bytes (SHA1 %s, sent %s)", p, res.HashSHA1, sum)
	}
	if res.ETag == "" {
		e, err := u.cfg.Client.Stat(ctx, p)
		if err != nil {
			return err
		}
		res.ETag, res.FileID = e.ETag, max(res.FileID, e.FileID)
	}
	return u.finish(ctx, it, snap, res, sum)
}

func (u *Uploader) finish(ctx context.Context, it *cache.Item, snap *snapshot, res davclient.PutResult, sum string) error {
	_, err := u.cfg.Local.finishUpload(it.ID, snap, cache.Uploaded{
		ETag: res.ETag, FileID: res.FileID, Size: snap.size,
		MTime:    snap.mtime.Truncate(time.Second), // the server keeps seconds
		Checksum: "SHA1:" + sum,
		Parent:   snap.parent, Name: snap.name,
	})
	if errors.Is(err, cache.ErrNotFound) {
		// Made and removed here while it was uploaded: what was uploaded goes too.
		derr := u.cfg.Client.Delete(ctx, snap.path, strongETag(res.ETag))
		if derr != nil && !errors.Is(derr, davclient.ErrNotFound) {
			u.log.Warn("a file removed here during its upload is still on the server", "op", "upload", "path", snap.path, "err", derr)
		}
		return nil
	}
	if err != nil {
		return err
	}
	u.log.Debug("uploaded", "op", "upload", "fileid", it.ID, "name", it.Name, "etag", res.ETag)
	u.uploaded(it.ID)
	return nil
}

// precondition handles a 412: the server's copy is not the one the edit started from
// (or, for a new file, something of that name exists). When the server has exactly
// our bytes (our own upload whose answer was lost, before a crash) it is adopted;
// otherwise both versions are kept.
func (u *Uploader) precondition(ctx context.Context, it *cache.Item, p string, snap *snapshot, sum string) error {
	e, err := u.cfg.Client.Stat(ctx, p)
	if err == nil && !e.IsDir && e.Size == snap.size && u.hasBytes(ctx, p, &e, sum) {
		u.log.Info("the server already has these bytes; adopted", "op", "upload", "path", p, "etag", e.ETag)
		return u.finish(ctx, it, snap, davclient.PutResult{ETag: e.ETag, FileID: e.FileID}, sum)
	}
	return u.conflict(it, "the server's copy changed while it was changed here")
}

// maxCompareDownload bounds what is downloaded to tell whether a server without
// checksums has our bytes; a larger file becomes a conflict copy.
const maxCompareDownload = 16 << 20

// hasBytes reports whether the server's file e at p has SHA1 sum: by its checksum, or
// on a server that keeps none (generic WebDAV) by reading it.
func (u *Uploader) hasBytes(ctx context.Context, p string, e *davclient.Entry, sum string) bool {
	if have := sha1Of(e.Checksums); have != "" || e.Size > maxCompareDownload {
		return strings.EqualFold(have, sum)
	}
	resp, err := u.cfg.Client.Get(ctx, p, davclient.GetOptions{})
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	h := sha1.New()
	n, err := io.Copy(h, io.LimitReader(resp.Body, e.Size+1))
	if err != nil || n != e.Size || !davclient.SameVersion(resp.ETag, e.ETag) {
		return false
	}
	return hex.EncodeToString(h.Sum(nil)) == strings.ToLower(sum)
}

// errWeakForNow: a condition failed only because the server calls the version it still
// has weak for now (Apache, within a second of a change: a weak ETag never matches an
// If-Match). Retried once the tag is strong again.
var errWeakForNow = errors.New("hydrate: the server's ETag of the file is weak for a moment (changed within the last second); retried")

// weakForNow reports whether a 412 for If-Match sent is such a refusal.
func (u *Uploader) weakForNow(ctx context.Context, p, sent string) bool {
	e, err := u.cfg.Client.Stat(ctx, p)
	return err == nil && davclient.IsWeak(e.ETag) && davclient.SameVersion(e.ETag, sent)
}

// conflict keeps the local version as "<name> (conflicted copy YYYY-MM-DD HHMMSS).<ext>"
// in the same folder; the original name goes back to the server's version.
func (u *Uploader) conflict(it *cache.Item, why string) error {
	name := ConflictName(it.Name, u.cfg.Now())
	opt := cache.ConflictOptions{Upload: u.cfg.UploadConflicts}
	store := u.cfg.Store
	if it.ID == it.ServerFileID() {
		// A server item keeps its id; the copy gets a new one, and its content is
		// linked there before the commit that makes it.
		id, err := store.AllocLocalID()
		if err != nil {
			return err
		}
		if err := os.Link(store.LocalPath(it.ID), store.LocalPath(id)); err != nil {
			return fmt.Errorf("hydrate: keep the local version of %q: %w", it.Name, err)
		}
		opt.CopyID = id
	}
	cp, moved, err := store.MakeConflictCopy(it.ID, name, opt)
	if err != nil {
		if opt.CopyID != 0 {
			os.Remove(store.LocalPath(opt.CopyID))
		}
		return err
	}
	if moved {
		u.cfg.Local.Remove(it.ID) // the copy has the bytes now
	}
	p, _ := store.Path(cp.ID)
	u.log.Warn("conflict: both sides changed a file; the local version is kept as a copy",
		"op", "upload", "path", p, "why", why)
	if u.cfg.OnConflict != nil {
		u.cfg.OnConflict(p)
	}
	u.relistNames(it.Parent, it.Name, name)
	if u.cfg.OnUploaded != nil {
		u.cfg.OnUploaded(it.ID)
	}
	return nil
}

// relistNames makes the next visit of a folder ask the server, and tells the kernel
// that names there changed.
func (u *Uploader) relistNames(dirID uint64, names ...string) {
	if u.cfg.Lister != nil {
		u.cfg.Lister.Invalidate(dirID)
	}
	if u.cfg.OnNames != nil {
		u.cfg.OnNames(dirID, names...)
	}
}

func (u *Uploader) uploaded(id uint64) {
	if u.cfg.OnUploaded != nil {
		u.cfg.OnUploaded(id)
	}
}

// ConflictName is the desktop clients' name of a conflict copy: the tag goes before
// the extension ("report (conflicted copy 2026-12-05 101500).odt"), or at the end of a
// name without one and of a dot-file.
func ConflictName(name string, t time.Time) string {
	tag := " (conflicted copy " + t.Format("2006-01-02 150405") + ")"
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		return name[:i] + tag + name[i:]
	}
	return name + tag
}

// IsConflictName reports whether a name is a conflict copy's (ours or another
// client's), which is never uploaded by default.
func IsConflictName(name string) bool {
	return strings.Contains(name, "(conflicted copy") || strings.Contains(name, "_conflict-")
}

// strongETag returns etag for an If-Match, or "" when it is weak (a weak ETag never
// matches a strong comparison: the server would answer 412 whatever its version).
func strongETag(etag string) string {
	if strings.HasPrefix(etag, "W/") {
		return ""
	}
	return etag
}

// sha1File hashes the first size bytes of f.
func sha1File(ctx context.Context, f *os.File, size int64) (string, error) {
	h := sha1.New()
	r := io.NewSectionReader(f, 0, size)
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n, err := r.Read(buf)
		h.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", fmt.Errorf("hydrate: hash local content: %w", err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
