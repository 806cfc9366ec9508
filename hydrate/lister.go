// Package hydrate moves things between the server and the cache: folder listings (first
// visit, revalidation), and later content downloads, uploads and conflicts.
//
// It speaks item ids and Go errors and knows nothing of FUSE. Callers learn about
// remote changes through the OnChange callback, which is called with no lock held.
package hydrate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ncvfs/ncvfs/cache"
	"github.com/ncvfs/ncvfs/davclient"
)

// DefaultListingTTL is how long a folder listing is trusted before the next visit checks
// it with the server again. Short, because the kernel's own caches sit in front of it and
// a check costs a single Depth-0 PROPFIND on Nextcloud.
const DefaultListingTTL = 5 * time.Second

// When a walk is seen (find, du, ls -R, a file manager going through folders: a second
// subfolder of one folder visited), that folder's never-listed subfolders are listed
// ahead in the background, so the walk finds them ready: at most prefetchMax subfolders
// per folder, prefetchParallel listings at a time over the whole mount. A single visit
// prefetches nothing: listing folders nobody asked for costs the server (a PROPFIND is
// one of Nextcloud's most expensive requests) and competes with what the user waits for.
const (
	prefetchMax      = 256
	prefetchParallel = 4
)

// listTimeout bounds one shared listing. It is detached from the caller that started it
// (others may be waiting on it), so it needs a bound of its own.
const listTimeout = 2 * time.Minute

// ListerConfig wires a Lister.
type ListerConfig struct {
	Store  *cache.Store
	Client davclient.Interface
	// Dialect decides how revalidation works: Nextcloud folder ETags change whenever
	// anything below them changes, so an unchanged parent vouches for its children;
	// generic servers give no such promise, so their folders are relisted after the TTL.
	Dialect davclient.Dialect
	RootID  uint64
	TTL     time.Duration
	Logger  *slog.Logger
	// NoPrefetch turns off listing subfolders ahead of visits.
	NoPrefetch bool
	// OnChange, if set, is told what a listing changed in a folder. It runs on the
	// listing goroutine after the transaction, with no lock held; it must not block
	// on file system requests (go-fuse notifications belong in their own goroutine).
	OnChange func(dirID uint64, diff cache.Diff)
}

// Lister keeps folder listings in the cache fresh. Safe for concurrent use.
//
// Lock order: Lister.mu is a leaf lock; it is never held across a network call, a bbolt
// transaction or a callback.
type Lister struct {
	cfg ListerConfig
	log *slog.Logger

	mu         sync.Mutex
	validated  map[uint64]time.Time // folder id -> when its listing was last known current
	inflight   map[uint64]*listCall
	quota      Quota
	prefetched map[uint64]bool   // folders whose subfolders were queued for listing
	visited    map[uint64]bool   // folders whose visit was noted by noteVisit
	firstChild map[uint64]uint64 // folder id -> the first of its subfolders visited

	// Background listings are committed in groups: one transaction for all that are
	// waiting, instead of one fsync pair per folder.
	commits chan *pendingListing
	// handedOut holds, per folder, a first listing handed to readers before its
	// commit: closed once it is committed (or failed).
	handedOut   map[uint64]chan struct{}
	prefetchSem chan struct{}
	// closing ends with Close: it cancels every listing in flight and stops prefetching.
	// Listings outlive the visitor that started them, so they once outlived Close too,
	// and wrote into a store closed under them.
	closing context.Context
	stop    context.CancelFunc
	closed  bool // under mu: no listing or prefetch starts once set
	// listings counts listings in flight (run), running the WaitGroup of the same name.
	listings   atomic.Int64
	listingsWG sync.WaitGroup
	// workers counts the committer and the prefetch goroutines; commitDone is closed
	// when the committer stops, so a listing queued for it never waits forever.
	workers    sync.WaitGroup
	commitDone chan struct{}
}

// errListerClosed: the Lister was closed; nothing more is listed.
var errListerClosed = errors.New("hydrate: the lister is closed")

type pendingListing struct {
	listing cache.Listing
	diff    cache.Diff
	err     error
	done    chan struct{}
}

// Quota is the account's storage as last reported on the root folder.
type Quota struct {
	Used, Available int64
	Known           bool
}

type listCall struct {
	done       chan struct{}
	err        error
	background bool // a prefetch: its listing goes through the group committer

	// early is closed once stream holds the first children of a folder's first listing,
	// published while the rest is decoded: a reader of the whole folder need not wait
	// for the end of the answer, nor for the commit.
	early  chan struct{}
	stream *listingStream
}

