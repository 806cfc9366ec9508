package cache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Local changes: what the mount did that the server does not know yet. Each change is
// one transaction that updates the item's overlay, its place in the children index and
// the upload queue together, so that after a crash the queue and the tree agree.
//
// A listing never undoes them (listing.go): an item with a pending overlay keeps its
// place and its local fields; a server place it vacated (moved or removed here) is
// remembered in the vacated index, so the server's copy listed there is not taken for
// a new item.

// Sentinels of local changes, for errors.Is.
var (
	ErrExists   = errors.New("cache: an item of that name exists")
	ErrNotEmpty = errors.New("cache: the folder is not empty")
	ErrNotDir   = errors.New("cache: not a folder")
	ErrIsDir    = errors.New("cache: is a folder")
)

// localDirName holds the content of files with local changes, named by item id: the
// bytes the mount wrote, until their upload is stored as the server's version.
const localDirName = "local"

// LocalPath is where the content of a file with local changes lives.
func (s *Store) LocalPath(id uint64) string {
	return filepath.Join(s.dir, localDirName, strconv.FormatUint(id, 16))
}

// CreateLocal makes a new file or folder called name in parent, known only here. An
// excluded name (localOnly) is never queued for upload.
func (s *Store) CreateLocal(parent uint64, name string, isDir bool, mtime time.Time, localOnly bool) (Item, error) {
	var it Item
	err := s.update(func(t *txn) error {
		if err := checkName(name); err != nil {
			return err
		}
		p, ok, err := t.getItem(parent)
		if err != nil {
			return err
		}
		if !ok || p.Local.Flags&LocalDeleted != 0 {
			return ErrNotFound
		}
		if !p.IsDir {
			return ErrNotDir
		}
		if _, taken, err := t.childID(parent, name); err != nil || taken {
			if err == nil {
				err = ErrExists
			}
			return err
		}
		id, err := t.allocID()
		if err != nil {
			return err
		}
		it = Item{ID: id, Parent: parent, Name: name, IsDir: isDir, MTime: storedTime(mtime),
			Local: Overlay{Flags: LocalCreated, MTime: storedTime(mtime)}}
		if localOnly {
			it.Local.Flags = LocalOnly
		}
		if isDir {
			it.ListedETag = "local" // nothing to list on the server yet
		}
		if err := t.putItem(&it); err != nil {
			return err
		}
		if err := t.putLink(parent, name, id); err != nil {
			return err
		}
		return t.enqueueIfUploadable(&it)
	})
	if err != nil {
		return Item{}, fmt.Errorf("cache: create %q in %d: %w", name, parent, err)
	}
	return it, nil
}

// NoteLocalContent records that a file's content is now the local file's, of the given
// size and mtime: a clean file becomes Dirty (its edit based on its current ETag), and
// the item is queued for upload. The local file must hold the bytes already.
func (s *Store) NoteLocalContent(id uint64, size int64, mtime time.Time) (Item, error) {
	var it Item
	err := s.update(func(t *txn) error {
		var ok bool
		var err error
		it, ok, err = t.getItem(id)
		if err != nil {
			return err
		}
		if !ok || it.Local.Flags&LocalDeleted != 0 {
			return ErrNotFound
		}
		if it.IsDir {
			return ErrIsDir
		}
		if !it.Local.HasLocalContent() {
			it.Local.Flags |= LocalDirty
			it.Local.BaseETag = it.ETag
		}
		it.Local.Size, it.Local.MTime = size, storedTime(mtime)
		it.Local.Error = ""
		if err := t.putItem(&it); err != nil {
			return err
		}
		return t.enqueueIfUploadable(&it)
	})
	if err != nil {
		return Item{}, fmt.Errorf("cache: note local content of %d: %w", id, err)
	}
	return it, nil
}

