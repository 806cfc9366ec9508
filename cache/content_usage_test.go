package cache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// remoteFile is the test's view of one file on the server.
type remoteFile struct {
	etag string
	size int64
}

// TestContentUsageInvariant drives records, listings, drops, touches and removals in a
// random order and checks after every step that the running counters equal a sum
// recomputed from the records, and that items, records and the LRU index agree.
func TestContentUsageInvariant(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { runUsageSequence(t, seed, 1000) })
	}
}

func runUsageSequence(t *testing.T, seed uint64, steps int) {
	s, err := Open(filepath.Join(t.TempDir(), "cache"), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if _, err := s.PutRoot(dirItem(1, "", "r")); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 99))
	remote := map[uint64]remoteFile{}
	version := 0
	newVersion := func() string { version++; return fmt.Sprint("v", version) }
	relist := func() {
		var children []Item
		for id, f := range remote {
			children = append(children, fileItem(id, fmt.Sprint("f", id), f.etag, f.size))
		}
		if _, err := s.ApplyListing(Listing{Dir: dirItem(1, "", newVersion()), Children: children}); err != nil {
			t.Fatal(err)
		}
	}
	const ids = 8
	for id := uint64(10); id < 10+ids; id++ {
		remote[id] = remoteFile{newVersion(), 1 + rng.Int64N(200)}
	}
	relist()
	for step := 0; step < steps; step++ {
		id := 10 + rng.Uint64N(ids)
		var op string
		switch k := rng.IntN(100); {
		case k < 40:
			op = "record"
			it, err := s.Get(id)
			if errors.Is(err, ErrNotFound) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			var add []Range
			for range 1 + rng.IntN(3) {
				off := rng.Int64N(it.Size+20) - 10
				add = append(add, Range{off, off + rng.Int64N(it.Size/2+2)})
			}
			etag := it.ETag
			if rng.IntN(10) == 0 {
				etag = "old"
			}
			_, err = s.RecordRanges(id, etag, it.Size, add)
			if err != nil && !errors.Is(err, ErrStale) && !errors.Is(err, ErrDirty) {
				t.Fatalf("step %d: RecordRanges: %v", step, err)
			}
		case k < 50:
			op = "verify"
			if it, err := s.Get(id); err == nil {
				_ = s.MarkVerified(id, it.ETag) // fails while incomplete: fine
			}
		case k < 62:
			op = "relist"
			for rid := range remote {
				switch rng.IntN(6) {
				case 0:
					remote[rid] = remoteFile{newVersion(), remote[rid].size}
				case 1:
					remote[rid] = remoteFile{remote[rid].etag, 1 + rng.Int64N(200)}
				case 2:
					delete(remote, rid)
				}
			}
			for nid := uint64(10); nid < 10+ids; nid++ {
				if _, ok := remote[nid]; !ok && rng.IntN(2) == 0 {
					remote[nid] = remoteFile{newVersion(), 1 + rng.Int64N(200)}
				}
			}
			relist()
		case k < 70:
			op = "update-remote"
			if f, ok := remote[id]; ok {
				f.etag = newVersion()
				remote[id] = f
				if _, err := s.UpdateRemote(fileItem(id, fmt.Sprint("f", id), f.etag, f.size)); err != nil && !errors.Is(err, ErrNotFound) {
					t.Fatal(err)
				}
			}
		case k < 80:
			op = "drop"
			if err := s.DropContent(id); err != nil && !errors.Is(err, ErrDirty) {
				t.Fatalf("step %d: DropContent: %v", step, err)
			}
		case k < 92:
			op = "touch"
			if err := s.TouchContent(id, testTime.Add(time.Duration(rng.IntN(1000))*time.Second)); err != nil {
				t.Fatal(err)
			}
		default:
			op = "dirty-toggle"
			if it, err := s.Get(id); err == nil {
				c, hasRecord, err := s.Content(id)
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case it.Content == ContentDirty && hasRecord && c.ETag == it.ETag && c.Size == it.Size:
					setLocal(t, s, id, "", ContentPartial) // as if uploaded
				case it.Content == ContentDirty:
					// As if the changes went to a conflict copy: the item is the server's again.
					setLocal(t, s, id, "", ContentOnline)
					if err := s.DropContent(id); err != nil {
						t.Fatal(err)
					}
				case it.Content != ContentOnline:
					setLocal(t, s, id, "", ContentDirty)
				}
			}
		}
		checkContentInvariant(t, s, fmt.Sprintf("step %d (%s)", step, op))
		if t.Failed() {
			return
		}
	}
}

// checkContentInvariant recomputes usage from the raw records and compares it, the
// LRU index and the items with what the store keeps.
func checkContentInvariant(t *testing.T, s *Store, when string) {
	t.Helper()
	var sum, files int64
	err := s.db.View(func(tx *bolt.Tx) error {
		lruKeys := map[string]bool{}
		if err := tx.Bucket(bucketLRU).ForEach(func(k, _ []byte) error { lruKeys[string(k)] = true; return nil }); err != nil {
			return err
		}
		err := tx.Bucket(bucketContent).ForEach(func(k, v []byte) error {
			id := binary.BigEndian.Uint64(k)
			c, err := decodeContent(id, v)
			if err != nil {
				return err
			}
			sum += c.Local()
			files++
			if !lruKeys[string(lruKey(&c))] {
				return fmt.Errorf("record %d has no LRU entry", id)
			}
			raw := tx.Bucket(bucketItems).Get(k)
			if raw == nil {
				return nil // a dirty item the server removed keeps its record
			}
			it, err := decodeItem(id, raw)
			if err != nil {
				return err
			}
			if it.Content == ContentDirty {
				return nil
			}
			wantState := ContentPartial
			if c.Verified {
				wantState = ContentLocal
			}
			if it.ETag != c.ETag || it.Size != c.Size || it.LocalBytes != c.Local() || it.Content != wantState {
				return fmt.Errorf("item %d (%s, %d bytes, %v, %d local) disagrees with its record %+v",
					id, it.ETag, it.Size, it.Content, it.LocalBytes, c)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if int64(len(lruKeys)) != files {
			return fmt.Errorf("%d LRU entries for %d records", len(lruKeys), files)
		}
		return tx.Bucket(bucketItems).ForEach(func(k, v []byte) error {
			id := binary.BigEndian.Uint64(k)
			if tx.Bucket(bucketContent).Get(k) != nil {
				return nil
			}
			it, err := decodeItem(id, v)
			if err != nil {
				return err
			}
			if it.Content != ContentOnline && it.Content != ContentDirty || it.LocalBytes != 0 && it.Content != ContentDirty {
				return fmt.Errorf("item %d without a record is %v with %d local bytes", id, it.Content, it.LocalBytes)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatalf("%s: %v", when, err)
	}
	bytes, n, err := s.ContentUsage()
	if err != nil {
		t.Fatalf("%s: ContentUsage: %v", when, err)
	}
	if bytes != sum || int64(n) != files {
		t.Fatalf("%s: ContentUsage = %d bytes in %d files; the records hold %d in %d", when, bytes, n, sum, files)
	}
}
