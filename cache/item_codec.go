package cache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// Item records are a compact binary encoding, not JSON or gob: Get and Lookup sit on
// the FUSE hot path. Layout, version 2:
//
//	byte     encoding version (2)
//	byte     flags (isDir, permsKnown, hasMTime)
//	uvarint  parent id
//	string   name
//	varint   size
//	varint   mtime seconds, uvarint mtime nanoseconds   (only if hasMTime)
//	string   etag, permissions, ownerID, ownerName, checksums, listedETag
//	byte     content state
//	uvarint  local bytes   (version 2 and later; version 1 records decode with 0)
//	byte     local flags   (version 3; older records decode without an overlay)
//	         and, only when the flags are not 0:
//	varint   local size, varint mtime seconds, uvarint mtime nanoseconds (0, 0: none)
//	string   base etag
//	uvarint  from parent; string from name
//	uvarint  server id
//	string   error
//
// A string is a uvarint length followed by that many bytes. The id is the key and is
// not repeated in the value. Records are always written in the newest version.
const (
	itemEncodingV1 = 1
	itemEncodingV2 = 2
	itemEncodingV3 = 3
)

const (
	flagIsDir      = 1 << 0
	flagPermsKnown = 1 << 1
	flagHasMTime   = 1 << 2
	knownFlags     = flagIsDir | flagPermsKnown | flagHasMTime
)

var errBadRecord = errors.New("cache: corrupt item record")

// appendItem appends the encoding of it (without its id) to buf.
func appendItem(buf []byte, it *Item) []byte {
	var flags byte
	if it.IsDir {
		flags |= flagIsDir
	}
	if it.PermsKnown {
		flags |= flagPermsKnown
	}
	if !it.MTime.IsZero() {
		flags |= flagHasMTime
	}
	buf = append(buf, itemEncodingV3, flags)
	buf = binary.AppendUvarint(buf, it.Parent)
	buf = appendString(buf, it.Name)
	buf = binary.AppendVarint(buf, it.Size)
	if flags&flagHasMTime != 0 {
		buf = binary.AppendVarint(buf, it.MTime.Unix())
		buf = binary.AppendUvarint(buf, uint64(it.MTime.Nanosecond()))
	}
	buf = appendString(buf, it.ETag)
	buf = appendString(buf, it.Permissions)
	buf = appendString(buf, it.OwnerID)
	buf = appendString(buf, it.OwnerName)
	buf = appendString(buf, it.Checksums)
	buf = appendString(buf, it.ListedETag)
	buf = append(buf, byte(it.Content))
	buf = binary.AppendUvarint(buf, uint64(max(it.LocalBytes, 0)))
	o := &it.Local
	buf = append(buf, byte(o.Flags))
	if o.Flags == 0 {
		return buf
	}
	buf = binary.AppendVarint(buf, o.Size)
	if o.MTime.IsZero() {
		buf = append(buf, 0, 0)
	} else {
		buf = binary.AppendVarint(buf, o.MTime.Unix())
		buf = binary.AppendUvarint(buf, uint64(o.MTime.Nanosecond()))
	}
	buf = appendString(buf, o.BaseETag)
	buf = binary.AppendUvarint(buf, o.FromParent)
	buf = appendString(buf, o.FromName)
	buf = binary.AppendUvarint(buf, o.ServerID)
	return appendString(buf, o.Error)
}

