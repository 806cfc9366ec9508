package hydrate

import (
	"sort"

	"github.com/ncvfs/ncvfs/cache"
)

// rangeSet is a sorted set of disjoint, non-adjacent half-open byte ranges.
type rangeSet []cache.Range

// add inserts [off, end), merging with neighbours.
func (s *rangeSet) add(off, end int64) {
	if off >= end {
		return
	}
	rs := *s
	i := sort.Search(len(rs), func(i int) bool { return rs[i].End >= off })
	j := i
	for j < len(rs) && rs[j].Off <= end {
		off = min(off, rs[j].Off)
		end = max(end, rs[j].End)
		j++
	}
	merged := append(rs[:i:i], cache.Range{Off: off, End: end})
	*s = append(merged, rs[j:]...)
}

// remove takes [off, end) out of the set.
func (s *rangeSet) remove(off, end int64) {
	if off >= end {
		return
	}
	var out rangeSet
	for _, r := range *s {
		if r.End <= off || r.Off >= end {
			out = append(out, r)
			continue
		}
		if r.Off < off {
			out = append(out, cache.Range{Off: r.Off, End: off})
		}
		if r.End > end {
			out = append(out, cache.Range{Off: end, End: r.End})
		}
	}
	*s = out
}

// has reports whether [off, end) is wholly present.
func (s rangeSet) has(off, end int64) bool {
	if off >= end {
		return true
	}
	i := sort.Search(len(s), func(i int) bool { return s[i].End > off })
	return i < len(s) && s[i].Off <= off && end <= s[i].End
}

// firstMissing returns the first byte at or after off that is not present (limit if none).
func (s rangeSet) firstMissing(off, limit int64) int64 {
	i := sort.Search(len(s), func(i int) bool { return s[i].End > off })
	if i < len(s) && s[i].Off <= off {
		off = s[i].End
	}
	return min(off, limit)
}

// nextPresent returns the first present byte at or after off (limit if none).
func (s rangeSet) nextPresent(off, limit int64) int64 {
	i := sort.Search(len(s), func(i int) bool { return s[i].End > off })
	if i == len(s) {
		return limit
	}
	return min(max(s[i].Off, off), limit)
}

// bytes returns the number of bytes present.
func (s rangeSet) bytes() int64 {
	var n int64
	for _, r := range s {
		n += r.End - r.Off
	}
	return n
}
