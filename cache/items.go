package cache

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Get returns the item with id, or ErrNotFound.
func (s *Store) Get(id uint64) (Item, error) {
	var it Item
	err := s.view(func(t *txn) error {
		var ok bool
		var err error
		it, ok, err = t.getItem(id)
		if err == nil && !ok {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return Item{}, fmt.Errorf("cache: get %d: %w", id, err)
	}
	return it, nil
}

// Lookup returns the child called name of the folder parent, or ErrNotFound.
func (s *Store) Lookup(parent uint64, name string) (Item, error) {
	var it Item
	err := s.view(func(t *txn) error {
		id, ok, err := t.childID(parent, name)
		if err != nil {
			return err
		}
		if !ok || name == "" {
			return ErrNotFound
		}
		it, ok, err = t.getItem(id)
		if err == nil && !ok {
			// The index points nowhere: report the item as absent, not the store as broken.
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return Item{}, fmt.Errorf("cache: lookup %q in %d: %w", name, parent, err)
	}
	return it, nil
}

// Children returns the children of the folder parent, sorted by name bytes. A folder
// never listed, or a file, has none.
func (s *Store) Children(parent uint64) ([]Item, error) {
	var out []Item
	err := s.view(func(t *txn) error {
		links, err := t.links(parent)
		if err != nil {
			return err
		}
		out = make([]Item, 0, len(links))
		for _, l := range links {
			it, ok, err := t.getItem(l.id)
			if err != nil {
				return err
			}
			if ok {
				out = append(out, it)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cache: children of %d: %w", parent, err)
	}
	return out, nil
}

// Path returns the slash-separated path of id below the root ("" for the root itself).
// ErrNotFound if a link of the chain is missing; an error if the chain loops.
func (s *Store) Path(id uint64) (string, error) {
	var p string
	err := s.view(func(t *txn) error {
		var err error
		p, err = t.path(id)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("cache: path of %d: %w", id, err)
	}
	return p, nil
}

func (t *txn) path(id uint64) (string, error) {
	return t.walkUp(id, func(it *Item) (parent uint64, name string, err error) {
		return it.Parent, it.Name, nil
	})
}

// walkUp joins the names of id and the folders above it, up to the root; place says
// where an item stands (its place here, or where the server has it).
func (t *txn) walkUp(id uint64, place func(it *Item) (parent uint64, name string, err error)) (string, error) {
	var names []string
	for cur := id; ; {
		if len(names) > maxDepth {
			return "", fmt.Errorf("parent chain longer than %d: a cycle?", maxDepth)
		}
		it, ok, err := t.getItem(cur)
		if err != nil {
			return "", err
		}
		if !ok {
			return "", fmt.Errorf("%w: item %d of the chain", ErrNotFound, cur)
		}
		parent, name, err := place(&it)
		if err != nil {
			return "", err
		}
		if parent == 0 {
			if name != "" {
				return "", fmt.Errorf("item %d has no parent but a name %q", cur, name)
			}
			break
		}
		names = append(names, name)
		cur = parent
	}
	return joinReversed(names), nil
}

// ancestors returns the ids of id and of every folder above it.
func (t *txn) ancestors(id uint64) ([]uint64, error) {
	var out []uint64
	for cur := id; cur != 0; {
		if len(out) > maxDepth {
			return nil, fmt.Errorf("parent chain of %d longer than %d: a cycle?", id, maxDepth)
		}
		out = append(out, cur)
		it, ok, err := t.getItem(cur)
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		cur = it.Parent
	}
	return out, nil
}

// RootID returns the id of the root item; ok is false before PutRoot.
func (s *Store) RootID() (uint64, bool, error) {
	var id uint64
	var ok bool
	err := s.view(func(t *txn) error {
		var err error
		id, ok, err = t.rootID()
		return err
	})
	if err != nil {
		return 0, false, fmt.Errorf("cache: root id: %w", err)
	}
	return id, ok, nil
}

// PutRoot stores or refreshes the root folder and returns its id. With root.ID 0
// (generic WebDAV) the stored root keeps its id, or a local one is allocated. A
// different non-zero id than the stored one means the server was reset or is another
// account: the old tree is dropped. Local fields of a kept root are preserved.
func (s *Store) PutRoot(root Item) (uint64, error) {
	if !root.IsDir {
		return 0, errors.New("cache: put root: the root must be a folder")
	}
	var id uint64
	err := s.update(func(t *txn) error {
		oldID, haveOld, err := t.rootID()
		if err != nil {
			return err
		}
		id = root.ID
		if haveOld && (id == 0 || id == oldID) {
			old, ok, err := t.getItem(oldID)
			if err != nil {
				return err
			}
			if ok {
				id = oldID
				next := mergeRemote(old, root)
				if !sameRemote(old, next) {
					return t.putItemQuiet(&next)
				}
				return nil
			}
		}
		if haveOld && oldID != id {
			if err := t.removeSubtree(oldID); err != nil {
				return err
			}
		}
		if id == 0 {
			if id, err = t.allocID(); err != nil {
				return err
			}
		} else if t.hasItem(id) {
			// The new root id names an item of some old tree: start it afresh.
			if err := t.removeTree(id); err != nil {
				return err
			}
		}
		fresh := freshRemote(root)
		fresh.ID, fresh.Parent, fresh.Name = id, 0, ""
		if err := t.putItemQuiet(&fresh); err != nil {
			return err
		}
		return t.meta().Put(keyRootID, binary.BigEndian.AppendUint64(nil, id))
	})
	if err != nil {
		return 0, fmt.Errorf("cache: put root: %w", err)
	}
	return id, nil
}

// UpdateRemote refreshes one item's remote fields from a Depth-0 answer, keeping its
// place (Parent, Name) and local fields. A kind change drops the item's subtree and
// local state; a file's new ETag or size drops its content (file removed after the
// commit) unless it has local changes. changed reports whether anything was written.
func (s *Store) UpdateRemote(it Item) (changed bool, err error) {
	err = s.update(func(t *txn) error {
		old, ok, err := t.getItem(it.ID)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		var next Item
		if old.IsDir != it.IsDir {
			if err := t.removeDescendants(old.ID); err != nil {
				return err
			}
			next = freshRemote(it)
			next.ID, next.Parent, next.Name = old.ID, old.Parent, old.Name
		} else {
			next = mergeRemote(old, it)
		}
		if _, err := t.dropStaleContent(old, &next); err != nil {
			return err
		}
		if sameRemote(old, next) {
			return nil
		}
		changed = true
		return t.putItemQuiet(&next)
	})
	if err != nil {
		return false, fmt.Errorf("cache: update %d: %w", it.ID, err)
	}
	return changed, nil
}

// mergeRemote returns old with the remote fields of remote.
func mergeRemote(old, remote Item) Item {
	next := old
	next.IsDir = remote.IsDir
	next.Size = remote.Size
	next.MTime = remote.MTime
	next.ETag = remote.ETag
	next.Permissions = remote.Permissions
	next.PermsKnown = remote.PermsKnown
	next.OwnerID = remote.OwnerID
	next.OwnerName = remote.OwnerName
	next.Checksums = remote.Checksums
	return next
}

// freshRemote returns remote with its local fields reset.
func freshRemote(remote Item) Item {
	remote.ListedETag = ""
	remote.Content = ContentOnline
	remote.LocalBytes = 0
	return remote
}

// sameRemote reports whether a and b agree on every stored field.
func sameRemote(a, b Item) bool {
	return visiblyEqual(a, b) &&
		a.OwnerID == b.OwnerID && a.OwnerName == b.OwnerName && a.Checksums == b.Checksums &&
		a.ListedETag == b.ListedETag && a.Content == b.Content && a.LocalBytes == b.LocalBytes &&
		a.Parent == b.Parent && a.Name == b.Name
}

// visiblyEqual compares the fields whose change a listing reports in Diff.Changed.
func visiblyEqual(a, b Item) bool {
	return a.IsDir == b.IsDir && a.Size == b.Size && a.MTime.Equal(b.MTime) && a.ETag == b.ETag &&
		a.Permissions == b.Permissions && a.PermsKnown == b.PermsKnown
}

// removeTree removes id, its children-index entry and everything below it.
func (t *txn) removeTree(id uint64) error {
	it, ok, err := t.getItem(id)
	if err != nil {
		return err
	}
	if ok && it.Parent != 0 {
		if err := t.deleteLinkIf(it.Parent, it.Name, id); err != nil {
			return err
		}
	}
	return t.removeSubtree(id)
}

// removeSubtree removes id and everything below it, leaving id's own index entry to
// the caller. It walks with an explicit stack: a 100k-item tree must not grow the
// goroutine stack.
func (t *txn) removeSubtree(id uint64) error {
	if err := t.removeDescendants(id); err != nil {
		return err
	}
	return t.deleteItem(id)
}

// removeDescendants removes everything below id, keeping id itself.
func (t *txn) removeDescendants(id uint64) error {
	stack := []uint64{id}
	var keys [][]byte
	for len(stack) > 0 {
		parent := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		// Collect first: deleting under a live bbolt cursor skips entries.
		keys = keys[:0]
		prefix := idKey(parent)
		c := t.children().Cursor()
		for k, v := c.Seek(prefix); k != nil && len(k) >= 8 && string(k[:8]) == string(prefix); k, v = c.Next() {
			keys = append(keys, append([]byte(nil), k...))
			if len(v) == 8 {
				stack = append(stack, binary.BigEndian.Uint64(v))
			}
		}
		for _, k := range keys {
			if err := t.children().Delete(k); err != nil {
				return fmt.Errorf("cache: remove children of %d: %w", parent, err)
			}
		}
		if parent != id {
			if err := t.deleteItem(parent); err != nil {
				return err
			}
		}
	}
	return nil
}
