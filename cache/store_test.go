package cache

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func perm(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestOpenCreatesPrivateFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "cache")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Dir() != dir {
		t.Errorf("Dir() = %q, want %q", s.Dir(), dir)
	}
	if got := perm(t, dir); got != 0o700 {
		t.Errorf("dir mode %v, want 0700", got)
	}
	if got := perm(t, filepath.Join(dir, DBFileName)); got != 0o600 {
		t.Errorf("db mode %v, want 0600", got)
	}
}

func TestOpenTightensLooseModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, DBFileName)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(db, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := perm(t, dir); got != 0o700 {
		t.Errorf("dir mode %v, want 0700", got)
	}
	if got := perm(t, db); got != 0o600 {
		t.Errorf("db mode %v, want 0600", got)
	}
}

func TestOpenRefusesAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, Options{}); err == nil {
		t.Fatal("Open on a regular file succeeded")
	}
}

func TestSecondOpenIsLocked(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = Open(dir, Options{LockTimeout: 50 * time.Millisecond})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), dir) {
		t.Errorf("error %q does not name the directory", err)
	}
	// Once the first holder closes, the directory opens again.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir, Options{LockTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	_ = s2.Close()
}

// rawSetSchema rewrites the stored schema version behind the store's back.
func rawSetSchema(t *testing.T, dir string, version uint64) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dir, DBFileName), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySchema, binary.BigEndian.AppendUint64(nil, version))
	})
	if err != nil {
		t.Fatal(err)
	}
}

