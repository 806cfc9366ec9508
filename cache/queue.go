package cache

import (
	"encoding/binary"
	"fmt"
	"time"
)

// The upload queue: the items with work for the server, in the order their first
// change was made (a folder is created before what is made in it, a file removed
// before another is moved to its name). The work itself is read from the item's
// overlay when it is done, so a file written ten times is uploaded once, and a file
// made and removed before its upload costs no request.

// enqueue adds id at the end of the queue unless it is queued already.
func (t *txn) enqueue(id uint64) error {
	if t.queued().Get(idKey(id)) != nil {
		return nil
	}
	seq, err := t.queue().NextSequence()
	if err != nil {
		return fmt.Errorf("cache: queue %d: %w", id, err)
	}
	if err := t.queue().Put(idKey(seq), idKey(id)); err != nil {
		return fmt.Errorf("cache: queue %d: %w", id, err)
	}
	if err := t.queued().Put(idKey(id), idKey(seq)); err != nil {
		return fmt.Errorf("cache: queue %d: %w", id, err)
	}
	return nil
}

// enqueueIfUploadable queues an item that has work for the server.
func (t *txn) enqueueIfUploadable(it *Item) error {
	f := it.Local.Flags
	if f&LocalOnly != 0 || f&(LocalCreated|LocalDirty|LocalMoved|LocalDeleted) == 0 {
		return nil
	}
	return t.enqueue(it.ID)
}

// dequeue removes id from the queue, if it is there.
func (t *txn) dequeue(id uint64) error {
	seq := t.queued().Get(idKey(id))
	if seq == nil {
		return nil
	}
	if err := t.queue().Delete(seq); err != nil {
		return fmt.Errorf("cache: dequeue %d: %w", id, err)
	}
	if err := t.queued().Delete(idKey(id)); err != nil {
		return fmt.Errorf("cache: dequeue %d: %w", id, err)
	}
	return nil
}

