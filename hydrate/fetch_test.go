package hydrate

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ncvfs/ncvfs/cache"
	"github.com/ncvfs/ncvfs/davclient"
	"github.com/ncvfs/ncvfs/davclient/davtest"
)

// contentFixture is a lister fixture plus a Fetcher.
type contentFixture struct {
	*fixture
	fetcher *Fetcher
}

func newContentFixture(t *testing.T) *contentFixture {
	t.Helper()
	return newContentFixtureWith(t, func(*FetcherConfig) {})
}

// newContentFixtureWith lets a test change the Fetcher's configuration.
func newContentFixtureWith(t *testing.T, configure func(*FetcherConfig)) *contentFixture {
	t.Helper()
	f := newFixture(t, time.Hour)
	client := f.lister.cfg.Client
	cf := &contentFixture{fixture: f}
	cfg := FetcherConfig{Store: f.store, Client: client}
	configure(&cfg)
	cf.fetcher = NewFetcher(cfg)
	t.Cleanup(cf.fetcher.Close) // before the store closes: cleanups run last-in first-out
	return cf
}

// file adds a synthetic file on the server and returns its cached id.
func (cf *contentFixture) file(t *testing.T, name string, size int64, seed uint64) uint64 {
	t.Helper()
	if _, err := cf.srv.WriteSynthetic(name, size, seed, time.Unix(1700000000, 0)); err != nil {
		t.Fatal(err)
	}
	cf.lister.Invalidate(cf.rootID)
	if err := cf.lister.Ensure(context.Background(), cf.rootID); err != nil {
		t.Fatal(err)
	}
	it, err := cf.store.Lookup(cf.rootID, name)
	if err != nil {
		t.Fatal(err)
	}
	return it.ID
}

// readAll reads a whole file through a handle in reads of n bytes.
func readAll(t *testing.T, h *Handle, n int) []byte {
	t.Helper()
	var out bytes.Buffer
	buf := make([]byte, n)
	for off := int64(0); ; {
		k, err := h.ReadAt(context.Background(), buf, off)
		out.Write(buf[:k])
		off += int64(k)
		if errors.Is(err, io.EOF) || (err == nil && k == 0) {
			return out.Bytes()
		}
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
	}
}

func TestReadsReturnTheServersBytes(t *testing.T) {
	cf := newContentFixture(t)
	for i, size := range []int64{0, 1, 4096, 4097, 3<<20 + 17, 100 << 20} {
		seed := uint64(i + 1)
		id := cf.file(t, "f"+string(rune('a'+i)), size, seed)
		h, err := cf.fetcher.Open(id)
		if err != nil {
			t.Fatal(err)
		}
		got := readAll(t, h, 128<<10)
		want := davtest.SyntheticBytes(seed, 0, int(size))
		if sha256.Sum256(got) != sha256.Sum256(want) {
			t.Fatalf("size %d: bytes differ from the server's (got %d bytes)", size, len(got))
		}
		h.Close()
	}
}

