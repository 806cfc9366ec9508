package hydrate

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// smallFiles adds n files of size bytes on the server, lists them in one listing and
// returns their ids in order.
func (cf *contentFixture) smallFiles(t *testing.T, prefix string, n int, size int64) []uint64 {
	t.Helper()
	for i := range n {
		name := fmt.Sprintf("%s%03d.bin", prefix, i)
		if _, err := cf.srv.WriteSynthetic(name, size, uint64(i+1), time.Unix(1700000000, 0)); err != nil {
			t.Fatal(err)
		}
	}
	cf.lister.Invalidate(cf.rootID)
	if err := cf.lister.Ensure(context.Background(), cf.rootID); err != nil {
		t.Fatal(err)
	}
	ids := make([]uint64, n)
	for i := range n {
		it, err := cf.store.Lookup(cf.rootID, fmt.Sprintf("%s%03d.bin", prefix, i))
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = it.ID
	}
	return ids
}

// waitRecorded waits until all size bytes of id are recorded in the cache.
func waitRecorded(t *testing.T, cf *contentFixture, id uint64, size int64) {
	t.Helper()
	for range 2000 {
		if c, ok, err := cf.store.Content(id); err == nil && ok && c.Local() == size {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("content of %d never recorded", id)
}

// Eviction walks past open files: with more than one page of long-open files at the
// head of the LRU order, closed content behind them is still evicted.
func TestEvictionPassesOverManyOpenFiles(t *testing.T) {
	cf := newContentFixture(t)
	const size = 4 << 10
	const open = evictPage + 6
	held := cf.smallFiles(t, "held", open, size)
	for _, id := range held {
		h, err := cf.fetcher.Open(id)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		readAll(t, h, size)
		waitRecorded(t, cf, id, size)
	}
	closed := cf.smallFiles(t, "closed", 4, size)
	for _, id := range closed {
		h, err := cf.fetcher.Open(id)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, h, size)
		h.Close()
		waitRecorded(t, cf, id, size)
		waitIdle(t, cf.fetcher, id)
	}
	limit := int64(open+1) * size
	budget := &Budget{Store: cf.store, Fetcher: cf.fetcher, MaxBytes: limit}
	budget.EnforceNow()
	used, _, err := cf.store.ContentUsage()
	if err != nil {
		t.Fatal(err)
	}
	if used > limit {
		t.Fatalf("after eviction the cache holds %d bytes, over the %d limit", used, limit)
	}
	for _, id := range held {
		if c, ok, _ := cf.store.Content(id); !ok || c.Local() != size {
			t.Fatalf("open file %d was evicted", id)
		}
	}
}
