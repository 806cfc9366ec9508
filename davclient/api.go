// Package davclient speaks Nextcloud's (and ownCloud's) WebDAV dialect over net/http.
//
// It owns the wire: PROPFIND (streamed, validated), GET with ranges, conditional PUT,
// MKCOL/MOVE/COPY/DELETE, chunked upload v2, OCS discovery, typed errors and retries.
// It knows nothing of caches, FUSE or files on disk, and it never logs credentials.
//
// Paths given to and returned by the client are relative to the account's files root:
// slash-separated, no leading or trailing slash, "" for the root itself
// ("Photos/2024/a b.jpg"). The client percent-encodes them on the way out and decodes
// and validates hrefs on the way in.
package davclient

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Dialect says which server family answered discovery.
type Dialect int

const (
	// DialectNextcloud: OCS answered; oc:fileid, oc:permissions, quota and propagated
	// folder ETags are available.
	DialectNextcloud Dialect = iota + 1
	// DialectGeneric: a plain WebDAV server (Apache mod_dav, rclone serve, ...): no file
	// ids (the path is the identity), no permissions (everything allowed), no quota,
	// and folder ETags do not propagate to the root.
	DialectGeneric
)

func (d Dialect) String() string {
	switch d {
	case DialectNextcloud:
		return "nextcloud"
	case DialectGeneric:
		return "generic-webdav"
	}
	return "unknown"
}

// Entry is one item of a PROPFIND answer, decoded and validated.
type Entry struct {
	// Path is relative to the files root ("" is the root). Name is its last element.
	Path  string
	Name  string
	IsDir bool
	// Size is getcontentlength for files and oc:size (whole subtree) for folders;
	// -1 when the server did not say.
	Size    int64
	ModTime time.Time
	// ETag is kept verbatim, quotes and W/ prefix included.
	ETag string
	// FileID is oc:fileid; 0 when the server has none (generic WebDAV).
	FileID uint64
	// Permissions is the raw oc:permissions string ("RGDNVW"); HasPermissions is false
	// when the server did not send the property (then everything is allowed).
	Permissions    string
	HasPermissions bool
	// Checksums is the content of oc:checksums/oc:checksum ("SHA1:ab.. MD5:.."), or "".
	Checksums        string
	OwnerID          string
	OwnerDisplayName string
	ContentType      string
	// Quota, folders only; HasQuota false when absent. Negative available means
	// unknown or unlimited (-3 = unlimited on Nextcloud).
	QuotaUsed      int64
	QuotaAvailable int64
	HasQuota       bool
	// DataFingerprint is oc:data-fingerprint (root only); changes after a server restore.
	DataFingerprint string
}

// Perm is a set of oc:permissions letters.
type Perm uint16

const (
	PermShared       Perm = 1 << iota // S
	PermReshare                       // R
	PermMounted                       // M
	PermReadable                      // G
	PermWrite                         // W: can write the file
	PermCreateFile                    // C: can create files in the folder
	PermCreateFolder                  // K: can create folders in the folder
	PermDelete                        // D
	PermRename                        // N
	PermMove                          // V
)

// PermAll is what an item without oc:permissions is treated as having.
const PermAll = PermReadable | PermWrite | PermCreateFile | PermCreateFolder | PermDelete |
	PermRename | PermMove

// ParsePerm reads an oc:permissions string; unknown letters are ignored.
func ParsePerm(s string) Perm {
	var p Perm
	for _, c := range s {
		switch c {
		case 'S':
			p |= PermShared
		case 'R':
			p |= PermReshare
		case 'M':
			p |= PermMounted
		case 'G':
			p |= PermReadable
		case 'W':
			p |= PermWrite
		case 'C':
			p |= PermCreateFile
		case 'K':
			p |= PermCreateFolder
		case 'D':
			p |= PermDelete
		case 'N':
			p |= PermRename
		case 'V':
			p |= PermMove
		}
	}
	return p
}

// Perm returns the parsed permissions, PermAll when the server sent none.
func (e *Entry) Perm() Perm {
	if !e.HasPermissions {
		return PermAll
	}
	return ParsePerm(e.Permissions)
}

// Config says how to reach one account.
type Config struct {
	// URL is what the user typed: a Nextcloud/ownCloud base URL
	// ("https://cloud.example.com" or with a sub-path), a files URL
	// (".../remote.php/dav/files/<user>" or ".../remote.php/webdav"), or the root URL of
	// any WebDAV server.
	URL      string
	User     string
	Password string
	// InsecureSkipVerify turns off TLS verification; only when the user asks for it.
	InsecureSkipVerify bool
	// HTTPClient, when set, is used as is (tests); otherwise the client builds one with
	// keep-alive, gzip and sane timeouts.
	HTTPClient *http.Client
	// Retry bounds retries of idempotent requests; the zero value means the defaults.
	Retry RetryPolicy
	// Logger gets one line per notable event (skipped hrefs, fallbacks, retries).
	Logger *slog.Logger
	// UserAgent, or a default naming ncvfs.
	UserAgent string
}

// RetryPolicy is capped exponential backoff with full jitter, for idempotent requests
// only (PROPFIND, GET, HEAD, OPTIONS, OCS GETs, and the PUT of a chunk into a private
// upload folder). PUT/MOVE/COPY/DELETE/MKCOL are never retried blindly: after a lost
// answer the retry's answer misleads (a retried DELETE answers 404).
type RetryPolicy struct {
	MaxAttempts int           // total attempts including the first; default 4
	BaseDelay   time.Duration // default 200ms
	MaxDelay    time.Duration // default 5s
}

