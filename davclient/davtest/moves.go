package davtest

import (
	"net/http"
	"net/url"
	"strings"
	"time"
)

func writeEmpty(w http.ResponseWriter, status int) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=UTF-8")
	h.Set("Content-Length", "0")
	w.WriteHeader(status)
}

func (s *Server) mkcol(w http.ResponseWriter, fr filesRequest) {
	alreadyExists := &davError{status: http.StatusMethodNotAllowed, exception: exMethodNotAllowed,
		message: "The resource you tried to create already exists"}
	if len(fr.parts) == 0 {
		writeDavError(w, alreadyExists)
		return
	}
	if derr := checkName(fr.name()); derr != nil {
		writeDavError(w, derr)
		return
	}
	s.mu.Lock()
	if s.lookupLocked(fr.parts) != nil {
		s.mu.Unlock()
		writeDavError(w, alreadyExists)
		return
	}
	parent := s.parentLocked(fr.parts)
	if parent == nil {
		s.mu.Unlock()
		writeDavError(w, conflict("Parent node does not exist"))
		return
	}
	if !strings.ContainsRune(parent.perms, 'K') {
		s.mu.Unlock()
		writeDavError(w, forbidden("Creating folders is not allowed in this folder"))
		return
	}
	d := s.mkdirLocked(parent, fr.name(), time.Now())
	id := d.fileID
	s.mu.Unlock()
	w.Header().Set("OC-FileId", ocID(id))
	writeEmpty(w, http.StatusCreated)
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request, fr filesRequest) {
	if len(fr.parts) == 0 {
		writeDavError(w, forbidden("The root folder cannot be deleted"))
		return
	}
	s.mu.Lock()
	n := s.lookupLocked(fr.parts)
	if n == nil {
		s.mu.Unlock()
		writeDavError(w, notFound(fr.rel))
		return
	}
	if derr := checkIfMatch(r.Header, true, n.etag); derr != nil {
		s.mu.Unlock()
		writeDavError(w, derr)
		return
	}
	if !strings.ContainsRune(n.perms, 'D') {
		s.mu.Unlock()
		writeDavError(w, forbidden("Deleting is not allowed for /"+fr.rel))
		return
	}
	s.trashLocked(n, time.Now())
	s.mu.Unlock()
	writeEmpty(w, http.StatusNoContent)
}

// destination reads the Destination header of a MOVE/COPY on the files endpoints; both
// the new and the legacy endpoint are accepted.
func (s *Server) destination(r *http.Request) (filesRequest, *davError) {
	d := r.Header.Get("Destination")
	if d == "" {
		return filesRequest{}, badRequest("The destination header was not supplied")
	}
	u, err := url.Parse(d)
	if err != nil {
		return filesRequest{}, badRequest("The destination header is not a valid URL")
	}
	p := u.Path
	var rest string
	switch {
	case p == s.filesPath || strings.HasPrefix(p, s.filesPath+"/"):
		rest = p[len(s.filesPath):]
	case p == "/remote.php/webdav" || strings.HasPrefix(p, "/remote.php/webdav/"):
		rest = p[len("/remote.php/webdav"):]
	default:
		return filesRequest{}, badRequest("The destination is not in this user's files: " + p)
	}
	fr, err := newFilesRequest(rest)
	if err != nil {
		return filesRequest{}, badRequest("The destination path is not valid")
	}
	return fr, nil
}

