package cache

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// localIDBase starts the range of ids allocated here for servers without file ids.
// Nextcloud file ids are database row numbers, far below it, so the ranges never meet.
const localIDBase = uint64(1) << 62

// maxDepth bounds walks up the parent chain: deeper than any real path (PATH_MAX is
// 4096 bytes), so hitting it means a cycle or a corrupt chain.
const maxDepth = 4096

// txn wraps one bbolt transaction with the store's buckets and record helpers.
type txn struct {
	s  *Store
	tx *bolt.Tx
	// Buckets are opened on first use: each open costs allocations, and Get needs one.
	itemsB, childrenB, metaB, contentB, lruB *bolt.Bucket
	// dropFiles are the ids whose content files go once this transaction commits (see
	// content_files.go); detached are those files, moved aside just before the commit.
	dropFiles []uint64
	detached  []detachedFile
	// values hands out buffers for Put values, which bbolt keeps until commit.
	values arena
	key    [8]byte
	// itemDelta is how many item records this transaction added less those it removed,
	// added to the stored count once before the commit (see itemcount.go).
	itemDelta int64
	// listing: this transaction applies server listings; every other write is a change
	// made here, counted per folder (Store.FolderSeq).
	listing bool
}

func newTxn(s *Store, tx *bolt.Tx) *txn { return &txn{s: s, tx: tx} }

func (t *txn) items() *bolt.Bucket {
	if t.itemsB == nil {
		t.itemsB = t.tx.Bucket(bucketItems)
	}
	return t.itemsB
}

func (t *txn) children() *bolt.Bucket {
	if t.childrenB == nil {
		t.childrenB = t.tx.Bucket(bucketChildren)
	}
	return t.childrenB
}

func (t *txn) meta() *bolt.Bucket {
	if t.metaB == nil {
		t.metaB = t.tx.Bucket(bucketMeta)
	}
	return t.metaB
}

func (s *Store) view(fn func(t *txn) error) error {
	return s.db.View(func(tx *bolt.Tx) error { return fn(newTxn(s, tx)) })
}

// update runs fn in one write transaction. Content files of records dropped by fn are
// moved aside as the last step before the commit and removed after it (put back if the
// commit fails), so from the commit on ContentPath is free for the new version.
func (s *Store) update(fn func(t *txn) error) error {
	var t *txn
	err := s.db.Update(func(tx *bolt.Tx) error {
		t = newTxn(s, tx)
		if err := fn(t); err != nil {
			return err
		}
		if err := t.flushItemCount(); err != nil {
			return err
		}
		t.detachDroppedFiles()
		return nil
	})
	if t != nil {
		t.settleDetached(err == nil)
	}
	if err == nil {
		s.commits.Add(1)
	}
	return err
}

func idKey(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }

// childKey is the children-index key of name in parent, appended to buf.
func childKey(buf []byte, parent uint64, name string) []byte {
	buf = binary.BigEndian.AppendUint64(buf, parent)
	return append(buf, name...)
}

// getItem returns the item with id; ok is false if there is none.
func (t *txn) getItem(id uint64) (Item, bool, error) {
	binary.BigEndian.PutUint64(t.key[:], id)
	v := t.items().Get(t.key[:])
	if v == nil {
		return Item{}, false, nil
	}
	it, err := decodeItem(id, v)
	if err != nil {
		return Item{}, false, err
	}
	return it, true, nil
}

func (t *txn) hasItem(id uint64) bool {
	binary.BigEndian.PutUint64(t.key[:], id)
	return t.items().Get(t.key[:]) != nil
}

func (t *txn) putItem(it *Item) error {
	if err := t.putItemQuiet(it); err != nil {
		return err
	}
	if !t.listing {
		t.s.bumpFolder(it.Parent)
		t.s.bumpFolder(it.Local.FromParent)
	}
	return nil
}

// putItemQuiet stores an item without counting a change of its folder: for what the
// server said (listings, a stat) and for what was downloaded of it.
func (t *txn) putItemQuiet(it *Item) error {
	buf := t.values.alloc(encodedItemSize(it))
	val := appendItem(buf, it)
	binary.BigEndian.PutUint64(t.key[:], it.ID)
	if t.items().Get(t.key[:]) == nil {
		t.itemDelta++
	}
	if err := t.items().Put(t.key[:], val); err != nil {
		return fmt.Errorf("cache: put item %d: %w", it.ID, err)
	}
	t.s.writes.Add(1)
	return nil
}

