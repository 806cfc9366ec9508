// Package control is the control socket of a running mount: the daemon serves it, the
// CLI (ncvfs status, flush, conflicts) asks it. The CLI never opens the cache itself:
// the daemon holds its lock, and only the daemon knows what is in flight.
//
// Wire protocol, one exchange per connection over a Unix socket:
//
//	client: one JSON Request, then nothing more (closing its side cancels the work)
//	server: zero or more {"type":"progress","data":…} lines, then exactly one
//	        {"type":"result","data":…} or {"type":"error","error":"a sentence"} line
//
// Every message is one line of JSON. A request is at most MaxRequest bytes and must
// arrive within 5 seconds. Only the daemon's own user and root are answered (the
// peer's uid comes from SO_PEERCRED); the socket lives in a 0700 folder of that user
// and is itself 0600.
//
// Adding an operation: define its argument and reply types here (they are the
// protocol, shared by both sides), give the daemon a Handler for the op name, and call
// it from the CLI with Call.
package control

import (
	"encoding/json"
	"time"
)

// Limits of the protocol.
const (
	// MaxRequest bounds a request line: a path and a few arguments.
	MaxRequest = 64 << 10
	// writeTimeout bounds each message the server writes: a client that stops
	// reading cannot hold a handler (and the unmount, which waits for handlers).
	writeTimeout = 10 * time.Second
	// maxConns bounds the connections served at once.
	maxConns = 16
)

// requestTimeout is how long the server waits for the request after accepting (a
// variable for tests).
var requestTimeout = 5 * time.Second

// ProtocolVersion is sent in every request; a server refuses a newer one.
const ProtocolVersion = 1

// Request is what the client sends.
type Request struct {
	Version int    `json:"v"`
	Op      string `json:"op"`
	// Path is relative to the mount root, slash-separated; "" is the root.
	Path string `json:"path,omitempty"`
	// Args are the operation's own arguments.
	Args json.RawMessage `json:"args,omitempty"`
}

// message is one line the server writes.
type message struct {
	Type  string          `json:"type"` // "progress", "result" or "error"
	Data  json.RawMessage `json:"data,omitempty"`
	Error string          `json:"error,omitempty"`
}

const (
	typeProgress = "progress"
	typeResult   = "result"
	typeError    = "error"
)

// Operation names.
const (
	OpStatus    = "status"
	OpFlush     = "flush"
	OpConflicts = "conflicts"
	OpPin       = "pin"
	OpUnpin     = "unpin"
	OpFree      = "free"
)

// Status is the reply to OpStatus. Its JSON field names are stable: `ncvfs status
// --json` prints it as it is.
type Status struct {
	ServerURL string `json:"server_url"`
	User      string `json:"user"`
	Dialect   string `json:"dialect"`
	// Connection is "online" or "offline"; OfflineSince says since when the server
	// cannot be reached (absent while online).
	Connection   string     `json:"connection"`
	OfflineSince *time.Time `json:"offline_since,omitempty"`
	MountPoint   string     `json:"mount_point"`
	ReadOnly     bool       `json:"read_only"`
	// Items is the number of files and folders known (listed) so far.
	Items int `json:"items"`
	// CacheBytes of downloaded content are kept, in CacheFiles files; the budget is
	// CacheBudgetBytes, with MinFreeBytes left free on the cache's disk.
	CacheBytes       int64 `json:"cache_bytes"`
	CacheFiles       int   `json:"cache_files"`
	CacheBudgetBytes int64 `json:"cache_budget_bytes"`
	MinFreeBytes     int64 `json:"min_free_bytes"`
	// UploadQueue is the number of queued changes; Dirty the items changed here and
	// not on the server yet (not in flight, no error); Uploading the items in flight.
	UploadQueue  int           `json:"upload_queue"`
	Dirty        int           `json:"dirty"`
	Uploading    int           `json:"uploading"`
	UploadErrors []UploadError `json:"upload_errors"`
	// LastUploadError is the uploader's last failure while it retries ("" after a
	// success).
	LastUploadError string `json:"last_upload_error,omitempty"`
	Conflicts       int    `json:"conflicts"`
	// PinnedFiles are the files pinned alwayslocal (themselves or by a folder), of
	// PinnedBytes on the server, PinnedLocalBytes of them here.
	PinnedFiles      int   `json:"pinned_files"`
	PinnedBytes      int64 `json:"pinned_bytes"`
	PinnedLocalBytes int64 `json:"pinned_local_bytes"`
	// Item is the state of the path asked about, when it is inside the mount.
	Item *ItemStatus `json:"item,omitempty"`
}