func TestConcurrentRandomReaders(t *testing.T) {
	cf := newContentFixture(t)
	const size = 20 << 20
	id := cf.file(t, "random.bin", size, 99)
	var wg sync.WaitGroup
	for r := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := cf.fetcher.Open(id)
			if err != nil {
				t.Error(err)
				return
			}
			defer h.Close()
			rng := rand.New(rand.NewPCG(uint64(r), 7))
			for range 50 {
				off := rng.Int64N(size)
				n := 1 + rng.IntN(300_000)
				buf := make([]byte, n)
				k, err := h.ReadAt(context.Background(), buf, off)
				if err != nil && !errors.Is(err, io.EOF) {
					t.Errorf("read %d@%d: %v", n, off, err)
					return
				}
				if want := davtest.SyntheticBytes(99, off, k); !bytes.Equal(buf[:k], want) {
					t.Errorf("read %d@%d: wrong bytes", n, off)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestHeadOfAHugeFileFetchesOneBlock(t *testing.T) {
	cf := newContentFixture(t)
	id := cf.file(t, "huge.bin", 1<<30, 5)
	cf.srv.ResetCounts()
	h, err := cf.fetcher.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	if _, err := h.ReadAt(context.Background(), buf, 0); err != nil {
		t.Fatal(err)
	}
	h.Close()
	if !bytes.Equal(buf, davtest.SyntheticBytes(5, 0, 4096)) {
		t.Fatal("wrong bytes")
	}
	c := cf.srv.Counts()
	if got := c.ResponseBytes["GET"]; got > blockSize {
		t.Errorf("head -c 4096 of 1 GiB fetched %d bytes, want at most one block (%d)", got, blockSize)
	}
	if c.Requests["GET"] != 1 {
		t.Errorf("%d GETs, want 1", c.Requests["GET"])
	}
}

func TestCutDownloadEndsWithCorrectBytes(t *testing.T) {
	cf := newContentFixture(t)
	id := cf.file(t, "cut.bin", 8<<20, 11)
	remove := cf.srv.AddFault(davtest.Fault{Method: "GET", Nth: 1, CutAfter: 3<<20 + 5})
	defer remove()
	h, err := cf.fetcher.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	// Sequential reads: the stream breaks half-way and is resumed.
	got := readAll(t, h, 128<<10)
	if !bytes.Equal(got, davtest.SyntheticBytes(11, 0, 8<<20)) {
		t.Fatal("bytes after a cut connection differ from the server's")
	}
}

func TestChangeDuringDownloadIsNeverMixed(t *testing.T) {
	cf := newContentFixture(t)
	const size = 8 << 20
	id := cf.file(t, "changing.bin", size, 1)
	// The stream is throttled and breaks at 3 MiB, after the server's copy changed at
	// 2 MiB: resuming must meet the new version and never splice it onto the old one.
	remove := cf.srv.AddFault(davtest.Fault{Method: "GET", BytesPerSecond: 16 << 20})
	defer remove()
	removeCut := cf.srv.AddFault(davtest.Fault{Method: "GET", CutAfter: 3 << 20}) // only the stream is that long
	defer removeCut()
	h, err := cf.fetcher.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var got bytes.Buffer
	buf := make([]byte, 128<<10)
	changed := false
	var readErr error
	for off := int64(0); off < size; {
		if !changed && off >= size/4 {
			if _, err := cf.srv.WriteSynthetic("changing.bin", size, 2, time.Unix(1700000100, 0)); err != nil {
				t.Fatal(err)
			}
			changed = true
		}
		k, err := h.ReadAt(context.Background(), buf, off)
		got.Write(buf[:k])
		off += int64(k)
		if err != nil {
			readErr = err
			break
		}
	}
	old := davtest.SyntheticBytes(1, 0, got.Len())
	if !bytes.Equal(got.Bytes(), old) {
		t.Fatal("a handle that started on version 1 returned bytes of version 2")
	}
	if !errors.Is(readErr, ErrChangedWhileOpen) {
		t.Fatalf("read error %v after %d bytes, want ErrChangedWhileOpen", readErr, got.Len())
	}
	// A new open reads the new version whole.
	remove()
	removeCut()
	h2, err := cf.fetcher.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	if !bytes.Equal(readAll(t, h2, 128<<10), davtest.SyntheticBytes(2, 0, size)) {
		t.Fatal("reopened file is not the new version")
	}
}

func TestInterruptedReaderLeavesTheDownloadToOthers(t *testing.T) {
	cf := newContentFixture(t)
	id := cf.file(t, "slow.bin", 1<<20, 3)
	cf.srv.ResetCounts() // discovery's OCS requests are GETs too
	remove := cf.srv.AddFault(davtest.Fault{Method: "GET", Delay: 300 * time.Millisecond})
	defer remove()
	a, _ := cf.fetcher.Open(id)
	b, _ := cf.fetcher.Open(id)
	defer a.Close()
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	errA := make(chan error, 1)
	go func() {
		_, err := a.ReadAt(ctx, make([]byte, 4096), 0)
		errA <- err
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	if err := <-errA; !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted reader: %v", err)
	}
	buf := make([]byte, 4096)
	if _, err := b.ReadAt(context.Background(), buf, 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf, davtest.SyntheticBytes(3, 0, 4096)) {
		t.Fatal("wrong bytes")
	}
	if n := cf.srv.Counts().Requests["GET"]; n != 1 {
		t.Errorf("%d GETs: the interrupted reader's download should have been shared", n)
	}
}

func TestServerFailureFailsTheReadButLocalBytesStay(t *testing.T) {
	cf := newContentFixture(t)
	local := cf.file(t, "local.bin", 300<<10, 4)
	remote := cf.file(t, "remote.bin", 300<<10, 5)
	h, _ := cf.fetcher.Open(local)
	readAll(t, h, 64<<10)
	h.Close()

	remove := cf.srv.AddFault(davtest.Fault{Method: "GET", Status: 503})
	defer remove()
	h2, _ := cf.fetcher.Open(remote)
	defer h2.Close()
	if _, err := h2.ReadAt(context.Background(), make([]byte, 4096), 0); err == nil {
		t.Fatal("read succeeded while the server fails")
	}
	h3, _ := cf.fetcher.Open(local)
	defer h3.Close()
	if got := readAll(t, h3, 64<<10); !bytes.Equal(got, davtest.SyntheticBytes(4, 0, 300<<10)) {
		t.Fatal("local content unreadable while the server fails")
	}
}

func TestBudgetKeepsTheCacheUnderItsLimitButNotOpenFiles(t *testing.T) {
	cf := newContentFixture(t)
	const limit = 10 << 20
	budget := &Budget{Store: cf.store, Fetcher: cf.fetcher, MaxBytes: limit}
	held := cf.file(t, "held.bin", 4<<20, 100)
	hh, _ := cf.fetcher.Open(held)
	defer hh.Close()
	readAll(t, hh, 128<<10)
	for i := range 6 {
		id := cf.file(t, "f"+string(rune('0'+i))+".bin", 4<<20, uint64(i+1))
		h, _ := cf.fetcher.Open(id)
		readAll(t, h, 128<<10)
		h.Close()
		waitIdle(t, cf.fetcher, id)
		budget.EnforceNow()
		used, _, err := cf.store.ContentUsage()
		if err != nil {
			t.Fatal(err)
		}
		if used > limit {
			t.Fatalf("after file %d the cache holds %d bytes, over the %d limit", i, used, limit)
		}
	}
	if c, ok, _ := cf.store.Content(held); !ok || c.Local() != 4<<20 {
		t.Fatal("the open file was evicted")
	}
}

// waitIdle waits until the Fetcher has let go of a closed file (its last bytes recorded).
func waitIdle(t *testing.T, f *Fetcher, id uint64) {
	t.Helper()
	for range 500 {
		f.mu.Lock()
		_, busy := f.files[id]
		f.mu.Unlock()
		if !busy {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatal("file still busy")
}

// A server that refuses If-Match although the file did not change (Apache's weak ETags)
// must not make the download loop or fail: ncvfs compares ETags itself instead.
func TestSpurious412FallsBackToComparingETags(t *testing.T) {
	cf := newContentFixture(t)
	id := cf.file(t, "weak.bin", 200<<10, 8)
	remove := cf.srv.AddFault(davtest.Fault{Method: "GET", Nth: 1, Status: 412})
	defer remove()
	h, err := cf.fetcher.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if got := readAll(t, h, 64<<10); !bytes.Equal(got, davtest.SyntheticBytes(8, 0, 200<<10)) {
		t.Fatal("wrong bytes after a spurious 412")
	}
}

// A full disk fails the read with ENOSPC, and the cache stays consistent: what it
// records is exactly what reached the disk, and that part still reads back.
func TestFullDiskFailsTheReadAndKeepsTheCacheConsistent(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root: this test mounts a small tmpfs (run it as root, as scripts/test does)")
	}
	cf := newContentFixture(t)
	id := cf.file(t, "big.bin", 4<<20, 21)

	small := t.TempDir()
	if err := syscall.Mount("tmpfs", small, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Unmount(small, syscall.MNT_DETACH) })
	store, err := cache.Open(small, cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := cf.copyItems(store); err != nil {
		t.Fatal(err)
	}
	var noSpace sync.WaitGroup
	noSpace.Add(1)
	var once sync.Once
	fetcher := NewFetcher(FetcherConfig{Store: store, Client: cf.lister.cfg.Client,
		OnNoSpace: func() { once.Do(noSpace.Done) }})
	t.Cleanup(fetcher.Close)

	h, err := fetcher.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 128<<10)
	var readErr error
	for off := int64(0); off < 4<<20 && readErr == nil; off += int64(len(buf)) {
		_, readErr = h.ReadAt(context.Background(), buf, off)
	}
	h.Close()
	if !errors.Is(readErr, syscall.ENOSPC) {
		t.Fatalf("reading onto a full disk: %v, want ENOSPC", readErr)
	}
	noSpace.Wait() // the budget was asked to make room (else this test times out)
	waitIdle(t, fetcher, id)
	rec, ok, err := store.Content(id)
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		if rec.Local() >= 4<<20 {
			t.Fatalf("the cache claims %d bytes of a file that did not fit", rec.Local())
		}
		h2, _ := fetcher.Open(id)
		defer h2.Close()
		for _, r := range rec.Ranges {
			got := make([]byte, r.End-r.Off)
			if _, err := h2.ReadAt(context.Background(), got, r.Off); err != nil && !errors.Is(err, io.EOF) {
				t.Fatalf("recorded range %v unreadable: %v", r, err)
			}
			if !bytes.Equal(got, davtest.SyntheticBytes(21, r.Off, len(got))) {
				t.Fatalf("recorded range %v holds wrong bytes", r)
			}
		}
	}
}

// copyItems gives another store the same root and listing, so a second Fetcher can run
// on it (the full-disk test keeps its cache on a tiny file system).
func (cf *contentFixture) copyItems(dst *cache.Store) error {
	root, err := cf.store.Get(cf.rootID)
	if err != nil {
		return err
	}
	if _, err := dst.PutRoot(root); err != nil {
		return err
	}
	kids, err := cf.store.Children(cf.rootID)
	if err != nil {
		return err
	}
	_, err = dst.ApplyListing(cache.Listing{Dir: root, Children: kids})
	return err
}

// A reader that pauses with the file open stops the download a bounded distance ahead;
// reading on resumes it, and the bytes are still the server's.
func TestDownloadStopsAheadOfAPausedReader(t *testing.T) {
	cf := newContentFixture(t)
	const size = 200 << 20
	id := cf.file(t, "video.bin", size, 31)
	cf.srv.ResetCounts()
	h, err := cf.fetcher.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	buf := make([]byte, 128<<10)
	off := int64(0)
	read := func(n int64) {
		for stop := off + n; off < stop; off += int64(len(buf)) {
			if _, err := h.ReadAt(context.Background(), buf, off); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf, davtest.SyntheticBytes(31, off, len(buf))) {
				t.Fatalf("wrong bytes at %d", off)
			}
		}
	}
	read(2 << 20)
	// Paused: the download must settle well short of the file. (The server counts a
	// response's bytes only when it ends, so ask the downloader what it holds.)
	local := func() int64 {
		cf.fetcher.mu.Lock()
		st := cf.fetcher.files[id]
		cf.fetcher.mu.Unlock()
		st.mu.Lock()
		defer st.mu.Unlock()
		return st.have.bytes()
	}
	var fetched int64
	for stable := 0; stable < 10; {
		time.Sleep(20 * time.Millisecond)
		now := local()
		if now == fetched {
			stable++
		} else {
			stable = 0
		}
		fetched = now
	}
	// 2 MiB read, the 16 MiB lead and a chunk or two of slack; the 200 MiB file must not
	// come down.
	if limit := int64(20 << 20); fetched > limit {
		t.Fatalf("a paused reader left %d bytes downloaded, want at most %d", fetched, limit)
	}
	// Reading on resumes the download.
	read(60 << 20)
}

// A small file is served from memory, then stored: its content file appears only once
// bytes arrived, holds the server's bytes, and a later open reads it without a request.
func TestSmallFileIsServedFromMemoryThenStored(t *testing.T) {
	cf := newContentFixture(t)
	const size = 10_000
	id := cf.file(t, "small.txt", size, 42)
	want := davtest.SyntheticBytes(42, 0, size)
	path := cf.store.ContentPath(id)

	h, err := cf.fetcher.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("opening a cold file created its content file (%v); it should wait for bytes", err)
	}
	loc, err := h.Locate(context.Background(), 0, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if loc.Mem == nil || !bytes.Equal(loc.Mem, want[:4096]) {
		t.Fatalf("first 4 KiB of a small file: mem %d bytes (file %v), want the server's bytes from memory", len(loc.Mem), loc.File)
	}
	if got := readAll(t, h, 3000); !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes that differ from the server's", len(got))
	}
	h.Close()

	deadline := time.Now().Add(10 * time.Second)
	for {
		c, ok, err := cf.store.Content(id)
		if err != nil {
			t.Fatal(err)
		}
		if ok && c.Verified && c.Complete() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("small file never recorded as local: %+v (recorded %v)", c, ok)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("content file: %d bytes, %v; want the server's %d bytes", len(got), err, size)
	}

	cf.srv.ResetCounts()
	h2, err := cf.fetcher.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	defer h2.Close()
	if got := readAll(t, h2, 4096); !bytes.Equal(got, want) {
		t.Fatal("second read differs from the server's bytes")
	}
	if n := cf.srv.Counts().Requests["GET"]; n != 0 {
		t.Errorf("reading a stored small file again made %d GETs", n)
	}
}

