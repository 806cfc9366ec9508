package davtest

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// filesEndpoint is one of the two roads into the user's tree.
type filesEndpoint struct {
	path string // decoded, no trailing slash
	href string // percent-encoded, as hrefs carry it
	dav  string // the DAV header this endpoint answers
}

// hrefOf is the encoded href of rel; folders (but not the root's "") get a trailing
// slash on top of the root's.
func (ep filesEndpoint) hrefOf(rel string, isDir bool) string {
	h := ep.href + "/" + encodePath(rel)
	if isDir && rel != "" {
		h += "/"
	}
	return h
}

// filesRequest is the target of a request on a files endpoint.
type filesRequest struct {
	rel   string   // NFC, slash-separated, "" for the root
	parts []string // rel split
}

func (fr filesRequest) name() string {
	if len(fr.parts) == 0 {
		return ""
	}
	return fr.parts[len(fr.parts)-1]
}

func (fr filesRequest) parentParts() []string {
	if len(fr.parts) == 0 {
		return nil
	}
	return fr.parts[:len(fr.parts)-1]
}

func newFilesRequest(p string) (filesRequest, error) {
	parts, err := splitPath(p)
	if err != nil {
		return filesRequest{}, err
	}
	return filesRequest{rel: strings.Join(parts, "/"), parts: parts}, nil
}

func (s *Server) serveFiles(w http.ResponseWriter, r *http.Request, ep filesEndpoint, rest string) {
	fr, err := newFilesRequest(rest)
	if err != nil {
		writeDavError(w, &davError{status: http.StatusBadRequest, exception: exInvalidPath,
			message: "Path contains a '.' or '..' element", invalidPath: true})
		return
	}
	switch r.Method {
	case "PROPFIND":
		s.propfindFiles(w, r, ep, fr)
	case http.MethodGet:
		s.get(w, r, fr, false)
	case http.MethodHead:
		s.get(w, r, fr, true)
	case http.MethodPut:
		s.put(w, r, fr)
	case "MKCOL":
		s.mkcol(w, fr)
	case http.MethodDelete:
		s.delete(w, r, fr)
	case "MOVE":
		s.moveOrCopy(w, r, fr, true)
	case "COPY":
		s.moveOrCopy(w, r, fr, false)
	case "PROPPATCH":
		s.proppatch(w, r, ep, fr)
	case http.MethodPatch:
		s.recalculateHash(w, r, fr)
	case http.MethodOptions:
		h := w.Header()
		h.Set("Allow", allowHeader)
		h.Set("DAV", ep.dav)
		h.Set("MS-Author-Via", "DAV")
		h.Set("Accept-Ranges", "bytes")
		h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
	default:
		notImplemented(w, r.Method)
	}
}

func notImplemented(w http.ResponseWriter, method string) {
	writeDavError(w, &davError{status: http.StatusNotImplemented, exception: exNotImplemented,
		message: "There was no plugin in the system that was willing to handle this " + method + " method."})
}

// checkName refuses the names Nextcloud refuses at creation.
func checkName(name string) *davError {
	switch {
	case strings.ContainsRune(name, '\\'):
		return &davError{status: http.StatusBadRequest, exception: exInvalidPath,
			message: "File name contains at least one invalid character", invalidPath: true}
	case strings.EqualFold(name, ".htaccess"):
		return forbidden("")
	case len(name) > 250:
		return &davError{status: http.StatusBadRequest, exception: exInvalidPath,
			message: "File name is too long", invalidPath: true}
	}
	return nil
}

// etagListMatches reports whether the If-Match / If-None-Match value h matches the
// unquoted etag. A strong comparison (If-Match) never matches a weak W/ tag.
func etagListMatches(h, etag string, strong bool) bool {
	for tag := range strings.SplitSeq(h, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" {
			return true
		}
		if strings.HasPrefix(tag, "W/") {
			if strong {
				continue
			}
			tag = tag[2:]
		}
		if tag == `"`+etag+`"` {
			return true
		}
	}
	return false
}

// checkIfMatch applies If-Match to an item that exists or not, with its current etag.
func checkIfMatch(h http.Header, exists bool, etag string) *davError {
	v := h.Get("If-Match")
	if v == "" {
		return nil
	}
	if !exists {
		return preconditionFailed("If-Match", "An If-Match header was specified and the resource did not exist", "")
	}
	if !etagListMatches(v, etag, true) {
		return preconditionFailed("If-Match", "An If-Match header was specified, but none of the specified ETags matched.", etag)
	}
	return nil
}

