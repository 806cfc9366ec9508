package davtest

import (
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"mime"
	"path"
	"slices"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"
)

// Default oc:permissions, as a Nextcloud 29 server gives them to the owner.
const (
	defaultDirPerms  = "RGDNVCK"
	defaultFilePerms = "RGDNVW"
	// instanceID is appended to %08d file ids in oc:id and OC-FileId.
	instanceID = "oc1vt40eheh6"
)

// content is a file's bytes. Values are immutable once stored in a node, so a handler
// may keep one after releasing the tree lock and stream it to a slow client.
type content interface {
	io.ReaderAt
	Size() int64
}

// bytesContent is content held in memory.
type bytesContent []byte

func (b bytesContent) Size() int64 { return int64(len(b)) }

func (b bytesContent) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("davtest: negative offset %d", off)
	}
	if off >= int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// node is one file or folder of the user's tree. All fields are guarded by Server.mu.
type node struct {
	name   string
	parent *node
	isDir  bool
	// children by name, and the same children sorted by name for deterministic listings.
	children map[string]*node
	sorted   []*node

	fileID uint64
	etag   string // without quotes
	mtime  time.Time
	// uploaded is when the content was last written (nc:upload_time).
	uploaded time.Time
	// size is the content length of a file, the whole subtree's for a folder (oc:size).
	size     int64
	perms    string
	data     content
	checksum string // OC-Checksum as received, "" when none
	// ownerID and ownerName are set on the root of a share from another user (SetOwner);
	// everything below it has that owner too. "" means the account's user.
	ownerID, ownerName string
}

func (n *node) contentType() string {
	if n.isDir {
		return "httpd/unix-directory"
	}
	return contentTypeFor(n.name)
}

func contentTypeFor(name string) string {
	ext := strings.ToLower(path.Ext(name))
	switch ext {
	case ".txt", ".md", ".log":
		return "text/plain"
	case "":
		return "application/octet-stream"
	}
	if t := mime.TypeByExtension(ext); t != "" {
		if i := strings.IndexByte(t, ';'); i >= 0 {
			t = t[:i]
		}
		return t
	}
	return "application/octet-stream"
}

// relPath is the node's path relative to the user's root ("" for the root).
func (n *node) relPath() string {
	if n.parent == nil {
		return ""
	}
	var parts []string
	for p := n; p.parent != nil; p = p.parent {
		parts = append(parts, p.name)
	}
	slices.Reverse(parts)
	return strings.Join(parts, "/")
}

// isAncestorOf reports whether n is d or one of d's ancestors.
func (n *node) isAncestorOf(d *node) bool {
	for p := d; p != nil; p = p.parent {
		if p == n {
			return true
		}
	}
	return false
}

func (n *node) info() NodeInfo {
	return NodeInfo{
		Name:        n.name,
		Path:        n.relPath(),
		IsDir:       n.isDir,
		Size:        n.size,
		ModTime:     n.mtime,
		ETag:        `"` + n.etag + `"`,
		FileID:      n.fileID,
		Permissions: n.perms,
		Checksum:    n.checksum,
		ContentType: n.contentType(),
	}
}

// splitPath turns a slash-separated path into NFC name elements, the way Nextcloud
// normalises names. "." and ".." are refused.
func splitPath(p string) ([]string, error) {
	var parts []string
	for el := range strings.SplitSeq(p, "/") {
		if el == "" {
			continue
		}
		if el == "." || el == ".." {
			return nil, fmt.Errorf("davtest: path %q: %q is not a valid name", p, el)
		}
		parts = append(parts, norm.NFC.String(el))
	}
	return parts, nil
}

// lookupLocked walks parts from the root; nil when something is missing.
func (s *Server) lookupLocked(parts []string) *node {
	n := s.root
	for _, name := range parts {
		if !n.isDir {
			return nil
		}
		n = n.children[name]
		if n == nil {
			return nil
		}
	}
	return n
}

// parentLocked returns the folder that holds (or would hold) parts, or nil.
func (s *Server) parentLocked(parts []string) *node {
	if len(parts) == 0 {
		return nil
	}
	p := s.lookupLocked(parts[:len(parts)-1])
	if p == nil || !p.isDir {
		return nil
	}
	return p
}

func (s *Server) newIDLocked() uint64 {
	s.nextID++
	return s.nextID
}

// newDirLocked makes a detached folder with a fresh id and ETag.
func (s *Server) newDirLocked(name string, now time.Time) *node {
	return &node{
		name:     name,
		isDir:    true,
		children: map[string]*node{},
		fileID:   s.newIDLocked(),
		etag:     s.folderETagLocked(),
		mtime:    now,
		perms:    defaultDirPerms,
	}
}

// folderETagLocked returns a uniqid()-style ETag (8 hex digits of seconds, 5 of
// microseconds), strictly increasing so two writes never share one.
func (s *Server) folderETagLocked() string {
	us := time.Now().UnixMicro()
	if us <= s.lastUniq {
		us = s.lastUniq + 1
	}
	s.lastUniq = us
	return fmt.Sprintf("%08x%05x", us/1_000_000, us%1_000_000)
}

