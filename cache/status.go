package cache

import (
	"fmt"
	"strings"
)

// LookupPath returns the item at rel, a slash-separated path below the folder root
// ("" is root itself), from what is stored: nothing is listed. ErrNotFound when a
// name of the path is not known (yet).
func (s *Store) LookupPath(root uint64, rel string) (Item, error) {
	var it Item
	err := s.view(func(t *txn) error {
		cur, ok, err := t.getItem(root)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		for name := range strings.SplitSeq(rel, "/") {
			if name == "" {
				continue
			}
			if name == "." || name == ".." {
				return fmt.Errorf("%w: %q is not a name", ErrNotFound, name)
			}
			id, ok, err := t.childID(cur.ID, name)
			if err != nil {
				return err
			}
			if !ok {
				return ErrNotFound
			}
			if cur, ok, err = t.getItem(id); err != nil {
				return err
			}
			if !ok {
				return ErrNotFound
			}
		}
		it = cur
		return nil
	})
	if err != nil {
		return Item{}, fmt.Errorf("cache: lookup %q: %w", rel, err)
	}
	return it, nil
}