// Many small files read at once are recorded in few commits, every one of them.
func TestBurstOfSmallFilesIsRecorded(t *testing.T) {
	cf := newContentFixture(t)
	const n = 200
	ids := make([]uint64, n)
	for i := range n {
		if _, err := cf.srv.WriteSynthetic(fmt.Sprintf("many/f%03d", i), 100+int64(i), uint64(i), time.Unix(1700000000, 0)); err != nil {
			t.Fatal(err)
		}
	}
	if err := cf.lister.Ensure(context.Background(), cf.rootID); err != nil {
		t.Fatal(err)
	}
	dir, err := cf.store.Lookup(cf.rootID, "many")
	if err != nil {
		t.Fatal(err)
	}
	if err := cf.lister.Ensure(context.Background(), dir.ID); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range n {
		it, err := cf.store.Lookup(dir.ID, fmt.Sprintf("f%03d", i))
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = it.ID
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := cf.fetcher.Open(it.ID)
			if err != nil {
				t.Error(err)
				return
			}
			defer h.Close()
			got := make([]byte, 4096)
			k, err := h.ReadAt(context.Background(), got, 0)
			if err != nil || !bytes.Equal(got[:k], davtest.SyntheticBytes(uint64(i), 0, 100+i)) {
				t.Errorf("f%03d: %d bytes, %v; want the server's", i, k, err)
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for _, id := range ids {
		for {
			c, ok, err := cf.store.Content(id)
			if err != nil {
				t.Fatal(err)
			}
			if ok && c.Verified {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("file %d never recorded as local", id)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if bytes, files, err := cf.store.ContentUsage(); err != nil || files != n {
		t.Errorf("content usage: %d files (%d bytes), %v; want %d files", files, bytes, err, n)
	}
}

// A connection that goes silent (no reset, no more bytes) is dropped after the stall
// timeout and the download resumes where it stopped: the reader gets every byte.
func TestStalledDownloadIsResumed(t *testing.T) {
	f := newFixture(t, time.Hour)
	cf := &contentFixture{fixture: f}
	cf.fetcher = NewFetcher(FetcherConfig{Store: f.store, Client: f.lister.cfg.Client,
		StallTimeout: 300 * time.Millisecond})
	t.Cleanup(cf.fetcher.Close)
	const size = 128 << 10 // one read, one GET, unless it stalls
	id := cf.file(t, "stall.bin", size, 31)
	t.Cleanup(cf.srv.AddFault(davtest.Fault{Method: "GET", Nth: 1, StallAfter: 32 << 10}))
	cf.srv.ResetCounts()
	h, err := cf.fetcher.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := make([]byte, size)
	if _, err := h.ReadAt(ctx, got, 0); err != nil {
		t.Fatalf("read over a stalled connection: %v", err)
	}
	if !bytes.Equal(got, davtest.SyntheticBytes(31, 0, size)) {
		t.Fatal("bytes after a stalled connection differ from the server's")
	}
	if n := cf.srv.Counts().Requests["GET"]; n != 2 {
		t.Errorf("%d GET, want the stalled one and its resumption", n)
	}
}

// A listing that finds a file unchanged (or the same change twice) must not take the
// bytes from under a handle already reading the version the cache holds.
func TestInvalidateOfTheCurrentVersionKeepsReaders(t *testing.T) {
	cf := newContentFixture(t)
	id := cf.file(t, "same.bin", 300<<10, 41)
	h, err := cf.fetcher.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	buf := make([]byte, 4096)
	if _, err := h.ReadAt(context.Background(), buf, 0); err != nil {
		t.Fatal(err)
	}
	cf.fetcher.Invalidate(id)
	if _, err := h.ReadAt(context.Background(), buf, 200<<10); err != nil {
		t.Fatalf("read after invalidating the current version: %v", err)
	}
	if !bytes.Equal(buf, davtest.SyntheticBytes(41, 200<<10, len(buf))) {
		t.Fatal("wrong bytes")
	}
}

// A closed file is not evicted while what it downloaded is still being recorded (its
// transfers stop at the close and record what came): a record landing after the
// eviction would claim bytes that are gone.
func TestEvictionWaitsForTheLastRecord(t *testing.T) {
	cf := newContentFixture(t)
	for round := range 5 {
		id := cf.file(t, fmt.Sprintf("ev%02d.bin", round), 8<<20, uint64(50+round))
		h, err := cf.fetcher.Open(id)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 128<<10)
		for off := int64(0); off < 1<<20; off += int64(len(buf)) { // a stream is under way
			if _, err := h.ReadAt(context.Background(), buf, off); err != nil {
				t.Fatal(err)
			}
		}
		st := h.st
		h.Close()
		// The moment the stopped transfer has left, its bytes are still being recorded.
		for {
			st.mu.Lock()
			n := len(st.xfers)
			st.mu.Unlock()
			if n == 0 {
				break
			}
			time.Sleep(50 * time.Microsecond)
		}
		if err := cf.fetcher.Evict(id); !errors.Is(err, errBusy) {
			t.Fatalf("round %d: eviction right after the close: %v, want it refused while recording", round, err)
		}
		for {
			err := cf.fetcher.Evict(id)
			if err == nil {
				break
			}
			if !errors.Is(err, errBusy) {
				t.Fatal(err)
			}
			time.Sleep(time.Millisecond)
		}
		waitIdle(t, cf.fetcher, id)
		time.Sleep(30 * time.Millisecond) // longer than the recorder lingers
		if rec, ok, err := cf.store.Content(id); err != nil || ok {
			t.Fatalf("round %d: after eviction the cache holds a record %+v (%v)", round, rec, err)
		}
		if _, err := os.Stat(cf.store.ContentPath(id)); !os.IsNotExist(err) {
			t.Fatalf("round %d: after eviction the content file is there: %v", round, err)
		}
	}
}

// Opening a cached file that nobody holds costs no commit when it was used within the
// LRU's minute precision: a folder of small files opened in turn must not pay an fsync'd
// commit per open.
func TestOpenOfARecentlyUsedFileCommitsNothing(t *testing.T) {
	cf := newContentFixture(t)
	const size = 100 << 10
	id := cf.file(t, "recent.bin", size, 61)
	h, err := cf.fetcher.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, h, 64<<10)
	h.Close()
	waitRecorded(t, cf, id, size)
	waitIdle(t, cf.fetcher, id)
	before := cf.store.Commits()
	h, err = cf.fetcher.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	if n := cf.store.Commits() - before; n != 0 {
		t.Errorf("the open of a file used a moment ago made %d commits, want 0", n)
	}
	if got := readAll(t, h, 64<<10); len(got) != size {
		t.Errorf("read %d bytes, want %d", len(got), size)
	}
	h.Close()
	waitIdle(t, cf.fetcher, id)
	// Used long ago: the open moves it to the end of the LRU order.
	long := time.Now().Add(-time.Hour)
	if err := cf.store.TouchContent(id, long); err != nil {
		t.Fatal(err)
	}
	h, err = cf.fetcher.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if c, _, err := cf.store.Content(id); err != nil || !c.LastUse.After(long.Add(time.Minute)) {
		t.Errorf("the open of a file used an hour ago left its last use at %v (%v)", c.LastUse, err)
	}
}

// An eviction's commit (two fsyncs) holds up no open or release of other files: the
// Fetcher's lock is not held across it.
func TestEvictionCommitBlocksNoOtherOpen(t *testing.T) {
	cf := newContentFixture(t)
	const size = 100 << 10
	a := cf.file(t, "evicted.bin", size, 71)
	b := cf.file(t, "other.bin", size, 72)
	for _, id := range []uint64{a, b} {
		h, err := cf.fetcher.Open(id)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, h, 64<<10)
		h.Close()
		waitRecorded(t, cf, id, size)
		waitIdle(t, cf.fetcher, id)
	}
	entered, release := make(chan uint64), make(chan struct{})
	cf.fetcher.dropContent = func(id uint64) error {
		entered <- id
		<-release
		return cf.store.DropContent(id)
	}
	evicted := make(chan error, 1)
	go func() { evicted <- cf.fetcher.Evict(a) }()
	<-entered // the eviction's commit is under way, and held there
	if !cf.fetcher.mu.TryLock() {
		t.Error("the Fetcher's lock is held across an eviction's commit")
	} else {
		cf.fetcher.mu.Unlock()
		h, err := cf.fetcher.Open(b)
		if err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, h, 64<<10); !bytes.Equal(got, davtest.SyntheticBytes(72, 0, size)) {
			t.Error("wrong bytes of the other file")
		}
		h.Close()
	}
	close(release)
	if err := <-evicted; err != nil {
		t.Fatal(err)
	}
	// An open of the evicted file waits for the eviction and finds a placeholder.
	if _, ok, err := cf.store.Content(a); err != nil || ok {
		t.Fatalf("after eviction the cache holds a record (%v)", err)
	}
	h, err := cf.fetcher.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if got := readAll(t, h, 64<<10); !bytes.Equal(got, davtest.SyntheticBytes(71, 0, size)) {
		t.Error("wrong bytes of the evicted file read again")
	}
}

// A batch of records makes exactly its own content files durable, each once, and
// nothing else: a syncfs of the cache's file system flushed every other writer's
// dirty pages too.
func TestRecordBatchSyncsExactlyItsFiles(t *testing.T) {
	cf := newContentFixture(t)
	synced := map[*os.File]int{}
	var mu sync.Mutex
	cf.fetcher.datasync = func(fh *os.File) error {
		mu.Lock()
		synced[fh]++
		mu.Unlock()
		return nil
	}
	dir := t.TempDir()
	var files []*os.File
	for i := range 3 {
		fh, err := os.Create(fmt.Sprintf("%s/%d", dir, i))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { fh.Close() })
		files = append(files, fh)
	}
	// Two records of the first file (a periodic record and the one at release).
	batch := []*recordReq{{file: files[0]}, {file: files[1]}, {file: files[0]}, {file: files[2]}}
	if err := cf.fetcher.syncFiles(batch); err != nil {
		t.Fatal(err)
	}
	if len(synced) != len(files) {
		t.Errorf("%d files synced, want the batch's %d", len(synced), len(files))
	}
	for i, fh := range files {
		if synced[fh] != 1 {
			t.Errorf("file %d synced %d times, want once", i, synced[fh])
		}
	}
	// A failed flush fails the batch: its bytes may be lost.
	cf.fetcher.datasync = func(fh *os.File) error {
		if fh == files[1] {
			return syscall.EIO
		}
		return nil
	}
	if err := cf.fetcher.syncFiles(batch); !errors.Is(err, errNotDurable) || !errors.Is(err, syscall.EIO) {
		t.Errorf("a failed flush: %v, want errNotDurable wrapping EIO", err)
	}
}

