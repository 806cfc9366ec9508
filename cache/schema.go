package cache

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// migrationStep upgrades the database in place from one schema version to the next.
type migrationStep func(tx *bolt.Tx) error

// migrations maps a version v to the step that turns a v database into v+1.
var migrations = map[uint64]migrationStep{
	// 1 -> 2: content records. Version 1 items decode as items without content
	// (LocalBytes 0), and a missing usage counter reads as 0, so only buckets are new.
	1: func(tx *bolt.Tx) error { return createBuckets(tx, bucketContent, bucketLRU) },
	// 2 -> 3: the local overlay. Version 2 items decode without one (nothing local),
	// so only the buckets of the upload queue, vacated places and aliases are new.
	2: func(tx *bolt.Tx) error { return createBuckets(tx, localBuckets...) },
	// 3 -> 4: pins. An item without a record inherits, so only the bucket is new.
	3: func(tx *bolt.Tx) error { return createBuckets(tx, bucketPins) },
}

// initSchema creates the buckets of a fresh database, or checks and upgrades the
// version of an existing one. A newer version is refused before anything is written.
func initSchema(tx *bolt.Tx, steps map[uint64]migrationStep) error {
	fresh := tx.Bucket(bucketMeta) == nil
	if !fresh {
		meta := tx.Bucket(bucketMeta)
		raw := meta.Get(keySchema)
		if raw == nil {
			return fmt.Errorf("cache: meta bucket without a schema version")
		}
		if len(raw) != 8 {
			return fmt.Errorf("cache: schema version is %d bytes, want 8", len(raw))
		}
		version := binary.BigEndian.Uint64(raw)
		if version > SchemaVersion {
			return fmt.Errorf("%w: schema %d, this build knows %d; upgrade ncvfs or use another cache directory",
				ErrNewerSchema, version, SchemaVersion)
		}
		if version < SchemaVersion {
			if err := migrate(tx, version, SchemaVersion, steps); err != nil {
				return err
			}
		}
	}
	if err := createBuckets(tx, bucketMeta, bucketItems, bucketChildren, bucketAccount, bucketContent, bucketLRU, bucketPins); err != nil {
		return err
	}
	if err := createBuckets(tx, localBuckets...); err != nil {
		return err
	}
	if fresh {
		return putSchemaVersion(tx, SchemaVersion)
	}
	return nil
}

func createBuckets(tx *bolt.Tx, names ...[]byte) error {
	for _, name := range names {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("cache: create bucket %s: %w", name, err)
		}
	}
	return nil
}

// migrate runs the steps from version from up to version to, in order, in tx.
func migrate(tx *bolt.Tx, from, to uint64, steps map[uint64]migrationStep) error {
	for v := from; v < to; v++ {
		step, ok := steps[v]
		if !ok {
			return fmt.Errorf("cache: no migration from schema %d to %d; remove the cache directory to start afresh", v, v+1)
		}
		if err := step(tx); err != nil {
			return fmt.Errorf("cache: migrate schema %d to %d: %w", v, v+1, err)
		}
	}
	return putSchemaVersion(tx, to)
}

func putSchemaVersion(tx *bolt.Tx, version uint64) error {
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return fmt.Errorf("cache: create meta bucket: %w", err)
	}
	if err := meta.Put(keySchema, binary.BigEndian.AppendUint64(nil, version)); err != nil {
		return fmt.Errorf("cache: write schema version: %w", err)
	}
	return nil
}
