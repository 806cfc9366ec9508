package davclient

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

const (
	defaultChunkSize = 10 << 20
	maxChunks        = 10000 // Nextcloud's limit on chunk numbers
)

// UploadChunked uploads r (size bytes) to path with Nextcloud's chunked upload v2:
// MKCOL an upload folder, PUT the chunks, MOVE the assembled ".file" onto the target.
// With a stable TransferID a restarted upload resumes: chunks already on the server
// with the right size are not sent again. On a 412 at the final MOVE the upload folder
// is deleted and ErrPrecondition returned; after any other failure it is left for a
// resume (the server expires it after a day).
func (c *Client) UploadChunked(ctx context.Context, path string, r io.ReaderAt, size int64, opt ChunkedOptions) (PutResult, error) {
	info := c.Info()
	if info.Dialect == 0 {
		// A files URL lets other requests run before Discover; the dialect needs it.
		var err error
		if info, err = c.Discover(ctx); err != nil {
			return PutResult{}, err
		}
	}
	if info.Dialect != DialectNextcloud || info.UserID == "" {
		return PutResult{}, &Error{Op: "upload", Path: path, Kind: ErrUnsupported,
			Message: "chunked upload needs a Nextcloud server; use Put"}
	}
	if size < 0 {
		return PutResult{}, fmt.Errorf("davclient: upload %q: negative size", path)
	}
	if path == "" {
		return PutResult{}, fmt.Errorf("davclient: upload: cannot upload onto the root folder")
	}
	files, base, _ := c.currentEndpoints()
	dest, err := pathURL(files, path, false)
	if err != nil {
		return PutResult{}, err
	}
	transferID := opt.TransferID
	if transferID == "" {
		transferID = newTransferID()
	}
	if reason := badName(transferID); reason != "" {
		return PutResult{}, fmt.Errorf("davclient: upload %q: transfer id %q: %s", path, transferID, reason)
	}
	upload := base + "/remote.php/dav/uploads/" + url.PathEscape(info.UserID) + "/" + url.PathEscape(transferID)
	plan := planChunks(size, opt.ChunkSize)
	total := strconv.FormatInt(size, 10)
	common := func() http.Header {
		return http.Header{"Destination": {dest}, "Oc-Total-Length": {total}}
	}

	if err := c.prepareUploadFolder(ctx, path, upload, &plan, common()); err != nil {
		return PutResult{}, err
	}
	for _, ch := range plan.todo {
		h := common()
		h.Set("Content-Type", "application/octet-stream")
		off, n := ch.offset, ch.size
		// A chunk goes to our private upload folder under a fixed name: sending it again
		// is harmless, so it is retried like an idempotent request.
		resp, err := c.do(ctx, call{
			op: "upload-chunk", path: path, method: http.MethodPut, url: upload + "/" + ch.name,
			header: h, size: n, idempotent: true,
			body: func() io.Reader { return io.NewSectionReader(r, off, n) },
		})
		if err != nil {
			return PutResult{}, err
		}
		drainClose(resp.Body)
	}
	return c.assemble(ctx, path, upload, dest, common(), opt.PutOptions)
}

// chunk is one piece of a chunked upload.
type chunk struct {
	name         string
	offset, size int64
}

type chunkPlan struct {
	all  []chunk
	todo []chunk // filled by prepareUploadFolder: what the server lacks
}

// planChunks cuts size bytes into chunks named 00001, 00002, ... (zero-padded so the
// server's name order is the byte order).
func planChunks(size, chunkSize int64) chunkPlan {
	if chunkSize <= 0 {
		chunkSize = defaultChunkSize
	}
	if minSize := (size + maxChunks - 1) / maxChunks; chunkSize < minSize {
		chunkSize = minSize
	}
	count := max((size+chunkSize-1)/chunkSize, 1) // an empty file is one empty chunk
	var p chunkPlan
	for i := int64(0); i < count; i++ {
		off := i * chunkSize
		p.all = append(p.all, chunk{name: fmt.Sprintf("%05d", i+1), offset: off, size: min(chunkSize, size-off)})
	}
	return p
}

