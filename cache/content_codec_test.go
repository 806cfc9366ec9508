package cache

import (
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestUnionRanges(t *testing.T) {
	cases := []struct {
		name      string
		have, add []Range
		size      int64
		want      []Range
	}{
		{"empty", nil, nil, 10, nil},
		{"one", nil, []Range{{2, 5}}, 10, []Range{{2, 5}}},
		{"clamped both ends", nil, []Range{{-5, 3}, {8, 50}}, 10, []Range{{0, 3}, {8, 10}}},
		{"outside dropped", nil, []Range{{10, 20}, {-9, -1}, {4, 4}, {7, 6}}, 10, nil},
		{"adjacent joined", []Range{{0, 4}}, []Range{{4, 8}}, 10, []Range{{0, 8}}},
		{"overlap joined", []Range{{2, 6}}, []Range{{0, 3}, {5, 9}}, 10, []Range{{0, 9}}},
		{"gap kept", []Range{{0, 2}}, []Range{{3, 5}}, 10, []Range{{0, 2}, {3, 5}}},
		{"unsorted input", nil, []Range{{8, 9}, {0, 1}, {4, 5}}, 10, []Range{{0, 1}, {4, 5}, {8, 9}}},
		{"contained", []Range{{0, 10}}, []Range{{3, 4}}, 10, []Range{{0, 10}}},
		{"bridge", []Range{{0, 2}, {6, 8}}, []Range{{2, 6}}, 10, []Range{{0, 8}}},
		{"zero size", nil, []Range{{0, 5}}, 0, nil},
	}
	for _, c := range cases {
		got := unionRanges(c.have, c.add, c.size)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: union(%v, %v, %d) = %v, want %v", c.name, c.have, c.add, c.size, got, c.want)
		}
	}
}

// The union must hold exactly the bytes of a byte map built from the same ranges.
func TestUnionRangesMatchesByteMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	const size = 64
	for round := 0; round < 2000; round++ {
		var present [size]bool
		var have []Range
		for range rng.IntN(6) {
			off := rng.Int64N(size+20) - 10
			r := Range{off, off + rng.Int64N(20)}
			have = unionRanges(have, []Range{r}, size)
			for b := max(r.Off, 0); b < min(r.End, size); b++ {
				present[b] = true
			}
		}
		c := Content{Size: size, Ranges: have}
		var want int64
		for b := int64(0); b < size; b++ {
			if present[b] {
				want++
			}
			if c.Has(b, b+1) != present[b] {
				t.Fatalf("round %d: byte %d present=%v, ranges %v", round, b, present[b], have)
			}
		}
		if c.Local() != want {
			t.Fatalf("round %d: Local() = %d, byte map has %d", round, c.Local(), want)
		}
		for i := 1; i < len(have); i++ {
			if have[i].Off <= have[i-1].End {
				t.Fatalf("round %d: ranges %v not merged", round, have)
			}
		}
		if c.Complete() != (want == size) {
			t.Fatalf("round %d: Complete() = %v with %d of %d bytes", round, c.Complete(), want, size)
		}
	}
}

func TestContentHasLocalComplete(t *testing.T) {
	c := Content{Size: 100, Ranges: []Range{{0, 10}, {20, 100}}}
	for _, q := range []struct {
		off, end int64
		want     bool
	}{{0, 10, true}, {0, 11, false}, {5, 5, true}, {10, 20, false}, {20, 100, true}, {9, 21, false}, {99, 100, true}} {
		if got := c.Has(q.off, q.end); got != q.want {
			t.Errorf("Has(%d, %d) = %v, want %v", q.off, q.end, got, q.want)
		}
	}
	if c.Local() != 90 || c.Complete() {
		t.Errorf("Local %d Complete %v, want 90 false", c.Local(), c.Complete())
	}
	c.Ranges = []Range{{0, 100}}
	if !c.Complete() {
		t.Error("whole range not Complete")
	}
	empty := Content{Size: 0}
	if !empty.Complete() || empty.Local() != 0 {
		t.Error("an empty file must be complete with nothing local")
	}
}

func contentSamples() []Content {
	return []Content{
		{ID: 1},
		{ID: 2, ETag: `"abc"`, Size: 100, Ranges: []Range{{0, 10}, {20, 100}}, LastUse: testTime},
		{ID: 3, ETag: "W/\"weak\"", Size: 1 << 62, Ranges: []Range{{1 << 40, 1<<40 + 1}}, Verified: false, LastUse: time.Unix(0, 1).UTC()},
		{ID: 4, ETag: "e", Size: 7, Ranges: []Range{{0, 7}}, Verified: true},
	}
}

