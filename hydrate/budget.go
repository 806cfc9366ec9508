package hydrate

import (
	"log/slog"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/ncvfs/ncvfs/cache"
)

// Default cache limits: content beyond them is evicted, least recently used first.
const (
	DefaultCacheSize    = 10 << 30
	DefaultMinFreeSpace = 1 << 30
)

// Budget keeps local content under a size limit and the disk above a free-space floor by
// turning the least recently used clean, closed files back into placeholders. It never
// evicts an open file or local changes; an evicted file is still on the server.
type Budget struct {
	Store   *cache.Store
	Fetcher *Fetcher
	// MaxBytes of content; MinFree bytes left on the cache's disk.
	MaxBytes, MinFree int64
	Logger            *slog.Logger

	mu      sync.Mutex
	running bool
	again   bool
	closed  bool
	passes  sync.WaitGroup
}

// Close waits for a running pass and refuses new ones; the store must stay open until
// it returns.
func (b *Budget) Close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.passes.Wait()
}

// Enforce evicts in the background until the limits hold; calls made while it runs are
// folded into one more pass.
func (b *Budget) Enforce() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	if b.running {
		b.again = true
		b.mu.Unlock()
		return
	}
	b.running = true
	b.passes.Add(1)
	b.mu.Unlock()
	go func() {
		defer b.passes.Done()
		for {
			b.evict()
			b.mu.Lock()
			if !b.again || b.closed {
				b.running = false
				b.mu.Unlock()
				return
			}
			b.again = false
			b.mu.Unlock()
		}
	}()
}

// EnforceNow is Enforce, synchronously (tests, and the CLI's free command later).
func (b *Budget) EnforceNow() { b.evict() }

func (b *Budget) over() (bool, error) {
	used, _, err := b.Store.ContentUsage()
	if err != nil {
		return false, err
	}
	if b.MaxBytes > 0 && used > b.MaxBytes {
		return true, nil
	}
	if b.MinFree > 0 {
		var st unix.Statfs_t
		if err := unix.Statfs(b.Store.ContentDir(), &st); err == nil && int64(st.Bavail)*st.Bsize < b.MinFree {
			return used > 0, nil
		}
	}
	return false, nil
}

// evictPage is how many records one read of the LRU order returns.
const evictPage = 64

// evict walks the whole LRU order once, least recently used first, until the limits
// hold. A file that is open (or still being recorded) is passed over, not a reason to
// stop: long-open files at the head of the order once stalled eviction for good.
func (b *Budget) evict() {
	log := b.Logger
	if log == nil {
		log = slog.Default()
	}
	var after *cache.Content
	for {
		over, err := b.over()
		if err != nil || !over {
			if err != nil {
				log.Warn("cannot check the cache size", "op", "evict", "err", err)
			}
			return
		}
		page, err := b.Store.Evictable(after, evictPage)
		if err != nil {
			log.Warn("cannot list cached files", "op", "evict", "err", err)
			return
		}
		if len(page) == 0 {
			return // everything left is open or has local changes
		}
		for i := range page {
			c := &page[i]
			after = c
			if err := b.Fetcher.Evict(c.ID); err != nil {
				log.Debug("not evicted", "op", "evict", "fileid", c.ID, "err", err)
				continue
			}
			log.Debug("evicted", "op", "evict", "fileid", c.ID, "bytes", c.Local())
			if over, _ := b.over(); !over {
				return
			}
		}
	}
}
