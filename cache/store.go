package cache

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// DBFileName is the name of the metadata database inside the cache directory.
const DBFileName = "metadata.db"

const defaultLockTimeout = time.Second

// initialMmapSize is the address space mapped for the database at open. bbolt remaps
// (and waits for every reader) each time the file outgrows its mapping, which made
// the first listing of a large folder spend half its commit remapping. Address space
// only: pages count in memory use when they are read, whatever the mapping's size.
const initialMmapSize = 256 << 20

// Bucket and key names. The layout is part of SchemaVersion: change one, bump the other.
var (
	bucketMeta     = []byte("meta")
	bucketItems    = []byte("items")    // 8-byte big-endian id -> encoded Item
	bucketChildren = []byte("children") // 8-byte big-endian parent id + name -> 8-byte child id
	bucketAccount  = []byte("account")  // keyAccount -> Account as JSON
	bucketContent  = []byte("content")  // 8-byte big-endian id -> encoded Content record
	bucketLRU      = []byte("lru")      // 8-byte big-endian LastUse nanos + 8-byte id -> empty
	bucketQueue    = []byte("queue")    // 8-byte big-endian sequence -> 8-byte id: items with work for the server, in order
	bucketQueued   = []byte("queued")   // 8-byte id -> 8-byte sequence: the queue's index
	bucketVacated  = []byte("vacated")  // 8-byte server parent id + name -> 8-byte id of the item moved or removed from there
	bucketAliases  = []byte("aliases")  // 8-byte server file id -> 8-byte local id, for items made here
	bucketPins     = []byte("pins")     // 8-byte id -> 1-byte Pin: items with a pin of their own

	localBuckets = [][]byte{bucketQueue, bucketQueued, bucketVacated, bucketAliases}

	keySchema  = []byte("schema")  // 8-byte big-endian version
	keyRootID  = []byte("root")    // 8-byte big-endian id of the root item
	keyAccount = []byte("account") // the single account record

	keyContentBytes = []byte("contentBytes") // 8-byte big-endian sum of Local() over all content records
	keyContentFiles = []byte("contentFiles") // 8-byte big-endian number of content records
	keyItemCount    = []byte("items")        // 8-byte big-endian number of item records
)

// Store is the bbolt-backed metadata store of one cache directory. It is safe for
// concurrent use; it holds no locks of its own, so callers may call it from any lock
// context that does not itself run inside a Store transaction.
type Store struct {
	db  *bolt.DB
	dir string

	// writes counts puts to the items and children buckets, so tests can prove that
	// an unchanged relist writes nothing.
	writes atomic.Int64
	// commits counts write transactions committed: each costs two fsyncs.
	commits atomic.Int64

	// uploading holds the items whose upload is in flight (see MarkUploading).
	uploadingMu sync.Mutex
	uploading   map[uint64]bool

	// folderSeqs counts the changes made here (not by listings) to each folder's
	// children: a listing fetched before such a change is stale (see FolderSeq).
	seqMu      sync.Mutex
	folderSeqs map[uint64]uint64
}

// FolderSeq returns how many times the children of folder dir were changed here (by
// a local operation or an upload's outcome) since the store was opened. A listing
// records it before its request and is applied only if it is unchanged then: else
// the server's answer may predate what was just done (a name moved away here would
// come back, an upload's new version would be taken for someone else's).
func (s *Store) FolderSeq(dir uint64) uint64 {
	s.seqMu.Lock()
	defer s.seqMu.Unlock()
	return s.folderSeqs[dir]
}

func (s *Store) bumpFolder(dir uint64) {
	if dir == 0 {
		return
	}
	s.seqMu.Lock()
	defer s.seqMu.Unlock()
	if s.folderSeqs == nil {
		s.folderSeqs = make(map[uint64]uint64)
	}
	s.folderSeqs[dir]++
}

// MarkUploading notes that id's content is being uploaded as it is now: meanwhile a
// rename over another file does not take over that file's server identity (the
// upload would create the file under its old name regardless).
func (s *Store) MarkUploading(id uint64, on bool) {
	s.uploadingMu.Lock()
	defer s.uploadingMu.Unlock()
	if s.uploading == nil {
		s.uploading = make(map[uint64]bool)
	}
	if on {
		s.uploading[id] = true
	} else {
		delete(s.uploading, id)
	}
}

