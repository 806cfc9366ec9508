package davtest

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// upload is one chunked-upload (v2) folder: /remote.php/dav/uploads/<user>/<id>/.
type upload struct {
	id     string
	dest   string // Destination given at MKCOL, informational
	mtime  time.Time
	etag   string // folder-style; the virtual .file shows it
	chunks map[string]*chunk
}

type chunk struct {
	data  []byte
	mtime time.Time
	etag  string
}

func (u *upload) sortedNames() []string {
	names := make([]string, 0, len(u.chunks))
	for name := range u.chunks {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func (u *upload) total() int64 {
	var n int64
	for _, c := range u.chunks {
		n += int64(len(c.data))
	}
	return n
}

// serveUploads serves /remote.php/dav/uploads/<user>/...; rest starts with "/".
func (s *Server) serveUploads(w http.ResponseWriter, r *http.Request, rest string) {
	parts, err := splitPath(rest)
	if err != nil || len(parts) > 2 {
		writeDavError(w, notFound("uploads"+rest))
		return
	}
	switch r.Method {
	case "PROPFIND":
		s.propfindUploads(w, r, parts)
	case "MKCOL":
		s.mkcolUpload(w, r, parts)
	case http.MethodPut:
		s.putChunk(w, r, parts)
	case "MOVE":
		s.finishUpload(w, r, parts)
	case http.MethodDelete:
		s.deleteUpload(w, parts)
	default:
		notImplemented(w, r.Method)
	}
}

func (s *Server) mkcolUpload(w http.ResponseWriter, r *http.Request, parts []string) {
	if len(parts) != 1 {
		writeDavError(w, forbidden("Only upload folders can be created here"))
		return
	}
	var total int64 = -1
	if v := r.Header.Get("OC-Total-Length"); v != "" {
		total, _ = strconv.ParseInt(v, 10, 64)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.uploads[parts[0]] != nil {
		writeDavError(w, &davError{status: http.StatusMethodNotAllowed, exception: exMethodNotAllowed,
			message: "The resource you tried to create already exists"})
		return
	}
	if total > 0 && !s.fitsQuotaLocked(total) {
		writeDavError(w, insufficientStorage(fmt.Sprintf("Insufficient space, %d required, %d available", total, s.freeLocked())))
		return
	}
	now := time.Now()
	s.uploads[parts[0]] = &upload{id: parts[0], dest: r.Header.Get("Destination"),
		mtime: now, etag: s.folderETagLocked(), chunks: map[string]*chunk{}}
	writeEmpty(w, http.StatusCreated)
}

func (s *Server) putChunk(w http.ResponseWriter, r *http.Request, parts []string) {
	if len(parts) != 2 || parts[1] == ".file" {
		writeDavError(w, forbidden("Chunks go into an upload folder"))
		return
	}
	s.mu.RLock()
	exists := s.uploads[parts[0]] != nil
	s.mu.RUnlock()
	if !exists {
		writeDavError(w, notFound("uploads/"+parts[0]))
		return
	}
	data, err := readBody(r)
	if err != nil {
		s.log.Info("davtest: chunk body incomplete, nothing stored", "op", "PUT", "path", r.URL.Path, "err", err)
		writeDavError(w, badRequest("The chunk body is shorter than its Content-Length"))
		return
	}
	s.mu.Lock()
	up := s.uploads[parts[0]]
	if up == nil {
		s.mu.Unlock()
		writeDavError(w, notFound("uploads/"+parts[0]))
		return
	}
	now := time.Now()
	_, existed := up.chunks[parts[1]]
	up.chunks[parts[1]] = &chunk{data: data, mtime: now, etag: fileETag()}
	up.mtime = now
	up.etag = s.folderETagLocked()
	s.mu.Unlock()
	if existed {
		writeEmpty(w, http.StatusNoContent)
	} else {
		writeEmpty(w, http.StatusCreated)
	}
}

func (s *Server) deleteUpload(w http.ResponseWriter, parts []string) {
	s.mu.Lock()
	up := (*upload)(nil)
	if len(parts) > 0 {
		up = s.uploads[parts[0]]
	}
	switch {
	case up == nil:
		s.mu.Unlock()
		writeDavError(w, notFound("uploads/"+strings.Join(parts, "/")))
		return
	case len(parts) == 1:
		delete(s.uploads, parts[0])
	case up.chunks[parts[1]] != nil:
		delete(up.chunks, parts[1])
	default:
		s.mu.Unlock()
		writeDavError(w, notFound("uploads/"+strings.Join(parts, "/")))
		return
	}
	s.mu.Unlock()
	writeEmpty(w, http.StatusNoContent)
}

func (s *Server) propfindUploads(w http.ResponseWriter, r *http.Request, parts []string) {
	req, err := parsePropfind(r.Body)
	if err != nil {
		writeDavError(w, badRequest("The PROPFIND request body is not valid XML: "+err.Error()))
		return
	}
	depth := s.propfindDepth(r)
	root := encodePath("/remote.php/dav/uploads/"+s.opt.UserID) + "/"
	s.mu.RLock()
	var entries []davEntry
	switch len(parts) {
	case 0:
		entries = append(entries, davEntry{kind: kindUpload, base: root, isDir: true, mtime: time.Now()})
		if depth != 0 {
			ids := make([]string, 0, len(s.uploads))
			for id := range s.uploads {
				ids = append(ids, id)
			}
			slices.Sort(ids)
			for _, id := range ids {
				up := s.uploads[id]
				entries = append(entries, davEntry{kind: kindUpload, base: root, name: id, isDir: true, mtime: up.mtime})
			}
		}
	default:
		up := s.uploads[parts[0]]
		if up == nil {
			s.mu.RUnlock()
			writeDavError(w, notFound("/"+parts[0]))
			return
		}
		base := root + encodePath(up.id) + "/"
		fileEntry := davEntry{kind: kindUpload, base: base, name: ".file", size: up.total(),
			mtime: up.mtime, etag: up.etag, ctype: "application/octet-stream"}
		chunkEntry := func(name string) davEntry {
			c := up.chunks[name]
			return davEntry{kind: kindUpload, base: base, name: name, size: int64(len(c.data)),
				mtime: c.mtime, etag: c.etag, ctype: "application/octet-stream"}
		}
		if len(parts) == 2 {
			switch {
			case parts[1] == ".file":
				entries = append(entries, fileEntry)
			case up.chunks[parts[1]] != nil:
				entries = append(entries, chunkEntry(parts[1]))
			default:
				s.mu.RUnlock()
				writeDavError(w, notFound("/"+parts[0]+"/"+parts[1]))
				return
			}
			break
		}
		entries = append(entries, davEntry{kind: kindUpload, base: base, isDir: true, mtime: up.mtime})
		if depth != 0 {
			entries = append(entries, fileEntry)
			for _, name := range up.sortedNames() {
				entries = append(entries, chunkEntry(name))
			}
		}
	}
	s.mu.RUnlock()
	s.writeMultistatus(w, r, davHeaderNew, req, multistatusMeta{quotaFree: -3}, entries)
}

// ifHeaderETags extracts the ETags of an RFC 4918 If header ("<url> (["etag"])"), as
// the desktop clients send it on the final MOVE of an update.
func ifHeaderETags(h string) []string {
	var tags []string
	for {
		i := strings.IndexByte(h, '[')
		if i < 0 {
			return tags
		}
		j := strings.IndexByte(h[i:], ']')
		if j < 0 {
			return tags
		}
		tags = append(tags, strings.TrimSpace(h[i+1:i+j]))
		h = h[i+j+1:]
	}
}

// finishUpload serves MOVE <upload>/.file: the chunks, in name order, become the file.
func (s *Server) finishUpload(w http.ResponseWriter, r *http.Request, parts []string) {
	if len(parts) != 2 || parts[1] != ".file" {
		writeDavError(w, forbidden("Only the .file of an upload folder can be moved"))
		return
	}
	dst, derr := s.destination(r)
	if derr == nil && len(dst.parts) == 0 {
		derr = conflict("The destination cannot be the root folder")
	}
	if derr == nil {
		derr = checkName(dst.name())
	}
	if derr != nil {
		writeDavError(w, derr)
		return
	}
	mtime, mtimeSent, mtimeOK := parseMtime(r.Header)
	if !mtimeOK {
		writeDavError(w, &davError{status: http.StatusInternalServerError, exception: exInvalidArgument,
			message: "X-OC-MTime header must be an integer (unix timestamp)."})
		return
	}
	ifHeader := r.Header.Get("If")

	s.mu.Lock()
	up := s.uploads[parts[0]]
	if up == nil {
		s.mu.Unlock()
		writeDavError(w, notFound("/"+parts[0]))
		return
	}
	total := up.total()
	if v := r.Header.Get("OC-Total-Length"); v != "" {
		want, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || want != total {
			s.mu.Unlock()
			writeDavError(w, badRequest(fmt.Sprintf("Chunks on server do not sum up to %s but to %d bytes", v, total)))
			return
		}
	}
	if ifHeader != "" {
		existing := s.lookupLocked(dst.parts)
		matched := false
		for _, tag := range ifHeaderETags(ifHeader) {
			if existing != nil && etagListMatches(tag, existing.etag, true) {
				matched = true
			}
		}
		if !matched {
			s.mu.Unlock()
			etag := ""
			if existing != nil {
				etag = existing.etag
			}
			writeDavError(w, preconditionFailed("If", "An If-Match header was specified, but none of the specified ETags matched.", etag))
			return
		}
	}
	if strings.EqualFold(strings.TrimSpace(r.Header.Get("Overwrite")), "F") && s.lookupLocked(dst.parts) != nil {
		// Sabre checks Overwrite before the chunking plugin assembles anything.
		s.mu.Unlock()
		writeDavError(w, preconditionFailed("Overwrite",
			"The destination node already exists, and the overwrite header is set to false", ""))
		return
	}
	parent, derr := s.checkPutLocked(dst, http.Header{}, total)
	if derr != nil {
		s.mu.Unlock()
		if derr.status == http.StatusNotFound {
			derr = conflict("The destination node is not found")
		}
		writeDavError(w, derr)
		return
	}
	names := up.sortedNames()
	pieces := make([][]byte, len(names))
	for i, name := range names {
		pieces[i] = up.chunks[name].data
	}
	n, created := s.writeFileLocked(parent, dst.name(), newSegments(pieces), mtime, r.Header.Get("OC-Checksum"))
	etag, id := n.etag, n.fileID
	delete(s.uploads, parts[0])
	s.mu.Unlock()

	h := w.Header()
	if mtimeSent {
		h.Set("X-OC-MTime", "accepted")
	}
	h.Set("OC-ETag", `"`+etag+`"`)
	h.Set("ETag", `"`+etag+`"`)
	h.Set("OC-FileId", ocID(id))
	if created {
		writeEmpty(w, http.StatusCreated)
	} else {
		writeEmpty(w, http.StatusNoContent)
	}
}
