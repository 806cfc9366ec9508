package davtest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestSetOwnerShowsInListings(t *testing.T) {
	s := newTestServer(t, Options{})
	if _, err := s.WriteFile("Shared/Team/plan.txt", []byte("x"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteFile("mine.txt", []byte("y"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetOwner("Shared/Team", "bob", "Bob B."); err != nil {
		t.Fatal(err)
	}
	props := `<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:prop>
<oc:owner-id/><oc:owner-display-name/><oc:permissions/></d:prop></d:propfind>`
	resp, body := call(t, s, "PROPFIND", "", props, "Depth", "infinity")
	wantStatus(t, resp, body, http.StatusMultiStatus)
	ms := parseMultistatus(t, body)
	base := "/remote.php/dav/files/admin/"
	for href, want := range map[string]string{
		base + "Shared/Team/":         "bob",
		base + "Shared/Team/plan.txt": "bob",
		base + "Shared/":              "admin",
		base + "mine.txt":             "admin",
	} {
		if p := ms.get(t, href, "oc:owner-id"); p.text != want {
			t.Errorf("%s owner-id %q, want %q", href, p.text, want)
		}
	}
	if p := ms.get(t, base+"Shared/Team/plan.txt", "oc:owner-display-name"); p.text != "Bob B." {
		t.Errorf("owner-display-name %q", p.text)
	}
	if p := ms.get(t, base+"Shared/Team/", "oc:permissions"); !strings.HasPrefix(p.text, "S") {
		t.Errorf("a share's permissions %q lack S", p.text)
	}
}

type activityDoc struct {
	OCS struct {
		Data []struct {
			ID         int64  `json:"activity_id"`
			Type       string `json:"type"`
			User       string `json:"user"`
			ObjectName string `json:"object_name"`
			Datetime   string `json:"datetime"`
		} `json:"data"`
	} `json:"ocs"`
}

func TestActivityStreamNamesWhoDeleted(t *testing.T) {
	s := newTestServer(t, Options{Activity: true})
	for _, p := range []string{"a.txt", "d/b.txt", "d/c.txt"} {
		if _, err := s.WriteFile(p, []byte("x"), time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	resp, body := call(t, s, http.MethodDelete, "a.txt", "")
	wantStatus(t, resp, body, http.StatusNoContent)
	if err := s.RemoveBy("d/b.txt", "bob"); err != nil {
		t.Fatal(err)
	}
	path := "/ocs/v2.php/apps/activity/api/v2/activity/files?format=json&limit=1"
	resp, body = do(t, req(t, s, http.MethodGet, path, "", "OCS-APIRequest", "true"))
	wantStatus(t, resp, body, http.StatusOK)
	var doc activityDoc
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.OCS.Data) != 1 {
		t.Fatalf("page of %d, want 1: %s", len(doc.OCS.Data), body)
	}
	newest := doc.OCS.Data[0]
	if newest.Type != "file_deleted" || newest.User != "bob" || newest.ObjectName != "/d/b.txt" {
		t.Errorf("newest activity %+v", newest)
	}
	if _, err := time.Parse(time.RFC3339, newest.Datetime); err != nil {
		t.Errorf("datetime %q: %v", newest.Datetime, err)
	}
	resp, body = do(t, req(t, s, http.MethodGet, path+"&since="+itoa(newest.ID), "", "OCS-APIRequest", "true"))
	wantStatus(t, resp, body, http.StatusOK)
	doc = activityDoc{}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.OCS.Data) != 1 || doc.OCS.Data[0].User != "admin" || doc.OCS.Data[0].ObjectName != "/a.txt" {
		t.Errorf("second page %+v", doc.OCS.Data)
	}
	resp, body = do(t, req(t, s, http.MethodGet, path+"&since="+itoa(doc.OCS.Data[0].ID), "", "OCS-APIRequest", "true"))
	wantStatus(t, resp, body, http.StatusNotModified)
}

func TestActivityOffIs404(t *testing.T) {
	s := newTestServer(t, Options{})
	resp, body := do(t, req(t, s, http.MethodGet, "/ocs/v2.php/apps/activity/api/v2/activity/files?format=json", "", "OCS-APIRequest", "true"))
	wantStatus(t, resp, body, http.StatusNotFound)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
