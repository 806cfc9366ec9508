package davtest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"time"
)

// FolderSummary is what a folder holds below it, counted under the read lock without
// copying anything, so that a benchmark can ask every few milliseconds whether an
// upload has fully arrived.
type FolderSummary struct {
	Files int
	Bytes int64 // the files' sizes added up
	// Version is a hash of every file's path and ETag: it changes whenever a file below
	// is added, removed or written again, even when the counts stay the same.
	Version uint64
}

// Summarize counts the files below the folder p ("" is the root).
func (s *Server) Summarize(p string) (FolderSummary, error) {
	parts, err := splitPath(p)
	if err != nil {
		return FolderSummary{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := s.lookupLocked(parts)
	if n == nil {
		return FolderSummary{}, errNotExist("summarize", p)
	}
	if !n.isDir {
		return FolderSummary{}, fmt.Errorf("davtest: summarize %q: not a folder", p)
	}
	var sum FolderSummary
	h := fnv.New64a()
	var walk func(n *node, rel []byte)
	walk = func(n *node, rel []byte) {
		for _, c := range n.sorted {
			// rel is reused across siblings: each child appends its own name.
			p := append(append(rel, '/'), c.name...)
			if c.isDir {
				walk(c, p)
				continue
			}
			sum.Files++
			sum.Bytes += c.size
			h.Write(p)
			h.Write([]byte{0})
			h.Write([]byte(c.etag))
			h.Write([]byte{0})
		}
	}
	walk(n, make([]byte, 0, 256))
	sum.Version = binary.LittleEndian.Uint64(h.Sum(nil))
	return sum, nil
}

// Purge deletes p and everything below it for good, without a trash item, as if it had
// never existed (the folders above get new ETags).
func (s *Server) Purge(p string) error {
	parts, err := splitPath(p)
	if err != nil {
		return err
	}
	if len(parts) == 0 {
		return errors.New("davtest: purge: the root cannot be removed")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.lookupLocked(parts)
	if n == nil {
		return errNotExist("purge", p)
	}
	parent := n.parent
	detachLocked(n)
	s.propagateLocked(parent, true, time.Now())
	return nil
}

// EmptyTrash deletes every trash-bin item for good.
func (s *Server) EmptyTrash() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trash = nil
}

// DropUploads forgets every chunked upload not yet assembled, with its chunks.
func (s *Server) DropUploads() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.uploads)
}
