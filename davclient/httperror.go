package davclient

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

const (
	maxErrorBody   = 64 << 10 // read at most this much of an error answer
	maxMessageLen  = 300      // runes of s:message kept in Error.Message
	sabreNamespace = "http://sabredav.org/ns"
)

// kindForStatus maps an HTTP status to its sentinel. op matters for 405: on MKCOL it
// means the folder exists.
func kindForStatus(op string, status int) error {
	switch status {
	case http.StatusUnauthorized:
		return ErrUnauthorized
	case http.StatusForbidden:
		return ErrForbidden
	case http.StatusNotFound, http.StatusGone:
		return ErrNotFound
	case http.StatusMethodNotAllowed:
		if op == "mkcol" {
			return ErrExists
		}
		return ErrUnsupported
	case http.StatusConflict:
		return ErrConflict
	case http.StatusPreconditionFailed:
		return ErrPrecondition
	case http.StatusLocked:
		return ErrLocked
	case http.StatusInsufficientStorage:
		return ErrInsufficientStorage
	case http.StatusTooManyRequests:
		return ErrTransient
	case http.StatusNotImplemented, http.StatusHTTPVersionNotSupported:
		// Retrying will not make the server grow the feature (LOCK answers 501).
		return ErrUnsupported
	}
	switch {
	case status >= 500:
		return ErrTransient
	case status >= 400:
		return ErrBadRequest
	}
	// 1xx, 3xx and 2xx statuses a caller did not expect.
	return ErrBadResponse
}

// statusError turns an unwanted answer into an *Error, reading (a bounded part of) the
// body for the server's explanation, and closes the body.
func (c *Client) statusError(op, path string, resp *http.Response) *Error {
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &Error{Op: op, Path: path, Status: resp.StatusCode, Kind: kindForStatus(op, resp.StatusCode)}
	e.Message = sabreMessage(body)
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		if loc := resp.Header.Get("Location"); loc != "" {
			e.Message = "redirected to " + redactURL(loc) + "; use that URL"
		}
	}
	return e
}

// sabreMessage extracts <s:message> from a Sabre error body, cleaned and truncated.
func sabreMessage(body []byte) string {
	if !bytes.Contains(body, []byte("message")) {
		return ""
	}
	d := xml.NewDecoder(bytes.NewReader(body))
	depth := 0 // > 0 inside s:message
	var text strings.Builder
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth > 0 || (t.Name.Space == sabreNamespace && t.Name.Local == "message") {
				depth++
			}
		case xml.CharData:
			if depth > 0 && text.Len() < 4*maxMessageLen {
				text.Write(t)
			}
		case xml.EndElement:
			if depth > 0 {
				depth--
				if depth == 0 {
					return cleanMessage(text.String())
				}
			}
		}
	}
	return cleanMessage(text.String())
}

// cleanMessage keeps server text safe to print: no control characters, bounded length.
func cleanMessage(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > maxMessageLen {
		r := []rune(s)
		s = string(r[:maxMessageLen]) + "…"
	}
	return s
}

// redactURL drops userinfo and query from a URL the server handed us before it is shown.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	u.User = nil
	u.RawQuery = ""
	u.Fragment = ""
	return cleanMessage(u.String())
}
