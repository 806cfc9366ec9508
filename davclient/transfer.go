package davclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// Get opens a download of path (or of a byte range of it). The caller closes Body.
// Read errors from Body are *Error (ErrTransient) or match context.Canceled.
func (c *Client) Get(ctx context.Context, path string, opt GetOptions) (*GetResponse, error) {
	if opt.Offset < 0 {
		return nil, fmt.Errorf("davclient: get %q: negative offset %d", path, opt.Offset)
	}
	files, _, err := c.endpoints(ctx)
	if err != nil {
		return nil, err
	}
	u, err := pathURL(files, path, false)
	if err != nil {
		return nil, err
	}
	// Content is fetched as is: gzip would weaken the ETag and hide the length.
	h := http.Header{"Accept-Encoding": {"identity"}}
	ranged := opt.Offset > 0 || opt.Length > 0
	if ranged {
		if opt.Length > 0 {
			h.Set("Range", fmt.Sprintf("bytes=%d-%d", opt.Offset, opt.Offset+opt.Length-1))
		} else {
			h.Set("Range", fmt.Sprintf("bytes=%d-", opt.Offset))
		}
	}
	// A weak ETag never matches If-Match (RFC 9110 compares strongly): it would only
	// fetch a 412. Without the header, the answer's ETag is compared instead (below).
	if opt.IfMatch != "" && !IsWeak(opt.IfMatch) {
		h.Set("If-Match", opt.IfMatch)
	}
	resp, err := c.do(ctx, call{op: "get", path: path, method: http.MethodGet, url: u, header: h, idempotent: true})
	if err != nil {
		return nil, err
	}
	g, err := c.openDownload(ctx, path, opt, ranged, resp)
	if err != nil {
		drainClose(resp.Body)
		return nil, err
	}
	return g, nil
}

// openDownload checks a 2xx GET answer and shapes its body to the range asked for.
func (c *Client) openDownload(ctx context.Context, path string, opt GetOptions, ranged bool, resp *http.Response) (*GetResponse, error) {
	fail := func(kind error, msg string) error {
		return &Error{Op: "get", Path: path, Status: resp.StatusCode, Kind: kind, Message: msg}
	}
	etag := resp.Header.Get("ETag")
	if etag == "" {
		etag = resp.Header.Get("OC-ETag")
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "text/html" && etag == "" {
		// Nextcloud answers GET on a folder with 200 and an HTML page.
		return nil, fail(ErrBadResponse, "the server sent a web page without an ETag (GET on a folder?)")
	}
	if opt.IfMatch != "" && etag != "" && !SameVersion(etag, opt.IfMatch) {
		return nil, fail(ErrPrecondition, "the file changed on the server (ETag "+cleanMessage(etag)+")")
	}
	g := &GetResponse{
		ETag:      etag,
		Checksum:  resp.Header.Get("OC-Checksum"),
		Length:    -1,
		TotalSize: -1,
	}
	var body io.Reader = resp.Body
	switch resp.StatusCode {
	case http.StatusPartialContent:
		start, end, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != opt.Offset {
			return nil, fail(ErrBadResponse, "206 answer with a missing or different Content-Range")
		}
		g.Partial, g.Offset, g.Length, g.TotalSize = true, start, end-start+1, total
		if opt.Length > 0 && g.Length > opt.Length {
			g.Length = opt.Length
		}
		body = io.LimitReader(resp.Body, g.Length)
	case http.StatusOK:
		g.TotalSize = resp.ContentLength
		g.Length = resp.ContentLength
		if ranged {
			// The server ignored Range: skip to the offset ourselves rather than hand
			// back the wrong bytes.
			c.log.Debug("davclient: server ignored Range", "op", "get", "path", path, "offset", opt.Offset)
			if _, err := io.CopyN(io.Discard, resp.Body, opt.Offset); err != nil {
				if errors.Is(err, io.EOF) {
					return nil, fail(ErrBadRequest, "the range starts past the end of the file")
				}
				return nil, c.bodyError(ctx, "get", path, err)
			}
			g.Offset = opt.Offset
			g.Length = -1
			if g.TotalSize >= 0 {
				g.Length = g.TotalSize - opt.Offset
			}
			if opt.Length > 0 {
				if g.Length < 0 || g.Length > opt.Length {
					g.Length = opt.Length
				}
				body = io.LimitReader(resp.Body, opt.Length)
			}
		}
	default:
		return nil, fail(ErrBadResponse, "unexpected status for GET")
	}
	g.Body = &downloadBody{r: body, c: resp.Body, ctx: ctx, client: c, path: path}
	return g, nil
}

// downloadBody turns read failures into the package's errors.
type downloadBody struct {
	r      io.Reader
	c      io.Closer
	ctx    context.Context
	client *Client
	path   string
}

func (b *downloadBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF {
		err = b.client.bodyError(b.ctx, "get", b.path, err)
	}
	return n, err
}

func (b *downloadBody) Close() error { return b.c.Close() }

// bodyError classifies a failure while reading an answer's body.
func (c *Client) bodyError(ctx context.Context, op, path string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("davclient: %s %q: %w", op, path, ctxErr)
	}
	return &Error{Op: op, Path: path, Kind: ErrTransient, Message: "the download was cut off", Cause: err}
}