func storedSchema(t *testing.T, s *Store) uint64 {
	t.Helper()
	var v uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		v = binary.BigEndian.Uint64(tx.Bucket(bucketMeta).Get(keySchema))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestOpenWritesSchemaVersion(t *testing.T) {
	s := openTest(t)
	if got := storedSchema(t, s); got != SchemaVersion {
		t.Fatalf("schema %d, want %d", got, SchemaVersion)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rawSetSchema(t, dir, SchemaVersion+1)
	_, err = Open(dir, Options{})
	if !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("Open: %v, want ErrNewerSchema", err)
	}
	// The refusal must not have rewritten the version.
	db, err := bolt.Open(filepath.Join(dir, DBFileName), 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_ = db.View(func(tx *bolt.Tx) error {
		if v := binary.BigEndian.Uint64(tx.Bucket(bucketMeta).Get(keySchema)); v != SchemaVersion+1 {
			t.Errorf("schema rewritten to %d", v)
		}
		return nil
	})
}

func TestOpenMigratesOlderSchema(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Pretend the file was written by a version 0 that this build knows how to upgrade.
	rawSetSchema(t, dir, 0)
	saved := migrations
	t.Cleanup(func() { migrations = saved })
	ran := 0
	migrations = maps.Clone(saved)
	migrations[0] = func(tx *bolt.Tx) error {
		ran++
		return tx.Bucket(bucketMeta).Put([]byte("migrated"), []byte("yes"))
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if ran != 1 {
		t.Errorf("migration ran %d times, want 1", ran)
	}
	if got := storedSchema(t, s); got != SchemaVersion {
		t.Errorf("schema after migration %d, want %d", got, SchemaVersion)
	}
	if dump(t, s)["meta/"+hex.EncodeToString([]byte("migrated"))] != "yes" {
		t.Error("the migration step's write is missing")
	}
}

func TestOpenWithoutMigrationPathFails(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rawSetSchema(t, dir, 0)
	_, err = Open(dir, Options{})
	if err == nil || !strings.Contains(err.Error(), "no migration from schema 0") {
		t.Fatalf("Open: %v, want a missing-migration error", err)
	}
}

func TestMigrateRunsStepsInOrder(t *testing.T) {
	s := openTest(t)
	var order []uint64
	step := func(v uint64) migrationStep {
		return func(*bolt.Tx) error { order = append(order, v); return nil }
	}
	steps := map[uint64]migrationStep{1: step(1), 2: step(2), 3: step(3)}
	err := s.db.Update(func(tx *bolt.Tx) error { return migrate(tx, 1, 4, steps) })
	if err != nil {
		t.Fatal(err)
	}
	if len(order) != 3 || order[0] != 1 || order[1] != 2 || order[2] != 3 {
		t.Fatalf("steps ran in order %v, want [1 2 3]", order)
	}
	if got := storedSchema(t, s); got != 4 {
		t.Errorf("schema %d after migrate, want 4", got)
	}
	failing := map[uint64]migrationStep{1: func(*bolt.Tx) error { return errors.New("boom") }}
	err = s.db.Update(func(tx *bolt.Tx) error { return migrate(tx, 1, 2, failing) })
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("failing step: %v", err)
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutRoot(dirItem(1, "", "r")); err != nil {
		t.Fatal(err)
	}
	apply(t, s, dirItem(1, "", "r"), fileItem(10, "a.txt", "e1", 5), dirItem(11, "sub", "d1"), fileItem(0, "generic", "g", 1))
	apply(t, s, dirItem(11, "sub", "d1"), fileItem(12, "deep", "e2", 7))
	if err := s.SetAccount(Account{URL: "https://cloud.example", Login: "alice", RootID: 1}); err != nil {
		t.Fatal(err)
	}
	before := dump(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	after := dump(t, s)
	if len(before) != len(after) {
		t.Fatalf("%d records before, %d after reopen", len(before), len(after))
	}
	for k, v := range before {
		if after[k] != v {
			t.Errorf("record %s changed across reopen", k)
		}
	}
	if p, err := s.Path(12); err != nil || p != "sub/deep" {
		t.Errorf("Path(12) = %q, %v", p, err)
	}
	if n, err := s.Count(); err != nil || n != 5 {
		t.Errorf("Count = %d, %v; want 5", n, err)
	}
}

func TestAccountRoundTrip(t *testing.T) {
	s := openTest(t)
	if _, ok, err := s.Account(); err != nil || ok {
		t.Fatalf("Account on a fresh store: ok=%v err=%v", ok, err)
	}
	want := Account{
		URL: "https://cloud.example", FilesURL: "https://cloud.example/remote.php/dav/files/alice",
		Login: "alice", UserID: "alice", Dialect: "nextcloud", RootID: 7,
		Capabilities: []byte(`{"core":{}}`), QuotaUsed: 10, QuotaAvailable: -3, HasQuota: true,
		DataFingerprint: "fp", UpdatedAt: testTime,
	}
	if err := s.SetAccount(want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Account()
	if err != nil || !ok {
		t.Fatalf("Account: ok=%v err=%v", ok, err)
	}
	if got.URL != want.URL || got.FilesURL != want.FilesURL || got.Login != want.Login ||
		got.RootID != want.RootID || string(got.Capabilities) != string(want.Capabilities) ||
		got.QuotaAvailable != want.QuotaAvailable || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Errorf("Account = %+v, want %+v", got, want)
	}
}

func TestClaimAccount(t *testing.T) {
	s := openTest(t)
	alice := Account{FilesURL: "https://c.example/remote.php/dav/files/alice", Login: "alice"}
	if err := s.ClaimAccount(alice); err != nil {
		t.Fatalf("first claim: %v", err)
	}
	alice.QuotaUsed = 99
	if err := s.ClaimAccount(alice); err != nil {
		t.Fatalf("same account again: %v", err)
	}
	bob := Account{FilesURL: "https://c.example/remote.php/dav/files/bob", Login: "bob"}
	if err := s.ClaimAccount(bob); !errors.Is(err, ErrOtherAccount) {
		t.Fatalf("other account: %v, want ErrOtherAccount", err)
	}
	got, _, _ := s.Account()
	if got.Login != "alice" || got.QuotaUsed != 99 {
		t.Errorf("stored account %+v, want alice's updated record", got)
	}
}

func TestCorruptRecordIsAnError(t *testing.T) {
	s := withRoot(t)
	apply(t, s, dirItem(1, "", "r"), fileItem(10, "a", "e", 1))
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketItems).Put(idKey(10), []byte{1, 0, 5})
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(10); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("Get of a corrupt record: %v, want a corruption error", err)
	}
	if _, err := s.Lookup(1, "a"); err == nil {
		t.Error("Lookup of a corrupt record succeeded")
	}
}
