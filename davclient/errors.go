package davclient

import (
	"errors"
	"fmt"
)

// Sentinels callers test with errors.Is. Every error the client returns for an HTTP
// answer is an *Error wrapping exactly one of them.
var (
	ErrNotFound            = errors.New("not found on the server")                                      // 404, 410
	ErrPrecondition        = errors.New("the server copy changed (precondition failed)")                // 412
	ErrUnauthorized        = errors.New("the server refused the credentials")                           // 401
	ErrForbidden           = errors.New("the server forbids this")                                      // 403
	ErrInsufficientStorage = errors.New("not enough space on the server (quota)")                       // 507
	ErrLocked              = errors.New("the item is locked on the server")                             // 423
	ErrConflict            = errors.New("conflict: a parent folder is missing or the item is a folder") // 409
	ErrExists              = errors.New("the item already exists")                                      // 405 on MKCOL
	ErrBadRequest          = errors.New("the server refused the request as invalid")                    // 400, 415, 416
	ErrTransient           = errors.New("the server is unreachable or failing, try again later")        // network, 5xx, 429
	ErrBadResponse         = errors.New("the server sent an answer ncvfs cannot use")                   // bad XML, wrong type
	ErrUnsupported         = errors.New("the server does not support this")                             // 501, chunked upload on generic WebDAV
	ErrTLS                 = errors.New("no secure connection to the server")                           // https to a plain-HTTP server, bad certificate
)

// Error describes one failed request.
type Error struct {
	Op     string // "propfind", "get", "put", ...
	Path   string // relative path
	Status int    // HTTP status, 0 for transport errors
	// Message is the server's explanation (Sabre s:message) when it sent one.
	Message string
	// Kind is one of the sentinels above.
	Kind error
	// Cause is the underlying transport or decode error, if any.
	Cause error
}

func (e *Error) Error() string {
	s := fmt.Sprintf("davclient: %s %q: %v", e.Op, e.Path, e.Kind)
	if e.Status != 0 {
		s += fmt.Sprintf(" (HTTP %d)", e.Status)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Cause != nil {
		s += ": " + e.Cause.Error()
	}
	return s
}

// Unwrap lets errors.Is match both the sentinel and the cause (context.Canceled, ...).
func (e *Error) Unwrap() []error {
	if e.Cause != nil {
		return []error{e.Kind, e.Cause}
	}
	return []error{e.Kind}
}
