package hydrate

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ncvfs/ncvfs/cache"
	"github.com/ncvfs/ncvfs/davclient"
	"github.com/ncvfs/ncvfs/davclient/davtest"
)

type fixture struct {
	srv    *davtest.Server
	store  *cache.Store
	lister *Lister
	rootID uint64
	diffs  chan cache.Diff
}

// newFixture connects a Lister to the test server, as a mount would, without mounting.
// Prefetching is off, so tests can count listings exactly; TestPrefetch turns it on.
func newFixture(t *testing.T, ttl time.Duration) *fixture {
	return newFixtureWith(t, ttl, true)
}

func newFixtureWith(t *testing.T, ttl time.Duration, noPrefetch bool) *fixture {
	t.Helper()
	srv, err := davtest.New(davtest.Options{User: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	for _, p := range []string{"a/b/c/deep.txt", "a/one.txt", "top.txt"} {
		if _, err := srv.WriteFile(p, []byte("x"), time.Unix(1700000000, 0)); err != nil {
			t.Fatal(err)
		}
	}
	client, err := davclient.New(davclient.Config{URL: srv.URL(), User: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	info, err := client.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	store, err := cache.Open(t.TempDir(), cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	rootID, err := store.PutRoot(ItemFromEntry(info.Root, info.Root.FileID))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{srv: srv, store: store, rootID: rootID, diffs: make(chan cache.Diff, 100)}
	f.lister = NewLister(ListerConfig{Store: store, Client: client, Dialect: info.Dialect,
		RootID: rootID, TTL: ttl, NoPrefetch: noPrefetch, OnChange: func(_ uint64, d cache.Diff) { f.diffs <- d }})
	t.Cleanup(f.lister.Close) // before the store closes
	return f
}

// walk lists every folder below id, depth first, as find would.
func (f *fixture) walk(t *testing.T, id uint64) int {
	t.Helper()
	if err := f.lister.Ensure(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	kids, err := f.store.Children(id)
	if err != nil {
		t.Fatal(err)
	}
	n := len(kids)
	for _, k := range kids {
		if k.IsDir {
			n += f.walk(t, k.ID)
		}
	}
	return n
}

func (f *fixture) requests(method string) int64 { return f.srv.Counts().Requests[method] }

func TestFirstVisitListsThenTTLIsFree(t *testing.T) {
	f := newFixture(t, time.Hour)
	if n := f.walk(t, f.rootID); n != 6 {
		t.Fatalf("walk found %d items, want 6", n)
	}
	if got := f.requests("PROPFIND/1"); got != 4 {
		t.Errorf("first walk: %d listings, want 4 (root, a, a/b, a/b/c)", got)
	}
	f.srv.ResetCounts()
	f.walk(t, f.rootID)
	if total := f.srv.Counts().Total(); total != 0 {
		t.Errorf("second walk within the TTL made %d requests", total)
	}
}

func TestNextcloudParentVouchesForUnchangedFolders(t *testing.T) {
	// The TTL must outlast one walk, even on a loaded machine, and then expire.
	const ttl = 300 * time.Millisecond
	f := newFixture(t, ttl)
	f.walk(t, f.rootID)
	time.Sleep(ttl + 50*time.Millisecond)
	f.srv.ResetCounts()
	f.walk(t, f.rootID)
	if d0, d1 := f.requests("PROPFIND/0"), f.requests("PROPFIND/1"); d0 != 1 || d1 != 0 {
		t.Errorf("revalidating an unchanged tree: %d Depth-0, %d Depth-1; want 1 and 0", d0, d1)
	}

	if _, err := f.srv.WriteFile("a/b/c/new.txt", []byte("n"), time.Unix(1700000000, 0)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(ttl + 50*time.Millisecond)
	f.srv.ResetCounts()
	if n := f.walk(t, f.rootID); n != 7 {
		t.Fatalf("walk after a change found %d items, want 7", n)
	}
	if d1 := f.requests("PROPFIND/1"); d1 != 4 {
		t.Errorf("a change in a/b/c relisted %d folders, want the 4 on its path", d1)
	}
	select {
	case d := <-drainLast(f.diffs):
		if len(d.Added) != 1 || d.Added[0] != "new.txt" {
			t.Errorf("last diff %+v, want new.txt added", d)
		}
	default:
		t.Error("no change reported to OnChange")
	}
}

// drainLast returns a channel holding only the last diff reported.
func drainLast(ch chan cache.Diff) chan cache.Diff {
	out := make(chan cache.Diff, 1)
	var last *cache.Diff
	for {
		select {
		case d := <-ch:
			last = &d
		default:
			if last != nil {
				out <- *last
			}
			return out
		}
	}
}

func TestConcurrentVisitsShareOneListing(t *testing.T) {
	f := newFixture(t, time.Hour)
	remove := f.srv.AddFault(davtest.Fault{Method: "PROPFIND", Delay: 50 * time.Millisecond})
	defer remove()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- f.lister.Ensure(context.Background(), f.rootID)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := f.requests("PROPFIND/1"); got != 1 {
		t.Errorf("20 concurrent visits made %d listings, want 1", got)
	}
}

func TestInterruptedVisitorLeavesTheListingToOthers(t *testing.T) {
	f := newFixture(t, time.Hour)
	remove := f.srv.AddFault(davtest.Fault{Method: "PROPFIND", Delay: 200 * time.Millisecond})
	defer remove()
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { first <- f.lister.Ensure(ctx, f.rootID) }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted visitor: %v, want context.Canceled", err)
	}
	if err := f.lister.Ensure(context.Background(), f.rootID); err != nil {
		t.Fatalf("second visitor: %v", err)
	}
	if got := f.requests("PROPFIND/1"); got != 1 {
		t.Errorf("%d listings: the interrupted one should have gone on and been shared", got)
	}
	if _, err := f.store.Lookup(f.rootID, "top.txt"); err != nil {
		t.Errorf("listing not stored: %v", err)
	}
}

func TestFolderGoneOnServer(t *testing.T) {
	f := newFixture(t, 10*time.Millisecond)
	f.walk(t, f.rootID)
	a, err := f.store.Lookup(f.rootID, "a")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.srv.Remove("a"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	err = f.lister.Ensure(context.Background(), a.ID)
	if !errors.Is(err, cache.ErrNotFound) && !errors.Is(err, davclient.ErrNotFound) {
		t.Fatalf("visiting a folder deleted on the server: %v, want not found", err)
	}
	if _, err := f.store.Get(a.ID); !errors.Is(err, cache.ErrNotFound) {
		t.Errorf("deleted folder still cached: %v", err)
	}
}

// On a server whose folders are relisted (generic dialect), the quota comes from the
// root's listing, each time it is relisted.
func TestQuotaComesFromTheRootListingOnGenericServers(t *testing.T) {
	f := newFixture(t, time.Hour)
	f.lister.cfg.Dialect = davclient.DialectGeneric
	if err := f.lister.Ensure(context.Background(), f.rootID); err != nil {
		t.Fatal(err)
	}
	if q := f.lister.Quota(); !q.Known || q.Used != 3 {
		t.Errorf("quota after the first listing %+v, want known with 3 bytes used", q)
	}
	if _, err := f.srv.WriteFile("more.txt", []byte("four"), time.Unix(1700000000, 0)); err != nil {
		t.Fatal(err)
	}
	f.lister.Invalidate(f.rootID)
	if err := f.lister.Ensure(context.Background(), f.rootID); err != nil {
		t.Fatal(err)
	}
	if q := f.lister.Quota(); !q.Known || q.Used != 7 {
		t.Errorf("quota after a relisting %+v, want known with 7 bytes used", q)
	}
}

// The quota is learned from the root's Depth-0 check (listings do not ask for it).
func TestQuotaComesFromTheRootCheck(t *testing.T) {
	f := newFixture(t, time.Hour)
	if err := f.lister.Ensure(context.Background(), f.rootID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.srv.WriteFile("more.txt", []byte("four"), time.Unix(1700000000, 0)); err != nil {
		t.Fatal(err)
	}
	f.lister.Invalidate(f.rootID)
	if err := f.lister.Ensure(context.Background(), f.rootID); err != nil {
		t.Fatal(err)
	}
	q := f.lister.Quota()
	if !q.Known || q.Used != 7 {
		t.Errorf("quota %+v, want known with 7 bytes used", q)
	}
}

func TestPrefetchStartsWhenAWalkIsSeen(t *testing.T) {
	f := newFixtureWith(t, time.Hour, false)
	for i := range 12 {
		if _, err := f.srv.WriteFile(fmt.Sprintf("many/sub%02d/f.txt", i), []byte("x"), time.Unix(1700000000, 0)); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	if err := f.lister.Ensure(ctx, f.rootID); err != nil {
		t.Fatal(err)
	}
	many, err := f.store.Lookup(f.rootID, "many")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.lister.Ensure(ctx, many.ID); err != nil {
		t.Fatal(err)
	}
	sub := func(i int) cache.Item {
		it, err := f.store.Lookup(many.ID, fmt.Sprintf("sub%02d", i))
		if err != nil {
			t.Fatal(err)
		}
		return it
	}
	listedKids := func() int {
		kids, err := f.store.Children(many.ID)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, k := range kids {
			if k.ListedETag != "" {
				n++
			}
		}
		return n
	}
	// Visiting "many" and one of its subfolders is no walk: nothing else is listed.
	f.srv.ResetCounts()
	if err := f.lister.Ensure(ctx, sub(0).ID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // room for a wrong prefetch to show
	if got := f.srv.Counts().Requests["PROPFIND/1"]; got != 1 {
		t.Errorf("one subfolder visited: %d Depth-1 listings, want 1", got)
	}
	if n := listedKids(); n != 1 {
		t.Errorf("one subfolder visited: %d of 12 listed, want 1", n)
	}
	// A second subfolder makes it a walk: the other ten are listed ahead.
	if err := f.lister.Ensure(ctx, sub(1).ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for listedKids() != 12 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 12 subfolders listed ahead", listedKids())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Walking them now costs nothing more.
	f.srv.ResetCounts()
	f.walk(t, many.ID)
	if total := f.srv.Counts().Total(); total != 0 {
		t.Errorf("walking prefetched folders made %d requests", total)
	}
}

// A first listing may be handed out while it is committed; after Settle the cache holds
// exactly what was handed out.
func TestChildrenOfAFirstListingMatchTheCommit(t *testing.T) {
	f := newFixture(t, time.Hour)
	for i := range 300 {
		if _, err := f.srv.WriteFile(fmt.Sprintf("wide/n%03d.txt", 299-i), []byte("x"), time.Unix(1700000000, 0)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.lister.Ensure(context.Background(), f.rootID); err != nil {
		t.Fatal(err)
	}
	wide, err := f.store.Lookup(f.rootID, "wide")
	if err != nil {
		t.Fatal(err)
	}
	list, err := f.lister.Children(context.Background(), wide.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := readChildren(t, &list)
	f.lister.Settle(context.Background(), wide.ID)
	stored, err := f.store.Children(wide.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 300 || len(stored) != 300 {
		t.Fatalf("handed out %d, stored %d, want 300", len(got), len(stored))
	}
	byName := make(map[string]cache.Item)
	for _, s := range stored {
		byName[s.Name] = s
	}
	for i, g := range got {
		s, ok := byName[g.Name]
		if !ok || g.ID != s.ID || g.Parent != s.Parent || g.Size != s.Size || g.ETag != s.ETag || !g.MTime.Equal(s.MTime) {
			t.Fatalf("entry %d handed out as %+v, stored as %+v", i, g, s)
		}
		delete(byName, g.Name)
	}
}

// readChildren reads a ChildList to its end.
func readChildren(t *testing.T, list *ChildList) []cache.Item {
	t.Helper()
	var items []cache.Item
	for i := 0; ; i++ {
		it, err := list.At(context.Background(), i)
		if err != nil {
			t.Fatalf("child %d: %v", i, err)
		}
		if it == nil {
			return items
		}
		items = append(items, *it)
	}
}

// listerGoroutines counts the goroutines running a Lister's background work.
func listerGoroutines() int {
	buf := make([]byte, 1<<22)
	stacks := string(buf[:runtime.Stack(buf, true)])
	n := 0
	for _, g := range strings.Split(stacks, "\n\n") {
		if strings.Contains(g, "hydrate.(*Lister).run(") || strings.Contains(g, "hydrate.(*Lister).commitLoop(") ||
			strings.Contains(g, "hydrate.(*Lister).prefetchBelow.") {
			n++
		}
	}
	return n
}

// Close with listings in flight on a server that does not answer (a listing whose
// caller gave up, prefetches of a walk) returns, and leaves no listing behind to
// write into a store that is closed after it.
func TestCloseEndsListingsInFlight(t *testing.T) {
	f := newFixtureWith(t, time.Hour, false)
	for i := range 4 {
		if _, err := f.srv.WriteFile(fmt.Sprintf("walk/sub%d/f.txt", i), []byte("x"), time.Unix(1700000000, 0)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.srv.MkdirAll("stuck"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := f.lister.Ensure(ctx, f.rootID); err != nil {
		t.Fatal(err)
	}
	lookup := func(parent uint64, name string) uint64 {
		it, err := f.store.Lookup(parent, name)
		if err != nil {
			t.Fatal(err)
		}
		return it.ID
	}
	walk := lookup(f.rootID, "walk")
	if err := f.lister.Ensure(ctx, walk); err != nil {
		t.Fatal(err)
	}
	// From here on the server never answers a listing.
	t.Cleanup(f.srv.AddFault(davtest.Fault{Method: "PROPFIND", Delay: time.Hour}))
	f.srv.ResetCounts()
	// A visitor that gives up leaves its listing running.
	gaveUp, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- f.lister.Ensure(gaveUp, lookup(f.rootID, "stuck")) }()
	for f.srv.Counts().Requests["PROPFIND/1"] == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("the visitor that gave up got %v", err)
	}
	// Two subfolders visited: a walk, whose other subfolders are listed ahead.
	for _, name := range []string{"sub0", "sub1"} {
		id := lookup(walk, name)
		f.lister.noteVisit(id)
	}
	for f.srv.Counts().Requests["PROPFIND/1"] < 2 {
		time.Sleep(time.Millisecond)
	}
	f.lister.Close()
	if n := listerGoroutines(); n != 0 {
		t.Errorf("%d goroutines of the Lister still run after Close", n)
	}
	if n := f.lister.listings.Load(); n != 0 {
		t.Errorf("the Lister counts %d listings in flight after Close", n)
	}
	late, cancelLate := context.WithTimeout(ctx, 10*time.Second)
	defer cancelLate()
	if err := f.lister.Ensure(late, lookup(walk, "sub3")); !errors.Is(err, errListerClosed) {
		t.Errorf("a visit after Close: %v, want the Lister's closed error", err)
	}
}