// Remove removes name from parent here. An item the server does not have goes at once
// (removed reports it, so the caller can remove its local file); one the server has
// becomes a tombstone queued for a DELETE. A folder must be empty.
func (s *Store) Remove(parent uint64, name string) (removed Item, gone bool, err error) {
	err = s.update(func(t *txn) error {
		id, ok, err := t.childID(parent, name)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		it, ok, err := t.getItem(id)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		if it.IsDir {
			links, err := t.links(id)
			if err != nil {
				return err
			}
			if len(links) > 0 {
				return ErrNotEmpty
			}
		}
		removed = it
		if err := t.deleteLinkIf(parent, name, id); err != nil {
			return err
		}
		gone, err = t.retire(&it)
		return err
	})
	if err != nil {
		return Item{}, false, fmt.Errorf("cache: remove %q in %d: %w", name, parent, err)
	}
	return removed, gone, nil
}

// retire turns an item already unlinked from its place into a tombstone queued for a
// DELETE, or removes it when the server never had it (gone).
func (t *txn) retire(it *Item) (gone bool, err error) {
	if it.Local.Flags&(LocalCreated|LocalOnly) != 0 {
		if err := t.dequeue(it.ID); err != nil {
			return false, err
		}
		if sid := it.Local.ServerID; sid != 0 {
			if err := t.aliases().Delete(idKey(sid)); err != nil {
				return false, err
			}
		}
		return true, t.deleteItem(it.ID)
	}
	if it.Local.Flags&LocalMoved == 0 {
		it.Local.FromParent, it.Local.FromName = it.Parent, it.Name
		if err := t.putVacated(it.Parent, it.Name, it.ID); err != nil {
			return false, err
		}
	}
	it.Local.Flags = (it.Local.Flags | LocalDeleted) &^ (LocalDirty | LocalMoved)
	if err := t.putItem(it); err != nil {
		return false, err
	}
	return false, t.enqueue(it.ID)
}

// RenameResult says what a Rename did besides moving the item.
type RenameResult struct {
	Moved Item
	// Replaced is the item that held the new name before, if any; ReplacedGone says it
	// is gone for good (its local file can go), not a tombstone.
	Replaced     *Item
	ReplacedGone bool
	// Adopted: a new file took over the server identity of the file it replaced (an
	// editor's save: write a temporary file, rename it over the original). The upload is
	// then an update of that file, which keeps its file id, shares and versions.
	Adopted bool
}

// Rename moves the item called name in parent to newName in newParent, replacing what
// was there (a file, or an empty folder when a folder moves). excluded says whether
// the new name is one that is never uploaded.
func (s *Store) Rename(parent uint64, name string, newParent uint64, newName string, excluded bool) (RenameResult, error) {
	var res RenameResult
	err := s.update(func(t *txn) error {
		if err := checkName(newName); err != nil {
			return err
		}
		id, ok, err := t.childID(parent, name)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		it, ok, err := t.getItem(id)
		if err != nil || !ok {
			if err == nil {
				err = ErrNotFound
			}
			return err
		}
		np, ok, err := t.getItem(newParent)
		if err != nil {
			return err
		}
		if !ok || !np.IsDir {
			return ErrNotDir
		}
		if it.IsDir {
			anc, err := t.ancestors(newParent)
			if err != nil {
				return err
			}
			for _, a := range anc {
				if a == it.ID {
					return fmt.Errorf("%w: a folder cannot move into itself", ErrBadListing)
				}
			}
		}
		if parent == newParent && name == newName {
			res.Moved = it
			return nil
		}
		if err := t.replaceTarget(&it, newParent, newName, &res); err != nil {
			return err
		}
		if err := t.deleteLinkIf(parent, name, id); err != nil {
			return err
		}
		if err := t.putLink(newParent, newName, id); err != nil {
			return err
		}
		if err := t.placeMoved(&it, newParent, newName, res.Adopted); err != nil {
			return err
		}
		if err := t.setExcluded(&it, excluded); err != nil {
			return err
		}
		if err := t.putItem(&it); err != nil {
			return err
		}
		res.Moved = it
		return t.enqueueIfUploadable(&it)
	})
	if err != nil {
		return RenameResult{}, fmt.Errorf("cache: rename %q in %d to %q in %d: %w", name, parent, newName, newParent, err)
	}
	return res, nil
}

