package davtest

import (
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// trashItem is one deleted file or folder, its subtree kept whole.
type trashItem struct {
	node      *node
	origPath  string // relative to the user's root, as nc:trashbin-original-location
	deletedAt int64  // unix seconds
	key       string // "<name>.d<deletedAt>", its name in the trash folder
}

// TrashInfo describes one trash-bin item.
type TrashInfo struct {
	Key          string // name in the trash folder, "<name>.d<unix time>"
	OriginalPath string
	DeletedAt    time.Time
	NodeInfo
}

// trashLocked moves n and its subtree to the trash bin, as a DELETE does on Nextcloud.
func (s *Server) trashLocked(n *node, now time.Time) {
	s.trashByLocked(n, now, s.opt.UserID)
}

// trashByLocked is trashLocked done by actor, whom the activity stream names.
func (s *Server) trashByLocked(n *node, now time.Time, actor string) {
	orig := n.relPath()
	s.recordActivityLocked("file_deleted", actor, n, orig, now)
	parent := n.parent
	detachLocked(n)
	s.propagateLocked(parent, true, now)
	ts := now.Unix()
	key := n.name + ".d" + strconv.FormatInt(ts, 10)
	for s.trashItemLocked(key) != nil {
		// Two deletions of one name in one second: the real server's keys would
		// collide; keep them apart by bumping the time.
		ts++
		key = n.name + ".d" + strconv.FormatInt(ts, 10)
	}
	s.trash = append(s.trash, &trashItem{node: n, origPath: orig, deletedAt: ts, key: key})
}

func (s *Server) trashItemLocked(key string) *trashItem {
	for _, it := range s.trash {
		if it.key == key {
			return it
		}
	}
	return nil
}

// sortedTrashLocked lists the trash newest first, then by key.
func (s *Server) sortedTrashLocked() []*trashItem {
	items := slices.Clone(s.trash)
	slices.SortFunc(items, func(a, b *trashItem) int {
		if a.deletedAt != b.deletedAt {
			if a.deletedAt > b.deletedAt {
				return -1
			}
			return 1
		}
		return strings.Compare(a.key, b.key)
	})
	return items
}

// Trash lists the trash bin, newest first.
func (s *Server) Trash() []TrashInfo {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []TrashInfo
	for _, it := range s.sortedTrashLocked() {
		info := it.node.info()
		info.Path = it.origPath
		out = append(out, TrashInfo{Key: it.key, OriginalPath: it.origPath,
			DeletedAt: time.Unix(it.deletedAt, 0), NodeInfo: info})
	}
	return out
}

// restoreLocked puts a trash item back where it was; into the root when its folder is
// gone, with " (restored)" added when the name is taken, like Nextcloud.
func (s *Server) restoreLocked(it *trashItem, now time.Time) *node {
	parts, _ := splitPath(it.origPath)
	parent := s.parentLocked(parts)
	if parent == nil {
		parent = s.root
	}
	name := it.node.name
	if parent.children[name] != nil {
		ext := path.Ext(name)
		if it.node.isDir || ext == name {
			ext = ""
		}
		base := strings.TrimSuffix(name, ext)
		name = base + " (restored)" + ext
		for i := 2; parent.children[name] != nil; i++ {
			name = base + " (restored " + strconv.Itoa(i) + ")" + ext
		}
	}
	it.node.name = name
	attachLocked(parent, it.node)
	s.propagateLocked(parent, true, now)
	s.trash = slices.DeleteFunc(s.trash, func(x *trashItem) bool { return x == it })
	return it.node
}

// trashEntry describes n, inside trash item it, for a multistatus.
func trashEntry(it *trashItem, n *node, base, name, orig string) davEntry {
	e := davEntry{
		kind: kindTrash, base: base, name: name, isDir: n.isDir, size: n.size,
		mtime: n.mtime, etag: strconv.FormatInt(it.deletedAt, 10), fileID: n.fileID,
		trashName: n.name, trashOrig: orig, trashTime: it.deletedAt,
	}
	if !n.isDir {
		e.ctype = contentTypeFor(n.name)
	}
	return e
}

func trashChildrenLocked(it *trashItem, n *node, href, orig string, depth int, out []davEntry) []davEntry {
	if !n.isDir || depth == 0 {
		return out
	}
	for _, c := range n.sorted {
		corig := orig + "/" + c.name
		out = append(out, trashEntry(it, c, href, c.name, corig))
		if depth < 0 && c.isDir {
			out = trashChildrenLocked(it, c, href+encodePath(c.name)+"/", corig, depth, out)
		}
	}
	return out
}

// serveTrash serves /remote.php/dav/trashbin/<user>/... ; rest starts with "/".
func (s *Server) serveTrash(w http.ResponseWriter, r *http.Request, rest string) {
	parts, err := splitPath(rest)
	if err != nil || len(parts) == 0 || parts[0] != "trash" {
		writeDavError(w, notFound(strings.TrimPrefix(rest, "/")))
		return
	}
	base := encodePath("/remote.php/dav/trashbin/"+s.opt.UserID) + "/trash/"
	switch r.Method {
	case "PROPFIND":
		s.propfindTrash(w, r, base, parts[1:])
	case "MOVE":
		s.restoreRequest(w, r, parts[1:])
	case http.MethodDelete:
		s.mu.Lock()
		if len(parts) == 1 {
			s.trash = nil
		} else if len(parts) == 2 && s.trashItemLocked(parts[1]) != nil {
			s.trash = slices.DeleteFunc(s.trash, func(x *trashItem) bool { return x.key == parts[1] })
		} else {
			s.mu.Unlock()
			writeDavError(w, notFound(strings.Join(parts, "/")))
			return
		}
		s.mu.Unlock()
		writeEmpty(w, http.StatusNoContent)
	default:
		notImplemented(w, r.Method)
	}
}

func (s *Server) propfindTrash(w http.ResponseWriter, r *http.Request, base string, parts []string) {
	req, err := parsePropfind(r.Body)
	if err != nil {
		writeDavError(w, badRequest("The PROPFIND request body is not valid XML: "+err.Error()))
		return
	}
	depth := s.propfindDepth(r)
	s.mu.RLock()
	var entries []davEntry
	if len(parts) == 0 {
		entries = append(entries, davEntry{kind: kindTrashRoot, base: base, isDir: true})
		if depth != 0 {
			for _, it := range s.sortedTrashLocked() {
				entries = append(entries, trashEntry(it, it.node, base, it.key, it.origPath))
				if depth < 0 && it.node.isDir {
					entries = trashChildrenLocked(it, it.node, base+encodePath(it.key)+"/", it.origPath, depth, entries)
				}
			}
		}
	} else {
		it := s.trashItemLocked(parts[0])
		n, orig := (*node)(nil), ""
		if it != nil {
			n, orig = it.node, it.origPath
			for _, name := range parts[1:] {
				if !n.isDir || n.children[name] == nil {
					n = nil
					break
				}
				n = n.children[name]
				orig += "/" + name
			}
		}
		if n == nil {
			s.mu.RUnlock()
			writeDavError(w, notFound("trash/"+strings.Join(parts, "/")))
			return
		}
		href := base + encodePath(strings.Join(parts, "/"))
		if n.isDir {
			href += "/"
		}
		entries = append(entries, trashEntry(it, n, href, "", orig))
		entries = trashChildrenLocked(it, n, href, orig, depth, entries)
	}
	s.mu.RUnlock()
	s.writeMultistatus(w, r, davHeaderNew, req, multistatusMeta{quotaFree: -3}, entries)
}

// restoreRequest serves MOVE trash/<key> -> restore/<key>.
func (s *Server) restoreRequest(w http.ResponseWriter, r *http.Request, parts []string) {
	if len(parts) != 1 {
		writeDavError(w, forbidden("Only whole trash-bin items can be restored"))
		return
	}
	u, err := url.Parse(r.Header.Get("Destination"))
	restorePrefix := "/remote.php/dav/trashbin/" + s.opt.UserID + "/restore/"
	if err != nil || !strings.HasPrefix(u.Path, restorePrefix) {
		writeDavError(w, badRequest("The destination of a restore must be under "+restorePrefix))
		return
	}
	s.mu.Lock()
	it := s.trashItemLocked(parts[0])
	if it == nil {
		s.mu.Unlock()
		writeDavError(w, notFound("trash/"+parts[0]))
		return
	}
	s.restoreLocked(it, time.Now())
	s.mu.Unlock()
	writeEmpty(w, http.StatusCreated)
}