// NewLister returns a Lister; nothing is fetched until a folder is visited.
func NewLister(cfg ListerConfig) *Lister {
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultListingTTL
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Lister{
		cfg:         cfg,
		log:         log,
		validated:   make(map[uint64]time.Time),
		inflight:    make(map[uint64]*listCall),
		prefetched:  make(map[uint64]bool),
		visited:     make(map[uint64]bool),
		firstChild:  make(map[uint64]uint64),
		handedOut:   make(map[uint64]chan struct{}),
		commits:     make(chan *pendingListing, prefetchParallel),
		prefetchSem: make(chan struct{}, prefetchParallel),
		closing:     ctx,
		stop:        cancel,
		commitDone:  make(chan struct{}),
	}
	l.workers.Add(1)
	go l.commitLoop()
	return l
}

// Close cancels the listings in flight, stops prefetching and waits for all of them
// (and the committer) to end; the store must stay open until it returns. Visits after
// Close fail.
func (l *Lister) Close() {
	l.mu.Lock()
	l.closed = true // no Add to the WaitGroups below from here on
	l.mu.Unlock()
	l.stop()
	l.listingsWG.Wait()
	l.workers.Wait()
}

// Quota returns the account quota as last seen.
func (l *Lister) Quota() Quota {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.quota
}

// SetQuota records the quota learned elsewhere (discovery).
func (l *Lister) SetQuota(q Quota) {
	l.mu.Lock()
	l.quota = q
	l.mu.Unlock()
}

// Invalidate forgets that a folder was validated, so its next visit asks the server.
func (l *Lister) Invalidate(dirID uint64) {
	l.mu.Lock()
	delete(l.validated, dirID)
	l.mu.Unlock()
}

// Ensure makes sure the folder's children in the cache are current within the TTL: on
// the first visit it lists the folder (Depth 1); later it checks the folder's ETag and
// relists only when it changed. It blocks until that is done or ctx ends; a listing
// that other callers wait on goes on when one of them gives up. A visit that shows a
// walk starts listing the walked folder's other subfolders in the background.
func (l *Lister) Ensure(ctx context.Context, dirID uint64) error {
	if err := l.ensure(ctx, dirID, false); err != nil {
		return err
	}
	l.noteVisit(dirID)
	return nil
}

// noteVisit detects walks: when a second subfolder of one folder is visited, the
// folder's never-listed subfolders are listed ahead.
func (l *Lister) noteVisit(dirID uint64) {
	if l.cfg.NoPrefetch || dirID == l.cfg.RootID {
		return
	}
	l.mu.Lock()
	seen := l.visited[dirID]
	l.visited[dirID] = true
	l.mu.Unlock()
	if seen {
		return // every lookup in a folder is a visit; only the first one counts
	}
	dir, err := l.cfg.Store.Get(dirID)
	if err != nil {
		return
	}
	l.mu.Lock()
	first, ok := l.firstChild[dir.Parent]
	if !ok {
		l.firstChild[dir.Parent] = dirID
	}
	l.mu.Unlock()
	if ok && first != dirID {
		l.prefetchBelow(dir.Parent)
	}
}

