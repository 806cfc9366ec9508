package davclient

import (
	"context"
	"fmt"
	"net/http"
	"strings"
)

// Mkcol creates a folder and returns its file id (0 when the server sends none).
// An existing path gives ErrExists, a missing parent ErrConflict. Not retried: a
// retry after a lost answer would report ErrExists for our own folder.
func (c *Client) Mkcol(ctx context.Context, path string) (uint64, error) {
	u, err := c.itemURL(ctx, "mkcol", path)
	if err != nil {
		return 0, err
	}
	resp, err := c.do(ctx, call{op: "mkcol", path: path, method: "MKCOL", url: u})
	if err != nil {
		return 0, err
	}
	defer drainClose(resp.Body)
	return leadingNumber(resp.Header.Get("OC-FileId")), nil
}

// Move renames from to to. With ifMatch set the server refuses (ErrPrecondition) when
// the source changed; with overwrite false, when the target exists.
func (c *Client) Move(ctx context.Context, from, to string, overwrite bool, ifMatch string) error {
	h, u, err := c.transferHeaders(ctx, "move", from, to, overwrite)
	if err != nil {
		return err
	}
	if ifMatch != "" {
		h.Set("If-Match", ifMatch)
	}
	resp, err := c.do(ctx, call{op: "move", path: from, method: "MOVE", url: u, header: h})
	if err != nil {
		return err
	}
	drainClose(resp.Body)
	return nil
}

// Copy copies from to to and returns the new item's file id (0 when not sent).
func (c *Client) Copy(ctx context.Context, from, to string, overwrite bool) (uint64, error) {
	h, u, err := c.transferHeaders(ctx, "copy", from, to, overwrite)
	if err != nil {
		return 0, err
	}
	resp, err := c.do(ctx, call{op: "copy", path: from, method: "COPY", url: u, header: h})
	if err != nil {
		return 0, err
	}
	defer drainClose(resp.Body)
	return leadingNumber(resp.Header.Get("OC-FileId")), nil
}

// Delete removes path (recursively for a folder). With ifMatch set the server refuses
// when the item changed. Not retried: a retry after a lost answer would say ErrNotFound.
func (c *Client) Delete(ctx context.Context, path string, ifMatch string) error {
	u, err := c.itemURL(ctx, "delete", path)
	if err != nil {
		return err
	}
	h := http.Header{}
	if ifMatch != "" {
		h.Set("If-Match", ifMatch)
	}
	resp, err := c.do(ctx, call{op: "delete", path: path, method: http.MethodDelete, url: u, header: h})
	if err != nil {
		return err
	}
	drainClose(resp.Body)
	return nil
}

// itemURL is the URL of a non-root item; no operation here may touch the root itself.
func (c *Client) itemURL(ctx context.Context, op, path string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("davclient: %s: refusing to act on the root folder", op)
	}
	files, _, err := c.endpoints(ctx)
	if err != nil {
		return "", err
	}
	return pathURL(files, path, false)
}

// transferHeaders builds Destination and Overwrite for MOVE and COPY.
func (c *Client) transferHeaders(ctx context.Context, op, from, to string, overwrite bool) (http.Header, string, error) {
	u, err := c.itemURL(ctx, op, from)
	if err != nil {
		return nil, "", err
	}
	dest, err := c.itemURL(ctx, op, to)
	if err != nil {
		return nil, "", err
	}
	ow := "F"
	if overwrite {
		ow = "T"
	}
	return http.Header{"Destination": {dest}, "Overwrite": {ow}}, u, nil
}

// RecalculateChecksum asks a Nextcloud server to hash a file's stored bytes again and
// keep that as its checksum (PATCH with X-Recalculate-Hash, as the desktop client does
// when a download does not match the stored checksum, which can be wrong). It returns
// the new checksum ("SHA1:<hex>"). Servers without it answer ErrUnsupported (405, 501).
func (c *Client) RecalculateChecksum(ctx context.Context, path string) (string, error) {
	u, err := c.itemURL(ctx, "recalculate-checksum", path)
	if err != nil {
		return "", err
	}
	h := http.Header{"X-Recalculate-Hash": {"SHA1"}}
	resp, err := c.do(ctx, call{op: "recalculate-checksum", path: path, method: http.MethodPatch, url: u,
		header: h, idempotent: true})
	if err != nil {
		return "", err
	}
	defer drainClose(resp.Body)
	sum := strings.TrimSpace(resp.Header.Get("OC-Checksum"))
	if !strings.HasPrefix(strings.ToUpper(sum), "SHA1:") {
		return "", &Error{Op: "recalculate-checksum", Path: path, Status: resp.StatusCode, Kind: ErrBadResponse,
			Message: "the answer carries no SHA1 checksum"}
	}
	return sum, nil
}