// fileSnapshot is what GET needs of a file, copied so the body streams without the lock.
type fileSnapshot struct {
	name     string
	isDir    bool
	data     content
	etag     string
	mtime    time.Time
	fileID   uint64
	checksum string
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, fr filesRequest, head bool) {
	s.mu.RLock()
	n := s.lookupLocked(fr.parts)
	var f fileSnapshot
	if n != nil {
		f = fileSnapshot{name: n.name, isDir: n.isDir, data: n.data, etag: n.etag,
			mtime: n.mtime, fileID: n.fileID, checksum: n.checksum}
	}
	s.mu.RUnlock()
	if n == nil {
		writeDavError(w, notFound(fr.rel))
		return
	}
	h := w.Header()
	if f.isDir {
		// The real server answers a dummy page, not an error: clients must check types.
		const page = "This is the WebDAV interface. It can only be accessed by WebDAV clients such as the Nextcloud desktop sync client.\n"
		h.Set("Content-Type", "text/html; charset=UTF-8")
		h.Set("Content-Length", strconv.Itoa(len(page)))
		w.WriteHeader(http.StatusOK)
		if !head {
			_, _ = io.WriteString(w, page)
		}
		return
	}
	if derr := checkIfMatch(r.Header, true, f.etag); derr != nil {
		writeDavError(w, derr)
		return
	}
	quoted := `"` + f.etag + `"`
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagListMatches(inm, f.etag, false) {
		h.Set("ETag", quoted)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	size := f.data.Size()
	h.Set("Last-Modified", f.mtime.UTC().Format(http.TimeFormat))
	h.Set("ETag", quoted)
	start, length, partial, rerr := parseRange(r.Header.Get("Range"), size)
	if rerr != nil {
		writeDavError(w, rerr)
		return
	}
	h.Set("Content-Type", contentTypeFor(f.name)+";charset=UTF-8")
	h.Set("OC-ETag", quoted)
	h.Set("OC-FileId", ocID(f.fileID))
	if f.checksum != "" {
		h.Set("OC-Checksum", f.checksum)
	}
	h.Set("Content-Disposition", "attachment; filename*=UTF-8''"+url.PathEscape(f.name)+
		`; filename="`+strings.ReplaceAll(f.name, `"`, "")+`"`)
	h.Set("X-Accel-Buffering", "no")
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	status := http.StatusOK
	if partial {
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, start+length-1, size))
		status = http.StatusPartialContent
	}
	w.WriteHeader(status)
	if head || length == 0 {
		return
	}
	writeContent(w, f.data, start, length)
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// writeContent sends length bytes of data from start; errors mean the client left.
func writeContent(w io.Writer, data content, start, length int64) {
	if b, ok := data.(bytesContent); ok {
		_, _ = w.Write(b[start : start+length])
		return
	}
	buf := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(buf)
	_, _ = io.CopyBuffer(w, io.NewSectionReader(data, start, length), *buf)
}

func isSingleRange(h string) bool {
	spec, ok := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	return ok && !strings.Contains(spec, ",")
}

// parseRange reads a Range header against size. Like the real server it honours one
// range (a-b, a-, -n) and ignores multi-range and malformed headers (whole body).
// partial is true when a range applies (206).
func parseRange(h string, size int64) (start, length int64, partial bool, _ *davError) {
	if h == "" || !isSingleRange(h) {
		return 0, size, false, nil
	}
	spec, _ := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	a, b, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return 0, size, false, nil
	}
	unsatisfiable := func(msg string) *davError {
		return &davError{status: http.StatusRequestedRangeNotSatisfiable, exception: exRange, message: msg}
	}
	if a == "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 0 {
			return 0, size, false, nil
		}
		if n == 0 || size == 0 {
			return 0, 0, false, unsatisfiable("The requested suffix range is empty")
		}
		n = min(n, size)
		return size - n, n, true, nil
	}
	from, err := strconv.ParseInt(a, 10, 64)
	if err != nil || from < 0 {
		return 0, size, false, nil
	}
	to := size - 1
	if b != "" {
		to, err = strconv.ParseInt(b, 10, 64)
		if err != nil || to < from {
			return 0, size, false, nil
		}
		to = min(to, size-1)
	}
	if from >= size {
		return 0, 0, false, unsatisfiable(fmt.Sprintf("The start offset (%d) exceeded the size of the entity (%d)", from, size))
	}
	return from, to - from + 1, true, nil
}