// moveOrCopy serves MOVE (keeps the file id) and COPY (new file ids, also when it
// overwrites).
func (s *Server) moveOrCopy(w http.ResponseWriter, r *http.Request, fr filesRequest, move bool) {
	dst, derr := s.destination(r)
	if derr == nil && (len(fr.parts) == 0 || len(dst.parts) == 0) {
		derr = forbidden("The root folder cannot be moved or overwritten")
	}
	if derr == nil {
		derr = checkName(dst.name())
	}
	if derr != nil {
		writeDavError(w, derr)
		return
	}
	overwrite := !strings.EqualFold(strings.TrimSpace(r.Header.Get("Overwrite")), "F")

	s.mu.Lock()
	src, existed, derr := s.checkMoveLocked(r, fr, dst, move, overwrite)
	if derr != nil {
		s.mu.Unlock()
		writeDavError(w, derr)
		return
	}
	now := time.Now()
	dparent := s.parentLocked(dst.parts)
	if old := dparent.children[dst.name()]; old != nil {
		s.trashLocked(old, now)
	}
	etag := s.folderETagLocked()
	var result *node
	if move {
		oldParent := src.parent
		detachLocked(src)
		src.name = dst.name()
		attachLocked(dparent, src)
		s.propagateWithLocked(oldParent, etag, true, now)
		s.propagateWithLocked(dparent, etag, true, now)
		result = src
	} else {
		result = s.copyTreeLocked(src, dst.name(), now)
		attachLocked(dparent, result)
		s.propagateWithLocked(dparent, etag, true, now)
	}
	id, isDir, fileEtag := result.fileID, result.isDir, result.etag
	s.mu.Unlock()

	h := w.Header()
	if move && !isDir {
		h.Set("OC-ETag", `"`+fileEtag+`"`)
		h.Set("ETag", `"`+fileEtag+`"`)
	}
	h.Set("OC-FileId", ocID(id))
	if existed {
		writeEmpty(w, http.StatusNoContent)
	} else {
		writeEmpty(w, http.StatusCreated)
	}
}

// checkMoveLocked checks a MOVE/COPY from fr to dst. Permissions follow Nextcloud: a
// rename in place needs N, a move elsewhere V and D, a new destination C (files) or K
// (folders) on its folder, and an overwritten destination D.
func (s *Server) checkMoveLocked(r *http.Request, fr, dst filesRequest, move, overwrite bool) (src *node, existed bool, _ *davError) {
	src = s.lookupLocked(fr.parts)
	if src == nil {
		return nil, false, notFound(fr.rel)
	}
	if move {
		if derr := checkIfMatch(r.Header, true, src.etag); derr != nil {
			return nil, false, derr
		}
	}
	if dst.rel == fr.rel {
		return nil, false, forbidden("Source and destination uri are identical.")
	}
	if strings.HasPrefix(dst.rel+"/", fr.rel+"/") {
		return nil, false, conflict("Cannot move or copy a folder into itself")
	}
	dparent := s.parentLocked(dst.parts)
	if dparent == nil {
		return nil, false, conflict("The destination node is not found")
	}
	old := dparent.children[dst.name()]
	if old != nil && !overwrite {
		return nil, false, preconditionFailed("Overwrite",
			"The destination node already exists, and the overwrite header is set to false", "")
	}
	if old != nil && !strings.ContainsRune(old.perms, 'D') {
		return nil, false, forbidden("The destination cannot be overwritten")
	}
	samePlace := src.parent == dparent
	if move && samePlace && !strings.ContainsRune(src.perms, 'N') {
		return nil, false, forbidden("Renaming is not allowed for /" + fr.rel)
	}
	if move && !samePlace && !(strings.ContainsRune(src.perms, 'V') && strings.ContainsRune(src.perms, 'D')) {
		return nil, false, forbidden("Moving is not allowed for /" + fr.rel)
	}
	if !move || !samePlace {
		need := 'C'
		if src.isDir {
			need = 'K'
		}
		if !strings.ContainsRune(dparent.perms, need) {
			return nil, false, forbidden("Creating is not allowed in the destination folder")
		}
	}
	if !move {
		delta := src.size
		if old != nil {
			delta -= old.size
		}
		if !s.fitsQuotaLocked(delta) {
			return nil, false, insufficientStorage("Insufficient space for the copy")
		}
	}
	return src, old != nil, nil
}
