package cache

import (
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Pin is what the user asked to keep of an item's content (the desktop clients'
// vocabulary). A folder's pin applies to everything below it unless an item below has
// a pin of its own; an item without one inherits.
type Pin uint8

const (
	// PinInherit: no pin of its own; the nearest folder above with one decides.
	PinInherit Pin = iota
	// PinUnspecified: the cache decides (least recently used content is evicted).
	PinUnspecified
	// PinAlwaysLocal: hydrated in the background, never evicted.
	PinAlwaysLocal
	// PinOnlineOnly: content is dropped once closed and clean.
	PinOnlineOnly
)

// PinNames are the values a user may set, in the order they are offered.
var PinNames = []string{"alwayslocal", "onlineonly", "unspecified"}

// ErrBadPin: not one of PinNames.
var ErrBadPin = errors.New("cache: not a pin state (alwayslocal, onlineonly, unspecified)")

func (p Pin) String() string {
	switch p {
	case PinInherit:
		return "inherited"
	case PinUnspecified:
		return "unspecified"
	case PinAlwaysLocal:
		return "alwayslocal"
	case PinOnlineOnly:
		return "onlineonly"
	}
	return fmt.Sprintf("pin(%d)", uint8(p))
}

// ParsePin reads one of PinNames.
func ParsePin(s string) (Pin, error) {
	switch s {
	case "alwayslocal":
		return PinAlwaysLocal, nil
	case "onlineonly":
		return PinOnlineOnly, nil
	case "unspecified":
		return PinUnspecified, nil
	}
	return PinInherit, fmt.Errorf("%w: %q", ErrBadPin, s)
}

func (t *txn) pins() *bolt.Bucket { return t.tx.Bucket(bucketPins) }

// ownPin is id's own pin (PinInherit without one).
func (t *txn) ownPin(id uint64) Pin {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], id)
	if v := t.pins().Get(k[:]); len(v) == 1 {
		return Pin(v[0])
	}
	return PinInherit
}

// anyPins reports whether any item has a pin: most caches have none, and then no walk
// up the parent chain is needed.
func (t *txn) anyPins() bool {
	k, _ := t.pins().Cursor().First()
	return k != nil
}

// effectivePin walks up from id to the first item with a pin of its own; from is that
// item (0 when none has one: PinUnspecified).
func (t *txn) effectivePin(id uint64) (pin Pin, from uint64, err error) {
	if !t.anyPins() {
		return PinUnspecified, 0, nil
	}
	for cur, n := id, 0; cur != 0; n++ {
		if n > maxDepth {
			return 0, 0, fmt.Errorf("parent chain of %d longer than %d: a cycle?", id, maxDepth)
		}
		if p := t.ownPin(cur); p != PinInherit {
			return p, cur, nil
		}
		it, ok, err := t.getItem(cur)
		if err != nil {
			return 0, 0, err
		}
		if !ok {
			break
		}
		cur = it.Parent
	}
	return PinUnspecified, 0, nil
}

// deletePin drops id's own pin, if any (the item is gone).
func (t *txn) deletePin(id uint64) error {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], id)
	if t.pins().Get(k[:]) == nil {
		return nil
	}
	if err := t.pins().Delete(k[:]); err != nil {
		return fmt.Errorf("cache: delete pin of %d: %w", id, err)
	}
	return nil
}

// SetPin gives id a pin of its own; PinInherit removes it (the item inherits again).
// ErrNotFound when the item is not known.
func (s *Store) SetPin(id uint64, p Pin) error {
	if p > PinOnlineOnly {
		return fmt.Errorf("cache: set pin of %d: %w: %d", id, ErrBadPin, p)
	}
	err := s.update(func(t *txn) error {
		if !t.hasItem(id) {
			return ErrNotFound
		}
		if p == PinInherit {
			return t.deletePin(id)
		}
		if t.ownPin(id) == p {
			return nil
		}
		return t.pins().Put(idKey(id), []byte{byte(p)})
	})
	if err != nil {
		return fmt.Errorf("cache: set pin of %d to %s: %w", id, p, err)
	}
	return nil
}

// PinOf returns id's own pin and the pin that applies to it (its own, or the nearest
// folder's above it; PinUnspecified when none has one). One read transaction, one
// record read per folder above only when the cache holds pins at all.
func (s *Store) PinOf(id uint64) (own, effective Pin, err error) {
	err = s.view(func(t *txn) error {
		own = t.ownPin(id)
		effective, _, err = t.effectivePin(id)
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("cache: pin of %d: %w", id, err)
	}
	return own, effective, nil
}

// Pins returns every item's own pin.
func (s *Store) Pins() (map[uint64]Pin, error) {
	out := map[uint64]Pin{}
	err := s.view(func(t *txn) error {
		return t.pins().ForEach(func(k, v []byte) error {
			if len(k) != 8 || len(v) != 1 {
				return fmt.Errorf("corrupt pin record (%d, %d bytes)", len(k), len(v))
			}
			out[binary.BigEndian.Uint64(k)] = Pin(v[0])
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("cache: pins: %w", err)
	}
	return out, nil
}
