package cache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// Content records are binary like items: Content is read on every FUSE read. Layout,
// version 1:
//
//	byte     encoding version (1)
//	byte     flags (verified)
//	string   etag
//	uvarint  size
//	uvarint  last use, Unix nanoseconds (0: never)
//	uvarint  number of ranges
//	per range: uvarint gap from the previous range's end (from 0 for the first),
//	           uvarint length
//
// Ranges are stored as gaps and lengths so a decoded record is sorted, disjoint and
// inside [0, size) by construction; the decoder still checks every bound.
const contentEncodingV1 = 1

const (
	contentFlagVerified = 1 << 0
	knownContentFlags   = contentFlagVerified
)

var errBadContentRecord = errors.New("cache: corrupt content record")

// appendContent appends the encoding of c (without its id) to buf. c's ranges must be
// normalized (see normalizeRanges).
func appendContent(buf []byte, c *Content) []byte {
	var flags byte
	if c.Verified {
		flags |= contentFlagVerified
	}
	buf = append(buf, contentEncodingV1, flags)
	buf = appendString(buf, c.ETag)
	buf = binary.AppendUvarint(buf, uint64(max(c.Size, 0)))
	buf = binary.AppendUvarint(buf, lastUseNanos(c.LastUse))
	buf = binary.AppendUvarint(buf, uint64(len(c.Ranges)))
	var prevEnd int64
	for _, r := range c.Ranges {
		buf = binary.AppendUvarint(buf, uint64(r.Off-prevEnd))
		buf = binary.AppendUvarint(buf, uint64(r.End-r.Off))
		prevEnd = r.End
	}
	return buf
}

// encodedContentSize bounds the length appendContent produces.
func encodedContentSize(c *Content) int {
	return 2 + 4*binary.MaxVarintLen64 + len(c.ETag) + 2*binary.MaxVarintLen64*len(c.Ranges)
}

// decodeContent decodes the record stored under id. The result shares no memory with
// data. Truncated or garbage input gives an error wrapping errBadContentRecord.
func decodeContent(id uint64, data []byte) (Content, error) {
	d := decoder{buf: data, copied: string(data)}
	if v := d.byte(); v != contentEncodingV1 {
		if d.err != nil {
			return Content{}, fmt.Errorf("%w: id %d: empty", errBadContentRecord, id)
		}
		return Content{}, fmt.Errorf("%w: id %d: unknown encoding version %d", errBadContentRecord, id, v)
	}
	flags := d.byte()
	c := Content{ID: id, Verified: flags&contentFlagVerified != 0}
	c.ETag = d.string()
	size := d.uvarint()
	nanos := d.uvarint()
	n := d.uvarint()
	if d.err != nil {
		return Content{}, fmt.Errorf("%w: id %d: %w", errBadContentRecord, id, d.err)
	}
	switch {
	case flags&^knownContentFlags != 0:
		return Content{}, fmt.Errorf("%w: id %d: unknown flags %#x", errBadContentRecord, id, flags)
	case size > math.MaxInt64 || nanos > math.MaxInt64:
		return Content{}, fmt.Errorf("%w: id %d: size or last use out of range", errBadContentRecord, id)
	case n > uint64(len(d.buf)/2):
		// Every range takes at least two bytes: a count beyond that is garbage, and
		// must not size an allocation.
		return Content{}, fmt.Errorf("%w: id %d: %d ranges in %d bytes", errBadContentRecord, id, n, len(d.buf))
	}
	c.Size = int64(size)
	if nanos != 0 {
		c.LastUse = time.Unix(0, int64(nanos)).UTC()
	}
	if n > 0 {
		c.Ranges = make([]Range, 0, n)
	}
	var prevEnd uint64
	for i := uint64(0); i < n; i++ {
		gap, length := d.uvarint(), d.uvarint()
		if d.err != nil {
			return Content{}, fmt.Errorf("%w: id %d: range %d: %w", errBadContentRecord, id, i, d.err)
		}
		// Merged ranges never touch, so only the first may start at the previous end.
		if (i > 0 && gap == 0) || length == 0 || gap > size-prevEnd || length > size-prevEnd-gap {
			return Content{}, fmt.Errorf("%w: id %d: range %d (gap %d, length %d) not merged or outside size %d",
				errBadContentRecord, id, i, gap, length, size)
		}
		off := prevEnd + gap
		prevEnd = off + length
		c.Ranges = append(c.Ranges, Range{Off: int64(off), End: int64(prevEnd)})
	}
	if len(d.buf) != 0 {
		return Content{}, fmt.Errorf("%w: id %d: %d trailing bytes", errBadContentRecord, id, len(d.buf))
	}
	return c, nil
}

// lastUseNanos maps a time to the non-negative nanoseconds stored for it: 0 for the
// zero time or anything before 1970, clamped where UnixNano would overflow.
func lastUseNanos(t time.Time) uint64 {
	if t.IsZero() || t.Unix() < 0 {
		return 0
	}
	if t.Unix() >= math.MaxInt64/int64(time.Second) {
		return math.MaxInt64
	}
	return uint64(t.UnixNano())
}
