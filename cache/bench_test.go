package cache

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// Benchmarks commit with fsync, as production does; run them with TMPDIR on a tmpfs
// to measure the store rather than the disk.

const benchFolderSize = 5000

// benchChildren returns a realistic Nextcloud folder: ids in shuffled order (the
// PROPFIND order is by name, file ids by upload time), full metadata on every item.
func benchChildren(firstID uint64, seed uint64) []Item {
	ids := make([]uint64, benchFolderSize)
	for i := range ids {
		ids[i] = firstID + uint64(i)
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
	out := make([]Item, benchFolderSize)
	for i := range out {
		out[i] = Item{
			ID: ids[i], Name: fmt.Sprintf("IMG_20240517_%05d.jpg", i), Size: 3_000_000 + int64(i),
			MTime: testTime, ETag: fmt.Sprintf(`"%032x"`, ids[i]), Permissions: "RGDNVW", PermsKnown: true,
			OwnerID: "alice", OwnerName: "Alice", Checksums: "SHA1:" + fmt.Sprintf("%040x", ids[i]),
		}
	}
	return out
}

func reportPerEntry(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchFolderSize), "ns/entry")
}

func BenchmarkApplyListing5000(b *testing.B) {
	b.Run("fresh", func(b *testing.B) {
		s := withRoot(b)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			dirID := uint64(10_000_000 + i)
			err := s.update(func(t *txn) error {
				d := dirItem(dirID, fmt.Sprintf("d%d", i), "e")
				d.Parent = 1
				if err := t.putItem(&d); err != nil {
					return err
				}
				return t.putLink(1, d.Name, dirID)
			})
			if err != nil {
				b.Fatal(err)
			}
			children := benchChildren(uint64(20_000_000+i*benchFolderSize), uint64(i))
			b.StartTimer()
			if _, err := s.ApplyListing(Listing{Dir: dirItem(dirID, "", "e"), Children: children}); err != nil {
				b.Fatal(err)
			}
		}
		reportPerEntry(b)
	})
	b.Run("unchanged", func(b *testing.B) {
		s := withRoot(b)
		children := benchChildren(100, 1)
		apply(b, s, dirItem(1, "", "r"), children...)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := s.ApplyListing(Listing{Dir: dirItem(1, "", "r"), Children: children}); err != nil {
				b.Fatal(err)
			}
		}
		reportPerEntry(b)
	})
	b.Run("generic-unchanged", func(b *testing.B) {
		s := withRoot(b)
		children := benchChildren(100, 1)
		for i := range children {
			children[i].ID = 0
		}
		apply(b, s, dirItem(1, "", "r"), children...)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := s.ApplyListing(Listing{Dir: dirItem(1, "", "r"), Children: children}); err != nil {
				b.Fatal(err)
			}
		}
		reportPerEntry(b)
	})
}

func benchFolder(b *testing.B) (*Store, []Item) {
	s := withRoot(b)
	children := benchChildren(100, 1)
	apply(b, s, dirItem(1, "", "r"), children...)
	return s, children
}

func BenchmarkLookup(b *testing.B) {
	s, children := benchFolder(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := &children[i%len(children)]
		it, err := s.Lookup(1, c.Name)
		if err != nil || it.ID != c.ID {
			b.Fatalf("Lookup(%q) = %d, %v", c.Name, it.ID, err)
		}
	}
}

func BenchmarkGet(b *testing.B) {
	s, children := benchFolder(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := children[i%len(children)].ID
		if _, err := s.Get(id); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkChildren5000(b *testing.B) {
	s, _ := benchFolder(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		items, err := s.Children(1)
		if err != nil || len(items) != benchFolderSize {
			b.Fatalf("Children = %d items, %v", len(items), err)
		}
	}
	reportPerEntry(b)
}
