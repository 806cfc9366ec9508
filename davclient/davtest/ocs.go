package davtest

import (
	"encoding/json"
	"math"
	"net/http"
	"strings"
)

// pretendDisk is the disk size reported as free space for an unlimited quota, where
// the real server reports its disk's free space.
const pretendDisk = 1 << 40

type ocsMeta struct {
	Status       string `json:"status"`
	StatusCode   int    `json:"statuscode"`
	Message      string `json:"message"`
	TotalItems   string `json:"totalitems"`
	ItemsPerPage string `json:"itemsperpage"`
}

func writeOCS(w http.ResponseWriter, httpStatus int, meta ocsMeta, data any) {
	if data == nil {
		data = []any{}
	}
	body, err := json.Marshal(map[string]any{"ocs": map[string]any{"meta": meta, "data": data}})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(httpStatus)
	_, _ = w.Write(body)
}

// serveOCS answers the OCS endpoints ncvfs uses, in JSON only.
func (s *Server) serveOCS(w http.ResponseWriter, r *http.Request) {
	v1 := strings.HasPrefix(r.URL.Path, "/ocs/v1.php/")
	okCode := 200
	if v1 {
		okCode = 100
	}
	endpoint := strings.TrimSuffix(r.URL.Path[len("/ocs/v1.php"):], "/")
	auth := s.checkAuth(r)
	unauthorized := func() {
		w.Header().Set("WWW-Authenticate", `Basic realm="Nextcloud", charset="UTF-8"`)
		writeOCS(w, http.StatusUnauthorized, ocsMeta{Status: "failure", StatusCode: 997,
			Message: "Current user is not logged in"}, nil)
	}
	if auth == authWrong {
		unauthorized()
		return
	}
	switch endpoint {
	case "/cloud/capabilities":
		// Public on the real server: answered without credentials too.
		writeOCS(w, http.StatusOK, ocsMeta{Status: "ok", StatusCode: okCode, Message: "OK"}, capabilities())
	case "/cloud/user":
		if auth != authOK || !strings.EqualFold(r.Header.Get("OCS-APIRequest"), "true") {
			unauthorized()
			return
		}
		writeOCS(w, http.StatusOK, ocsMeta{Status: "ok", StatusCode: okCode, Message: "OK"}, s.userData())
	case "/apps/activity/api/v2/activity/files", "/apps/activity/api/v2/activity/all":
		if auth != authOK {
			unauthorized()
			return
		}
		if !s.opt.Activity {
			writeOCS(w, http.StatusNotFound, ocsMeta{Status: "failure", StatusCode: 998,
				Message: "Invalid query, please check the syntax. API specifications are here: http://www.freedesktop.org/wiki/Specifications/open-collaboration-services."}, nil)
			return
		}
		s.serveActivity(w, r, okCode)
	default:
		writeOCS(w, http.StatusNotFound, ocsMeta{Status: "failure", StatusCode: 998,
			Message: "Invalid query, please check the syntax. API specifications are here: http://www.freedesktop.org/wiki/Specifications/open-collaboration-services."}, nil)
	}
}

func (s *Server) userData() map[string]any {
	s.mu.RLock()
	used := s.usedLocked()
	s.mu.RUnlock()
	var free, total, quota int64
	if s.opt.QuotaBytes > 0 {
		quota = s.opt.QuotaBytes
		total = s.opt.QuotaBytes
		free = max(total-used, 0)
	} else {
		quota = -3
		free = max(pretendDisk-used, 0)
		total = free + used
	}
	relative := 0.0
	if total > 0 {
		relative = math.Round(float64(used)/float64(total)*10000) / 100
	}
	return map[string]any{
		"enabled":      true,
		"id":           s.opt.UserID,
		"display-name": s.opt.DisplayName,
		"displayname":  s.opt.DisplayName,
		"email":        nil,
		"groups":       []string{"admin"},
		"backend":      "Database",
		"quota": map[string]any{
			"free": free, "used": used, "total": total, "relative": relative, "quota": quota,
		},
	}
}

func capabilities() map[string]any {
	return map[string]any{
		"version": map[string]any{
			"major": 29, "minor": 0, "micro": 6, "string": "29.0.6",
			"edition": "", "extendedSupport": false,
		},
		"capabilities": map[string]any{
			"core": map[string]any{
				"pollinterval":        60,
				"webdav-root":         "remote.php/webdav",
				"mod-rewrite-working": false,
			},
			"bruteforce": map[string]any{"delay": 0, "allow-listed": true},
			"files": map[string]any{
				"bigfilechunking":               true,
				"blacklisted_files":             []string{".htaccess"},
				"forbidden_filename_characters": []string{"\\", "/"},
				"comments":                      true,
				"undelete":                      true,
				"versioning":                    true,
				"version_labeling":              true,
				"version_deletion":              true,
			},
			"dav": map[string]any{"chunking": "1.0", "bulkupload": "1.0"},
		},
	}
}

// serveStatus answers status.php, which needs no credentials.
func (s *Server) serveStatus(w http.ResponseWriter, _ *http.Request) {
	body, _ := json.Marshal(map[string]any{
		"installed": true, "maintenance": false, "needsDbUpgrade": false,
		"version": "29.0.6.1", "versionstring": "29.0.6", "edition": "",
		"productname": "Nextcloud", "extendedSupport": false,
	})
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}