// BeginUpload marks id as being uploaded and returns its current state, in step with
// every change of the store: a change that reads isUploading (a rename that would give
// the item's server identity to another) either committed before, and is seen here,
// or runs after and sees the mark. It takes the writer's lock but commits nothing.
// ErrNotFound: the item is gone, nothing to upload.
func (s *Store) BeginUpload(id uint64) (Item, error) {
	var it Item
	errDone := errors.New("done")
	err := s.db.Update(func(tx *bolt.Tx) error {
		t := newTxn(s, tx)
		var ok bool
		var err error
		if it, ok, err = t.getItem(id); err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		s.MarkUploading(id, true)
		return errDone // roll back: there is nothing to write
	})
	if errors.Is(err, errDone) {
		return it, nil
	}
	return Item{}, fmt.Errorf("cache: begin upload of %d: %w", id, err)
}

func (s *Store) isUploading(id uint64) bool {
	s.uploadingMu.Lock()
	defer s.uploadingMu.Unlock()
	return s.uploading[id]
}

// Commits returns the number of write transactions committed since Open, each an
// fsync'd bbolt commit: for tests and diagnostics that must prove a path writes nothing.
func (s *Store) Commits() int64 { return s.commits.Load() }

// Open opens (creating if needed) the store in dir. The directory is made 0700 and the
// database file 0600, tightening looser existing modes: the metadata names every file
// of the account. A second process on the same directory gets ErrLocked after
// opt.LockTimeout instead of waiting forever.
func Open(dir string, opt Options) (*Store, error) {
	if dir == "" {
		return nil, errors.New("cache: open: empty cache directory")
	}
	if err := preparePrivateDir(dir); err != nil {
		return nil, err
	}
	if err := preparePrivateDir(filepath.Join(dir, contentDirName)); err != nil {
		return nil, err
	}
	if err := preparePrivateDir(filepath.Join(dir, localDirName)); err != nil {
		return nil, err
	}
	timeout := opt.LockTimeout
	if timeout <= 0 {
		timeout = defaultLockTimeout
	}
	path := filepath.Join(dir, DBFileName)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: timeout, NoSync: opt.NoSync,
		InitialMmapSize: initialMmapSize})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("cache: open %s: %w (waited %s; stop the other ncvfs using this cache directory or use another one)", dir, ErrLocked, timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("cache: open %s: %w", path, err)
	}
	if err := tightenMode(path, 0o600); err != nil {
		_ = db.Close()
		return nil, err
	}
	s := &Store{db: db, dir: dir}
	err = s.db.Update(func(tx *bolt.Tx) error {
		if err := initSchema(tx, migrations); err != nil {
			return err
		}
		return ensureItemCount(tx)
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("cache: open %s: %w", dir, err)
	}
	return s, nil
}

// Close releases the database and its lock.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("cache: close %s: %w", s.dir, err)
	}
	return nil
}

// Dir is the cache directory the store lives in.
func (s *Store) Dir() string { return s.dir }

// Count returns the number of items stored, from a counter (no walk).
func (s *Store) Count() (int, error) {
	var n int64
	err := s.view(func(t *txn) error {
		var err error
		n, err = t.counter(keyItemCount)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("cache: count: %w", err)
	}
	return int(n), nil
}

// preparePrivateDir creates dir 0700, or tightens an existing one that others can reach.
func preparePrivateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cache: create cache directory %s: %w", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("cache: stat cache directory %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("cache: %s is not a directory", dir)
	}
	return tightenMode(dir, 0o700)
}

// tightenMode removes group/world bits from path, leaving a stricter mode alone.
func tightenMode(path string, want os.FileMode) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("cache: stat %s: %w", path, err)
	}
	if fi.Mode().Perm()&0o077 == 0 {
		return nil
	}
	if err := os.Chmod(path, want); err != nil {
		return fmt.Errorf("cache: restrict permissions of %s: %w", path, err)
	}
	slog.Info("cache: restricted permissions", "op", "open", "path", path,
		"from", fi.Mode().Perm().String(), "to", want.String())
	return nil
}
