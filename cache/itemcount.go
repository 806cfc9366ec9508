package cache

import (
	"encoding/binary"
	"fmt"
	"log/slog"

	bolt "go.etcd.io/bbolt"
)

// The number of items is kept in the meta bucket (keyItemCount), changed by the same
// transactions that add and remove items: statfs asks for it on every df, and walking
// the items bucket cost 2.6 ms at 300,000 items. putItem and deleteItem note each
// record that appears or goes; update adds the sum once, before the commit.
//
// No schema change: a database without the counter (written before it existed) gets it
// counted once, when it is opened.

// flushItemCount adds the transaction's item delta to the stored count.
func (t *txn) flushItemCount() error {
	if t.itemDelta == 0 {
		return nil
	}
	n, err := t.counter(keyItemCount)
	if err != nil {
		return err
	}
	n += t.itemDelta
	t.itemDelta = 0
	if n < 0 {
		// Only a corrupt database gets here.
		slog.Error("cache: item counter went negative; reset to 0", "op", "item-count", "value", n)
		n = 0
	}
	if err := t.meta().Put(keyItemCount, binary.BigEndian.AppendUint64(t.values.alloc(8), uint64(n))); err != nil {
		return fmt.Errorf("cache: write item counter: %w", err)
	}
	return nil
}

// ensureItemCount counts the items once when the database has no counter yet.
func ensureItemCount(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if meta.Get(keyItemCount) != nil {
		return nil
	}
	n := tx.Bucket(bucketItems).Stats().KeyN
	if err := meta.Put(keyItemCount, binary.BigEndian.AppendUint64(nil, uint64(n))); err != nil {
		return fmt.Errorf("cache: write item counter: %w", err)
	}
	return nil
}
