package davclient

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// TrashEntry is one item of the account's trash bin (Nextcloud's files_trashbin).
type TrashEntry struct {
	// Key is the item's name in the trash folder ("<name>.d<unix time>"); restoring
	// moves it by this name.
	Key string
	// Name is the name it had; OriginalPath where it was, relative to the account's
	// files root (the user's root, not a sub-folder given in the URL).
	Name         string
	OriginalPath string
	DeletedAt    time.Time
	IsDir        bool
	Size         int64 // -1 when not sent
	FileID       uint64
}

const trashListBody = `<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns">
 <d:prop>
  <nc:trashbin-filename/>
  <nc:trashbin-original-location/>
  <nc:trashbin-deletion-time/>
  <d:getcontentlength/>
  <d:resourcetype/>
  <oc:fileid/>
 </d:prop>
</d:propfind>
`

// ListTrash calls fn for each item of the trash bin (PROPFIND Depth 1 of
// /remote.php/dav/trashbin/<user>/trash), in the server's order, while the answer
// streams in. A deleted folder is one item; its content is not listed. Servers without
// a trash bin (generic WebDAV) give ErrUnsupported; an error from fn stops the listing
// and is returned as is.
func (c *Client) ListTrash(ctx context.Context, fn func(TrashEntry) error) error {
	u, err := c.trashURL(ctx)
	if err != nil {
		return err
	}
	resp, err := c.do(ctx, call{
		op: "trash", method: "PROPFIND", url: u, idempotent: true,
		header: http.Header{"Depth": {"1"}, "Content-Type": {"application/xml; charset=utf-8"}},
		body:   func() io.Reader { return strings.NewReader(trashListBody) },
		size:   int64(len(trashListBody)),
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return &Error{Op: "trash", Status: http.StatusNotFound, Kind: ErrUnsupported,
				Message: "the server has no trash bin (files_trashbin disabled?)"}
		}
		return err
	}
	defer drainClose(resp.Body)
	if resp.StatusCode != http.StatusMultiStatus {
		return &Error{Op: "trash", Status: resp.StatusCode, Kind: ErrBadResponse,
			Message: "PROPFIND of the trash bin did not answer 207 Multi-Status"}
	}
	pu, _ := url.Parse(u)
	scope := newHrefScope(c.host, pu.Path, "")
	return c.decodeTrash(ctx, resp.Body, scope, fn)
}

// trashURL is the trash folder of the discovered user; Nextcloud only.
func (c *Client) trashURL(ctx context.Context) (string, error) {
	info := c.Info()
	if info.Dialect == 0 {
		var err error
		if info, err = c.Discover(ctx); err != nil {
			return "", err
		}
	}
	if info.Dialect != DialectNextcloud || info.UserID == "" {
		return "", &Error{Op: "trash", Kind: ErrUnsupported, Message: "only Nextcloud and ownCloud servers have a trash bin"}
	}
	_, base, _ := c.currentEndpoints()
	return base + "/remote.php/dav/trashbin/" + url.PathEscape(info.UserID) + "/trash/", nil
}

// trashResponse is one d:response of a trash listing; a trash bin is small next to a
// folder tree, so encoding/xml's reflection is fast enough here.
type trashResponse struct {
	Href      string `xml:"DAV: href"`
	Propstats []struct {
		Status string `xml:"DAV: status"`
		Prop   struct {
			Filename     *string `xml:"http://nextcloud.org/ns trashbin-filename"`
			Location     string  `xml:"http://nextcloud.org/ns trashbin-original-location"`
			DeletionTime string  `xml:"http://nextcloud.org/ns trashbin-deletion-time"`
			Length       string  `xml:"DAV: getcontentlength"`
			FileID       string  `xml:"http://owncloud.org/ns fileid"`
			ResourceType struct {
				Collection *struct{} `xml:"DAV: collection"`
			} `xml:"DAV: resourcetype"`
		} `xml:"DAV: prop"`
	} `xml:"DAV: propstat"`
}

func (c *Client) decodeTrash(ctx context.Context, body io.Reader, scope hrefScope, fn func(TrashEntry) error) error {
	rec := &readErrRecorder{r: body}
	d := xml.NewDecoder(rec)
	bad := func(err error) error {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("davclient: trash: %w", ctxErr)
		}
		if rec.err != nil {
			return &Error{Op: "trash", Status: http.StatusMultiStatus, Kind: ErrTransient,
				Message: "the answer was cut off", Cause: rec.err}
		}
		return &Error{Op: "trash", Status: http.StatusMultiStatus, Kind: ErrBadResponse,
			Message: "malformed trash-bin multistatus", Cause: err}
	}
	sawRoot := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			if !sawRoot {
				return bad(io.ErrUnexpectedEOF)
			}
			return nil
		}
		if err != nil {
			return bad(err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Space != nsDAV {
			continue
		}
		if se.Name.Local == "multistatus" {
			sawRoot = true
			continue
		}
		if se.Name.Local != "response" {
			continue
		}
		var r trashResponse
		if err := d.DecodeElement(&r, &se); err != nil {
			return bad(err)
		}
		e, reason, ok := trashEntryOf(&r, scope)
		if !ok {
			if reason != "" {
				c.log.Warn("davclient: skipping a trash-bin item", "op", "trash", "reason", reason)
			}
			continue
		}
		if err := fn(e); err != nil {
			return err
		}
	}
}

// trashEntryOf validates one response; ok=false with no reason is the trash folder itself.
func trashEntryOf(r *trashResponse, scope hrefScope) (e TrashEntry, reason string, ok bool) {
	key, self, reason := scope.resolve(r.Href)
	if reason != "" || self {
		return TrashEntry{}, reason, false
	}
	e = TrashEntry{Key: key, Size: -1}
	found := false
	for _, ps := range r.Propstats {
		if statusCode(ps.Status) != http.StatusOK {
			continue
		}
		p := ps.Prop
		if p.Filename != nil {
			e.Name, found = *p.Filename, true
		}
		if p.Location != "" {
			e.OriginalPath = strings.Trim(p.Location, "/")
		}
		if t, err := strconv.ParseInt(strings.TrimSpace(p.DeletionTime), 10, 64); err == nil {
			e.DeletedAt = time.Unix(t, 0)
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(p.Length), 10, 64); err == nil && n >= 0 {
			e.Size = n
		}
		if p.ResourceType.Collection != nil {
			e.IsDir = true
		}
		e.FileID = leadingNumber(p.FileID)
	}
	if !found {
		return TrashEntry{}, "no nc:trashbin-filename", false
	}
	if err := checkPath(e.OriginalPath); err != nil || e.OriginalPath == "" {
		return TrashEntry{}, "unusable original location", false
	}
	return e, "", true
}
