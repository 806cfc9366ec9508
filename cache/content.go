package cache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Content returns what is local of id's bytes; ok is false when nothing is (no record).
// The record may belong to an older version than the item's current ETag only between
// a caller's reads; compare c.ETag when it matters.
func (s *Store) Content(id uint64) (c Content, ok bool, err error) {
	err = s.view(func(t *txn) error {
		c, ok, err = t.getContent(id)
		return err
	})
	if err != nil {
		return Content{}, false, fmt.Errorf("cache: content of %d: %w", id, err)
	}
	return c, ok, nil
}

// RecordRanges records that the given ranges of id's content file now hold bytes of
// version etag of a file of the given size; the caller has already fdatasync'ed the
// file. A stored record of another etag or size is replaced (its ranges dropped).
// Ranges are clamped to [0, size) and merged. The item's Content (ContentPartial, or
// ContentLocal once verified) and LocalBytes change in the same transaction, and the
// record's LastUse becomes now.
//
// ErrStale (nothing written) when the item's current ETag or size is not etag and
// size; ErrNotFound when the item is gone; ErrDirty when it has local changes.
func (s *Store) RecordRanges(id uint64, etag string, size int64, add []Range) (Content, error) {
	return s.recordRanges(id, etag, size, add, false)
}

func (s *Store) recordRanges(id uint64, etag string, size int64, add []Range, complete bool) (Content, error) {
	out, errs, err := s.RecordBatch([]RangeRecord{{ID: id, ETag: etag, Size: size, Ranges: add, Complete: complete}})
	if err == nil {
		err = errs[0]
	}
	if err != nil {
		return Content{}, err
	}
	return out[0], nil
}

// RangeRecord is one file's part of RecordBatch: as RecordRanges, and with Complete
// set also as MarkVerified in the same transaction (for a file whose last bytes just
// arrived and that needs no checksum check); a Complete record fails like MarkVerified
// if the ranges do not cover the file.
type RangeRecord struct {
	ID       uint64
	ETag     string
	Size     int64
	Ranges   []Range
	Complete bool
}