// replaceTarget clears newName in newParent for it: the item there is removed (a
// tombstone if the server has it), or, when a new file replaces a server file, it gives
// that file's server identity to it (RenameResult.Adopted).
func (t *txn) replaceTarget(it *Item, newParent uint64, newName string, res *RenameResult) error {
	tid, ok, err := t.childID(newParent, newName)
	if err != nil || !ok {
		return err
	}
	target, ok, err := t.getItem(tid)
	if err != nil || !ok {
		return err
	}
	switch {
	case target.IsDir && !it.IsDir:
		return ErrIsDir
	case !target.IsDir && it.IsDir:
		return ErrNotDir
	case target.IsDir:
		links, err := t.links(tid)
		if err != nil {
			return err
		}
		if len(links) > 0 {
			return ErrNotEmpty
		}
	}
	res.Replaced = &target
	if err := t.deleteLinkIf(newParent, newName, tid); err != nil {
		return err
	}
	// Not while either is being uploaded: the answer of that upload would land on an
	// item that changed identity under it.
	adopt := !it.IsDir && it.Local.Flags&LocalCreated != 0 && it.Local.ServerID == 0 && !t.s.isUploading(it.ID) &&
		!t.s.isUploading(target.ID) && target.Local.Flags&(LocalCreated|LocalOnly) == 0 && target.ServerFileID() != 0
	if !adopt {
		res.ReplacedGone, err = t.retire(&target)
		return err
	}
	// The new file becomes an edit of the server file it replaces.
	sid := target.ServerFileID()
	it.ETag, it.Size, it.MTime = target.ETag, target.Size, target.MTime
	it.Permissions, it.PermsKnown = target.Permissions, target.PermsKnown
	it.OwnerID, it.OwnerName, it.Checksums = target.OwnerID, target.OwnerName, target.Checksums
	it.Local.Flags = it.Local.Flags&^LocalCreated | LocalDirty
	it.Local.BaseETag = target.ETag
	if target.Local.Flags&LocalDirty != 0 {
		it.Local.BaseETag = target.Local.BaseETag
	}
	it.Local.ServerID = sid
	if target.Local.Flags&LocalMoved != 0 {
		// The server has the original elsewhere still: it moves here with the upload.
		it.Local.Flags |= LocalMoved
		it.Local.FromParent, it.Local.FromName = target.Local.FromParent, target.Local.FromName
		if err := t.putVacated(it.Local.FromParent, it.Local.FromName, it.ID); err != nil {
			return err
		}
	} else {
		// It stays where the server has it: no move to make.
		it.Local.FromParent, it.Local.FromName = newParent, newName
	}
	if err := t.aliases().Put(idKey(sid), idKey(it.ID)); err != nil {
		return err
	}
	if err := t.dequeue(target.ID); err != nil {
		return err
	}
	res.Adopted, res.ReplacedGone = true, true
	return t.deleteItem(target.ID)
}

// placeMoved gives it its new place and records where the server still has it.
// adopted: replaceTarget already set where the server has it.
func (t *txn) placeMoved(it *Item, newParent uint64, newName string, adopted bool) error {
	onServer := it.Local.Flags&(LocalCreated|LocalOnly) == 0
	if onServer && !adopted && it.Local.Flags&LocalMoved == 0 {
		it.Local.FromParent, it.Local.FromName = it.Parent, it.Name
	}
	it.Parent, it.Name = newParent, newName
	if !onServer {
		return nil
	}
	if it.Local.FromParent == newParent && it.Local.FromName == newName {
		// Back where the server has it: no move to make.
		it.Local.Flags &^= LocalMoved
		err := t.deleteVacatedIf(newParent, newName, it.ID)
		it.Local.FromParent, it.Local.FromName = 0, ""
		return err
	}
	it.Local.Flags |= LocalMoved
	return t.putVacated(it.Local.FromParent, it.Local.FromName, it.ID)
}

// setExcluded makes an item local-only when it is renamed to a name that is never
// uploaded, and uploadable when a local-only (not conflict) item gets a normal name.
func (t *txn) setExcluded(it *Item, excluded bool) error {
	f := it.Local.Flags
	switch {
	case excluded && f&LocalCreated != 0:
		it.Local.Flags = f&^LocalCreated | LocalOnly
		return t.dequeue(it.ID)
	case !excluded && f&LocalOnly != 0 && f&LocalConflict == 0:
		it.Local.Flags = f&^LocalOnly | LocalCreated
	}
	return nil
}

