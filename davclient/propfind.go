package davclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// StatBody asks for one item (Depth 0) with every property ncvfs reads; an empty body
// (allprop) would omit the oc: ones. Generic servers answer the unknown ones in a 404
// propstat, which is ignored.
const StatBody = `<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns">
 <d:prop>
  <d:resourcetype/>
  <d:getetag/>
  <d:getlastmodified/>
  <d:getcontentlength/>
  <d:getcontenttype/>
  <d:quota-available-bytes/>
  <d:quota-used-bytes/>
  <oc:fileid/>
  <oc:size/>
  <oc:permissions/>
  <oc:checksums/>
  <oc:owner-id/>
  <oc:owner-display-name/>
  <oc:data-fingerprint/>
 </d:prop>
</d:propfind>
`

// ListBody asks a folder's listing (Depth 1) for what a placeholder needs, and no more:
// a listing is one of Nextcloud's most expensive requests and every property costs on
// both ends (a 5,000-entry answer is a quarter smaller than with StatBody's). Quota
// (computed per folder by the server) is asked for in the root's listing only
// (listRootBody); the data fingerprint comes from discovery; content types are of no use
// to a file system; oc:fileid is the identity (oc:id only repeats it).
// Exported so that benchmarks can send the very same request.
const ListBody = `<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns">
 <d:prop>
  <d:resourcetype/>
  <d:getetag/>
  <d:getlastmodified/>
  <d:getcontentlength/>
  <oc:fileid/>
  <oc:size/>
  <oc:permissions/>
  <oc:checksums/>
  <oc:owner-id/>
  <oc:owner-display-name/>
 </d:prop>
</d:propfind>
`

// listRootBody is ListBody with the quota, for the root: statfs shows the account's quota
// as its root reports it, also on servers whose folders are relisted rather than checked
// with a Depth-0 request (generic WebDAV).
var listRootBody = strings.Replace(ListBody, "  <oc:fileid/>\n",
	"  <d:quota-available-bytes/>\n  <d:quota-used-bytes/>\n  <oc:fileid/>\n", 1)

// Stat returns one item (PROPFIND Depth 0).
func (c *Client) Stat(ctx context.Context, path string) (Entry, error) {
	files, rootPath, err := c.endpoints(ctx)
	if err != nil {
		return Entry{}, err
	}
	u, err := pathURL(files, path, false)
	if err != nil {
		return Entry{}, err
	}
	scope := newHrefScope(c.host, rootPath, path)
	e, err := c.propfind(ctx, "stat", path, u, scope, nil)
	var de *Error
	if path != "" && errors.As(err, &de) && de.Status >= 300 && de.Status < 400 {
		// Some servers redirect a folder named without its trailing slash.
		return c.propfind(ctx, "stat", path, u+"/", scope, nil)
	}
	return e, err
}

// List returns the folder's own entry and calls fn once per valid child, in document
// order, while the answer streams in. Invalid children are skipped with a log line. If
// fn returns an error the listing stops and List returns it. A failure after fn was first
// called is not retried (the caller relists); entries already passed to fn stand. The
// returned entry may be a file when path names one: callers check IsDir.
func (c *Client) List(ctx context.Context, path string, fn func(Entry) error) (Entry, error) {
	files, rootPath, err := c.endpoints(ctx)
	if err != nil {
		return Entry{}, err
	}
	u, err := pathURL(files, path, path != "")
	if err != nil {
		return Entry{}, err
	}
	return c.propfind(ctx, "list", path, u, newHrefScope(c.host, rootPath, path), fn)
}

// propfind runs PROPFIND at Depth 0 (fn nil) or 1 and decodes the answer. A failure
// before any child reached fn is retried like any idempotent request.
func (c *Client) propfind(ctx context.Context, op, path, u string, scope hrefScope, fn func(Entry) error) (Entry, error) {
	depth, reqBody := "0", StatBody
	switch {
	case fn != nil && path == "":
		depth, reqBody = "1", listRootBody
	case fn != nil:
		depth, reqBody = "1", ListBody
	}
	cl := call{
		op: op, path: path, method: "PROPFIND", url: u, idempotent: true,
		header: http.Header{
			"Depth":        {depth},
			"Content-Type": {"application/xml; charset=utf-8"},
		},
		body: func() io.Reader { return strings.NewReader(reqBody) },
		size: int64(len(reqBody)),
	}
	var self Entry
	var yielded bool
	err := c.withRetry(ctx, op, path, true, func() (time.Duration, error) {
		resp, err := c.do(ctx, cl)
		if err != nil {
			// do already retried; do not multiply attempts.
			return 0, permanent{err}
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusMultiStatus {
			return 0, &Error{Op: op, Path: path, Status: resp.StatusCode, Kind: ErrBadResponse,
				Message: "PROPFIND did not answer 207 Multi-Status; the URL is probably not a WebDAV endpoint"}
		}
		var gotSelf bool
		m := &msDecoder{
			scope: scope, dir: path, log: c.log, badDate: &c.once.badDate,
			onSelf: func(e Entry) { self, gotSelf = e, true },
		}
		if fn != nil {
			m.onChild = func(e Entry) error {
				yielded = true
				return fn(e)
			}
		}
		body := &readErrRecorder{r: resp.Body}
		if err := m.decode(body); err != nil {
			return 0, c.decodeError(ctx, op, path, err, body.err, yielded)
		}
		if !gotSelf {
			return 0, &Error{Op: op, Path: path, Status: resp.StatusCode, Kind: ErrBadResponse,
				Message: "the answer did not describe the item asked for"}
		}
		return 0, nil
	})
	var p permanent
	if errors.As(err, &p) {
		err = p.err
	}
	if err != nil {
		return Entry{}, err
	}
	return self, nil
}

// permanent stops withRetry from retrying an error that was already retried or must not be.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }

// decodeError classifies a failed decode: the body's own read error means the
// connection broke (transient, retried only if nothing was yielded yet), bad XML means
// a bad server.
func (c *Client) decodeError(ctx context.Context, op, path string, decErr, readErr error, yielded bool) error {
	var cb errCallback
	if errors.As(decErr, &cb) {
		return permanent{cb.err}
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return permanent{fmt.Errorf("davclient: %s %q: %w", op, path, ctxErr)}
	}
	if readErr != nil {
		e := &Error{Op: op, Path: path, Status: http.StatusMultiStatus, Kind: ErrTransient,
			Message: "the answer was cut off", Cause: readErr}
		if yielded {
			return permanent{e}
		}
		return e
	}
	e := &Error{Op: op, Path: path, Status: http.StatusMultiStatus, Kind: ErrBadResponse, Cause: decErr}
	switch {
	case errors.Is(decErr, errNotMultistatus):
		e.Cause = nil
		e.Message = decErr.Error()
	case errors.Is(decErr, io.ErrUnexpectedEOF):
		e.Message = "the multistatus ends before it is complete"
	default:
		e.Message = "malformed multistatus XML"
	}
	return permanent{e}
}

// readErrRecorder remembers a read failure other than EOF (a broken connection), which
// encoding/xml would otherwise report like a syntax error.
type readErrRecorder struct {
	r   io.Reader
	err error
}

func (r *readErrRecorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF && r.err == nil {
		r.err = err
	}
	return n, err
}
