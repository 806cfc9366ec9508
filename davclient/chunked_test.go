package davclient

import (
	"fmt"
	"testing"
)

func TestPlanChunks(t *testing.T) {
	cases := []struct {
		size, chunk int64
		wantCount   int
		wantFirst   int64
		wantLast    int64
	}{
		{0, 0, 1, 0, 0},
		{10, 4, 3, 4, 2},
		{12, 4, 3, 4, 4},
		{25 << 20, 0, 3, 10 << 20, 5 << 20},
		{100000, 1, maxChunks, 10, 10}, // raised so that no more than 10000 chunks exist
	}
	for _, tc := range cases {
		p := planChunks(tc.size, tc.chunk)
		var sum int64
		for i, ch := range p.all {
			if ch.name != fmt.Sprintf("%05d", i+1) || ch.offset != sum {
				t.Errorf("%+v: chunk %d = %+v", tc, i, ch)
			}
			sum += ch.size
		}
		if len(p.all) != tc.wantCount || sum != tc.size || p.all[0].size != tc.wantFirst || p.all[len(p.all)-1].size != tc.wantLast {
			t.Errorf("%+v: %d chunks, sum %d, first %d, last %d", tc, len(p.all), sum, p.all[0].size, p.all[len(p.all)-1].size)
		}
	}
}

func TestQuoteETag(t *testing.T) {
	for in, want := range map[string]string{`"abc"`: `"abc"`, `abc`: `"abc"`, `W/"abc"`: `W/"abc"`} {
		if got := quoteETag(in); got != want {
			t.Errorf("quoteETag(%q) = %q, want %q", in, got, want)
		}
	}
}