// SetLocalMTime records a new mtime of a file with local content.
func (s *Store) SetLocalMTime(id uint64, mtime time.Time) (Item, error) {
	var it Item
	err := s.update(func(t *txn) error {
		var ok bool
		var err error
		it, ok, err = t.getItem(id)
		if err != nil || !ok {
			if err == nil {
				err = ErrNotFound
			}
			return err
		}
		if !it.Local.HasLocalContent() {
			return fmt.Errorf("cache: item %d has no local content", id)
		}
		it.Local.MTime = storedTime(mtime)
		if err := t.putItem(&it); err != nil {
			return err
		}
		return t.enqueueIfUploadable(&it)
	})
	if err != nil {
		return Item{}, fmt.Errorf("cache: set mtime of %d: %w", id, err)
	}
	return it, nil
}

// ServerPath returns where the server has the item: its path before the moves made
// here that are not uploaded yet. ErrNotFound when it (or a folder above it) is not on
// the server yet.
func (s *Store) ServerPath(id uint64) (string, error) {
	var p string
	err := s.view(func(t *txn) error {
		var err error
		p, err = t.serverPath(id)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("cache: server path of %d: %w", id, err)
	}
	return p, nil
}

func (t *txn) serverPath(id uint64) (string, error) {
	return t.walkUp(id, func(it *Item) (uint64, string, error) {
		switch {
		case it.Local.Flags&(LocalCreated|LocalOnly) != 0:
			return 0, "", fmt.Errorf("%w: item %d is not on the server yet", ErrNotFound, it.ID)
		case it.Local.Flags&(LocalMoved|LocalDeleted) != 0:
			return it.Local.FromParent, it.Local.FromName, nil
		}
		return it.Parent, it.Name, nil
	})
}

func joinReversed(names []string) string {
	n := 0
	for _, s := range names {
		n += len(s) + 1
	}
	buf := make([]byte, 0, n)
	for i := len(names) - 1; i >= 0; i-- {
		if len(buf) > 0 {
			buf = append(buf, '/')
		}
		buf = append(buf, names[i]...)
	}
	return string(buf)
}

// ByServerID returns the item the server knows by file id sid.
func (s *Store) ByServerID(sid uint64) (Item, error) {
	var it Item
	err := s.view(func(t *txn) error {
		id := t.resolveServerID(sid)
		var ok bool
		var err error
		it, ok, err = t.getItem(id)
		if err == nil && !ok {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return Item{}, fmt.Errorf("cache: item of file id %d: %w", sid, err)
	}
	return it, nil
}

// resolveServerID maps a server file id to the id the store keeps the item under.
func (t *txn) resolveServerID(sid uint64) uint64 {
	b := t.aliases()
	if b == nil {
		return sid
	}
	if v := b.Get(idKey(sid)); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return sid
}

func (t *txn) aliases() *bolt.Bucket { return t.tx.Bucket(bucketAliases) }
func (t *txn) vacated() *bolt.Bucket { return t.tx.Bucket(bucketVacated) }
func (t *txn) queue() *bolt.Bucket   { return t.tx.Bucket(bucketQueue) }
func (t *txn) queued() *bolt.Bucket  { return t.tx.Bucket(bucketQueued) }

func (t *txn) putVacated(parent uint64, name string, id uint64) error {
	if err := t.vacated().Put(childKey(nil, parent, name), idKey(id)); err != nil {
		return fmt.Errorf("cache: remember vacated %q in %d: %w", name, parent, err)
	}
	return nil
}

// vacatedBy returns the item that left the server place name in parent here, if any.
func (t *txn) vacatedBy(parent uint64, name string) (uint64, bool) {
	b := t.vacated()
	if b == nil {
		return 0, false
	}
	v := b.Get(childKey(nil, parent, name))
	if len(v) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(v), true
}

// deleteVacatedIf forgets a vacated place if it still names id.
func (t *txn) deleteVacatedIf(parent uint64, name string, id uint64) error {
	if cur, ok := t.vacatedBy(parent, name); ok && cur == id {
		return t.vacated().Delete(childKey(nil, parent, name))
	}
	return nil
}
