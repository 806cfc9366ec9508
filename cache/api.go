// Package cache is what ncvfs knows, durably: the bbolt metadata of every remote item
// (placeholders), the children index, the account record, and the content records:
// which byte ranges of each file's sparse content file hold which version.
//
// It knows nothing of HTTP or FUSE. Every logical change is one bbolt transaction; values
// are copied out before a transaction ends. Keys are big-endian item ids; the children
// index is keyed by parent id + name. The database file is 0600 in a 0700 directory.
package cache

import (
	"errors"
	"time"
)

// Sentinels for errors.Is.
var (
	ErrNotFound = errors.New("cache: no such item")
	// ErrOtherAccount: the cache directory belongs to another server or user.
	ErrOtherAccount = errors.New("cache: the cache directory belongs to another account")
	// ErrNewerSchema: written by a newer ncvfs; refuse rather than corrupt it.
	ErrNewerSchema = errors.New("cache: database written by a newer ncvfs version")
	// ErrLocked: another process holds the database (bbolt's flock timed out).
	ErrLocked = errors.New("cache: database in use by another ncvfs process")
)

// SchemaVersion is the on-disk format version this build writes. Version 2 added the
// content records (content and LRU buckets, usage counters) and item encoding 2;
// version 3 the local overlay (item encoding 3), the upload queue, the places the
// server still has of items moved or removed here, and server-id aliases; version 4
// the pins.
const SchemaVersion = 4

// ContentState is how much of an item's content is local.
type ContentState uint8

const (
	// ContentOnline: a placeholder, nothing local.
	ContentOnline ContentState = iota
	// ContentPartial: some ranges local.
	ContentPartial
	// ContentLocal: all of it local and verified.
	ContentLocal
	// ContentDirty: local changes not yet on the server.
	ContentDirty
)

// Item is one remote file or folder as last seen, plus local state.
type Item struct {
	ID     uint64 // oc:fileid on Nextcloud; allocated locally on generic WebDAV
	Parent uint64 // 0 for the root
	Name   string // "" for the root
	IsDir  bool
	Size   int64 // files: content length; folders: oc:size (-1 unknown)
	MTime  time.Time
	ETag   string // verbatim
	// Permissions is the raw oc:permissions string; PermsKnown false means the server sent
	// none (generic WebDAV): everything allowed.
	Permissions string
	PermsKnown  bool
	OwnerID     string
	OwnerName   string
	Checksums   string
	// ListedETag (folders) is the folder's ETag when its children were last listed;
	// "" means never listed. Local state: a listing of the parent never changes it.
	ListedETag string
	// Content (files) is local state: a listing changes it only to drop content of a
	// version the server no longer has (see Diff.ContentDropped).
	Content ContentState
	// LocalBytes (files) is local state: the bytes of content present, what st_blocks
	// reports. Kept equal to the content record's Local().
	LocalBytes int64
	// Local is what exists only here: local changes not yet on the server. A listing
	// never changes or removes it (see Overlay).
	Local Overlay
}

// LocalFlags say what of an item exists only here.
type LocalFlags uint8

const (
	// LocalCreated: made here, not on the server yet (a file is PUT with
	// If-None-Match: *, a folder is MKCOL'ed).
	LocalCreated LocalFlags = 1 << iota
	// LocalDirty: the file's content (or mtime) differs from server version BaseETag.
	LocalDirty
	// LocalDeleted: removed here, the server still has it at From (a tombstone with no
	// place in the children index).
	LocalDeleted
	// LocalMoved: moved or renamed here; the server still has it at From.
	LocalMoved
	// LocalOnly: never uploaded (an excluded name, or a conflict copy).
	LocalOnly
	// LocalConflict: a conflict copy: the local version of a file both sides changed.
	LocalConflict
	knownLocalFlags = LocalCreated | LocalDirty | LocalDeleted | LocalMoved | LocalOnly | LocalConflict
)