// Nextcloud answers GET with 423 Locked while another client uploads the file. A read
// waits for the upload to end, then returns the version the server has: here the new one,
// whole, never mixed with the old.
func TestLockedFileIsReadOnceTheUploadEnds(t *testing.T) {
	cf := newContentFixtureWith(t, func(c *FetcherConfig) { c.LockedWait = 20 * time.Second })
	const size = 300 << 10
	id := cf.file(t, "locked.bin", size, 1)
	cf.srv.AddFault(davtest.Fault{Method: "GET", Status: 423, For: time.Second})
	go func() { // the other client's upload, ending while the lock holds
		time.Sleep(300 * time.Millisecond)
		if _, err := cf.srv.WriteSynthetic("locked.bin", size, 2, time.Unix(1700000100, 0)); err != nil {
			t.Error(err)
		}
	}()
	h, err := cf.fetcher.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if got := readAll(t, h, 64<<10); !bytes.Equal(got, davtest.SyntheticBytes(2, 0, size)) {
		t.Fatal("the read did not return the new version whole")
	}
	if n := cf.srv.Counts().Requests["GET"]; n < 2 {
		t.Errorf("%d GETs: the lock was never met", n)
	}
}

func TestLockOutlastingTheWaitFailsClearly(t *testing.T) {
	cf := newContentFixtureWith(t, func(c *FetcherConfig) { c.LockedWait = 300 * time.Millisecond })
	id := cf.file(t, "locked.bin", 4096, 1)
	cf.srv.AddFault(davtest.Fault{Method: "GET", Status: 423})
	h, err := cf.fetcher.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	_, err = h.ReadAt(context.Background(), make([]byte, 4096), 0)
	if !errors.Is(err, davclient.ErrLocked) || !strings.Contains(err.Error(), "stayed locked") {
		t.Fatalf("err = %v, want ErrLocked saying how long the file stayed locked", err)
	}
}