func sameContent(a, b Content) bool {
	return a.ID == b.ID && a.ETag == b.ETag && a.Size == b.Size && slices.Equal(a.Ranges, b.Ranges) &&
		a.Verified == b.Verified && a.LastUse.Equal(b.LastUse) && a.LastUse.IsZero() == b.LastUse.IsZero()
}

func TestContentCodecRoundTrip(t *testing.T) {
	for _, c := range contentSamples() {
		enc := appendContent(nil, &c)
		if len(enc) > encodedContentSize(&c) {
			t.Errorf("record %d: %d bytes over the bound %d", c.ID, len(enc), encodedContentSize(&c))
		}
		got, err := decodeContent(c.ID, enc)
		if err != nil {
			t.Fatalf("decode %d: %v", c.ID, err)
		}
		if !sameContent(got, c) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, c)
		}
		for n := 0; n < len(enc); n++ {
			if _, err := decodeContent(c.ID, enc[:n]); !errors.Is(err, errBadContentRecord) {
				t.Fatalf("record %d truncated to %d of %d bytes: err %v", c.ID, n, len(enc), err)
			}
		}
	}
}

func TestContentCodecRejectsGarbage(t *testing.T) {
	cases := map[string][]byte{
		"unknown version":   {2, 0, 0, 10, 0, 0},
		"unknown flag":      {1, 0x80, 0, 10, 0, 0},
		"trailing bytes":    {1, 0, 0, 10, 0, 0, 0},
		"range past size":   {1, 0, 0, 10, 0, 1, 5, 6},
		"gap past size":     {1, 0, 0, 10, 0, 1, 11, 1},
		"empty range":       {1, 0, 0, 10, 0, 1, 0, 0},
		"unmerged ranges":   {1, 0, 0, 10, 0, 2, 0, 2, 0, 2},
		"huge range count":  {1, 0, 0, 10, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"size out of range": {1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0},
		"overflowing gap":   {1, 0, 0, 10, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 1},
	}
	for name, data := range cases {
		if _, err := decodeContent(5, data); !errors.Is(err, errBadContentRecord) {
			t.Errorf("%s: err %v, want errBadContentRecord", name, err)
		}
	}
}

func FuzzDecodeContent(f *testing.F) {
	for _, c := range contentSamples() {
		f.Add(appendContent(nil, &c))
	}
	f.Add([]byte{1, 0, 0, 10, 0, 2, 0, 2, 1, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := decodeContent(9, data)
		if err != nil {
			return
		}
		if !slices.Equal(unionRanges(nil, c.Ranges, c.Size), c.Ranges) {
			t.Fatalf("decoded ranges %v of size %d are not normalized", c.Ranges, c.Size)
		}
		back, err := decodeContent(9, appendContent(nil, &c))
		if err != nil || !sameContent(back, c) {
			t.Fatalf("round trip: %+v, %v; want %+v", back, err, c)
		}
	})
}

// v1Item is an item record written by the version 1 encoder (before LocalBytes):
// file 42 "report.pdf" in folder 7, size 123456, etag "abc", owner alice, partial.
const v1Item = "0106070a7265706f72742e70646680890fd0c6b9e40c00052261626322065247444e565705616c6963650007534841313a30300001"

func TestItemCodecDecodesVersion1(t *testing.T) {
	raw, err := hex.DecodeString(v1Item)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeItem(42, raw)
	if err != nil {
		t.Fatalf("decode version 1: %v", err)
	}
	want := fileItem(42, "report.pdf", `"abc"`, 123456)
	want.Parent, want.Content, want.Checksums, want.OwnerID = 7, ContentPartial, "SHA1:00", "alice"
	if !sameItem(got, want) || got.LocalBytes != 0 {
		t.Errorf("version 1 record decoded as\n %+v\nwant\n %+v", got, want)
	}
	// Rewritten, it takes the new version and keeps everything.
	enc := appendItem(nil, &got)
	if enc[0] != itemEncodingV3 {
		t.Errorf("re-encoded with version %d, want %d", enc[0], itemEncodingV3)
	}
	if back, err := decodeItem(42, enc); err != nil || !sameItem(back, want) {
		t.Errorf("re-encoded record: %+v, %v", back, err)
	}
}
