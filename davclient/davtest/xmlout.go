package davtest

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
)

// Sabre exception names used in error bodies.
const (
	exNotFound         = `Sabre\DAV\Exception\NotFound`
	exConflict         = `Sabre\DAV\Exception\Conflict`
	exForbidden        = `Sabre\DAV\Exception\Forbidden`
	exBadRequest       = `Sabre\DAV\Exception\BadRequest`
	exPrecondition     = `Sabre\DAV\Exception\PreconditionFailed`
	exMethodNotAllowed = `Sabre\DAV\Exception\MethodNotAllowed`
	exNotImplemented   = `Sabre\DAV\Exception\NotImplemented`
	exNotAuthenticated = `Sabre\DAV\Exception\NotAuthenticated`
	exInsufficient     = `Sabre\DAV\Exception\InsufficientStorage`
	exRange            = `Sabre\DAV\Exception\RequestedRangeNotSatisfiable`
	exInvalidPath      = `OCA\DAV\Connector\Sabre\Exception\InvalidPath`
	exFileLocked       = `OCA\DAV\Connector\Sabre\Exception\FileLocked`
	exServiceUnavail   = `Sabre\DAV\Exception\ServiceUnavailable`
	exInvalidArgument  = `InvalidArgumentException`
	exGeneric          = `Sabre\DAV\Exception`
)

// DAV header values seen on a Nextcloud 29 server: the new endpoint announces more
// than the legacy one.
const (
	davHeaderNew    = "1, 3, extended-mkcol, access-control, calendarserver-principal-property-search, nextcloud-checksum-update, nc-calendar-search, nc-enable-birthday-calendar"
	davHeaderLegacy = "1, 3, extended-mkcol, nextcloud-checksum-update"
	allowHeader     = "OPTIONS, GET, HEAD, DELETE, PROPFIND, PUT, PROPPATCH, COPY, MOVE, REPORT"
)

// davError is an answer in Sabre's error format.
type davError struct {
	status    int
	exception string
	message   string
	// header names the request header that failed a precondition (s:header).
	header string
	// invalidPath adds Nextcloud's o:retry/o:reason elements.
	invalidPath bool
	// etag, when set, is sent as the current ETag (412 on a stale If-Match).
	etag string
}

func notFound(rel string) *davError {
	return &davError{status: http.StatusNotFound, exception: exNotFound,
		message: "File with name /" + rel + " could not be located"}
}

func forbidden(msg string) *davError {
	return &davError{status: http.StatusForbidden, exception: exForbidden, message: msg}
}

func conflict(msg string) *davError {
	return &davError{status: http.StatusConflict, exception: exConflict, message: msg}
}

func badRequest(msg string) *davError {
	return &davError{status: http.StatusBadRequest, exception: exBadRequest, message: msg}
}

func preconditionFailed(header, msg, etag string) *davError {
	return &davError{status: http.StatusPreconditionFailed, exception: exPrecondition,
		message: msg, header: header, etag: etag}
}

func insufficientStorage(msg string) *davError {
	return &davError{status: http.StatusInsufficientStorage, exception: exInsufficient, message: msg}
}

// exceptionFor names a plausible Sabre exception for a bare status (fault hooks).
func exceptionFor(status int) string {
	switch status {
	case http.StatusNotFound:
		return exNotFound
	case http.StatusConflict:
		return exConflict
	case http.StatusForbidden:
		return exForbidden
	case http.StatusBadRequest:
		return exBadRequest
	case http.StatusPreconditionFailed:
		return exPrecondition
	case http.StatusUnauthorized:
		return exNotAuthenticated
	case http.StatusInsufficientStorage:
		return exInsufficient
	case http.StatusServiceUnavailable:
		return exServiceUnavail
	case http.StatusNotImplemented:
		return exNotImplemented
	case http.StatusLocked:
		return exFileLocked // another client's upload holds the file
	}
	return exGeneric
}

func writeDavError(w http.ResponseWriter, e *davError) {
	h := w.Header()
	h.Set("Content-Type", "application/xml; charset=utf-8")
	if e.etag != "" {
		h.Set("ETag", `"`+e.etag+`"`)
	}
	if e.status == http.StatusMethodNotAllowed {
		h.Set("Allow", allowHeader)
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
	if e.invalidPath {
		b.WriteString(`<d:error xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns" xmlns:o="http://owncloud.org/ns">` + "\n")
	} else {
		b.WriteString(`<d:error xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns">` + "\n")
	}
	b.WriteString("  <s:exception>")
	xmlEscapeTo(&b, e.exception)
	b.WriteString("</s:exception>\n")
	if e.message == "" {
		b.WriteString("  <s:message/>\n")
	} else {
		b.WriteString("  <s:message>")
		xmlEscapeTo(&b, e.message)
		b.WriteString("</s:message>\n")
	}
	if e.header != "" {
		b.WriteString("  <s:header>")
		xmlEscapeTo(&b, e.header)
		b.WriteString("</s:header>\n")
	}
	if e.invalidPath {
		b.WriteString("  <o:retry>false</o:retry>\n  <o:reason>")
		xmlEscapeTo(&b, e.message)
		b.WriteString("</o:reason>\n")
	}
	b.WriteString("</d:error>\n")
	h.Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(e.status)
	_, _ = w.Write([]byte(b.String()))
}

// stringWriter is what the escapers write to: a bufio.Writer or a strings.Builder.
type stringWriter interface {
	WriteString(string) (int, error)
}

// xmlEscapeTo writes s as XML character data, escaping runs rather than bytes.
func xmlEscapeTo(w stringWriter, s string) {
	last := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '&':
			esc = "&amp;"
		case '"':
			esc = "&quot;"
		case '\'':
			esc = "&apos;"
		case '\r':
			esc = "&#13;"
		default:
			continue
		}
		_, _ = w.WriteString(s[last:i])
		_, _ = w.WriteString(esc)
		last = i + 1
	}
	_, _ = w.WriteString(s[last:])
}

// hrefSafe marks the bytes Sabre leaves as they are in an href; every other byte is
// percent-encoded with lowercase hex (so ':' and '@' stay, '+', '&', '*' are encoded).
var hrefSafe = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "_-.~()/:@" {
		t[c] = true
	}
	return t
}()

const lowerHex = "0123456789abcdef"

// writeEncodedPath percent-encodes p (a path, '/' kept) straight into w.
func writeEncodedPath(w *bufio.Writer, p string) {
	last := 0
	for i := 0; i < len(p); i++ {
		c := p[i]
		if hrefSafe[c] {
			continue
		}
		_, _ = w.WriteString(p[last:i])
		_ = w.WriteByte('%')
		_ = w.WriteByte(lowerHex[c>>4])
		_ = w.WriteByte(lowerHex[c&15])
		last = i + 1
	}
	_, _ = w.WriteString(p[last:])
}

// encodePath is writeEncodedPath into a string.
func encodePath(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if hrefSafe[c] {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(lowerHex[c>>4])
		b.WriteByte(lowerHex[c&15])
	}
	return b.String()
}
