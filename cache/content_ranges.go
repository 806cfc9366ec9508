package cache

import (
	"cmp"
	"slices"
)

// unionRanges returns the union of have and add, clamped to [0, size), sorted, with
// overlapping and adjacent ranges joined and empty ones dropped. Neither input is
// modified nor needs to be normalized.
func unionRanges(have, add []Range, size int64) []Range {
	all := make([]Range, 0, len(have)+len(add))
	for _, group := range [][]Range{have, add} {
		for _, r := range group {
			r.Off, r.End = max(r.Off, 0), min(r.End, size)
			if r.Off < r.End {
				all = append(all, r)
			}
		}
	}
	if !slices.IsSortedFunc(all, byOff) {
		slices.SortFunc(all, byOff)
	}
	out := all[:0]
	for _, r := range all {
		if n := len(out); n > 0 && r.Off <= out[n-1].End {
			out[n-1].End = max(out[n-1].End, r.End)
			continue
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func byOff(a, b Range) int { return cmp.Compare(a.Off, b.Off) }