// fileETag returns a new 32-hex-digit file ETag, like Nextcloud's md5-looking ones.
func fileETag() string {
	var b [16]byte
	for i := 0; i < 16; i += 8 {
		v := rand.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return hex.EncodeToString(b[:])
}

// attachLocked links child under parent and adds its size to every ancestor.
func attachLocked(parent, child *node) {
	child.parent = parent
	parent.children[child.name] = child
	i, _ := slices.BinarySearchFunc(parent.sorted, child.name, func(n *node, name string) int {
		return strings.Compare(n.name, name)
	})
	parent.sorted = slices.Insert(parent.sorted, i, child)
	addSizeLocked(parent, child.size)
}

// detachLocked unlinks n from its parent and removes its size from every ancestor.
func detachLocked(n *node) {
	parent := n.parent
	if parent == nil {
		return
	}
	delete(parent.children, n.name)
	i, found := slices.BinarySearchFunc(parent.sorted, n.name, func(c *node, name string) int {
		return strings.Compare(c.name, name)
	})
	if found {
		parent.sorted = slices.Delete(parent.sorted, i, i+1)
	}
	addSizeLocked(parent, -n.size)
	n.parent = nil
}

func addSizeLocked(dir *node, delta int64) {
	for d := dir; d != nil; d = d.parent {
		d.size += delta
	}
}

// propagateLocked gives dir and every ancestor the same new folder ETag and a new mtime,
// as Nextcloud's propagator does after any write below them. The folder whose own
// entries did not change (a file overwritten in place) keeps its mtime, as observed on
// a real server.
func (s *Server) propagateLocked(dir *node, entriesChanged bool, now time.Time) {
	s.propagateWithLocked(dir, s.folderETagLocked(), entriesChanged, now)
}

func (s *Server) propagateWithLocked(dir *node, etag string, entriesChanged bool, now time.Time) {
	for d := dir; d != nil; d = d.parent {
		d.etag = etag
		if d != dir || entriesChanged {
			d.mtime = now
		}
	}
}

// mkdirLocked creates one folder under an existing parent.
func (s *Server) mkdirLocked(parent *node, name string, now time.Time) *node {
	d := s.newDirLocked(name, now)
	attachLocked(parent, d)
	s.propagateLocked(parent, true, now)
	return d
}

// writeFileLocked creates or replaces the file name under parent. An existing file keeps
// its id and gets a new ETag; the tree's ETags propagate. created is true for a new file.
func (s *Server) writeFileLocked(parent *node, name string, data content, mtime time.Time, checksum string) (n *node, created bool) {
	now := time.Now()
	if mtime.IsZero() {
		mtime = now
	}
	n = parent.children[name]
	if n == nil {
		n = &node{name: name, fileID: s.newIDLocked(), perms: defaultFilePerms}
		created = true
	}
	n.etag = fileETag()
	n.mtime = mtime
	n.uploaded = now
	n.data = data
	n.checksum = checksum
	if created {
		n.size = data.Size()
		attachLocked(parent, n)
	} else {
		addSizeLocked(parent, data.Size()-n.size)
		n.size = data.Size()
	}
	s.propagateLocked(parent, created, now)
	return n, created
}

// copyTreeLocked deep-copies n with new file ids and ETags (Nextcloud's COPY).
func (s *Server) copyTreeLocked(n *node, name string, now time.Time) *node {
	c := &node{
		name:     name,
		isDir:    n.isDir,
		fileID:   s.newIDLocked(),
		mtime:    n.mtime,
		uploaded: now,
		perms:    n.perms,
		data:     n.data,
		checksum: n.checksum,
	}
	if !n.isDir {
		c.etag = fileETag()
		c.size = n.size
		return c
	}
	c.etag = s.folderETagLocked()
	c.children = map[string]*node{}
	for _, child := range n.sorted {
		attachLocked(c, s.copyTreeLocked(child, child.name, now))
	}
	return c
}

// usedLocked is the quota used: the root's subtree size.
func (s *Server) usedLocked() int64 { return s.root.size }

// freeLocked is the quota left, or -3 (Nextcloud's "unlimited").
func (s *Server) freeLocked() int64 {
	if s.opt.QuotaBytes <= 0 {
		return -3
	}
	return max(s.opt.QuotaBytes-s.usedLocked(), 0)
}

// fitsQuotaLocked reports whether growing the tree by delta bytes stays within quota.
func (s *Server) fitsQuotaLocked(delta int64) bool {
	return s.opt.QuotaBytes <= 0 || delta <= 0 || s.usedLocked()+delta <= s.opt.QuotaBytes
}

// errNotExist and errExist wrap the io/fs sentinels for the server-side API.
func errNotExist(op, p string) error {
	return fmt.Errorf("davtest: %s %q: %w", op, p, fs.ErrNotExist)
}

func errExist(op, p string) error {
	return fmt.Errorf("davtest: %s %q: %w", op, p, fs.ErrExist)
}
