package cache

import (
	"testing"
)

// BenchmarkRecordRanges appends one block to a record that holds one range, as a
// sequential download does after each chunk (one commit each, fsync included).
func BenchmarkRecordRanges(b *testing.B) {
	s := withRoot(b)
	const block = 64 << 10
	size := int64(b.N+1) * block
	apply(b, s, dirItem(1, "", "r"), fileItem(10, "big", "e", size))
	mustRecord(b, s, 10, "e", size, Range{0, block})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		off := int64(i) * block
		c, err := s.RecordRanges(10, "e", size, []Range{{off, off + block}})
		if err != nil || len(c.Ranges) != 1 {
			b.Fatalf("RecordRanges: %d ranges, %v", len(c.Ranges), err)
		}
	}
}

// BenchmarkContent looks up records of a store holding many, as every read does.
func BenchmarkContent(b *testing.B) {
	s, children := benchFolder(b)
	for i := range children[:500] {
		c := &children[i]
		mustRecord(b, s, c.ID, c.ETag, c.Size, Range{0, 4096}, Range{8192, 16384})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := children[i%500].ID
		c, ok, err := s.Content(id)
		if err != nil || !ok || c.ID != id {
			b.Fatalf("Content(%d) = %+v, %v, %v", id, c, ok, err)
		}
	}
}