// encodedItemSize bounds the length appendItem produces, to size buffers once.
func encodedItemSize(it *Item) int {
	const varints = 2 + 4*binary.MaxVarintLen64 + binary.MaxVarintLen32 + 1
	const overlay = 1 + 8*binary.MaxVarintLen64
	return varints + overlay + 7*binary.MaxVarintLen64 + len(it.Name) + len(it.ETag) + len(it.Permissions) +
		len(it.OwnerID) + len(it.OwnerName) + len(it.Checksums) + len(it.ListedETag) +
		len(it.Local.BaseETag) + len(it.Local.FromName) + len(it.Local.Error)
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

// decodeItem decodes a record stored under id. The record is copied once and the
// strings point into that copy, so the result stays valid after the transaction that
// read data ends. Truncated or garbage input gives an error, never a panic.
func decodeItem(id uint64, data []byte) (Item, error) {
	d := decoder{buf: data, copied: string(data)}
	version := d.byte()
	if version < itemEncodingV1 || version > itemEncodingV3 {
		if d.err != nil {
			return Item{}, fmt.Errorf("%w: id %d: empty", errBadRecord, id)
		}
		return Item{}, fmt.Errorf("%w: id %d: unknown encoding version %d", errBadRecord, id, version)
	}
	flags := d.byte()
	if flags&^knownFlags != 0 {
		return Item{}, fmt.Errorf("%w: id %d: unknown flags %#x", errBadRecord, id, flags)
	}
	it := Item{ID: id, IsDir: flags&flagIsDir != 0, PermsKnown: flags&flagPermsKnown != 0}
	it.Parent = d.uvarint()
	it.Name = d.string()
	it.Size = d.varint()
	if flags&flagHasMTime != 0 {
		sec := d.varint()
		nsec := d.uvarint()
		if nsec >= uint64(time.Second) {
			return Item{}, fmt.Errorf("%w: id %d: mtime nanoseconds %d out of range", errBadRecord, id, nsec)
		}
		it.MTime = time.Unix(sec, int64(nsec)).UTC()
	}
	it.ETag = d.string()
	it.Permissions = d.string()
	it.OwnerID = d.string()
	it.OwnerName = d.string()
	it.Checksums = d.string()
	it.ListedETag = d.string()
	content := d.byte()
	var localBytes uint64
	if version >= itemEncodingV2 {
		localBytes = d.uvarint()
	}
	if version >= itemEncodingV3 {
		if err := d.overlay(&it.Local); err != nil {
			return Item{}, fmt.Errorf("%w: id %d: %w", errBadRecord, id, err)
		}
	}
	if d.err != nil {
		return Item{}, fmt.Errorf("%w: id %d: %w", errBadRecord, id, d.err)
	}
	if len(d.buf) != 0 {
		return Item{}, fmt.Errorf("%w: id %d: %d trailing bytes", errBadRecord, id, len(d.buf))
	}
	if content > byte(ContentDirty) {
		return Item{}, fmt.Errorf("%w: id %d: unknown content state %d", errBadRecord, id, content)
	}
	if localBytes > math.MaxInt64 {
		return Item{}, fmt.Errorf("%w: id %d: local bytes %d out of range", errBadRecord, id, localBytes)
	}
	it.Content = ContentState(content)
	it.LocalBytes = int64(localBytes)
	return it, nil
}

// overlay decodes the local overlay of an encoding-3 record.
func (d *decoder) overlay(o *Overlay) error {
	o.Flags = LocalFlags(d.byte())
	if o.Flags&^knownLocalFlags != 0 {
		return fmt.Errorf("unknown local flags %#x", byte(o.Flags))
	}
	if o.Flags == 0 || d.err != nil {
		return nil
	}
	o.Size = d.varint()
	sec, nsec := d.varint(), d.uvarint()
	if nsec >= uint64(time.Second) {
		return fmt.Errorf("local mtime nanoseconds %d out of range", nsec)
	}
	if sec != 0 || nsec != 0 {
		o.MTime = time.Unix(sec, int64(nsec)).UTC()
	}
	o.BaseETag = d.string()
	o.FromParent = d.uvarint()
	o.FromName = d.string()
	o.ServerID = d.uvarint()
	o.Error = d.string()
	return nil
}

// decoder reads fields from buf; after the first failure every read returns a zero
// value and err says why, so callers check once at the end.
type decoder struct {
	buf    []byte
	copied string // data as one string: fields are substrings of it, one allocation in all
	err    error
}

var errTruncated = errors.New("truncated")

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.buf = nil
}

func (d *decoder) byte() byte {
	if len(d.buf) < 1 {
		d.fail(errTruncated)
		return 0
	}
	b := d.buf[0]
	d.buf = d.buf[1:]
	return b
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail(errors.New("bad uvarint"))
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.fail(errors.New("bad varint"))
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.buf)) {
		d.fail(fmt.Errorf("string of %d bytes with %d left", n, len(d.buf)))
		return ""
	}
	start := len(d.copied) - len(d.buf)
	d.buf = d.buf[n:]
	return d.copied[start : start+int(n)]
}