// UploadError is a change the server refused (or keeps refusing), kept here.
type UploadError struct {
	Path  string `json:"path"`
	Error string `json:"error"`
}

// Item states.
const (
	StateOnline    = "online"    // a placeholder: nothing local
	StatePartial   = "partial"   // some of the content is local
	StateHydrating = "hydrating" // being downloaded now
	StateLocal     = "local"     // all of the content is local
	StateDirty     = "dirty"     // changed here, not uploaded yet
	StateUploading = "uploading" // its upload is in flight
	StateConflict  = "conflict"  // a conflict copy
	StateError     = "error"     // the server refused its upload
)

// ItemStatus is one file's or folder's state.
type ItemStatus struct {
	Path       string `json:"path"`
	Kind       string `json:"kind"` // "file" or "folder"
	State      string `json:"state"`
	Size       int64  `json:"size"`
	LocalBytes int64  `json:"local_bytes"`
	// LocalOnly: never uploaded (an excluded name such as an editor's lock file, or a
	// conflict copy).
	LocalOnly bool   `json:"local_only,omitempty"`
	Error     string `json:"error,omitempty"`
	// Pin is the pin that applies (alwayslocal, onlineonly or unspecified);
	// PinInherited says it comes from a folder above.
	Pin          string `json:"pin"`
	PinInherited bool   `json:"pin_inherited"`
}

// FlushArgs are OpFlush's arguments.
type FlushArgs struct {
	// Timeout ("90s") ends the wait; "" waits until done or the client goes away.
	Timeout string `json:"timeout,omitempty"`
}

// FlushProgress is OpFlush's progress event.
type FlushProgress struct {
	Queued    int    `json:"queued"`
	Uploading string `json:"uploading,omitempty"` // path of the item in flight
	LastError string `json:"last_error,omitempty"`
}

// FlushResult is OpFlush's reply once nothing is queued any more. Refused lists the
// changes the server refused, which stay here with their error: the flush is then not
// a success.
type FlushResult struct {
	ReadOnly bool          `json:"read_only"`
	Refused  []UploadError `json:"refused"`
}

// Conflict is one conflict copy: the local version of a file both sides changed.
type Conflict struct {
	Path string `json:"path"`
	// Original is the file the copy was made from (the server's version kept its
	// name); "" when the copy's name no longer tells. OriginalExists says whether an
	// item of that name is known now.
	Original       string    `json:"original"`
	OriginalExists bool      `json:"original_exists"`
	When           time.Time `json:"when"`
	Size           int64     `json:"size"`
}

// ConflictsReply is the reply to OpConflicts.
type ConflictsReply struct {
	Conflicts []Conflict `json:"conflicts"`
}

// PinArgs are OpPin's arguments.
type PinArgs struct {
	// Wait: answer once everything below the path is local, with progress meanwhile.
	Wait bool `json:"wait,omitempty"`
}

// PinProgress is OpPin's progress event (with Wait) and, with Done, its reply: the
// files below the path and how much of them is here.
type PinProgress struct {
	Path       string `json:"path"`
	Files      int    `json:"files"`
	LocalFiles int    `json:"local_files"`
	Bytes      int64  `json:"bytes"`
	LocalBytes int64  `json:"local_bytes"`
	Done       bool   `json:"done"`
	LastError  string `json:"last_error,omitempty"`
}

// FreeArgs are OpFree's arguments.
type FreeArgs struct {
	// OlderThan ("720h"): only content not used for that long.
	OlderThan string `json:"older_than,omitempty"`
}

// FreeResult is OpFree's reply.
type FreeResult struct {
	FreedFiles int64     `json:"freed_files"`
	FreedBytes int64     `json:"freed_bytes"`
	Skipped    []Skipped `json:"skipped"`
}

// Skipped is a file whose content was kept, and why.
type Skipped struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}