func (l *Lister) ensure(ctx context.Context, dirID uint64, background bool) error {
	now := time.Now()
	l.mu.Lock()
	if t, ok := l.validated[dirID]; ok && now.Sub(t) < l.cfg.TTL {
		l.mu.Unlock()
		return nil
	}
	call := l.startLocked(ctx, dirID, background)
	l.mu.Unlock()

	select {
	case <-call.done:
		return call.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// startLocked joins or starts the listing of dirID. Caller holds l.mu.
func (l *Lister) startLocked(ctx context.Context, dirID uint64, background bool) *listCall {
	call, ok := l.inflight[dirID]
	if !ok {
		call = &listCall{done: make(chan struct{}), background: background, early: make(chan struct{})}
		if l.closed {
			call.err = errListerClosed
			close(call.done)
			return call
		}
		l.inflight[dirID] = call
		l.listings.Add(1)
		l.listingsWG.Add(1)
		go l.run(context.WithoutCancel(ctx), dirID, call)
	}
	return call
}

// Children returns the folder's children, current within the TTL, like Ensure followed
// by a read of the cache, with one shortcut: a folder listed for the first time is
// handed out while its answer is still being decoded (and then committed), so the
// kernel can start on it at once. Reads of the cache that miss an item shown this way
// call Settle and read again.
func (l *Lister) Children(ctx context.Context, dirID uint64) (ChildList, error) {
	now := time.Now()
	l.mu.Lock()
	if t, ok := l.validated[dirID]; ok && now.Sub(t) < l.cfg.TTL {
		l.mu.Unlock()
		items, err := l.cfg.Store.Children(dirID)
		return ChildList{items: items}, err
	}
	call := l.startLocked(ctx, dirID, false)
	l.mu.Unlock()
	select {
	case <-call.early:
		go func() {
			<-call.done
			if call.err == nil {
				l.noteVisit(dirID)
			}
		}()
		return ChildList{s: call.stream}, nil
	case <-call.done:
		if call.err != nil {
			return ChildList{}, call.err
		}
		l.noteVisit(dirID)
		items, err := l.cfg.Store.Children(dirID)
		return ChildList{items: items}, err
	case <-ctx.Done():
		return ChildList{}, ctx.Err()
	}
}

// Settle waits until the listing of dirID that readers were shown before its commit
// (if any) is committed, so that a read of the cache finds every child the kernel may
// have been shown. It returns early with ctx's error.
func (l *Lister) Settle(ctx context.Context, dirID uint64) error {
	l.mu.Lock()
	ch := l.handedOut[dirID]
	l.mu.Unlock()
	if ch == nil {
		return nil
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SettleAll is Settle for every folder handed out now, for a caller that does not know
// which folder showed the item it misses.
func (l *Lister) SettleAll(ctx context.Context) error {
	l.mu.Lock()
	chs := make([]chan struct{}, 0, len(l.handedOut))
	for _, ch := range l.handedOut {
		chs = append(chs, ch)
	}
	l.mu.Unlock()
	for _, ch := range chs {
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (l *Lister) run(ctx context.Context, dirID uint64, call *listCall) {
	defer l.listingsWG.Done()
	defer l.listings.Add(-1)
	ctx, cancel := context.WithTimeout(ctx, listTimeout)
	defer cancel()
	defer context.AfterFunc(l.closing, cancel)() // Close ends it
	call.err = l.refresh(ctx, dirID, call.background, call)
	l.mu.Lock()
	delete(l.inflight, dirID)
	l.mu.Unlock()
	if call.stream != nil && call.err != nil {
		// Readers learn of the failure only now that a new visit starts afresh.
		call.stream.end(call.err)
	}
	close(call.done)
}

// prefetchBelow lists, in the background, the subfolders of dirID never listed before.
func (l *Lister) prefetchBelow(dirID uint64) {
	if l.cfg.NoPrefetch {
		return
	}
	l.mu.Lock()
	done := l.prefetched[dirID]
	if !done {
		l.prefetched[dirID] = true
	}
	l.mu.Unlock()
	if done || l.closing.Err() != nil {
		return
	}
	kids, err := l.cfg.Store.Children(dirID)
	if err != nil {
		return
	}
	var ids []uint64
	for _, k := range kids {
		if !k.IsDir || k.ListedETag != "" {
			continue
		}
		if len(ids) == prefetchMax {
			break
		}
		ids = append(ids, k.ID)
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.workers.Add(len(ids))
	l.mu.Unlock()
	for _, id := range ids {
		go func() {
			defer l.workers.Done()
			select {
			case l.prefetchSem <- struct{}{}:
				defer func() { <-l.prefetchSem }()
			case <-l.closing.Done():
				return
			}
			if err := l.ensure(l.closing, id, true); err != nil && l.closing.Err() == nil {
				l.log.Debug("prefetch failed", "op", "prefetch", "fileid", id, "err", err)
			}
		}()
	}
}

// commitLoop applies background listings, all that are waiting in one transaction.
func (l *Lister) commitLoop() {
	defer l.workers.Done()
	defer close(l.commitDone)
	for {
		var batch []*pendingListing
		select {
		case p := <-l.commits:
			batch = append(batch, p)
		case <-l.closing.Done():
			return
		}
	drain:
		for len(batch) < 64 {
			select {
			case p := <-l.commits:
				batch = append(batch, p)
			default:
				break drain
			}
		}
		ls := make([]cache.Listing, len(batch))
		for i, p := range batch {
			ls[i] = p.listing
		}
		diffs, err := l.cfg.Store.ApplyListings(ls)
		for i, p := range batch {
			if err == nil {
				p.diff = diffs[i]
			} else {
				// One bad listing spoils the group: apply each on its own.
				p.diff, p.err = l.cfg.Store.ApplyListing(p.listing)
			}
			close(p.done)
		}
	}
}

// apply stores a listing, through the group committer for background listings.
func (l *Lister) apply(ctx context.Context, listing cache.Listing, background bool) (cache.Diff, error) {
	if !background {
		return l.cfg.Store.ApplyListing(listing)
	}
	p := &pendingListing{listing: listing, done: make(chan struct{})}
	select {
	case l.commits <- p:
	case <-ctx.Done():
		return cache.Diff{}, ctx.Err()
	}
	select {
	case <-p.done:
	case <-l.commitDone:
		// The committer stopped (Close); it answers every listing it took before that.
		select {
		case <-p.done:
		default:
			return cache.Diff{}, errListerClosed
		}
	}
	return p.diff, p.err
}

// refresh brings one folder up to date, the cheapest way the dialect allows.
func (l *Lister) refresh(ctx context.Context, dirID uint64, background bool, call *listCall) error {
	dir, err := l.cfg.Store.Get(dirID)
	if errors.Is(err, cache.ErrNotFound) {
		_ = l.SettleAll(ctx) // it may have been shown from a listing still being committed
		dir, err = l.cfg.Store.Get(dirID)
	}
	if err != nil {
		return fmt.Errorf("hydrate: folder %d: %w", dirID, err)
	}
	if !dir.IsDir {
		return fmt.Errorf("hydrate: item %d is not a folder", dirID)
	}
	if dir.Local.Flags&(cache.LocalCreated|cache.LocalOnly|cache.LocalDeleted) != 0 {
		// Not on the server (yet): what the cache has is all there is.
		l.markValid(dirID, time.Now())
		return nil
	}
	if dir.ListedETag == "" || l.cfg.Dialect != davclient.DialectNextcloud {
		return l.relist(ctx, dirID, background, call)
	}
	if dirID != l.cfg.RootID {
		// The parent's listing is current, so this folder's stored ETag is current too.
		if err := l.ensure(ctx, dir.Parent, background); err != nil {
			return err
		}
		dir, err = l.cfg.Store.Get(dirID)
		if err != nil {
			// The parent's listing removed it: it is gone on the server.
			return fmt.Errorf("hydrate: folder %d: %w", dirID, err)
		}
		if dir.ETag == dir.ListedETag {
			l.mu.Lock()
			l.validated[dirID] = l.validated[dir.Parent]
			l.mu.Unlock()
			return nil
		}
		return l.relist(ctx, dirID, background, call)
	}
	// The root: one Depth-0 request tells whether anything at all changed.
	start := time.Now()
	self, err := l.cfg.Client.Stat(ctx, "")
	if err != nil {
		return fmt.Errorf("hydrate: check root: %w", err)
	}
	l.noteQuota(self)
	if self.ETag != dir.ListedETag {
		return l.relist(ctx, dirID, background, call)
	}
	if _, err := l.cfg.Store.UpdateRemote(itemFromEntry(self, dirID)); err != nil {
		return fmt.Errorf("hydrate: store root: %w", err)
	}
	l.markValid(dirID, start)
	return nil
}

// relist fetches a folder's children (Depth 1) and applies them in one transaction.
func (l *Lister) relist(ctx context.Context, dirID uint64, background bool, call *listCall) error {
	// Where the server has it: a move made here may not be uploaded yet.
	path, err := l.cfg.Store.ServerPath(dirID)
	if err != nil {
		return fmt.Errorf("hydrate: path of folder %d: %w", dirID, err)
	}
	// A folder listed for the first time has no children in the kernel's caches: every
	// lookup in it waited for this listing. Only items moved in from elsewhere need telling.
	first := false
	if dir, err := l.cfg.Store.Get(dirID); err == nil {
		first = dir.ListedETag == ""
	}
	var early *earlyListing
	if first && l.cfg.Dialect == davclient.DialectNextcloud && call != nil {
		early = &earlyListing{l: l, call: call, dirID: dirID}
		defer early.finish()
	}
	start := time.Now()
	var offer func([]cache.Item)
	if early != nil {
		offer = early.offer
	}
	var listing cache.Listing
	var diff cache.Diff
	for attempt := 1; ; attempt++ {
		if listing, err = l.fetchFolder(ctx, dirID, path, offer); err != nil {
			return err
		}
		if early != nil {
			early.decoded(listing.Children)
		}
		diff, err = l.apply(ctx, listing, background)
		if !errors.Is(err, cache.ErrStaleListing) {
			break
		}
		// Something was done here in the folder while its listing was on the way:
		// the answer may not show it yet. Ask again; a folder changed here without
		// pause keeps what the cache has, and the next visit asks again.
		if attempt == maxStaleRetries {
			l.Invalidate(dirID)
			l.log.Debug("listing kept stale by changes made here; the cache's view stays", "op", "list", "path", path)
			return nil
		}
		if path, err = l.cfg.Store.ServerPath(dirID); err != nil {
			return fmt.Errorf("hydrate: path of folder %d: %w", dirID, err)
		}
	}
	if err != nil {
		return fmt.Errorf("hydrate: store listing of %q: %w", path, err)
	}
	children := listing.Children
	fetched := time.Now()
	if early != nil {
		early.committed(children)
	}
	l.listed(listing, path, diff, start, fetched, first)
	return nil
}

// maxStaleRetries bounds how often a listing made stale by changes here is asked again.
const maxStaleRetries = 3

// fetchFolder asks the server for a folder's children (Depth 1) at path, telling offer
// (if set) of each child as it is decoded, and checks the answer describes the folder
// the cache knows as dirID.
func (l *Lister) fetchFolder(ctx context.Context, dirID uint64, path string, offer func([]cache.Item)) (cache.Listing, error) {
	seq := l.cfg.Store.FolderSeq(dirID) // changes made here after this make the answer stale
	var children []cache.Item
	self, err := l.cfg.Client.List(ctx, path, func(e davclient.Entry) error {
		it := itemFromEntry(e, e.FileID)
		it.Parent = dirID
		children = append(children, it)
		if offer != nil {
			offer(children)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, davclient.ErrNotFound) && dirID != l.cfg.RootID {
			// Gone on the server: the parent must be asked again to drop it.
			if dir, gerr := l.cfg.Store.Get(dirID); gerr == nil {
				l.Invalidate(dir.Parent)
			}
		}
		return cache.Listing{}, fmt.Errorf("hydrate: list %q: %w", path, err)
	}
	if !self.IsDir {
		return cache.Listing{}, fmt.Errorf("hydrate: list %q: %w", path, errNotAFolder)
	}
	if dir, gerr := l.cfg.Store.Get(dirID); gerr == nil && self.FileID != 0 && dir.ServerFileID() != 0 &&
		self.FileID != dir.ServerFileID() {
		// Another folder now has this path (deleted and re-created on the server).
		l.Invalidate(dir.Parent)
		return cache.Listing{}, fmt.Errorf("hydrate: list %q: %w", path, ErrReplaced)
	}
	if dirID == l.cfg.RootID {
		l.noteQuota(self)
	}
	return cache.Listing{Dir: itemFromEntry(self, dirID), Children: children, LocalSeq: seq, CheckLocal: true}, nil
}

// listed ends a folder's listing once it is stored: the folder is current as of start
// (when its request left), and the kernel is told what changed (after a first listing
// only of items moved in: the kernel holds nothing else of the folder).
func (l *Lister) listed(listing cache.Listing, path string, diff cache.Diff, start, fetched time.Time, first bool) {
	dirID := listing.Dir.ID
	l.markValid(dirID, start)
	l.log.Debug("listed folder", "op", "list", "path", path, "fileid", dirID, "etag", listing.Dir.ETag,
		"children", len(listing.Children), "added", len(diff.Added), "removed", len(diff.Removed),
		"changed", len(diff.Changed), "fetch", fetched.Sub(start), "store", time.Since(fetched))
	if first {
		diff.Added, diff.Removed, diff.Changed = nil, nil, nil
	}
	if (!diff.Empty() || len(diff.MovedIn)+len(diff.ContentDropped) > 0) && l.cfg.OnChange != nil {
		l.cfg.OnChange(dirID, diff)
	}
}

// earlyPublishBatch is how many decoded children are handed to readers at a time: a
// lock and a wake-up per batch, not per child, while a reader waits at most the
// decoding of a batch (tens of microseconds).
const earlyPublishBatch = 64

// earlyListing hands a folder's first listing to readers while it is being decoded.
// Only on Nextcloud, whose items come with their ids: on generic servers the ids are
// allocated by the commit. A child without a server id stops the early hand-out at
// that point; the rest is handed out from the cache once committed.
type earlyListing struct {
	l       *Lister
	call    *listCall
	dirID   uint64
	stream  *listingStream
	settled chan struct{} // closed when relist returns, committed or not
	shown   int           // children published
	stopped bool          // the rest waits for the commit
}

// offer is told of every decoded child (the last of children).
func (e *earlyListing) offer(children []cache.Item) {
	if e.stopped {
		return
	}
	if last := children[len(children)-1]; last.ID == 0 || last.ID == e.dirID {
		e.stopped = true
		e.publish(children[:len(children)-1])
		return
	}
	if e.shown == 0 || len(children)-e.shown >= earlyPublishBatch {
		e.publish(children)
	}
}

// publish makes children visible to readers, starting the stream with the first.
func (e *earlyListing) publish(children []cache.Item) {
	if len(children) == e.shown {
		return
	}
	children = children[:len(children):len(children)]
	e.shown = len(children)
	if e.stream == nil {
		e.stream = newListingStream()
		e.stream.items = children
		e.settled = make(chan struct{})
		e.l.mu.Lock()
		e.l.handedOut[e.dirID] = e.settled // readers may now ask the cache for items not in it yet
		e.l.mu.Unlock()
		e.call.stream = e.stream
		close(e.call.early)
		return
	}
	e.stream.publish(children)
}

// decoded is told the whole listing was received and checked: the last children are
// handed out, but the end of the folder waits for the commit (a commit that fails
// must fail the readers too, not leave them with a folder that vanishes).
func (e *earlyListing) decoded(children []cache.Item) {
	if !e.stopped && e.stream != nil {
		e.publish(children)
	}
}

// committed is told the listing is in the cache: the folder ends there, after the
// rest of a stopped hand-out, read back from the cache.
func (e *earlyListing) committed(children []cache.Item) {
	if e.stream == nil {
		return
	}
	if e.stopped {
		shown := make(map[string]bool, e.shown)
		for _, c := range children[:e.shown] {
			shown[c.Name] = true
		}
		stored, err := e.l.cfg.Store.Children(e.dirID)
		if err != nil {
			e.stream.end(fmt.Errorf("hydrate: read listing back: %w", err))
			return
		}
		all := slices.Clip(children[:e.shown])
		for _, c := range stored {
			if !shown[c.Name] {
				all = append(all, c)
			}
		}
		e.stream.publish(all)
	}
	e.stream.end(nil)
}

// finish is told relist returned: readers that missed an item in the cache may read
// again. A failure reaches the stream's readers from run, once the failed call is no
// longer joined by new visits.
func (e *earlyListing) finish() {
	if e.stream == nil {
		return
	}
	e.l.mu.Lock()
	delete(e.l.handedOut, e.dirID)
	e.l.mu.Unlock()
	close(e.settled)
}

var (
	errNotAFolder = errors.New("the server says this is not a folder")
	// ErrReplaced: the folder's path now names another folder on the server (deleted
	// and created again); the one the kernel holds is gone.
	ErrReplaced = errors.New("the folder was replaced on the server")
)

// markValid records that dirID's listing was current at t (the time the request left,
// so a change racing with it is caught on the next visit).
func (l *Lister) markValid(dirID uint64, t time.Time) {
	l.mu.Lock()
	l.validated[dirID] = t
	l.mu.Unlock()
}

func (l *Lister) noteQuota(root davclient.Entry) {
	if !root.HasQuota {
		return
	}
	l.SetQuota(Quota{Used: root.QuotaUsed, Available: root.QuotaAvailable, Known: true})
}

// itemFromEntry converts the wire's view of an item into the cache's, under id. The
// cache keeps an ETag's strong form: Apache announces a file modified within the
// current second with W/"x" and the same version with "x" a second later, and the
// cache, comparing tags as they are, would take that for a new version (see
// davclient.SameVersion). Sent in If-Match while the server still says W/"x", the
// strong form fails once (412); the Fetcher then compares the answers' ETags instead.
func itemFromEntry(e davclient.Entry, id uint64) cache.Item {
	return cache.Item{
		ID:          id,
		Name:        e.Name,
		IsDir:       e.IsDir,
		Size:        e.Size,
		MTime:       e.ModTime,
		ETag:        davclient.StrongForm(e.ETag),
		Permissions: e.Permissions,
		PermsKnown:  e.HasPermissions,
		OwnerID:     e.OwnerID,
		OwnerName:   e.OwnerDisplayName,
		Checksums:   e.Checksums,
	}
}

// ItemFromEntry is itemFromEntry for wiring code (the root at mount time).
func ItemFromEntry(e davclient.Entry, id uint64) cache.Item { return itemFromEntry(e, id) }
