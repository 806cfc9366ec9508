package hydrate

import (
	"context"
	"sync"

	"github.com/ncvfs/ncvfs/cache"
)

// ChildList is a folder's children as handed to one reader: either complete, or a first
// listing still arriving from the server, item by item as it is decoded. Each reader
// keeps its own ChildList; the items it has seen never change under it.
type ChildList struct {
	items  []cache.Item // what this reader has seen so far (all of it when s is nil)
	s      *listingStream
	ended  bool
	endErr error
}

// At returns child i, waiting while a first listing is still arriving. It returns
// (nil, nil) past the last child, and the listing's error if it failed before child i
// arrived: the children shown before stay shown, the rest never come.
func (c *ChildList) At(ctx context.Context, i int) (*cache.Item, error) {
	for i >= len(c.items) && c.s != nil && !c.ended {
		items, ended, err := c.s.wait(ctx, len(c.items))
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		c.items, c.ended, c.endErr = items, ended, err
	}
	if i < len(c.items) {
		return &c.items[i], nil
	}
	return nil, c.endErr
}

// Ready reports whether At(i) would answer without waiting.
func (c *ChildList) Ready(i int) bool {
	if i < len(c.items) || c.s == nil || c.ended {
		return true
	}
	c.items, c.ended, c.endErr = c.s.now()
	return i < len(c.items) || c.ended
}

// Seen returns child i if this reader has already received it, without waiting.
func (c *ChildList) Seen(i int) (*cache.Item, bool) {
	if i < 0 || i >= len(c.items) {
		return nil, false
	}
	return &c.items[i], true
}

// listingStream is a folder's first listing published while it is decoded. The
// producer (relist) appends; items, once published, are never modified, so readers hold
// slices of them without a lock.
type listingStream struct {
	mu      sync.Mutex
	items   []cache.Item
	ended   bool
	err     error
	changed chan struct{} // closed (and replaced) when items grow or the stream ends
}

func newListingStream() *listingStream {
	return &listingStream{changed: make(chan struct{})}
}

// publish makes items visible; they must extend what was published before.
func (s *listingStream) publish(items []cache.Item) {
	s.mu.Lock()
	s.items = items
	wake := s.changed
	s.changed = make(chan struct{})
	s.mu.Unlock()
	close(wake)
}

// end closes the stream: err nil means every child was published.
func (s *listingStream) end(err error) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended, s.err = true, err
	wake := s.changed
	s.mu.Unlock()
	close(wake)
}

// now returns what is published, without waiting.
func (s *listingStream) now() ([]cache.Item, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.items, s.ended, s.err
}

// wait blocks until more than have items are published, the stream ends, or ctx ends.
func (s *listingStream) wait(ctx context.Context, have int) ([]cache.Item, bool, error) {
	for {
		s.mu.Lock()
		items, ended, err, changed := s.items, s.ended, s.err, s.changed
		s.mu.Unlock()
		if len(items) > have || ended {
			return items, ended, err
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return items, false, nil
		}
	}
}

// NewChildList returns a complete list of children (read from the cache).
func NewChildList(items []cache.Item) ChildList { return ChildList{items: items} }

// Len is how many children this reader has received so far.
func (c *ChildList) Len() int { return len(c.items) }