// Overlay is an item's local state, apart from what the server last said. The file's
// content of a Created, Dirty or LocalOnly file lives in LocalPath(ID), never in the
// content file (which holds only server versions).
type Overlay struct {
	Flags LocalFlags
	// Size and MTime of a file with local content (Created, Dirty, LocalOnly).
	Size  int64
	MTime time.Time
	// BaseETag is the server version a Dirty file's edit started from: the upload's
	// If-Match. A listing updates ETag, never BaseETag.
	BaseETag string
	// FromParent and FromName: where the server has a Moved or Deleted item.
	FromParent uint64
	FromName   string
	// ServerID is the server's file id of an item made here, once known (its ID, the
	// inode number, stays the local one). Zero for items whose ID is the server's.
	ServerID uint64
	// Error is the server's last refusal of this item's upload, for status.
	Error string
}

// HasLocalContent reports whether the file's bytes are the local file's, not the server's.
func (o *Overlay) HasLocalContent() bool {
	return o.Flags&(LocalCreated|LocalDirty|LocalOnly) != 0
}

// Pending reports whether anything of the item is only here.
func (o *Overlay) Pending() bool { return o.Flags != 0 }

// VisibleSize is the size stat shows: the local one while the file has local content.
func (it *Item) VisibleSize() int64 {
	if !it.IsDir && it.Local.HasLocalContent() {
		return it.Local.Size
	}
	return it.Size
}

// VisibleMTime is the mtime stat shows.
func (it *Item) VisibleMTime() time.Time {
	if it.Local.HasLocalContent() && !it.Local.MTime.IsZero() {
		return it.Local.MTime
	}
	return it.MTime
}

// ServerFileID is the server's file id of the item (0 while it is not on the server).
func (it *Item) ServerFileID() uint64 {
	switch {
	case it.Local.ServerID != 0:
		return it.Local.ServerID
	case it.ID >= localIDBase:
		return 0
	}
	return it.ID
}

// Listing is one folder's answer to a Depth-1 PROPFIND, applied in one transaction.
type Listing struct {
	// Dir is the folder itself as the server describes it now. Dir.ID must be the id
	// the store knows the folder by. Its ETag becomes both ETag and ListedETag.
	Dir Item
	// Children are the folder's direct children. Parent and local-state fields are
	// ignored. ID 0 means "no server id" (generic WebDAV): the store keeps the id of an
	// existing child of the same name and kind, or allocates a new one.
	Children []Item
	// LocalSeq, with CheckLocal: Store.FolderSeq(Dir.ID) when the listing was asked
	// for. If the folder changed here since, applying it fails with ErrStaleListing.
	LocalSeq   uint64
	CheckLocal bool
}

// Diff says what a listing changed, by child name, for kernel invalidation.
type Diff struct {
	Added   []string
	Removed []string
	// Changed: ETag, size, mtime, permissions or kind differ from what was stored, or
	// the name now belongs to another item (another file id).
	Changed []string
	// MovedIn lists the items that came from another folder (moved on the server); their
	// new names are in Added or Changed. The old folder's kernel entry needs dropping.
	MovedIn []Move
	// ContentDropped lists the files whose local content the listing dropped because
	// their ETag or size changed: the kernel's cached pages of them are stale.
	ContentDropped []uint64
}

// Move says where an item moved in by a listing was before.
type Move struct {
	ID         uint64
	FromParent uint64
	FromName   string
}

// Empty reports whether nothing changed. (A content drop always comes with a Changed
// name, so ContentDropped needs no check of its own.)
func (d Diff) Empty() bool { return len(d.Added)+len(d.Removed)+len(d.Changed) == 0 }

// Account is the record of which account this cache belongs to and what the server said.
type Account struct {
	URL      string // what the user typed, normalised
	FilesURL string
	Login    string
	UserID   string
	Dialect  string
	RootID   uint64
	// Capabilities is the raw OCS capabilities JSON.
	Capabilities    []byte
	QuotaUsed       int64
	QuotaAvailable  int64
	HasQuota        bool
	DataFingerprint string
	UpdatedAt       time.Time
}

// Options for Open.
type Options struct {
	// LockTimeout bounds the wait for another process's lock; default 1s.
	LockTimeout time.Duration
	// NoSync skips fsync (tests and benchmarks of decoding only; never in production).
	NoSync bool
}
