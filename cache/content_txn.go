package cache

import (
	"encoding/binary"
	"fmt"
	"log/slog"

	bolt "go.etcd.io/bbolt"
)

// Content records, their LRU index and the usage counters change together, only
// through putContent and deleteContent, so the counters stay exact.

func (t *txn) contents() *bolt.Bucket {
	if t.contentB == nil {
		t.contentB = t.tx.Bucket(bucketContent)
	}
	return t.contentB
}

func (t *txn) lru() *bolt.Bucket {
	if t.lruB == nil {
		t.lruB = t.tx.Bucket(bucketLRU)
	}
	return t.lruB
}

func (t *txn) hasContent(id uint64) bool {
	binary.BigEndian.PutUint64(t.key[:], id)
	return t.contents().Get(t.key[:]) != nil
}

// getContent returns id's content record; ok is false if there is none.
func (t *txn) getContent(id uint64) (Content, bool, error) {
	binary.BigEndian.PutUint64(t.key[:], id)
	v := t.contents().Get(t.key[:])
	if v == nil {
		return Content{}, false, nil
	}
	c, err := decodeContent(id, v)
	if err != nil {
		return Content{}, false, err
	}
	return c, true, nil
}

// lruKey orders records by last use, then id.
func lruKey(c *Content) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 16), lastUseNanos(c.LastUse))
	return binary.BigEndian.AppendUint64(k, c.ID)
}

// putContent stores c, replacing old (nil if c is new), and keeps the LRU index and
// the usage counters in step.
func (t *txn) putContent(c *Content, old *Content) error {
	val := appendContent(t.values.alloc(encodedContentSize(c)), c)
	if err := t.contents().Put(idKey(c.ID), val); err != nil {
		return fmt.Errorf("cache: put content record %d: %w", c.ID, err)
	}
	newKey := lruKey(c)
	delta, files := c.Local(), int64(1)
	if old != nil {
		delta -= old.Local()
		files = 0
		if oldKey := lruKey(old); string(oldKey) != string(newKey) {
			if err := t.lru().Delete(oldKey); err != nil {
				return fmt.Errorf("cache: unindex content %d: %w", c.ID, err)
			}
		}
	}
	if err := t.lru().Put(newKey, []byte{}); err != nil {
		return fmt.Errorf("cache: index content %d: %w", c.ID, err)
	}
	return t.addUsage(delta, files)
}

// deleteContent removes the record old, its LRU entry and its share of the counters,
// and queues its file for removal after the commit.
func (t *txn) deleteContent(old *Content) error {
	if err := t.contents().Delete(idKey(old.ID)); err != nil {
		return fmt.Errorf("cache: delete content record %d: %w", old.ID, err)
	}
	if err := t.lru().Delete(lruKey(old)); err != nil {
		return fmt.Errorf("cache: unindex content %d: %w", old.ID, err)
	}
	t.dropFiles = append(t.dropFiles, old.ID)
	return t.addUsage(-old.Local(), -1)
}

// usage returns the running counters: bytes present and number of records.
func (t *txn) usage() (bytes, files int64, err error) {
	if bytes, err = t.counter(keyContentBytes); err != nil {
		return 0, 0, err
	}
	files, err = t.counter(keyContentFiles)
	return bytes, files, err
}

func (t *txn) counter(key []byte) (int64, error) {
	v := t.meta().Get(key)
	if v == nil {
		return 0, nil // a version 1 database, or no content yet
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("cache: corrupt counter %s: %d bytes", key, len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

func (t *txn) addUsage(bytes, files int64) error {
	for _, c := range []struct {
		key   []byte
		delta int64
	}{{keyContentBytes, bytes}, {keyContentFiles, files}} {
		if c.delta == 0 {
			continue
		}
		n, err := t.counter(c.key)
		if err != nil {
			return err
		}
		n += c.delta
		if n < 0 {
			// Only a corrupt database gets here; a negative usage would confuse eviction.
			slog.Error("cache: content usage counter went negative; reset to 0", "op", "content-usage", "counter", string(c.key), "value", n)
			n = 0
		}
		if err := t.meta().Put(c.key, binary.BigEndian.AppendUint64(t.values.alloc(8), uint64(n))); err != nil {
			return fmt.Errorf("cache: write counter %s: %w", c.key, err)
		}
	}
	return nil
}

// setItemContent stores it with the given content state and local bytes, if they differ.
func (t *txn) setItemContent(it Item, state ContentState, local int64) error {
	if it.Content == state && it.LocalBytes == local {
		return nil
	}
	it.Content, it.LocalBytes = state, local
	return t.putItemQuiet(&it)
}

// dropStaleContent drops old's content record when next no longer describes the
// version its bytes belong to (another ETag, size or kind), unless old has local
// changes. It resets next's content fields and reports whether a record went.
func (t *txn) dropStaleContent(old Item, next *Item) (bool, error) {
	if old.IsDir || (!next.IsDir && old.ETag == next.ETag && old.Size == next.Size) {
		return false, nil
	}
	c, ok, err := t.getContent(old.ID)
	if err != nil || !ok {
		return false, err
	}
	if old.Content == ContentDirty {
		slog.Warn("cache: the server changed a file with local changes; local content kept",
			"op", "drop-stale-content", "fileid", old.ID, "etag", next.ETag)
		return false, nil
	}
	if err := t.deleteContent(&c); err != nil {
		return false, err
	}
	next.Content, next.LocalBytes = ContentOnline, 0
	return true, nil
}

// dropContentOfRemoved drops the content of an item about to be removed, unless the
// item has local changes: those bytes are kept (with their record) for the upload and
// conflict handling to resolve, and never counted as garbage.
func (t *txn) dropContentOfRemoved(id uint64) error {
	if !t.hasContent(id) {
		return nil
	}
	it, ok, err := t.getItem(id)
	if err != nil {
		return err
	}
	if ok && it.Content == ContentDirty {
		slog.Warn("cache: the server removed a file with local changes; local content kept",
			"op", "remove", "fileid", id, "etag", it.ETag)
		return nil
	}
	c, _, err := t.getContent(id)
	if err != nil {
		return err
	}
	return t.deleteContent(&c)
}

// adoptKeptContent gives a newly listed item the content a removal kept because it
// held local changes (the server restored the file from its trash, which keeps the
// file id): the item is dirty again, so those changes are uploaded or become a
// conflict copy instead of being lost or served as the server's version.
func (t *txn) adoptKeptContent(next *Item) error {
	if next.IsDir || !t.hasContent(next.ID) {
		return nil
	}
	c, _, err := t.getContent(next.ID)
	if err != nil {
		return err
	}
	next.Content, next.LocalBytes = ContentDirty, c.Local()
	slog.Warn("cache: a reappearing file has kept local changes; marked dirty",
		"op", "listing", "fileid", next.ID, "etag", next.ETag)
	return nil
}