// parseContentRange reads "bytes a-b/total" (total may be "*": -1).
func parseContentRange(v string) (start, end, total int64, ok bool) {
	v, found := strings.CutPrefix(strings.TrimSpace(v), "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	rng, tot, found := strings.Cut(v, "/")
	if !found {
		return 0, 0, 0, false
	}
	a, b, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, 0, false
	}
	total = -1
	if tot != "*" {
		t, err := strconv.ParseInt(tot, 10, 64)
		if err != nil || t <= end {
			return 0, 0, 0, false
		}
		total = t
	}
	return start, end, total, true
}

// SameVersion reports whether two ETags, as servers send them, name the same version of
// an item: equal, or equal but for the weak marker. Apache answers W/"x" for a file
// modified within the current second and "x" for the same file a second later (its tag
// is made of size and mtime in microseconds, so the value alone names the version), and a
// proxy that compresses may weaken a tag without changing the content. An empty ETag
// names no version. Never use a weak ETag for If-Match: it never matches.
func SameVersion(a, b string) bool {
	return a != "" && b != "" && StrongForm(a) == StrongForm(b)
}

// IsWeak reports whether etag carries the weak marker W/.
func IsWeak(etag string) bool { return strings.HasPrefix(etag, "W/") }

// StrongForm is etag without its weak marker: the form a server announces once the
// version is settled (see SameVersion).
func StrongForm(etag string) string { return strings.TrimPrefix(etag, "W/") }

// Put uploads body (exactly size bytes; -1 if unknown) to path in one request. It is
// never retried: the body is read once, and a repeated PUT after a lost answer could
// overwrite someone else's change.
func (c *Client) Put(ctx context.Context, path string, body io.Reader, size int64, opt PutOptions) (PutResult, error) {
	files, _, err := c.endpoints(ctx)
	if err != nil {
		return PutResult{}, err
	}
	if path == "" {
		return PutResult{}, fmt.Errorf("davclient: put: cannot upload onto the root folder")
	}
	u, err := pathURL(files, path, false)
	if err != nil {
		return PutResult{}, err
	}
	if body == nil {
		if size > 0 {
			return PutResult{}, fmt.Errorf("davclient: put %q: nil body for %d bytes", path, size)
		}
		body = http.NoBody
	}
	resp, err := c.do(ctx, call{
		op: "put", path: path, method: http.MethodPut, url: u,
		header: putHeaders(opt), body: func() io.Reader { return body }, size: size,
	})
	if err != nil {
		return PutResult{}, err
	}
	defer drainClose(resp.Body)
	return putResult(resp), nil
}

func putHeaders(opt PutOptions) http.Header {
	h := http.Header{"Content-Type": {"application/octet-stream"}}
	if !opt.ModTime.IsZero() {
		h.Set("X-OC-Mtime", strconv.FormatInt(opt.ModTime.Unix(), 10))
	}
	if opt.Checksum != "" {
		h.Set("OC-Checksum", opt.Checksum)
	}
	if opt.RequestHash {
		h.Set("X-Hash", "sha1")
	}
	if opt.IfMatch != "" {
		h.Set("If-Match", opt.IfMatch)
	}
	if opt.IfNoneMatchAny {
		h.Set("If-None-Match", "*")
	}
	return h
}

func putResult(resp *http.Response) PutResult {
	r := PutResult{
		ETag:          resp.Header.Get("ETag"),
		FileID:        leadingNumber(resp.Header.Get("OC-FileId")),
		HashSHA1:      strings.ToLower(strings.TrimSpace(resp.Header.Get("X-Hash-SHA1"))),
		MtimeAccepted: strings.EqualFold(strings.TrimSpace(resp.Header.Get("X-OC-MTime")), "accepted"),
		Created:       resp.StatusCode == http.StatusCreated,
	}
	if r.ETag == "" {
		r.ETag = resp.Header.Get("OC-ETag")
	}
	return r
}

// VerifySHA1 compares the hash the server computed of what it stored (X-Hash-SHA1)
// with the one the caller computed. It returns nil when the server sent no hash (a
// server without X-Hash support): check HashSHA1 != "" to know it was verified.
func (r PutResult) VerifySHA1(hex string) error {
	if r.HashSHA1 == "" {
		return nil
	}
	if !strings.EqualFold(strings.TrimSpace(hex), r.HashSHA1) {
		return &Error{Op: "put", Kind: ErrBadResponse,
			Message: fmt.Sprintf("the server stored SHA1 %s but the data sent has SHA1 %s; upload again", r.HashSHA1, hex)}
	}
	return nil
}

// drainClose reads a little of what is left so the connection can be reused.
func drainClose(rc io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(rc, 64<<10))
	_ = rc.Close()
}
