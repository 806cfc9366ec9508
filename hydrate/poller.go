package hydrate

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ncvfs/ncvfs/cache"
	"github.com/ncvfs/ncvfs/davclient"
)

// DefaultPollInterval is how often the change poller asks the server whether anything
// changed: every 30 s, as the desktop clients do.
const DefaultPollInterval = 30 * time.Second

// maxPassChildren bounds the children one poll pass holds in memory before it applies
// them; folders beyond it are listed by the next pass. Only a move between two folders
// that end up in different passes then costs a download (see cache.ApplyListings).
const maxPassChildren = 200_000

// Poller shows changes made on the server by others without waiting for a visit: each
// interval one Depth-0 PROPFIND of the root; when the root's ETag changed, it descends
// only into folders whose ETag changed, and of those only into folders the cache has
// listed (the others stay lazy: nothing of them is shown yet). One pass is applied in
// one transaction, through the Lister's path, so the kernel is told the same way as
// after a visit.
//
// On servers whose folder ETags do not propagate (generic WebDAV), a pass does nothing
// yet: changes are seen when folders are visited after the listing TTL.
//
// Lock order: Poller.passMu is taken first, then Lister.mu (a leaf); no lock is held
// across a network call or a transaction except passMu, which only orders passes.
type Poller struct {
	l        *Lister
	interval time.Duration

	passMu sync.Mutex
	retry  map[uint64]struct{} // under passMu: folders a pass could not bring up to date

	kick chan struct{} // Kick: a pass now rather than at the end of the interval

	stopOnce sync.Once
	cancel   context.CancelFunc
	done     chan struct{}
}

// NewPoller returns a poller of l's folders; Start runs it.
func NewPoller(l *Lister, interval time.Duration) *Poller {
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	return &Poller{l: l, interval: interval, retry: make(map[uint64]struct{}), kick: make(chan struct{}, 1)}
}

// Kick asks for a pass now (the server is back after being offline: what changed
// there meanwhile should show without waiting out the interval). Never blocks.
func (p *Poller) Kick() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Start polls every interval (counted from the end of the previous pass, so passes never
// overlap) until Stop.
func (p *Poller) Start() {
	ctx, cancel := context.WithCancel(p.l.closing)
	p.cancel = cancel
	p.done = make(chan struct{})
	go p.run(ctx)
}

// Stop ends polling and waits until a pass in flight has ended: no request is sent
// after it returns. Safe to call more than once, and without Start.
func (p *Poller) Stop() {
	p.stopOnce.Do(func() {
		if p.cancel == nil {
			return
		}
		p.cancel()
		<-p.done
	})
}

func (p *Poller) run(ctx context.Context) {
	defer close(p.done)
	t := time.NewTimer(p.interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-p.kick:
			t.Stop() // since Go 1.23 no stale tick is left in t.C after Stop
		}
		err := p.Poll(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && !failing:
			failing = true
			p.l.log.Warn("cannot check the server for changes; trying again each interval",
				"op", "poll", "interval", p.interval, "err", err)
		case err != nil:
			p.l.log.Debug("poll failed", "op", "poll", "err", err)
		case failing:
			failing = false
			p.l.log.Info("checking the server for changes again", "op", "poll")
		}
		t.Reset(p.interval)
	}
}

// pollTarget is a folder a pass may relist. fromCache: the folder was left over by an
// earlier pass, and is relisted only if the cache still says it changed.
type pollTarget struct {
	id        uint64
	fromCache bool
}

// passFolder is a folder fetched by a pass, waiting to be applied with the others.
type passFolder struct {
	call    *listCall
	path    string
	listing cache.Listing
	fetched time.Time
	err     error
}

// Poll runs one pass: it returns when what changed on the server is in the cache and
// the kernel is being told, or with the error that stopped it (the folders it could not
// bring up to date are tried again by the next pass).
func (p *Poller) Poll(ctx context.Context) error {
	p.passMu.Lock()
	defer p.passMu.Unlock()
	l := p.l
	if l.cfg.Dialect != davclient.DialectNextcloud {
		return nil
	}
	root, err := l.cfg.Store.Get(l.cfg.RootID)
	if err != nil {
		return fmt.Errorf("hydrate: poll: root: %w", err)
	}
	if root.ListedETag == "" {
		return nil // never shown: its first visit lists it
	}
	start := time.Now()
	self, err := l.cfg.Client.Stat(ctx, "")
	if err != nil {
		return fmt.Errorf("hydrate: poll: check the root: %w", err)
	}
	l.noteQuota(self)
	var queue []pollTarget
	if davclient.StrongForm(self.ETag) != root.ListedETag {
		queue = append(queue, pollTarget{id: l.cfg.RootID})
	} else {
		l.markValid(l.cfg.RootID, start)
	}
	for id := range p.retry {
		queue = append(queue, pollTarget{id: id, fromCache: true})
	}
	clear(p.retry)
	if len(queue) == 0 {
		return nil
	}
	return p.pass(ctx, queue, start)
}