// ServerInfo is what discovery learned.
type ServerInfo struct {
	Dialect Dialect
	// UserID is the id in the files URL (may differ from the login name with LDAP/SSO).
	UserID string
	// FilesURL is the absolute URL of the files root, ending in "/".
	FilesURL string
	// Version is the server's version string when known ("29.0.6").
	Version      string
	Capabilities Capabilities
	// Root is the root folder itself (PROPFIND Depth 0), which also proves the
	// credentials work.
	Root Entry
}

// Capabilities holds the OCS capability keys ncvfs uses. Zero values mean "not announced".
type Capabilities struct {
	PollInterval                int // core.pollinterval, seconds
	ChunkingVersion             string
	BulkUpload                  string
	BlacklistedFiles            []string
	ForbiddenFilenameCharacters []string
	Undelete                    bool
	Versioning                  bool
	ChecksumSupportedTypes      []string
	ChecksumPreferredUploadType string
	NotifyPushWebsocket         string
	// Raw is the whole "capabilities" JSON object, for later needs.
	Raw []byte
}

// GetOptions shape a GET.
type GetOptions struct {
	// Offset and Length select a byte range; Length <= 0 means "to the end".
	// A zero Offset and Length fetch the whole file without a Range header.
	Offset int64
	Length int64
	// IfMatch, when set, makes the server refuse (412 -> ErrPrecondition) if the file's
	// ETag is no longer this one. The client also compares the answer's ETag.
	IfMatch string
}

// GetResponse is an open download. The caller must Close Body.
type GetResponse struct {
	Body io.ReadCloser
	// ETag of the bytes in Body (ETag or OC-ETag header), verbatim.
	ETag string
	// Offset of the first byte of Body, and Length of Body (-1 if unknown).
	Offset int64
	Length int64
	// TotalSize is the whole file's size when known (Content-Range or Content-Length of a
	// 200), else -1.
	TotalSize int64
	// Checksum is the OC-Checksum header ("SHA1:<hex>") if any.
	Checksum string
	// Partial is true for a 206 answer.
	Partial bool
}

// PutOptions shape an upload.
type PutOptions struct {
	// IfMatch: update only if the server copy still has this ETag (else ErrPrecondition).
	IfMatch string
	// IfNoneMatchAny: create only if nothing exists there (else ErrPrecondition).
	IfNoneMatchAny bool
	// ModTime is sent as X-OC-Mtime (unix seconds) when non-zero.
	ModTime time.Time
	// Checksum is sent as OC-Checksum ("SHA1:<hex>") when non-empty.
	Checksum string
	// RequestHash asks a Nextcloud server to hash what it stored (X-Hash: sha1).
	RequestHash bool
}

// PutResult is what the server answered to a successful upload.
type PutResult struct {
	ETag   string
	FileID uint64
	// HashSHA1 is X-Hash-SHA1 when the server sent it (lowercase hex).
	HashSHA1 string
	// MtimeAccepted is true when the server answered X-OC-MTime: accepted.
	MtimeAccepted bool
	Created       bool // 201 rather than 204
}

// ChunkedOptions shape a chunked upload v2.
type ChunkedOptions struct {
	PutOptions
	// ChunkSize; default 10 MiB. Nextcloud accepts 5 MiB..5 GiB except the last chunk.
	ChunkSize int64
	// TransferID names the upload folder; a stable id lets a restarted upload resume
	// (existing chunks of the right size are skipped). Generated when empty.
	TransferID string
}

// Client is safe for concurrent use.
type Client struct {
	cfg    Config
	hc     *http.Client
	log    *slog.Logger
	info   ServerInfo // set by Discover
	filesU string     // files root URL, ending in "/"
	baseU  string     // server base URL (before /remote.php), for OCS and uploads

	mu         sync.RWMutex // guards info, filesU, baseU, rootPath (set by New, then Discover)
	discoverMu sync.Mutex   // one Discover at a time
	rootPath   string       // decoded path of filesU, the prefix every href must carry
	host       string       // scheme-less authority of the server, for full-URL hrefs
	retry      RetryPolicy  // cfg.Retry with defaults filled in
	once       onceFlags    // log lines written at most once per client
}

// Interface lists what the rest of ncvfs uses of a client, so a test can wrap it.
type Interface interface {
	Info() ServerInfo
	Stat(ctx context.Context, path string) (Entry, error)
	List(ctx context.Context, path string, fn func(Entry) error) (Entry, error)
	Get(ctx context.Context, path string, opt GetOptions) (*GetResponse, error)
	Put(ctx context.Context, path string, body io.Reader, size int64, opt PutOptions) (PutResult, error)
	UploadChunked(ctx context.Context, path string, r io.ReaderAt, size int64, opt ChunkedOptions) (PutResult, error)
	Mkcol(ctx context.Context, path string) (uint64, error)
	Move(ctx context.Context, from, to string, overwrite bool, ifMatch string) error
	Copy(ctx context.Context, from, to string, overwrite bool) (uint64, error)
	Delete(ctx context.Context, path string, ifMatch string) error
	RecalculateChecksum(ctx context.Context, path string) (string, error)
}

var _ Interface = (*Client)(nil)
