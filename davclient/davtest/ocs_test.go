package davtest

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

type ocsAnswer struct {
	OCS struct {
		Meta struct {
			Status     string `json:"status"`
			StatusCode int    `json:"statuscode"`
		} `json:"meta"`
		Data json.RawMessage `json:"data"`
	} `json:"ocs"`
}

func decodeOCS(t *testing.T, body string) ocsAnswer {
	t.Helper()
	var a ocsAnswer
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		t.Fatalf("OCS answer is not JSON: %v: %s", err, body)
	}
	return a
}

func TestOCSUser(t *testing.T) {
	s := newTestServer(t, Options{UserID: "u-1234", DisplayName: "Ad Min", QuotaBytes: 1000})
	if _, err := s.WriteFile("f", make([]byte, 250), time.Time{}); err != nil {
		t.Fatal(err)
	}
	resp, body := do(t, req(t, s, http.MethodGet, "/ocs/v2.php/cloud/user?format=json", "", "OCS-APIRequest", "true"))
	wantStatus(t, resp, body, http.StatusOK)
	a := decodeOCS(t, body)
	var data struct {
		ID          string `json:"id"`
		DisplayName string `json:"display-name"`
		Quota       struct {
			Free, Used, Total, Quota int64
		} `json:"quota"`
	}
	if err := json.Unmarshal(a.OCS.Data, &data); err != nil {
		t.Fatal(err)
	}
	if a.OCS.Meta.StatusCode != 200 || data.ID != "u-1234" || data.DisplayName != "Ad Min" {
		t.Errorf("user answer %s", body)
	}
	if data.Quota.Used != 250 || data.Quota.Free != 750 || data.Quota.Total != 1000 || data.Quota.Quota != 1000 {
		t.Errorf("quota %+v", data.Quota)
	}

	resp, body = do(t, req(t, s, http.MethodGet, "/ocs/v1.php/cloud/user?format=json", "", "OCS-APIRequest", "true"))
	wantStatus(t, resp, body, http.StatusOK)
	if decodeOCS(t, body).OCS.Meta.StatusCode != 100 {
		t.Errorf("v1 statuscode: %s", body)
	}
	resp, body = do(t, req(t, s, http.MethodGet, "/ocs/v2.php/cloud/user?format=json", ""))
	wantStatus(t, resp, body, http.StatusUnauthorized)
	r := req(t, s, http.MethodGet, "/ocs/v2.php/cloud/user?format=json", "", "OCS-APIRequest", "true")
	r.SetBasicAuth(testUser, "wrong")
	resp, body = do(t, r)
	wantStatus(t, resp, body, http.StatusUnauthorized)

	// The files URL uses the id, not the login name.
	if s.FilesURL() != s.URL()+"/remote.php/dav/files/u-1234/" {
		t.Errorf("FilesURL %s", s.FilesURL())
	}
	resp, body = do(t, req(t, s, "PROPFIND", "/remote.php/dav/files/u-1234/", "", "Depth", "0"))
	wantStatus(t, resp, body, http.StatusMultiStatus)
	if ms := parseMultistatus(t, body); ms.hrefs[0] != "/remote.php/dav/files/u-1234/" {
		t.Errorf("root href %v", ms.hrefs)
	}
	resp, body = do(t, req(t, s, "PROPFIND", "/remote.php/dav/files/admin/", "", "Depth", "0"))
	wantStatus(t, resp, body, http.StatusNotFound)
}

func TestOCSCapabilitiesAndStatus(t *testing.T) {
	s := newTestServer(t, Options{})
	for _, v := range []struct {
		path string
		code int
	}{{"/ocs/v1.php/cloud/capabilities?format=json", 100}, {"/ocs/v2.php/cloud/capabilities?format=json", 200}} {
		resp, body := do(t, req(t, s, http.MethodGet, v.path, "", "OCS-APIRequest", "true"))
		wantStatus(t, resp, body, http.StatusOK)
		a := decodeOCS(t, body)
		var data struct {
			Version struct {
				Major  int    `json:"major"`
				String string `json:"string"`
			} `json:"version"`
			Capabilities struct {
				Core struct {
					PollInterval int `json:"pollinterval"`
				} `json:"core"`
				Files struct {
					Blacklisted []string `json:"blacklisted_files"`
					Forbidden   []string `json:"forbidden_filename_characters"`
					Undelete    bool     `json:"undelete"`
					Versioning  bool     `json:"versioning"`
				} `json:"files"`
				Dav struct {
					Chunking   string `json:"chunking"`
					BulkUpload string `json:"bulkupload"`
				} `json:"dav"`
				Checksums any `json:"checksums"`
			} `json:"capabilities"`
		}
		if err := json.Unmarshal(a.OCS.Data, &data); err != nil {
			t.Fatal(err)
		}
		c := data.Capabilities
		if a.OCS.Meta.StatusCode != v.code || data.Version.Major != 29 || data.Version.String != "29.0.6" ||
			c.Core.PollInterval != 60 || strings.Join(c.Files.Blacklisted, ",") != ".htaccess" ||
			strings.Join(c.Files.Forbidden, "") != `\/` || !c.Files.Undelete || !c.Files.Versioning ||
			c.Dav.Chunking != "1.0" || c.Dav.BulkUpload != "1.0" || c.Checksums != nil {
			t.Errorf("%s: %s", v.path, body)
		}
	}
	resp, body := do(t, req(t, s, http.MethodGet, "/ocs/v2.php/apps/activity/api/v2/activity/files?format=json", "", "OCS-APIRequest", "true"))
	wantStatus(t, resp, body, http.StatusNotFound)

	r, _ := http.NewRequest(http.MethodGet, s.URL()+"/status.php", nil)
	resp, body = do(t, r)
	wantStatus(t, resp, body, http.StatusOK)
	var st map[string]any
	if err := json.Unmarshal([]byte(body), &st); err != nil || st["installed"] != true || st["productname"] != "Nextcloud" || st["versionstring"] != "29.0.6" {
		t.Errorf("status.php %s %v", body, err)
	}
}

func TestAuth(t *testing.T) {
	s := newTestServer(t, Options{})
	r, _ := http.NewRequest("PROPFIND", s.FilesURL(), nil)
	resp, body := do(t, r)
	wantStatus(t, resp, body, http.StatusUnauthorized)
	if resp.Header.Get("WWW-Authenticate") != `Basic realm="Nextcloud", charset="UTF-8"` ||
		!strings.Contains(body, `Sabre\DAV\Exception\NotAuthenticated`) {
		t.Errorf("401 without credentials: %v %s", resp.Header, body)
	}
	r, _ = http.NewRequest("PROPFIND", s.FilesURL(), nil)
	r.SetBasicAuth(testUser, "nope")
	resp, body = do(t, r)
	wantStatus(t, resp, body, http.StatusUnauthorized)
	if !strings.Contains(body, "Username or password was incorrect") {
		t.Errorf("401 wrong password body %s", body)
	}
	if _, err := New(Options{User: "admin"}); err == nil {
		t.Error("New without a password must fail")
	}
}