// checkPutLocked checks a PUT of size bytes (-1 unknown) to fr before and after the
// body is read.
func (s *Server) checkPutLocked(fr filesRequest, h http.Header, size int64) (*node, *davError) {
	parentParts := fr.parentParts()
	parent := s.lookupLocked(parentParts)
	if parent == nil {
		return nil, notFound(strings.Join(parentParts, "/"))
	}
	if !parent.isDir {
		return nil, conflict("Parent node is not a folder")
	}
	existing := parent.children[fr.name()]
	if existing != nil && existing.isDir {
		return nil, conflict("PUT is not allowed on non-files.")
	}
	if inm := h.Get("If-None-Match"); inm != "" && existing != nil && etagListMatches(inm, existing.etag, false) {
		return nil, preconditionFailed("If-None-Match",
			"An If-None-Match header was specified, but the ETag matched (or * was specified).", existing.etag)
	}
	var etag string
	if existing != nil {
		etag = existing.etag
	}
	if derr := checkIfMatch(h, existing != nil, etag); derr != nil {
		return nil, derr
	}
	if existing != nil && !strings.ContainsRune(existing.perms, 'W') {
		return nil, forbidden("File is read-only")
	}
	if existing == nil && !strings.ContainsRune(parent.perms, 'C') {
		return nil, forbidden("Creating files is not allowed in this folder")
	}
	if size >= 0 {
		delta := size
		if existing != nil {
			delta -= existing.size
		}
		if !s.fitsQuotaLocked(delta) {
			return nil, insufficientStorage(fmt.Sprintf("Insufficient space in %s, %d required, %d available",
				"/"+fr.rel, size, s.freeLocked()))
		}
	}
	return parent, nil
}

// maxPresizedBody bounds the Content-Length that readBody trusts for one allocation of
// exactly that size. Growing a buffer instead made a 1 GiB PUT allocate and copy about
// four times its size, most of the time curl's PUT took in the write benchmark.
const maxPresizedBody = 4 << 30

// readBody reads a request body whole. A body shorter than its Content-Length is an
// error, so that a cut upload stores nothing.
func readBody(r *http.Request) ([]byte, error) {
	if cl := r.ContentLength; cl >= 0 && cl <= maxPresizedBody {
		data := make([]byte, cl)
		if _, err := io.ReadFull(r.Body, data); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		return data, nil
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r.Body); err != nil {
		return nil, err
	}
	if r.ContentLength >= 0 && int64(buf.Len()) != r.ContentLength {
		return nil, io.ErrUnexpectedEOF
	}
	return buf.Bytes(), nil
}

// parseMtime reads X-OC-Mtime: ok false when present but not an integer.
func parseMtime(h http.Header) (mtime time.Time, present, ok bool) {
	v := h.Get("X-OC-Mtime")
	if v == "" {
		return time.Time{}, false, true
	}
	secs, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return time.Time{}, true, false
	}
	return time.Unix(secs, 0), true, true
}

func (s *Server) put(w http.ResponseWriter, r *http.Request, fr filesRequest) {
	if len(fr.parts) == 0 {
		writeDavError(w, conflict("PUT is not allowed on non-files."))
		return
	}
	if derr := checkName(fr.name()); derr != nil {
		writeDavError(w, derr)
		return
	}
	s.mu.RLock()
	_, derr := s.checkPutLocked(fr, r.Header, r.ContentLength)
	s.mu.RUnlock()
	if derr != nil {
		writeDavError(w, derr)
		return
	}
	data, err := readBody(r)
	if err != nil {
		s.log.Info("davtest: put: body incomplete, nothing stored", "op", "PUT", "path", fr.rel, "err", err)
		writeDavError(w, badRequest("Expected filesize of "+strconv.FormatInt(r.ContentLength, 10)+" bytes but read (from Nextcloud client) and wrote (to Nextcloud storage) fewer bytes"))
		return
	}
	mtime, mtimeSent, mtimeOK := parseMtime(r.Header)

	s.mu.Lock()
	parent, derr := s.checkPutLocked(fr, r.Header, int64(len(data)))
	if derr != nil {
		s.mu.Unlock()
		writeDavError(w, derr)
		return
	}
	n, created := s.writeFileLocked(parent, fr.name(), bytesContent(data), mtime, r.Header.Get("OC-Checksum"))
	etag, id := n.etag, n.fileID
	s.mu.Unlock()

	if !mtimeOK {
		// Observed on Nextcloud 29: the file is stored, then the request fails.
		writeDavError(w, &davError{status: http.StatusInternalServerError, exception: exInvalidArgument,
			message: "X-OC-MTime header must be an integer (unix timestamp)."})
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=UTF-8")
	h.Set("Content-Length", "0")
	if mtimeSent {
		h.Set("X-OC-MTime", "accepted")
	}
	setHashHeaders(h, r.Header.Get("X-Hash"), data)
	h.Set("OC-FileId", ocID(id))
	h.Set("ETag", `"`+etag+`"`)
	h.Set("OC-ETag", `"`+etag+`"`)
	if created {
		w.WriteHeader(http.StatusCreated)
	} else {
		w.WriteHeader(http.StatusNoContent)
	}
}

// setHashHeaders answers X-Hash: sha1|md5|sha256|all with hashes of the stored bytes.
func setHashHeaders(h http.Header, want string, data []byte) {
	want = strings.ToLower(strings.TrimSpace(want))
	if want == "" {
		return
	}
	if want == "sha1" || want == "all" {
		sum := sha1.Sum(data)
		h.Set("X-Hash-SHA1", hex.EncodeToString(sum[:]))
	}
	if want == "md5" || want == "all" {
		sum := md5.Sum(data)
		h.Set("X-Hash-MD5", hex.EncodeToString(sum[:]))
	}
	if want == "sha256" || want == "all" {
		sum := sha256.Sum256(data)
		h.Set("X-Hash-SHA256", hex.EncodeToString(sum[:]))
	}
}

// patchProp is one property of a PROPPATCH body.
type patchProp struct {
	name  xml.Name
	value string
}

func parseProppatch(body io.Reader) ([]patchProp, error) {
	dec := xml.NewDecoder(io.LimitReader(body, maxPropfindBody))
	var props []patchProp
	depth := 0
	var cur *patchProp
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 1 && t.Name != (xml.Name{Space: nsDAV, Local: "propertyupdate"}) {
				return nil, errors.New("the root element is not DAV:propertyupdate")
			}
			if depth == 4 {
				props = append(props, patchProp{name: t.Name})
				cur = &props[len(props)-1]
			}
		case xml.CharData:
			if depth == 4 && cur != nil {
				cur.value += string(t)
			}
		case xml.EndElement:
			if depth == 4 {
				cur = nil
			}
			depth--
		}
	}
	return props, nil
}