const wrongSum = "SHA1:0000000000000000000000000000000000000000"

// fileWithChecksum is file with the given stored checksum on the server, listed.
func (cf *contentFixture) fileWithChecksum(t *testing.T, name string, size int64, seed uint64, sum string) uint64 {
	t.Helper()
	id := cf.file(t, name, size, seed)
	if err := cf.srv.SetChecksum(name, sum); err != nil {
		t.Fatal(err)
	}
	// What a listing would bring: the server's folder ETags do not change with it.
	it, err := cf.store.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	it.Checksums = sum
	if _, err := cf.store.UpdateRemote(it); err != nil {
		t.Fatal(err)
	}
	cf.srv.ResetCounts()
	return id
}

// readOnce opens id, reads it whole, closes it and waits until the Fetcher let it go.
func readOnce(t *testing.T, cf *contentFixture, id uint64, size int) ([]byte, error) {
	t.Helper()
	h, err := cf.fetcher.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, size)
	n, err := h.ReadAt(context.Background(), buf, 0)
	h.Close()
	waitIdle(t, cf.fetcher, id)
	return buf[:n], err
}

// A stored checksum that is wrong (the server recomputes it to the hash of the bytes
// received, ETag and size unchanged) is corrected, and the file stays local.
func TestWrongServerChecksumIsRepaired(t *testing.T) {
	cf := newContentFixture(t)
	const size = 100 << 10
	id := cf.fileWithChecksum(t, "sum.bin", size, 3, wrongSum)
	want := davtest.SyntheticBytes(3, 0, size)
	for i := range 3 {
		if got, err := readOnce(t, cf, id, size); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("read %d: %d bytes, %v", i, len(got), err)
		}
	}
	if n := cf.srv.Counts().Requests["GET"]; n != 1 {
		t.Errorf("%d GETs for three reads, want 1", n)
	}
	it, err := cf.store.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	if it.Content != cache.ContentLocal || !strings.EqualFold(sha1Of(it.Checksums), fmt.Sprintf("%x", sha1Sum(want))) {
		t.Errorf("content %v, checksums %q: want local with the corrected checksum", it.Content, it.Checksums)
	}
}

// When the server cannot vouch for the bytes received (here: it cannot recompute), the
// file is downloaded at most once more, then reads fail with ErrChecksum.
func TestWrongChecksumNotRepairedFailsAfterOneMoreDownload(t *testing.T) {
	cf := newContentFixture(t)
	const size = 100 << 10
	cf.srv.AddFault(davtest.Fault{Method: "PATCH", Status: 501})
	id := cf.fileWithChecksum(t, "bad.bin", size, 4, wrongSum)
	var err error
	for range 4 {
		_, err = readOnce(t, cf, id, size)
	}
	if !errors.Is(err, ErrChecksum) {
		t.Errorf("last read: %v, want ErrChecksum", err)
	}
	if n := cf.srv.Counts().Requests["GET"]; n > 2 {
		t.Errorf("%d GETs, want at most one extra download", n)
	}
}

func sha1Sum(b []byte) [20]byte { return sha1.Sum(b) }
