package hydrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/ncvfs/ncvfs/cache"
)

// Lock order: Pinner.mu is a leaf lock, never held across a listing, a download or a
// bbolt transaction.

// DefaultPinWorkers bounds the files a Pinner downloads at once: few enough to leave
// the Fetcher's transfers to what a user waits for.
const DefaultPinWorkers = 2

// PinnerConfig wires a Pinner.
type PinnerConfig struct {
	Store   *cache.Store
	Lister  *Lister
	Fetcher *Fetcher
	// Workers bounds concurrent downloads (default DefaultPinWorkers).
	Workers int
	Logger  *slog.Logger
}

// Pinner hydrates what is pinned alwayslocal, in the background: the subtree of a pin
// when it is set, every pin again at mount (the pins in bbolt are the intent), and a
// pinned folder again when a listing finds something new in it.
type Pinner struct {
	cfg PinnerConfig
	log *slog.Logger
	sem chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	queue   []uint64
	queued  map[uint64]bool
	walking bool
	busy    int // downloads in flight
	lastErr error
	closed  bool
	wake    chan struct{} // closed and replaced when work ends or arrives
}

// NewPinner returns a Pinner; Start resumes the pins stored.
func NewPinner(cfg PinnerConfig) *Pinner {
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultPinWorkers
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Pinner{cfg: cfg, log: log, sem: make(chan struct{}, cfg.Workers), ctx: ctx, cancel: cancel,
		queued: map[uint64]bool{}, wake: make(chan struct{})}
}

// Start queues every item pinned alwayslocal: a pin set before an unmount or a crash
// is hydrated to the end.
func (p *Pinner) Start() error {
	pins, err := p.cfg.Store.Pins()
	if err != nil {
		return fmt.Errorf("hydrate: resume pins: %w", err)
	}
	for id, pin := range pins {
		if pin == cache.PinAlwaysLocal {
			p.Hydrate(id)
		}
	}
	return nil
}

// Hydrate queues id (a file, or a folder and everything below it that the pin
// reaches) for hydration. It returns at once.
func (p *Pinner) Hydrate(id uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.queued[id] {
		return
	}
	p.queued[id] = true
	p.queue = append(p.queue, id)
	p.signalLocked()
	if !p.walking {
		p.walking = true
		p.wg.Add(1)
		go p.walkLoop()
	}
}

// signalLocked wakes the waiters of Changed. Caller holds p.mu.
func (p *Pinner) signalLocked() {
	close(p.wake)
	p.wake = make(chan struct{})
}

// Changed returns a channel closed at the next change of Idle or LastError.
func (p *Pinner) Changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.wake
}

// Idle reports whether nothing is queued, walked or downloaded.
func (p *Pinner) Idle() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.walking && p.busy == 0
}

// LastError is the last failure of a walk or a download ("" when none since the last
// success).
func (p *Pinner) LastError() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastErr
}

// Close stops the walks and downloads and waits for them; what was pinned resumes at
// the next Start.
func (p *Pinner) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
}

func (p *Pinner) walkLoop() {
	defer p.wg.Done()
	for {
		p.mu.Lock()
		if len(p.queue) == 0 || p.closed {
			p.walking = false
			p.queue = nil
			p.signalLocked()
			p.mu.Unlock()
			return
		}
		id := p.queue[0]
		p.queue = p.queue[1:]
		delete(p.queued, id)
		p.mu.Unlock()
		if err := p.walk(id, 0); err != nil && p.ctx.Err() == nil {
			p.fail(fmt.Errorf("hydrate: pinned item %d: %w", id, err))
		}
	}
}

func (p *Pinner) fail(err error) {
	p.log.Warn("pinned content not hydrated", "op", "pin", "err", err)
	p.mu.Lock()
	p.lastErr = err
	p.signalLocked()
	p.mu.Unlock()
}

// walk hydrates id and, for a folder, what is below it while the pin reaches it.
func (p *Pinner) walk(id uint64, depth int) error {
	if depth > 4096 {
		return errors.New("folders nested too deep: a cycle?")
	}
	if p.ctx.Err() != nil {
		return p.ctx.Err()
	}
	_, pin, err := p.cfg.Store.PinOf(id)
	if err != nil || pin != cache.PinAlwaysLocal {
		return err // unpinned meanwhile, or gone
	}
	it, err := p.cfg.Store.Get(id)
	if errors.Is(err, cache.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !it.IsDir {
		p.hydrateFile(it)
		return nil
	}
	if err := p.cfg.Lister.Ensure(p.ctx, id); err != nil {
		return fmt.Errorf("list %q: %w", it.Name, err)
	}
	children, err := p.cfg.Store.Children(id)
	if err != nil {
		return err
	}
	var firstErr error
	for i := range children {
		c := &children[i]
		if own, _, err := p.cfg.Store.PinOf(c.ID); err == nil && own != cache.PinInherit && own != cache.PinAlwaysLocal {
			continue // a pin of its own that says otherwise
		}
		if c.IsDir {
			if err := p.walk(c.ID, depth+1); err != nil && firstErr == nil {
				firstErr = err
			}
			continue
		}
		p.hydrateFile(*c)
	}
	return firstErr
}

// needsHydration: a server version whose bytes are not all here and verified.
func needsHydration(it *cache.Item) bool {
	return !it.IsDir && it.Content != cache.ContentLocal && !it.Local.HasLocalContent() && it.Content != cache.ContentDirty
}

// hydrateFile downloads a file in the background once a worker is free; it waits only
// for that worker slot.
func (p *Pinner) hydrateFile(it cache.Item) {
	if !needsHydration(&it) {
		return
	}
	select {
	case p.sem <- struct{}{}:
	case <-p.ctx.Done():
		return
	}
	p.mu.Lock()
	p.busy++
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		err := p.fetchWhole(it)
		<-p.sem
		p.mu.Lock()
		p.busy--
		if err != nil && p.ctx.Err() == nil {
			p.lastErr = fmt.Errorf("hydrate: pinned file %q (%d): %w", it.Name, it.ID, err)
			p.log.Warn("pinned file not hydrated", "op", "pin", "fileid", it.ID, "err", err)
		}
		p.signalLocked()
		p.mu.Unlock()
	}()
}

// pinReadSize is how much one wait asks for: sequential requests make the Fetcher
// stream the file in one transfer.
const pinReadSize = 1 << 20

// fetchWhole reads every byte of the file through the Fetcher, which records and
// verifies them as any reader's.
func (p *Pinner) fetchWhole(it cache.Item) error {
	h, err := p.cfg.Fetcher.Open(it.ID)
	if err != nil {
		return err
	}
	defer h.Close()
	for off := int64(0); ; {
		loc, err := h.Locate(p.ctx, off, pinReadSize)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		off += int64(loc.Len)
	}
	if it.Size == 0 {
		// No byte to download, so no transfer records it: it is all here.
		if err := p.cfg.Store.MarkVerified(it.ID, it.ETag); err != nil {
			return err
		}
	}
	return nil
}
