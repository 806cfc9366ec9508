package davtest

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// activity is one entry of the activity app's stream.
type activity struct {
	id     int64
	typ    string // "file_deleted", ...
	actor  string
	fileID uint64
	path   string // relative to the user's root
	at     time.Time
}

// maxActivityPage is the activity API's largest page.
const maxActivityPage = 500

// recordActivityLocked appends one entry to the activity stream, when it is served.
func (s *Server) recordActivityLocked(typ, actor string, n *node, p string, now time.Time) {
	if !s.opt.Activity {
		return
	}
	s.activities = append(s.activities, activity{
		id: int64(len(s.activities)) + 1, typ: typ, actor: actor, fileID: n.fileID, path: p, at: now,
	})
}

// RemoveBy is Remove done by another user (a share's owner or a collaborator): the
// item goes to the trash bin and the activity stream names actor as who deleted it.
func (s *Server) RemoveBy(p, actor string) error {
	parts, err := splitPath(p)
	if err != nil {
		return err
	}
	if len(parts) == 0 {
		return errNotExist("remove", p)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.lookupLocked(parts)
	if n == nil {
		return errNotExist("remove", p)
	}
	s.trashByLocked(n, time.Now(), actor)
	return nil
}

// serveActivity answers GET /ocs/v2.php/apps/activity/api/v2/activity/{files,all} like
// the activity app: newest first (sort=asc for oldest first), "since" is the id of the
// last activity already seen, "limit" the page size, and 304 once nothing is left.
// Only deletions are recorded, hence one subject form.
func (s *Server) serveActivity(w http.ResponseWriter, r *http.Request, okCode int) {
	q := r.URL.Query()
	limit := 50
	if v, err := strconv.Atoi(q.Get("limit")); err == nil && v > 0 {
		limit = min(v, maxActivityPage)
	}
	since, _ := strconv.ParseInt(q.Get("since"), 10, 64)
	asc := strings.EqualFold(q.Get("sort"), "asc")

	s.mu.RLock()
	acts := slices.Clone(s.activities)
	s.mu.RUnlock()
	if !asc {
		slices.Reverse(acts)
	}
	var page []map[string]any
	for _, a := range acts {
		if since > 0 && ((asc && a.id <= since) || (!asc && a.id >= since)) {
			continue
		}
		if len(page) == limit {
			break
		}
		id := strconv.FormatUint(a.fileID, 10)
		page = append(page, map[string]any{
			"activity_id": a.id, "app": "files", "type": a.typ,
			"user": a.actor, "affecteduser": s.opt.UserID,
			"subject":     a.actor + " deleted " + a.path[strings.LastIndexByte(a.path, '/')+1:],
			"message":     "",
			"object_type": "files", "object_id": a.fileID, "object_name": "/" + a.path,
			"objects":  map[string]string{id: "/" + a.path},
			"datetime": a.at.UTC().Format(time.RFC3339),
		})
	}
	if len(page) == 0 {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("X-Activity-First-Known", strconv.FormatInt(acts[0].id, 10))
	w.Header().Set("X-Activity-Last-Given", strconv.FormatInt(page[len(page)-1]["activity_id"].(int64), 10))
	writeOCS(w, http.StatusOK, ocsMeta{Status: "ok", StatusCode: okCode, Message: "OK"}, page)
}