// Queued returns up to n queued item ids, oldest first (n <= 0: all).
func (s *Store) Queued(n int) ([]uint64, error) {
	var ids []uint64
	err := s.view(func(t *txn) error {
		c := t.queue().Cursor()
		for k, v := c.First(); k != nil && (n <= 0 || len(ids) < n); k, v = c.Next() {
			if len(v) == 8 {
				ids = append(ids, binary.BigEndian.Uint64(v))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cache: queue: %w", err)
	}
	return ids, nil
}

// QueueLen returns the number of items with work for the server.
func (s *Store) QueueLen() (int, error) {
	var n int
	err := s.view(func(t *txn) error {
		n = t.queued().Stats().KeyN
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("cache: queue length: %w", err)
	}
	return n, nil
}

// Dequeue removes id from the queue (its work is done, or there is none left).
func (s *Store) Dequeue(id uint64) error {
	return s.update(func(t *txn) error { return t.dequeue(id) })
}

// QueuedVacater returns the queued item that left the server place name in parent
// (removed or moved away here) and whose work has not reached the server yet. That
// work goes first: what takes the place would otherwise meet the old occupant there.
func (s *Store) QueuedVacater(parent uint64, name string) (uint64, bool, error) {
	var id uint64
	var ok bool
	err := s.view(func(t *txn) error {
		if id, ok = t.vacatedBy(parent, name); ok {
			ok = t.queued().Get(idKey(id)) != nil
		}
		return nil
	})
	if err != nil {
		return 0, false, fmt.Errorf("cache: vacated place %q in %d: %w", name, parent, err)
	}
	return id, ok, nil
}

// Requeue moves id to the end of the queue, behind the work that does not wait for it.
func (s *Store) Requeue(id uint64) error {
	return s.update(func(t *txn) error {
		if err := t.dequeue(id); err != nil {
			return err
		}
		return t.enqueue(id)
	})
}

// Uploaded is the server's answer to a file's upload.
type Uploaded struct {
	ETag     string
	FileID   uint64 // 0 when the server sent none
	Size     int64
	MTime    time.Time
	Checksum string // "SHA1:<hex>" as sent, or ""
	// StillDirty: the local file changed while it was uploaded. The item stays dirty,
	// now based on the version just uploaded, and stays queued.
	StillDirty bool
	// ContentPlaced: the uploaded bytes are in ContentPath(id) now; recorded as the
	// complete, verified content of the new version.
	ContentPlaced bool
	// Parent and Name: where the file was uploaded. An item moved or removed here
	// while its upload was in flight keeps that work queued.
	Parent uint64
	Name   string
}

// CompleteUpload stores the server's new version of an uploaded file and marks it
// clean, in one transaction: from the commit on, the item is the server's version.
func (s *Store) CompleteUpload(id uint64, up Uploaded) (Item, error) {
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
		if err := t.adoptServerID(&it, up.FileID); err != nil {
			return err
		}
		it.ETag, it.Size, it.MTime = up.ETag, up.Size, storedTime(up.MTime)
		if up.Checksum != "" {
			it.Checksums = up.Checksum
		}
		if it.Local.Flags&LocalDeleted != 0 {
			// Removed here during its upload: the DELETE queued must match what is
			// on the server now.
			if it.Local.Flags&LocalCreated != 0 {
				it.Local.Flags &^= LocalCreated
				it.Local.FromParent, it.Local.FromName = up.Parent, up.Name
				if err := t.putVacated(up.Parent, up.Name, id); err != nil {
					return err
				}
			}
			return t.putItem(&it)
		}
		if up.Name != "" && (it.Parent != up.Parent || it.Name != up.Name) &&
			it.Local.Flags&(LocalMoved|LocalCreated) == LocalCreated {
			// Moved here during the upload of a new file: the server has it where
			// it was, and the move follows.
			it.Local.Flags |= LocalMoved
			it.Local.FromParent, it.Local.FromName = up.Parent, up.Name
			if err := t.putVacated(up.Parent, up.Name, id); err != nil {
				return err
			}
		}
		it.Local.Flags &^= LocalCreated
		it.Local.Error = ""
		if up.StillDirty {
			it.Local.Flags |= LocalDirty
			it.Local.BaseETag = up.ETag
		} else {
			it.Local.Flags &^= LocalDirty
			it.Local.BaseETag, it.Local.Size, it.Local.MTime = "", 0, time.Time{}
		}
		if err := t.recordUploadedContent(&it, up); err != nil {
			return err
		}
		if err := t.putItem(&it); err != nil {
			return err
		}
		if it.Local.Flags&(LocalDirty|LocalMoved|LocalDeleted) == 0 {
			return t.dequeue(id)
		}
		return nil
	})
	if err != nil {
		return Item{}, fmt.Errorf("cache: complete upload of %d: %w", id, err)
	}
	return it, nil
}

// recordUploadedContent makes the content record describe the new version: the
// uploaded bytes when they were placed, else nothing (an old version's record goes).
func (t *txn) recordUploadedContent(it *Item, up Uploaded) error {
	old, had, err := t.getContent(it.ID)
	if err != nil {
		return err
	}
	if !up.ContentPlaced {
		it.Content, it.LocalBytes = ContentOnline, 0
		if had {
			return t.deleteContent(&old)
		}
		return nil
	}
	c := Content{ID: it.ID, ETag: up.ETag, Size: up.Size, Verified: true, LastUse: storedTime(time.Now())}
	if up.Size > 0 {
		c.Ranges = []Range{{0, up.Size}}
	}
	it.Content, it.LocalBytes = ContentLocal, up.Size
	return t.putContent(&c, oldOrNil(&old, had))
}

// adoptServerID records the file id the server gave an item made here.
func (t *txn) adoptServerID(it *Item, fileID uint64) error {
	if fileID == 0 || it.ID < localIDBase || it.Local.ServerID == fileID {
		return nil
	}
	if old := it.Local.ServerID; old != 0 {
		if err := t.aliases().Delete(idKey(old)); err != nil {
			return err
		}
	}
	it.Local.ServerID = fileID
	if err := t.aliases().Put(idKey(fileID), idKey(it.ID)); err != nil {
		return fmt.Errorf("cache: alias %d: %w", fileID, err)
	}
	return nil
}

// CompleteMkcol marks a folder made here as existing on the server.
func (s *Store) CompleteMkcol(id, fileID uint64, etag string, parent uint64, name string) error {
	err := s.update(func(t *txn) error {
		it, ok, err := t.getItem(id)
		if err != nil || !ok {
			if err == nil {
				err = ErrNotFound
			}
			return err
		}
		if err := t.adoptServerID(&it, fileID); err != nil {
			return err
		}
		it.ETag = etag
		it.Local.Flags &^= LocalCreated
		it.Local.Error = ""
		if err := t.landedAt(&it, parent, name); err != nil {
			return err
		}
		if err := t.putItem(&it); err != nil {
			return err
		}
		if it.Local.Flags&(LocalMoved|LocalDeleted) == 0 {
			return t.dequeue(id)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cache: complete mkcol of %d: %w", id, err)
	}
	return nil
}

// CompleteMove records that the server moved an item to name in parent: where it is
// here, unless it was moved or removed again while the MOVE was in flight (that work
// stays queued, from the new server place).
func (s *Store) CompleteMove(id, parent uint64, name string) error {
	err := s.update(func(t *txn) error {
		it, ok, err := t.getItem(id)
		if err != nil || !ok {
			if err == nil {
				err = ErrNotFound
			}
			return err
		}
		if err := t.landedAt(&it, parent, name); err != nil {
			return err
		}
		if err := t.putItem(&it); err != nil {
			return err
		}
		if it.Local.Flags&(LocalDirty|LocalCreated|LocalDeleted|LocalMoved) == 0 {
			return t.dequeue(id)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cache: complete move of %d: %w", id, err)
	}
	return nil
}

// landedAt records that the server has it at name in parent now (after a MKCOL or a
// MOVE). An item moved or removed here meanwhile keeps that work, from this place.
func (t *txn) landedAt(it *Item, parent uint64, name string) error {
	if err := t.deleteVacatedIf(it.Local.FromParent, it.Local.FromName, it.ID); err != nil {
		return err
	}
	if it.Local.Flags&LocalDeleted == 0 && it.Parent == parent && it.Name == name {
		it.Local.Flags &^= LocalMoved
		it.Local.FromParent, it.Local.FromName = 0, ""
		return nil
	}
	if it.Local.Flags&LocalDeleted == 0 {
		it.Local.Flags |= LocalMoved
	}
	it.Local.FromParent, it.Local.FromName = parent, name
	return t.putVacated(parent, name, it.ID)
}

// ForgetTombstone drops a removed item's record once the server no longer has it
// (its DELETE succeeded), or when the removal is given up because the server's copy
// changed meanwhile: the next listing then shows the server's copy again.
func (s *Store) ForgetTombstone(id uint64) error {
	err := s.update(func(t *txn) error {
		it, ok, err := t.getItem(id)
		if err != nil || !ok {
			if err == nil {
				err = t.dequeue(id)
			}
			return err
		}
		if err := t.deleteVacatedIf(it.Local.FromParent, it.Local.FromName, id); err != nil {
			return err
		}
		if sid := it.Local.ServerID; sid != 0 {
			if err := t.aliases().Delete(idKey(sid)); err != nil {
				return err
			}
		}
		if err := t.dequeue(id); err != nil {
			return err
		}
		return t.removeSubtree(id)
	})
	if err != nil {
		return fmt.Errorf("cache: forget tombstone %d: %w", id, err)
	}
	return nil
}

// SetUploadError records why the server refused an item's upload; keep says whether
// it stays queued (a refusal that may pass: full quota) or waits for the user.
func (s *Store) SetUploadError(id uint64, msg string, keep bool) error {
	err := s.update(func(t *txn) error {
		it, ok, err := t.getItem(id)
		if err != nil || !ok {
			return err
		}
		it.Local.Error = msg
		if it.Local.Flags == 0 {
			it.Local.Flags = LocalDirty // an error needs an overlay to be kept in
			it.Local.BaseETag = it.ETag
		}
		if err := t.putItem(&it); err != nil {
			return err
		}
		if !keep {
			return t.dequeue(id)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cache: upload error of %d: %w", id, err)
	}
	return nil
}

// AllocLocalID reserves an id in the local range (for a conflict copy whose content
// file is linked into place before the commit that makes it).
func (s *Store) AllocLocalID() (uint64, error) {
	var id uint64
	err := s.update(func(t *txn) error {
		var err error
		id, err = t.allocID()
		return err
	})
	return id, err
}

// ConflictOptions shape MakeConflictCopy.
type ConflictOptions struct {
	// CopyID is the id the copy gets when the original is a server item (from
	// AllocLocalID); its content must be at LocalPath(CopyID) before the call.
	CopyID uint64
	// Upload: the copy is uploaded like a new file (else it stays local-only).
	Upload bool
}

// MakeConflictCopy keeps the local version of a file both sides changed as a conflict
// copy called copyName in the same folder, and leaves the original name to the
// server's version (the next listing of the folder shows it). It returns the copy;
// moved says it got opt.CopyID (an item made here becomes the copy itself).
func (s *Store) MakeConflictCopy(id uint64, copyName string, opt ConflictOptions) (cp Item, moved bool, err error) {
	err = s.update(func(t *txn) error {
		it, ok, err := t.getItem(id)
		if err != nil || !ok {
			if err == nil {
				err = ErrNotFound
			}
			return err
		}
		if _, taken, err := t.childID(it.Parent, copyName); err != nil || taken {
			if err == nil {
				err = ErrExists
			}
			return err
		}
		if err := t.dequeue(id); err != nil {
			return err
		}
		if err := t.deleteVacatedIf(it.Local.FromParent, it.Local.FromName, id); err != nil {
			return err
		}
		overlay := Overlay{Flags: LocalOnly | LocalConflict, Size: it.Local.Size, MTime: it.Local.MTime}
		if opt.Upload {
			overlay.Flags = LocalCreated | LocalConflict
		}
		if it.ID >= localIDBase {
			// Made here: the item itself becomes the copy; the server's file, if any,
			// comes back as an item of its own.
			if sid := it.Local.ServerID; sid != 0 {
				if err := t.aliases().Delete(idKey(sid)); err != nil {
					return err
				}
			}
			if err := t.deleteLinkIf(it.Parent, it.Name, id); err != nil {
				return err
			}
			cp = it
			cp.Name, cp.Local = copyName, overlay
			cp.ETag, cp.Checksums = "", ""
			if err := t.putItem(&cp); err != nil {
				return err
			}
			if err := t.putLink(cp.Parent, copyName, id); err != nil {
				return err
			}
			return t.enqueueIfUploadable(&cp)
		}
		// A server item: its id stays the server's; the copy gets a local id.
		newID := opt.CopyID
		if newID < localIDBase || t.hasItem(newID) {
			return fmt.Errorf("cache: conflict copy of %d: copy id %d is not a fresh local id", id, newID)
		}
		cp = Item{ID: newID, Parent: it.Parent, Name: copyName, MTime: it.Local.MTime, Local: overlay}
		if err := t.putItem(&cp); err != nil {
			return err
		}
		if err := t.putLink(cp.Parent, copyName, newID); err != nil {
			return err
		}
		if err := t.enqueueIfUploadable(&cp); err != nil {
			return err
		}
		moved = true
		// The original is the server's version again, as last listed; its ETag is
		// cleared so that the next look at it fetches what the server has now.
		it.Local = Overlay{}
		it.ETag = ""
		if err := t.deleteLinkIf(it.Parent, it.Name, id); err != nil {
			return err
		}
		if err := t.putLink(it.Parent, it.Name, id); err != nil {
			return err
		}
		return t.putItem(&it)
	})
	if err != nil {
		return Item{}, false, fmt.Errorf("cache: conflict copy of %d: %w", id, err)
	}
	return cp, moved, nil
}

// LocalItems returns every item with a local overlay (status, conflicts, recovery).
func (s *Store) LocalItems() ([]Item, error) {
	var out []Item
	err := s.view(func(t *txn) error {
		c := t.items().Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			// The overlay flags byte follows a variable-length record: decode to read it.
			if len(k) != 8 {
				continue
			}
			it, err := decodeItem(binary.BigEndian.Uint64(k), v)
			if err != nil {
				return err
			}
			if it.Local.Flags != 0 {
				out = append(out, it)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cache: local items: %w", err)
	}
	return out, nil
}