// proppatch accepts every property; only d:lastmodified (unix seconds) changes
// anything, like on Nextcloud where oc:favorite leaves ETags alone.
func (s *Server) proppatch(w http.ResponseWriter, r *http.Request, ep filesEndpoint, fr filesRequest) {
	props, err := parseProppatch(r.Body)
	if err != nil {
		writeDavError(w, badRequest("The PROPPATCH request body is not valid XML: "+err.Error()))
		return
	}
	s.mu.Lock()
	n := s.lookupLocked(fr.parts)
	if n == nil {
		s.mu.Unlock()
		writeDavError(w, notFound(fr.rel))
		return
	}
	for _, p := range props {
		if p.name != (xml.Name{Space: nsDAV, Local: "lastmodified"}) {
			continue
		}
		secs, err := strconv.ParseInt(strings.TrimSpace(p.value), 10, 64)
		if err != nil {
			continue
		}
		now := time.Now()
		n.mtime = time.Unix(secs, 0)
		if n.isDir {
			n.etag = s.folderETagLocked()
		} else {
			n.etag = fileETag()
		}
		if n.parent != nil {
			s.propagateLocked(n.parent, false, now)
		}
	}
	s.mu.Unlock()

	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(http.StatusMultiStatus)
	var b bytes.Buffer
	bw := bufio.NewWriter(&b)
	m := msWriter{w: bw}
	m.begin()
	// The real server's PROPPATCH href of a collection has no trailing slash.
	bw.WriteString("<d:response><d:href>" + ep.hrefOf(fr.rel, false) + "</d:href>")
	if len(props) > 0 {
		bw.WriteString("<d:propstat><d:prop>")
		for _, p := range props {
			m.emptyTag(&reqProp{name: p.name})
		}
		bw.WriteString("</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>")
	}
	bw.WriteString("</d:response>")
	m.end()
	_ = bw.Flush()
	_, _ = w.Write(b.Bytes())
}

// recalculateHash answers PATCH with X-Recalculate-Hash: the stored bytes are hashed
// again and that becomes the file's checksum (Nextcloud's checksum-update, as the desktop
// client uses it for a stored checksum that turned out wrong). The ETag stays.
func (s *Server) recalculateHash(w http.ResponseWriter, r *http.Request, fr filesRequest) {
	if !strings.EqualFold(r.Header.Get("X-Recalculate-Hash"), "SHA1") {
		writeDavError(w, &davError{status: http.StatusBadRequest, exception: exBadRequest,
			message: "Only SHA1 is supported by this test server; X-Recalculate-Hash is required"})
		return
	}
	s.mu.Lock()
	n := s.lookupLocked(fr.parts)
	if n == nil || n.isDir {
		s.mu.Unlock()
		writeDavError(w, notFound(fr.rel))
		return
	}
	h := sha1.New()
	writeContent(h, n.data, 0, n.data.Size())
	n.checksum = "SHA1:" + hex.EncodeToString(h.Sum(nil))
	sum := n.checksum
	s.mu.Unlock()
	w.Header().Set("OC-Checksum", sum)
	w.WriteHeader(http.StatusNoContent)
}