// pass fetches the queued folders and, breadth first, their listed subfolders whose
// ETag changed; then applies them all in one transaction.
func (p *Poller) pass(ctx context.Context, queue []pollTarget, start time.Time) error {
	l := p.l
	var folders []*passFolder
	defer func() {
		for _, f := range folders {
			if f.call != nil {
				l.release(f.listing.Dir.ID, f.call, f.err)
			}
		}
	}()
	seen := make(map[uint64]bool)
	children := 0
	var firstErr error
	for i := 0; i < len(queue); i++ {
		tg := queue[i]
		if seen[tg.id] {
			continue
		}
		seen[tg.id] = true
		if ctx.Err() != nil || children >= maxPassChildren {
			p.retryLater(tg.id)
			continue
		}
		if tg.fromCache {
			dir, err := l.cfg.Store.Get(tg.id)
			if err != nil || !pollable(dir) || dir.ETag == dir.ListedETag {
				continue // gone, or brought up to date meanwhile (a visit)
			}
		}
		f, err := p.fetch(ctx, tg.id)
		if err != nil {
			if !errors.Is(err, davclient.ErrNotFound) && !errors.Is(err, ErrReplaced) {
				p.retryLater(tg.id) // a removed folder goes with its parent's listing
			}
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if f == nil {
			p.retryLater(tg.id) // being listed by a visit: checked again next pass
			continue
		}
		folders = append(folders, f)
		children += len(f.listing.Children)
		for _, c := range f.listing.Children {
			if !c.IsDir || c.ID == 0 {
				continue
			}
			cur, err := l.cfg.Store.ByServerID(c.ID)
			if err != nil || !pollable(cur) || cur.ListedETag == c.ETag {
				continue // new here, never listed, or unchanged
			}
			queue = append(queue, pollTarget{id: cur.ID})
		}
	}
	if len(folders) == 0 {
		return firstErr
	}

	listings := make([]cache.Listing, len(folders))
	for i, f := range folders {
		listings[i] = f.listing
	}
	diffs, err := l.cfg.Store.ApplyListings(listings)
	if err != nil {
		// One bad listing spoils the group: apply each on its own.
		diffs = make([]cache.Diff, len(folders))
		for i, f := range folders {
			diffs[i], f.err = l.cfg.Store.ApplyListing(f.listing)
		}
	}
	for i, f := range folders {
		if f.err != nil {
			f.err = fmt.Errorf("hydrate: poll: store listing of %q: %w", f.path, f.err)
			if !errors.Is(f.err, cache.ErrBadListing) {
				p.retryLater(f.listing.Dir.ID)
			}
			if firstErr == nil {
				firstErr = f.err
			}
			continue
		}
		l.listed(f.listing, f.path, diffs[i], start, f.fetched, false)
	}
	return firstErr
}

// fetch lists one folder for a pass, holding its listing slot so that visits wait for
// the pass instead of listing it again. It returns nil, nil when a visit holds the slot:
// a pass never waits for a visit, which may itself wait for a folder the pass holds.
func (p *Poller) fetch(ctx context.Context, id uint64) (*passFolder, error) {
	l := p.l
	call, ok := l.claim(id)
	if !ok {
		return nil, nil
	}
	path, err := l.cfg.Store.ServerPath(id)
	if err == nil {
		var listing cache.Listing
		listing, err = l.fetchFolder(ctx, id, path, nil)
		if err == nil {
			return &passFolder{call: call, path: path, listing: listing, fetched: time.Now()}, nil
		}
	} else {
		err = fmt.Errorf("hydrate: poll: path of folder %d: %w", id, err)
	}
	l.release(id, call, err)
	return nil, err
}

func (p *Poller) retryLater(id uint64) { p.retry[id] = struct{}{} }

// pollable: a folder the server has and the kernel may hold children of.
func pollable(it cache.Item) bool {
	return it.IsDir && it.ListedETag != "" &&
		it.Local.Flags&(cache.LocalCreated|cache.LocalOnly|cache.LocalDeleted) == 0
}

// claim takes the listing slot of a folder, as a visit would, unless one is taken.
func (l *Lister) claim(id uint64) (*listCall, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, false
	}
	if _, busy := l.inflight[id]; busy {
		return nil, false
	}
	call := &listCall{done: make(chan struct{}), early: make(chan struct{})}
	l.inflight[id] = call
	return call, true
}

// release ends a listing taken with claim; visits that joined it see err.
func (l *Lister) release(id uint64, call *listCall, err error) {
	call.err = err
	l.mu.Lock()
	if l.inflight[id] == call {
		delete(l.inflight, id)
	}
	l.mu.Unlock()
	close(call.done)
}
