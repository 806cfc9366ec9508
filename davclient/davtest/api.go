package davtest

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// NodeInfo describes one item of the tree as the server holds it.
type NodeInfo struct {
	Name string
	// Path is relative to the user's root ("" for the root).
	Path  string
	IsDir bool
	// Size is the content length of a file, the subtree's for a folder (oc:size).
	Size    int64
	ModTime time.Time
	// ETag is quoted, exactly as d:getetag and the ETag header carry it.
	ETag        string
	FileID      uint64
	Permissions string
	// Checksum is the stored OC-Checksum ("SHA1:<hex>"), "" when none.
	Checksum    string
	ContentType string
}

// The methods below change the tree "from the server side", as another client would.
// Paths are relative to the user's root and slash-separated; names are stored in NFC.
// Every change propagates new folder ETags up to the root like a real write.

// Mkdir creates one folder; its parent must exist.
func (s *Server) Mkdir(p string) (uint64, error) {
	parts, err := splitPath(p)
	if err != nil {
		return 0, err
	}
	if len(parts) == 0 {
		return 0, errExist("mkdir", p)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lookupLocked(parts) != nil {
		return 0, errExist("mkdir", p)
	}
	parent := s.parentLocked(parts)
	if parent == nil {
		return 0, errNotExist("mkdir", p)
	}
	return s.mkdirLocked(parent, parts[len(parts)-1], time.Now()).fileID, nil
}

// MkdirAll creates a folder and any missing parents.
func (s *Server) MkdirAll(p string) error {
	parts, err := splitPath(p)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err = s.mkdirAllLocked(parts, p)
	return err
}

func (s *Server) mkdirAllLocked(parts []string, p string) (*node, error) {
	n := s.root
	for _, name := range parts {
		c := n.children[name]
		if c == nil {
			c = s.mkdirLocked(n, name, time.Now())
		}
		if !c.isDir {
			return nil, fmt.Errorf("davtest: mkdir %q: %q is a file", p, c.relPath())
		}
		n = c
	}
	return n, nil
}

// WriteFile creates or replaces a file (missing parent folders are created). A zero
// mtime means now. The bytes are copied.
func (s *Server) WriteFile(p string, data []byte, mtime time.Time) (uint64, error) {
	return s.writeContent(p, bytesContent(append([]byte(nil), data...)), mtime)
}

// WriteSynthetic adds a file of size bytes generated from seed (see SyntheticBytes),
// which costs no memory whatever its size.
func (s *Server) WriteSynthetic(p string, size int64, seed uint64, mtime time.Time) (uint64, error) {
	if size < 0 {
		return 0, fmt.Errorf("davtest: write %q: negative size %d", p, size)
	}
	return s.writeContent(p, syntheticContent{seed: seed, size: size}, mtime)
}

func (s *Server) writeContent(p string, c content, mtime time.Time) (uint64, error) {
	parts, err := splitPath(p)
	if err != nil {
		return 0, err
	}
	if len(parts) == 0 {
		return 0, fmt.Errorf("davtest: write %q: the root is a folder", p)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	parent, err := s.mkdirAllLocked(parts[:len(parts)-1], p)
	if err != nil {
		return 0, err
	}
	if old := parent.children[parts[len(parts)-1]]; old != nil && old.isDir {
		return 0, fmt.Errorf("davtest: write %q: is a folder", p)
	}
	n, _ := s.writeFileLocked(parent, parts[len(parts)-1], c, mtime, "")
	return n.fileID, nil
}

// Remove moves a file or folder to the trash bin, like a DELETE.
func (s *Server) Remove(p string) error {
	parts, err := splitPath(p)
	if err != nil {
		return err
	}
	if len(parts) == 0 {
		return errors.New("davtest: remove: the root cannot be removed")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.lookupLocked(parts)
	if n == nil {
		return errNotExist("remove", p)
	}
	s.trashLocked(n, time.Now())
	return nil
}

// Rename moves from to to, keeping the file id. to's folder must exist and to must not.
func (s *Server) Rename(from, to string) error {
	fparts, err := splitPath(from)
	if err != nil {
		return err
	}
	tparts, err := splitPath(to)
	if err != nil {
		return err
	}
	if len(fparts) == 0 || len(tparts) == 0 {
		return errors.New("davtest: rename: the root cannot be renamed")
	}
	if strings.HasPrefix(strings.Join(tparts, "/")+"/", strings.Join(fparts, "/")+"/") {
		return fmt.Errorf("davtest: rename %q to %q: into itself", from, to)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.lookupLocked(fparts)
	if n == nil {
		return errNotExist("rename", from)
	}
	dparent := s.parentLocked(tparts)
	if dparent == nil {
		return errNotExist("rename", to)
	}
	if dparent.children[tparts[len(tparts)-1]] != nil {
		return errExist("rename", to)
	}
	now := time.Now()
	etag := s.folderETagLocked()
	oldParent := n.parent
	detachLocked(n)
	n.name = tparts[len(tparts)-1]
	attachLocked(dparent, n)
	s.propagateWithLocked(oldParent, etag, true, now)
	s.propagateWithLocked(dparent, etag, true, now)
	return nil
}

// SetPermissions sets the oc:permissions letters of one item ("RGD" for a read-only
// share). It changes no ETag, and items created below later get the defaults.
func (s *Server) SetPermissions(p, perms string) error {
	return s.update("chmod", p, func(n *node) error {
		n.perms = perms
		return nil
	})
}

// SetChecksum sets the stored checksum of a file ("SHA1:<hex>", "" for none), as if
// another client had uploaded it with OC-Checksum.
func (s *Server) SetChecksum(p, checksum string) error {
	return s.update("checksum", p, func(n *node) error {
		if n.isDir {
			return fmt.Errorf("davtest: checksum %q: is a folder", p)
		}
		n.checksum = checksum
		return nil
	})
}

// SetDataFingerprint sets oc:data-fingerprint, as a server restored from backup does.
func (s *Server) SetDataFingerprint(fp string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fingerprint = fp
}

func (s *Server) update(op, p string, fn func(*node) error) error {
	parts, err := splitPath(p)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.lookupLocked(parts)
	if n == nil {
		return errNotExist(op, p)
	}
	return fn(n)
}

// Stat describes one item.
func (s *Server) Stat(p string) (NodeInfo, error) {
	parts, err := splitPath(p)
	if err != nil {
		return NodeInfo{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := s.lookupLocked(parts)
	if n == nil {
		return NodeInfo{}, errNotExist("stat", p)
	}
	return n.info(), nil
}

// Open returns a file's content and size without copying it; the content never
// changes (a later write replaces it).
func (s *Server) Open(p string) (io.ReaderAt, int64, error) {
	parts, err := splitPath(p)
	if err != nil {
		return nil, 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := s.lookupLocked(parts)
	if n == nil {
		return nil, 0, errNotExist("open", p)
	}
	if n.isDir {
		return nil, 0, fmt.Errorf("davtest: open %q: is a folder", p)
	}
	return n.data, n.data.Size(), nil
}

// ReadFile returns a copy of a file's content (synthetic files are materialised).
func (s *Server) ReadFile(p string) ([]byte, error) {
	r, size, err := s.Open(p)
	if err != nil {
		return nil, err
	}
	b := make([]byte, size)
	if _, err := r.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("davtest: read %q: %w", p, err)
	}
	return b, nil
}

// Walk calls fn for every item but the root, parents before children, siblings by
// name. It works on a snapshot, so fn may change the tree; an error from fn stops it.
func (s *Server) Walk(fn func(path string, info NodeInfo) error) error {
	s.mu.RLock()
	var infos []NodeInfo
	var walk func(n *node)
	walk = func(n *node) {
		for _, c := range n.sorted {
			infos = append(infos, c.info())
			if c.isDir {
				walk(c)
			}
		}
	}
	walk(s.root)
	s.mu.RUnlock()
	for _, info := range infos {
		if err := fn(info.Path, info); err != nil {
			return err
		}
	}
	return nil
}
