package cache

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// contentDirName is the folder of content files inside the cache directory.
const contentDirName = "content"

// detachedInfix marks a content file moved aside by a transaction that dropped its
// record; the transaction's id follows, so two transactions never share a name.
const detachedInfix = ".drop"

// ContentDir is the folder of the content files, created 0700 by Open.
func (s *Store) ContentDir() string { return filepath.Join(s.dir, contentDirName) }

// ContentPath is the sparse content file of id. The caller creates it 0600. Only the
// ranges of id's content record hold valid bytes: a file without a record (left by a
// crash, or one the store could not remove) is garbage to overwrite or truncate.
func (s *Store) ContentPath(id uint64) string {
	return filepath.Join(s.ContentDir(), contentFileName(id))
}

// contentFileName is id as 16 lowercase hex digits.
func contentFileName(id uint64) string {
	const digits = "0000000000000000"
	h := strconv.FormatUint(id, 16)
	return digits[len(h):] + h
}

// detachedFile is a dropped record's content file, moved aside before the commit.
type detachedFile struct {
	id          uint64
	path, aside string
}

// detachDroppedFiles moves the content files of the records this transaction dropped
// aside. It runs last inside the transaction: once the commit makes the drop visible,
// a download of the new version may create ContentPath again, and a removal after the
// commit by path would delete that new file. A file that cannot be moved stays where
// it is, harmless without a record.
func (t *txn) detachDroppedFiles() {
	seen := make(map[uint64]bool, len(t.dropFiles))
	for _, id := range t.dropFiles {
		if seen[id] {
			continue
		}
		seen[id] = true
		path := t.s.ContentPath(id)
		aside := path + detachedInfix + strconv.Itoa(t.tx.ID())
		err := os.Rename(path, aside)
		switch {
		case err == nil:
			t.detached = append(t.detached, detachedFile{id: id, path: path, aside: aside})
		case !errors.Is(err, fs.ErrNotExist):
			slog.Warn("cache: cannot move a dropped content file aside; it stays as garbage",
				"op", "drop-content", "fileid", id, "path", path, "err", err)
		}
	}
}

// settleDetached removes the detached files after a commit, or puts them back after
// a failed one (their records are still there). Best effort: a leftover file without a
// record is garbage for SweepContent.
func (t *txn) settleDetached(committed bool) {
	for _, f := range t.detached {
		if !committed {
			// Link, not rename: never replace a file created at path meanwhile.
			if err := os.Link(f.aside, f.path); err != nil {
				slog.Error("cache: transaction failed and its content file could not be put back; the record now claims missing bytes",
					"op", "drop-content", "fileid", f.id, "path", f.path, "err", err)
			}
		}
		if err := os.Remove(f.aside); err != nil && !errors.Is(err, fs.ErrNotExist) {
			slog.Warn("cache: cannot remove a dropped content file", "op", "drop-content",
				"fileid", f.id, "path", f.aside, "err", err)
		}
	}
	t.detached = nil
}

// SweepContent deletes the files of ContentDir that belong to no content record:
// leftovers of a crash or of a failed removal. Call it when no download runs (at mount
// start): a download creates its file before it records the first range.
func (s *Store) SweepContent() (removed int, err error) {
	entries, err := os.ReadDir(s.ContentDir())
	if err != nil {
		return 0, fmt.Errorf("cache: sweep content: %w", err)
	}
	var garbage []string
	err = s.view(func(t *txn) error {
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() {
				slog.Warn("cache: unexpected folder among content files; left alone", "op", "sweep-content", "path", name)
				continue
			}
			if id, ok := parseContentFileName(name); ok && t.hasContent(id) {
				continue
			}
			garbage = append(garbage, name)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("cache: sweep content: %w", err)
	}
	var errs []error
	for _, name := range garbage {
		path := filepath.Join(s.ContentDir(), name)
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		removed++
	}
	if len(errs) > 0 {
		return removed, fmt.Errorf("cache: sweep content: %w", errors.Join(errs...))
	}
	if removed > 0 {
		slog.Info("cache: removed content files without a record", "op", "sweep-content", "files", removed)
	}
	return removed, nil
}

// parseContentFileName returns the id a content file name stands for, accepting only
// the exact form contentFileName writes.
func parseContentFileName(name string) (uint64, bool) {
	if len(name) != 16 || strings.ToLower(name) != name {
		return 0, false
	}
	id, err := strconv.ParseUint(name, 16, 64)
	if err != nil {
		return 0, false
	}
	return id, true
}
