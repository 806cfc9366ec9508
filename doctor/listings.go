package doctor

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/ncvfs/ncvfs/davclient"
)

// serverDir is one server folder's listing, fetched once by whoever claims it first:
// a prefetch worker ahead of the walk, or the walk itself when it gets there first.
type serverDir struct {
	path    string // relative to the account's files root
	claimed atomic.Bool
	done    chan struct{}
	// Set before done is closed.
	self    davclient.Entry
	entries []remoteEntry // sorted by name
	err     error
	held    bool // fetched ahead: holds a slot of the lister until taken
}

// remoteEntry is what a diff keeps of a server item: no more than it compares.
type remoteEntry struct {
	name     string
	isDir    bool
	size     int64
	mtime    int64 // unix seconds
	checksum string
	owner    string
}

func newServerDir(path string) *serverDir {
	return &serverDir{path: path, done: make(chan struct{})}
}

// lister lists server folders ahead of the walk with a few PROPFINDs in flight. It
// holds at most cap(slots) listings that the walk has not taken yet, so memory stays
// bounded whatever the tree. The walk never waits for a slot: a folder nobody has
// claimed yet it lists itself, so the order in which folders are queued and taken
// cannot deadlock.
type lister struct {
	ctx   context.Context
	c     *davclient.Client
	queue chan *serverDir
	slots chan struct{}
	wg    sync.WaitGroup
}

func newLister(ctx context.Context, c *davclient.Client, workers int) *lister {
	l := &lister{
		ctx: ctx, c: c,
		queue: make(chan *serverDir, 256),
		slots: make(chan struct{}, 4*workers),
	}
	for range workers {
		l.wg.Add(1)
		go l.work()
	}
	return l
}

func (l *lister) work() {
	defer l.wg.Done()
	for d := range l.queue {
		select {
		case l.slots <- struct{}{}:
		case <-l.ctx.Done():
			continue
		}
		if !d.claimed.CompareAndSwap(false, true) {
			<-l.slots
			continue
		}
		d.held = true
		l.fetch(d)
	}
}

// ahead asks for d to be listed in the background, if the queue has room.
func (l *lister) ahead(d *serverDir) {
	select {
	case l.queue <- d:
	default:
	}
}

// take returns d listed, listing it now unless a worker has it already.
func (l *lister) take(d *serverDir) error {
	if d.claimed.CompareAndSwap(false, true) {
		l.fetch(d)
	} else {
		select {
		case <-d.done:
		case <-l.ctx.Done():
			return l.ctx.Err()
		}
	}
	if d.held {
		<-l.slots
	}
	return d.err
}

// close stops the workers; the context must be done or every queued folder taken.
func (l *lister) close() {
	close(l.queue)
	l.wg.Wait()
}

func (l *lister) fetch(d *serverDir) {
	defer close(d.done)
	self, err := l.c.List(l.ctx, d.path, func(e davclient.Entry) error {
		d.entries = append(d.entries, remoteEntry{
			name: e.Name, isDir: e.IsDir, size: e.Size, mtime: e.ModTime.Unix(),
			checksum: e.Checksums, owner: e.OwnerID,
		})
		return nil
	})
	if err == nil && !self.IsDir {
		err = fmt.Errorf("doctor: %q on the server is a file, not a folder", d.path)
	}
	if err != nil {
		d.entries, d.err = nil, err
		return
	}
	d.self = self
	slices.SortFunc(d.entries, func(a, b remoteEntry) int { return cmp.Compare(a.name, b.name) })
}
