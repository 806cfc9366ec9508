package cache

import (
	"errors"
	"time"
)

// ErrStale: the item's ETag is no longer the version the caller holds bytes of (the file
// changed on the server meanwhile); nothing was recorded.
var ErrStale = errors.New("cache: the file changed on the server; these bytes belong to an old version")

// Range is a half-open byte interval [Off, End) of a file.
type Range struct{ Off, End int64 }

// Content is what is local of one file's bytes. The bytes live in ContentPath(ID), a
// sparse file; this record says which ranges of it hold bytes of which version.
type Content struct {
	ID   uint64
	ETag string // the version every recorded range belongs to
	Size int64
	// Ranges are sorted, non-overlapping and merged (adjacent ranges joined).
	Ranges []Range
	// Verified: every byte is present and was checked (size, and the checksum when the
	// server offered one). Only verified content counts as ContentLocal.
	Verified bool
	LastUse  time.Time
}

// Local returns the number of bytes present.
func (c *Content) Local() int64 {
	var n int64
	for _, r := range c.Ranges {
		n += r.End - r.Off
	}
	return n
}

// Has reports whether every byte of [off, end) is present.
func (c *Content) Has(off, end int64) bool {
	for _, r := range c.Ranges {
		if r.Off <= off && end <= r.End {
			return true
		}
	}
	return off >= end
}

// Complete reports whether the whole file is present (not necessarily verified).
func (c *Content) Complete() bool { return c.Has(0, c.Size) }

// ErrDirty: the item has local changes not yet on the server; its content is not
// dropped, evicted or overwritten by downloads.
var ErrDirty = errors.New("cache: the file has local changes not yet uploaded; its content is kept")
