package davclient

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Activity is one entry of the activity app's stream of file events.
type Activity struct {
	ID int64
	// Type is "file_deleted", "file_changed", "file_created", ...
	Type string
	// User is who did it (the actor), not necessarily the account's user.
	User string
	// Path is object_name, relative to the account's files root ("" when none).
	Path    string
	FileID  uint64
	Time    time.Time
	Subject string
}

// activityPage is how many entries one request asks for.
const activityPage = 200

// Activities calls fn for the account's file activities, newest first, page after page
// (GET /ocs/v2.php/apps/activity/api/v2/activity/files) until the stream ends or fn
// returns false. The activity app is optional: where it is not installed the answer is
// ErrUnsupported.
func (c *Client) Activities(ctx context.Context, fn func(Activity) bool) error {
	if _, err := c.trashURL(ctx); err != nil { // Nextcloud only, discovered
		var e *Error
		if errors.As(err, &e) && errors.Is(err, ErrUnsupported) {
			e.Op, e.Message = "activity", "only Nextcloud servers have an activity stream"
		}
		return err
	}
	_, base, _ := c.currentEndpoints()
	since := int64(0)
	for {
		q := url.Values{"format": {"json"}, "limit": {strconv.Itoa(activityPage)}}
		if since > 0 {
			q.Set("since", strconv.FormatInt(since, 10))
		}
		page, err := c.activityPage(ctx, base+"/ocs/v2.php/apps/activity/api/v2/activity/files?"+q.Encode())
		if err != nil {
			return err
		}
		for _, a := range page {
			if !fn(a) {
				return nil
			}
		}
		if len(page) < activityPage {
			return nil
		}
		last := page[len(page)-1].ID
		if last <= 0 || (since > 0 && last >= since) {
			return nil // a server that does not page as documented: stop rather than loop
		}
		since = last
	}
}

// activityPage fetches one page; an empty page means the stream ended (304).
func (c *Client) activityPage(ctx context.Context, u string) ([]Activity, error) {
	resp, err := c.do(ctx, call{
		op: "activity", method: http.MethodGet, url: u, idempotent: true,
		header: http.Header{"Ocs-Apirequest": {"true"}, "Accept": {"application/json"}},
	})
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			switch e.Status {
			case http.StatusNotModified:
				return nil, nil
			case http.StatusNotFound:
				return nil, &Error{Op: "activity", Status: e.Status, Kind: ErrUnsupported,
					Message: "the activity app is not installed on the server"}
			}
		}
		return nil, err
	}
	defer drainClose(resp.Body)
	if resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified {
		return nil, nil
	}
	var doc struct {
		OCS struct {
			Data []struct {
				ID         int64           `json:"activity_id"`
				Type       string          `json:"type"`
				User       string          `json:"user"`
				ObjectID   json.RawMessage `json:"object_id"`
				ObjectName string          `json:"object_name"`
				Subject    string          `json:"subject"`
				Datetime   string          `json:"datetime"`
			} `json:"data"`
		} `json:"ocs"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxOCSBody)).Decode(&doc); err != nil {
		return nil, &Error{Op: "activity", Status: resp.StatusCode, Kind: ErrBadResponse,
			Message: "the activity stream is not the expected JSON", Cause: err}
	}
	out := make([]Activity, 0, len(doc.OCS.Data))
	for _, d := range doc.OCS.Data {
		a := Activity{ID: d.ID, Type: d.Type, User: d.User, Subject: d.Subject,
			Path: strings.Trim(d.ObjectName, "/"), FileID: leadingNumber(strings.Trim(string(d.ObjectID), `"`))}
		if t, err := time.Parse(time.RFC3339, d.Datetime); err == nil {
			a.Time = t
		}
		out = append(out, a)
	}
	return out, nil
}