// prepareUploadFolder makes sure the upload folder exists and decides which chunks to
// send: a folder left by an earlier attempt is reused when its chunks fit the plan.
func (c *Client) prepareUploadFolder(ctx context.Context, path, upload string, plan *chunkPlan, h http.Header) error {
	existing, err := c.uploadedChunks(ctx, path, upload)
	if err != nil {
		return err
	}
	want := make(map[string]int64, len(plan.all))
	for _, ch := range plan.all {
		want[ch.name] = ch.size
	}
	if existing != nil {
		for name := range existing {
			if _, ok := want[name]; !ok {
				// Chunks of another plan would be joined into the file: start over.
				c.log.Info("davclient: upload folder does not match; starting over", "op", "upload", "path", path)
				if err := c.deleteUpload(ctx, path, upload); err != nil {
					return err
				}
				existing = nil
				break
			}
		}
	}
	if existing == nil {
		resp, err := c.do(ctx, call{op: "upload-mkcol", path: path, method: "MKCOL", url: upload, header: h})
		if err != nil && !errors.Is(err, ErrExists) {
			return err
		}
		if err == nil {
			drainClose(resp.Body)
		}
	}
	plan.todo = plan.todo[:0]
	for _, ch := range plan.all {
		if got, ok := existing[ch.name]; ok && got == ch.size {
			continue
		}
		plan.todo = append(plan.todo, ch)
	}
	if skipped := len(plan.all) - len(plan.todo); skipped > 0 {
		c.log.Info("davclient: resuming upload", "op", "upload", "path", path, "chunks_present", skipped)
	}
	return nil
}

// uploadedChunks lists the chunks in the upload folder: name -> size, nil if the folder
// does not exist.
func (c *Client) uploadedChunks(ctx context.Context, path, upload string) (map[string]int64, error) {
	u, err := url.Parse(upload)
	if err != nil {
		return nil, fmt.Errorf("davclient: upload %q: %w", path, err)
	}
	scope := newHrefScope(c.host, u.Path, "")
	chunks := map[string]int64{}
	_, err = c.propfind(ctx, "upload-resume", path, upload+"/", scope, func(e Entry) error {
		if !e.IsDir && e.Name != ".file" {
			chunks[e.Name] = e.Size
		}
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return chunks, nil
}

// assemble sends the final MOVE of ".file" onto the target.
func (c *Client) assemble(ctx context.Context, path, upload, dest string, h http.Header, opt PutOptions) (PutResult, error) {
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
		// If-Match would apply to the source (.file); the If header names the target.
		h.Set("If", fmt.Sprintf("<%s> ([%s])", dest, quoteETag(opt.IfMatch)))
	}
	if opt.IfNoneMatchAny {
		h.Set("Overwrite", "F") // refuse (412) when something appeared at the target
	}
	resp, err := c.do(ctx, call{op: "upload-assemble", path: path, method: "MOVE", url: upload + "/.file", header: h})
	if err != nil {
		if errors.Is(err, ErrPrecondition) {
			if derr := c.deleteUpload(ctx, path, upload); derr != nil {
				c.log.Warn("davclient: could not delete the upload folder", "op", "upload", "path", path, "err", derr)
			}
		}
		return PutResult{}, err
	}
	defer drainClose(resp.Body)
	if resp.StatusCode == http.StatusAccepted {
		return PutResult{}, &Error{Op: "upload-assemble", Path: path, Status: resp.StatusCode, Kind: ErrBadResponse,
			Message: "the server assembles the file asynchronously, which ncvfs does not follow"}
	}
	return putResult(resp), nil
}

func (c *Client) deleteUpload(ctx context.Context, path, upload string) error {
	resp, err := c.do(ctx, call{op: "upload-abort", path: path, method: http.MethodDelete, url: upload})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	}
	drainClose(resp.Body)
	return nil
}

// quoteETag makes an ETag fit the If header's ["..."] form whether or not the server
// sent it quoted.
func quoteETag(etag string) string {
	if strings.HasPrefix(etag, `"`) || strings.HasPrefix(etag, `W/"`) {
		return etag
	}
	return `"` + etag + `"`
}

func newTransferID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "ncvfs-" + hex.EncodeToString(b[:])
}