// deleteItem removes id's record and, with it, its content (see dropContentOfRemoved).
func (t *txn) deleteItem(id uint64) error {
	if err := t.dropContentOfRemoved(id); err != nil {
		return err
	}
	if err := t.deletePin(id); err != nil {
		return err
	}
	binary.BigEndian.PutUint64(t.key[:], id)
	if t.items().Get(t.key[:]) == nil {
		return nil
	}
	t.itemDelta--
	if err := t.items().Delete(t.key[:]); err != nil {
		return fmt.Errorf("cache: delete item %d: %w", id, err)
	}
	return nil
}

// childID returns the id the children index holds for name in parent.
func (t *txn) childID(parent uint64, name string) (uint64, bool, error) {
	var buf [64]byte
	v := t.children().Get(childKey(buf[:0], parent, name))
	if v == nil {
		return 0, false, nil
	}
	if len(v) != 8 {
		return 0, false, fmt.Errorf("cache: corrupt children entry %d/%q: %d bytes", parent, name, len(v))
	}
	return binary.BigEndian.Uint64(v), true, nil
}

func (t *txn) putLink(parent uint64, name string, id uint64) error {
	var buf [64]byte
	val := binary.BigEndian.AppendUint64(t.values.alloc(8), id)
	if err := t.children().Put(childKey(buf[:0], parent, name), val); err != nil {
		return fmt.Errorf("cache: link %q in %d: %w", name, parent, err)
	}
	t.s.writes.Add(1)
	if !t.listing {
		t.s.bumpFolder(parent)
	}
	return nil
}

// deleteLinkIf removes name from parent's index only if it still points to id: in a
// listing that swaps names, the entry may already belong to another item.
func (t *txn) deleteLinkIf(parent uint64, name string, id uint64) error {
	cur, ok, err := t.childID(parent, name)
	if err != nil || !ok || cur != id {
		return err
	}
	var buf [64]byte
	if err := t.children().Delete(childKey(buf[:0], parent, name)); err != nil {
		return fmt.Errorf("cache: unlink %q in %d: %w", name, parent, err)
	}
	if !t.listing {
		t.s.bumpFolder(parent)
	}
	return nil
}

// childLink is one children-index entry.
type childLink struct {
	name string
	id   uint64
}

// links returns parent's children-index entries, sorted by name bytes.
func (t *txn) links(parent uint64) ([]childLink, error) {
	prefix := idKey(parent)
	var out []childLink
	c := t.children().Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(v) != 8 || len(k) == len(prefix) {
			return nil, fmt.Errorf("cache: corrupt children entry under %d", parent)
		}
		out = append(out, childLink{name: string(k[len(prefix):]), id: binary.BigEndian.Uint64(v)})
	}
	return out, nil
}

func (t *txn) rootID() (uint64, bool, error) {
	v := t.meta().Get(keyRootID)
	if v == nil {
		return 0, false, nil
	}
	if len(v) != 8 {
		return 0, false, fmt.Errorf("cache: corrupt root id record: %d bytes", len(v))
	}
	return binary.BigEndian.Uint64(v), true, nil
}

// allocID returns a fresh id in the local range.
func (t *txn) allocID() (uint64, error) {
	seq, err := t.items().NextSequence()
	if err != nil {
		return 0, fmt.Errorf("cache: allocate id: %w", err)
	}
	return localIDBase + seq, nil
}

// arena carves many small Put values out of few allocations. The slices it hands out
// are never reused, so bbolt may keep them until the transaction commits.
type arena struct{ chunk []byte }

const arenaChunk = 64 << 10

func (a *arena) alloc(n int) []byte {
	if n > arenaChunk/4 {
		return make([]byte, 0, n)
	}
	if cap(a.chunk)-len(a.chunk) < n {
		a.chunk = make([]byte, 0, arenaChunk)
	}
	start := len(a.chunk)
	a.chunk = a.chunk[:start+n]
	return a.chunk[start : start : start+n]
}
