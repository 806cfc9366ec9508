package cache

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func codecSamples() []Item {
	return []Item{
		{},
		fileItem(42, "report.pdf", `"0123456789abcdef0123456789abcdef"`, 123456),
		dirItem(7, "Photos", `"664f1b2a3c4d5"`),
		{
			ID: 1 << 63, Parent: localIDBase + 9, Name: "naïve 名前 \u200b", IsDir: false, Size: -1,
			MTime: time.Date(1901, 1, 2, 3, 4, 5, 999999999, time.UTC), ETag: `W/"weak"`,
			Permissions: "SRMGDNVW", PermsKnown: true, OwnerID: "alice", OwnerName: "Alice A.",
			Checksums: "SHA1:da39a3ee MD5:d41d8cd9", ListedETag: "listed", Content: ContentDirty,
		},
		{ID: 3, Name: strings.Repeat("x", 1000), Size: 1 << 62, MTime: time.Unix(0, 1).UTC(), Content: ContentPartial, LocalBytes: 1 << 40},
		{ID: 4, Name: "local", MTime: time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC), Content: ContentLocal, LocalBytes: 1<<63 - 1},
		{ID: localIDBase + 5, Parent: 4, Name: "made here.txt", Content: ContentPartial, LocalBytes: 10, Local: Overlay{
			Flags: LocalDirty | LocalMoved, Size: 77, MTime: time.Unix(1700000000, 5).UTC(), BaseETag: `"base"`,
			FromParent: 9, FromName: "old name", ServerID: 1234, Error: "quota exceeded"}},
		{ID: 6, Name: "tombstone", Local: Overlay{Flags: LocalDeleted, FromParent: 1, FromName: "x"}},
	}
}

func sameItem(a, b Item) bool {
	return a.ID == b.ID && a.Parent == b.Parent && a.Name == b.Name && a.IsDir == b.IsDir &&
		a.Size == b.Size && a.MTime.Equal(b.MTime) && a.MTime.IsZero() == b.MTime.IsZero() &&
		a.ETag == b.ETag && a.Permissions == b.Permissions && a.PermsKnown == b.PermsKnown &&
		a.OwnerID == b.OwnerID && a.OwnerName == b.OwnerName && a.Checksums == b.Checksums &&
		a.ListedETag == b.ListedETag && a.Content == b.Content && a.LocalBytes == b.LocalBytes &&
		a.Local.Flags == b.Local.Flags && a.Local.Size == b.Local.Size && a.Local.MTime.Equal(b.Local.MTime) &&
		a.Local.BaseETag == b.Local.BaseETag && a.Local.FromParent == b.Local.FromParent &&
		a.Local.FromName == b.Local.FromName && a.Local.ServerID == b.Local.ServerID && a.Local.Error == b.Local.Error
}

// A record of encoding 2 (schema 2) decodes as an item without an overlay.
func TestItemCodecReadsVersion2(t *testing.T) {
	it := fileItem(42, "report.pdf", `"e"`, 123)
	it.Content, it.LocalBytes = ContentPartial, 100
	enc := appendItem(nil, &it)
	v2 := append([]byte{itemEncodingV2}, enc[1:len(enc)-1]...) // no overlay byte
	got, err := decodeItem(42, v2)
	if err != nil {
		t.Fatalf("decode a version 2 record: %v", err)
	}
	if !sameItem(got, it) || got.Local.Pending() {
		t.Errorf("version 2 record:\n got %+v\nwant %+v", got, it)
	}
}

func TestItemCodecRoundTrip(t *testing.T) {
	for _, it := range codecSamples() {
		enc := appendItem(nil, &it)
		if len(enc) > encodedItemSize(&it) {
			t.Errorf("item %d: encoded %d bytes, size bound %d", it.ID, len(enc), encodedItemSize(&it))
		}
		got, err := decodeItem(it.ID, enc)
		if err != nil {
			t.Fatalf("decode item %d: %v", it.ID, err)
		}
		if !sameItem(got, it) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, it)
		}
	}
}

func TestItemCodecRejectsTruncation(t *testing.T) {
	for _, it := range codecSamples() {
		enc := appendItem(nil, &it)
		for n := 0; n < len(enc); n++ {
			if _, err := decodeItem(it.ID, enc[:n]); !errors.Is(err, errBadRecord) {
				t.Fatalf("item %d truncated to %d of %d bytes: err %v", it.ID, n, len(enc), err)
			}
		}
	}
}

func TestItemCodecRejectsGarbage(t *testing.T) {
	it := fileItem(5, "a", "e", 1)
	good := appendItem(nil, &it)
	cases := map[string][]byte{
		"unknown version": append([]byte{4}, good[1:]...),
		"unknown local":   append(append([]byte(nil), good[:len(good)-1]...), 0x80),
		"unknown flag":    append([]byte{1, 0x80}, good[2:]...),
		"trailing bytes":  append(append([]byte(nil), good...), 0),
		"bad content":     append(append([]byte(nil), good[:len(good)-3]...), 9, 0, 0), // then LocalBytes 0, no overlay
		"huge string":     {1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"overlong varint": {1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
	}
	for name, data := range cases {
		if _, err := decodeItem(5, data); !errors.Is(err, errBadRecord) {
			t.Errorf("%s: err %v, want errBadRecord", name, err)
		}
	}
}

func FuzzDecodeItem(f *testing.F) {
	for _, it := range codecSamples() {
		f.Add(appendItem(nil, &it))
	}
	f.Add([]byte{})
	f.Add([]byte{1, 7, 0xff})
	f.Add([]byte{1, 0, 0x80, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 1}) // non-minimal varint
	f.Fuzz(func(t *testing.T, data []byte) {
		it, err := decodeItem(9, data)
		if err != nil {
			return
		}
		// Whatever decodes must survive a round trip unchanged. (Bytes may differ:
		// varints accept non-minimal spellings.)
		back, err := decodeItem(9, appendItem(nil, &it))
		if err != nil {
			t.Fatalf("re-encoded item does not decode: %v", err)
		}
		if !sameItem(back, it) {
			t.Fatalf("round trip changed the item:\n got %+v\nwant %+v", back, it)
		}
	})
}

func TestNonMinimalVarintDecodes(t *testing.T) {
	it, err := decodeItem(9, []byte{1, 0, 0x80, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	if err != nil {
		t.Fatal(err)
	}
	if it.Parent != 0 || it.Content != ContentPartial {
		t.Errorf("decoded %+v", it)
	}
}
