package cache

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Account returns the stored account record; ok is false if none was ever set.
func (s *Store) Account() (Account, bool, error) {
	var a Account
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucketAccount).Get(keyAccount)
		if raw == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(raw, &a)
	})
	if err != nil {
		return Account{}, false, fmt.Errorf("cache: read account: %w", err)
	}
	return a, ok, nil
}

// SetAccount stores a as the account record, replacing any previous one.
func (s *Store) SetAccount(a Account) error {
	raw, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("cache: encode account: %w", err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAccount).Put(keyAccount, raw)
	})
	if err == nil {
		s.commits.Add(1)
	}
	if err != nil {
		return fmt.Errorf("cache: write account: %w", err)
	}
	return nil
}

// ClaimAccount stores a if the cache has no account yet or already belongs to the same
// one (same files URL and login); otherwise it returns ErrOtherAccount and changes
// nothing, so one cache directory never mixes two accounts' files.
func (s *Store) ClaimAccount(a Account) error {
	raw, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("cache: encode account: %w", err)
	}
	err = s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAccount)
		if old := b.Get(keyAccount); old != nil {
			var prev Account
			if err := json.Unmarshal(old, &prev); err != nil {
				return fmt.Errorf("read stored account: %w", err)
			}
			if prev.FilesURL != a.FilesURL || prev.Login != a.Login {
				return fmt.Errorf("%w: it holds %s as %q; use another cache directory", ErrOtherAccount, prev.FilesURL, prev.Login)
			}
		}
		return b.Put(keyAccount, raw)
	})
	if err == nil {
		s.commits.Add(1)
	}
	if err != nil {
		return fmt.Errorf("cache: claim account: %w", err)
	}
	return nil
}