// RecordBatch records many files' ranges in one transaction: one commit for a burst of
// small files read at once instead of one each. Each record succeeds or fails on its
// own (errs[i], as RecordRanges would fail; a failed record writes nothing); err is a
// failure of the whole transaction, in which nothing was recorded.
func (s *Store) RecordBatch(recs []RangeRecord) (out []Content, errs []error, err error) {
	now := storedTime(time.Now())
	out = make([]Content, len(recs))
	errs = make([]error, len(recs))
	err = s.update(func(t *txn) error {
		for i, r := range recs {
			c, rerr := t.recordRanges(r, now)
			if rerr != nil && !isRecordRefusal(rerr) {
				return fmt.Errorf("cache: record ranges of %d (etag %s): %w", r.ID, r.ETag, rerr)
			}
			if rerr != nil {
				rerr = fmt.Errorf("cache: record ranges of %d (etag %s): %w", r.ID, r.ETag, rerr)
			}
			out[i], errs[i] = c, rerr
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return out, errs, nil
}

// errIncomplete refuses to mark a file complete whose ranges do not cover it.
var errIncomplete = errors.New("cannot verify an incomplete file")

// isRecordRefusal tells the errors t.recordRanges returns before writing anything.
func isRecordRefusal(err error) bool {
	return errors.Is(err, ErrStale) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrDirty) ||
		errors.Is(err, errIncomplete) || errors.Is(err, errNegativeSize) || errors.Is(err, errFolder)
}

var (
	errNegativeSize = errors.New("negative size")
	errFolder       = errors.New("is a folder, it has no content")
)

// recordRanges applies one RangeRecord; it checks everything before its first write.
func (t *txn) recordRanges(r RangeRecord, now time.Time) (Content, error) {
	if r.Size < 0 {
		return Content{}, fmt.Errorf("%w %d", errNegativeSize, r.Size)
	}
	it, err := t.currentFile(r.ID, r.ETag)
	if err != nil {
		return Content{}, err
	}
	if it.Size != r.Size {
		return Content{}, fmt.Errorf("%w: size %d, the server now says %d", ErrStale, r.Size, it.Size)
	}
	old, had, err := t.getContent(r.ID)
	if err != nil {
		return Content{}, err
	}
	next := Content{ID: r.ID, ETag: r.ETag, Size: r.Size, LastUse: now}
	if had && old.ETag == r.ETag && old.Size == r.Size {
		next.Ranges, next.Verified = old.Ranges, old.Verified
	}
	next.Ranges = unionRanges(next.Ranges, r.Ranges, r.Size)
	if r.Complete {
		if !next.Complete() {
			return Content{}, fmt.Errorf("only %d of %d bytes are recorded: %w", next.Local(), next.Size, errIncomplete)
		}
		next.Verified = true
	}
	if err := t.putContent(&next, oldOrNil(&old, had)); err != nil {
		return Content{}, err
	}
	state := ContentPartial
	if next.Verified {
		state = ContentLocal
	}
	return next, t.setItemContent(it, state, next.Local())
}

// MarkVerified records that all of id's content of version etag is present and was
// checked: the record becomes Verified and the item ContentLocal. ErrStale, ErrNotFound
// and ErrDirty as for RecordRanges; an error if the recorded ranges do not cover the
// file. An empty file needs no ranges, nor a record beforehand.
func (s *Store) MarkVerified(id uint64, etag string) error {
	err := s.update(func(t *txn) error {
		it, err := t.currentFile(id, etag)
		if err != nil {
			return err
		}
		old, had, err := t.getContent(id)
		if err != nil {
			return err
		}
		next := Content{ID: id, ETag: etag, Size: it.Size, LastUse: storedTime(time.Now())}
		sameVersion := had && old.ETag == etag && old.Size == it.Size
		if sameVersion {
			next.Ranges, next.LastUse = old.Ranges, old.LastUse
		}
		if !next.Complete() {
			return fmt.Errorf("only %d of %d bytes are recorded; cannot verify an incomplete file", next.Local(), next.Size)
		}
		next.Verified = true
		if !sameVersion || !old.Verified {
			if err := t.putContent(&next, oldOrNil(&old, had)); err != nil {
				return err
			}
		}
		return t.setItemContent(it, ContentLocal, next.Local())
	})
	if err != nil {
		return fmt.Errorf("cache: mark %d verified (etag %s): %w", id, etag, err)
	}
	return nil
}

// TouchContent sets the LastUse of id's content record, for LRU eviction; a no-op
// without a record. It costs a commit: call it once per open, not per read.
func (s *Store) TouchContent(id uint64, when time.Time) error {
	err := s.update(func(t *txn) error {
		old, ok, err := t.getContent(id)
		if err != nil || !ok {
			return err
		}
		next := old
		next.LastUse = storedTime(when)
		if next.LastUse.Equal(old.LastUse) {
			return nil
		}
		return t.putContent(&next, &old)
	})
	if err != nil {
		return fmt.Errorf("cache: touch content of %d: %w", id, err)
	}
	return nil
}

// DropContent removes id's content record, sets the item back to ContentOnline with
// LocalBytes 0, and removes the content file after the commit (also a stray file
// without a record, whether or not the item still exists). ErrDirty, and nothing
// changes, if the item has local changes, or if it is gone but its record was kept
// because it had them.
func (s *Store) DropContent(id uint64) error {
	err := s.update(func(t *txn) error {
		it, exists, err := t.getItem(id)
		if err != nil {
			return err
		}
		if exists && it.Content == ContentDirty {
			return ErrDirty
		}
		c, had, err := t.getContent(id)
		if err != nil {
			return err
		}
		if had && !exists {
			// Only a removal of a dirty item leaves a record behind (dropContentOfRemoved).
			return fmt.Errorf("%w (the server removed the file; the local changes are kept)", ErrDirty)
		}
		if had {
			if err := t.deleteContent(&c); err != nil {
				return err
			}
		} else {
			t.dropFiles = append(t.dropFiles, id)
		}
		if !exists {
			return nil
		}
		return t.setItemContent(it, ContentOnline, 0)
	})
	if err != nil {
		return fmt.Errorf("cache: drop content of %d: %w", id, err)
	}
	return nil
}

// ContentUsage returns the bytes present over all content records and the number of
// records, from running counters (no scan).
func (s *Store) ContentUsage() (bytes int64, files int, err error) {
	var n int64
	err = s.view(func(t *txn) error {
		bytes, n, err = t.usage()
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("cache: content usage: %w", err)
	}
	return bytes, int(n), nil
}

// LRU returns up to n content records, least recently used first.
func (s *Store) LRU(n int) ([]Content, error) {
	if n <= 0 {
		return nil, nil
	}
	var out []Content
	err := s.view(func(t *txn) error {
		c := t.lru().Cursor()
		for k, _ := c.First(); k != nil && len(out) < n; k, _ = c.Next() {
			if len(k) != 16 {
				return fmt.Errorf("cache: corrupt LRU entry of %d bytes", len(k))
			}
			id := binary.BigEndian.Uint64(k[8:])
			rec, ok, err := t.getContent(id)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("cache: corrupt LRU index: entry for %d without a content record", id)
			}
			out = append(out, rec)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cache: LRU: %w", err)
	}
	return out, nil
}

// Evictable returns up to n content records that eviction could free, least recently
// used first, starting after the record after (from the first when nil): records with
// bytes present whose item has no local changes and is not pinned alwayslocal (itself
// or through a folder above). The walk pages on from the last record
// it was given, so records the caller cannot evict (open files) never stop it: with
// LRU(64), 64 long-open files at the head of the order stalled eviction for good.
func (s *Store) Evictable(after *Content, n int) ([]Content, error) {
	if n <= 0 {
		return nil, nil
	}
	var out []Content
	err := s.view(func(t *txn) error {
		pinned := t.anyPins()
		c := t.lru().Cursor()
		k, _ := c.First()
		if after != nil {
			from := lruKey(after)
			k, _ = c.Seek(from)
			if k != nil && string(k) == string(from) {
				k, _ = c.Next()
			}
		}
		for ; k != nil && len(out) < n; k, _ = c.Next() {
			if len(k) != 16 {
				return fmt.Errorf("cache: corrupt LRU entry of %d bytes", len(k))
			}
			id := binary.BigEndian.Uint64(k[8:])
			rec, ok, err := t.getContent(id)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("cache: corrupt LRU index: entry for %d without a content record", id)
			}
			if rec.Local() == 0 {
				continue
			}
			if it, ok, err := t.getItem(id); err != nil {
				return err
			} else if !ok || it.Content == ContentDirty {
				continue // local changes, kept for the upload (or a removal that kept them)
			}
			if pinned {
				if p, _, err := t.effectivePin(id); err != nil {
					return err
				} else if p == PinAlwaysLocal {
					continue // the user asked to keep it here
				}
			}
			out = append(out, rec)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cache: evictable content: %w", err)
	}
	return out, nil
}

// currentFile returns the file id if its current version is etag and it has no local
// changes: the checks every content write starts with.
func (t *txn) currentFile(id uint64, etag string) (Item, error) {
	it, ok, err := t.getItem(id)
	switch {
	case err != nil:
		return Item{}, err
	case !ok:
		return Item{}, ErrNotFound
	case it.IsDir:
		return Item{}, fmt.Errorf("%d %w", id, errFolder)
	case it.Content == ContentDirty:
		return Item{}, ErrDirty
	case it.ETag != etag:
		return Item{}, fmt.Errorf("%w: the server now has etag %s", ErrStale, it.ETag)
	}
	return it, nil
}

// storedTime returns t as a record keeps it, so returned records equal stored ones.
func storedTime(t time.Time) time.Time {
	n := lastUseNanos(t)
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(n)).UTC()
}

func oldOrNil(old *Content, had bool) *Content {
	if had {
		return old
	}
	return nil
}
