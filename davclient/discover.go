package davclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

const maxOCSBody = 4 << 20 // capabilities are a few KiB; refuse to buffer more than this

// splitFilesURL recognises a Nextcloud/ownCloud files URL. files is the URL given (so a
// sub-folder can be mounted) ending in "/", base what precedes /remote.php, user the id
// in a /remote.php/dav/files/<id> URL ("" for the legacy /remote.php/webdav).
func splitFilesURL(u *url.URL) (files, base, user string, ok bool) {
	p := u.EscapedPath()
	i := strings.Index(p, "/remote.php/")
	if i < 0 {
		return "", "", "", false
	}
	rest := p[i+len("/remote.php/"):]
	switch {
	case rest == "webdav" || strings.HasPrefix(rest, "webdav/"):
	case strings.HasPrefix(rest, "dav/files/"):
		seg, _, _ := strings.Cut(strings.TrimPrefix(rest, "dav/files/"), "/")
		id, err := url.PathUnescape(seg)
		if err != nil || id == "" {
			return "", "", "", false
		}
		user = id
	default:
		return "", "", "", false
	}
	origin := u.Scheme + "://" + u.Host
	files = origin + p
	if !strings.HasSuffix(files, "/") {
		files += "/"
	}
	return files, origin + p[:i], user, true
}

// Discover learns the files root, the dialect and the capabilities, then proves the
// credentials with a PROPFIND of the root. It is safe to call again; the last answer wins.
func (c *Client) Discover(ctx context.Context) (ServerInfo, error) {
	c.discoverMu.Lock()
	defer c.discoverMu.Unlock()

	u, err := url.Parse(c.cfg.URL)
	if err != nil {
		return ServerInfo{}, fmt.Errorf("davclient: discover: server URL: %w", err)
	}
	info := ServerInfo{}
	files, base, pathUser, isFilesURL := splitFilesURL(u)
	if !isFilesURL {
		base = strings.TrimSuffix(c.cfg.URL, "/")
	}

	userID, ocs, err := c.ocsUser(ctx, base)
	if err != nil {
		return ServerInfo{}, c.nameUser(err)
	}
	switch {
	case ocs:
		info.Dialect = DialectNextcloud
		info.UserID = userID
		if pathUser != "" {
			info.UserID = pathUser // the URL the user gave names the tree to mount
		}
		if !isFilesURL {
			files = base + "/remote.php/dav/files/" + url.PathEscape(userID) + "/"
		}
		caps, version, err := c.capabilities(ctx, base)
		if err != nil {
			if errors.Is(err, ErrUnauthorized) {
				return ServerInfo{}, c.nameUser(err)
			}
			c.log.Warn("davclient: capabilities unavailable; using defaults", "op", "discover", "err", err)
		}
		info.Capabilities, info.Version = caps, version
	default:
		info.Dialect = DialectGeneric
		info.UserID = pathUser
		if !isFilesURL {
			files = strings.TrimSuffix(c.cfg.URL, "/") + "/"
		}
		if c.once.genericServer.CompareAndSwap(false, true) {
			c.log.Info("davclient: plain WebDAV server (no Nextcloud OCS API): items are identified "+
				"by path, permissions are not enforced locally, quota is unknown, and folder ETags "+
				"do not propagate, so changes are found by listing folders", "op", "discover",
				"url", redactURL(files))
		}
	}
	info.FilesURL = files
	c.setEndpoints(files, base)

	_, _, rootPath := c.currentEndpoints()
	root, err := c.propfind(ctx, "discover", "", files, newHrefScope(c.host, rootPath, ""), nil)
	if err != nil {
		return ServerInfo{}, c.nameUser(err)
	}
	info.Root = root

	c.mu.Lock()
	c.info = info
	c.mu.Unlock()
	c.log.Debug("davclient: discovered", "op", "discover", "dialect", info.Dialect.String(),
		"url", redactURL(files), "version", info.Version)
	return info, nil
}

// nameUser makes a refused login say which user was refused (never the password).
func (c *Client) nameUser(err error) error {
	var e *Error
	if errors.As(err, &e) && errors.Is(err, ErrUnauthorized) {
		e.Message = fmt.Sprintf("user %q: check the user name and use an app password", c.cfg.User)
	}
	return err
}

func (c *Client) currentEndpoints() (files, base, rootPath string) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.filesU, c.baseU, c.rootPath
}

// ocsGet fetches an OCS JSON document. ok=false (no error) means "no OCS here": 404,
// an HTML page, anything not JSON. 401 and transient failures are errors.
func (c *Client) ocsGet(ctx context.Context, op, u string) (body []byte, ok bool, err error) {
	resp, err := c.do(ctx, call{
		op: op, path: "", method: http.MethodGet, url: u, idempotent: true,
		header: http.Header{"Ocs-Apirequest": {"true"}, "Accept": {"application/json"}},
	})
	if err != nil {
		if errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrTransient) || !isHTTPError(err) {
			return nil, false, err
		}
		return nil, false, nil
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, maxOCSBody+1))
	if err != nil {
		return nil, false, c.transportError(ctx, op, "", err)
	}
	if len(body) > maxOCSBody || !json.Valid(bytes.TrimSpace(body)) {
		return nil, false, nil
	}
	return body, true, nil
}

func isHTTPError(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status != 0
}

// ocsUser asks OCS who we are. ocs=false means the server has no OCS API.
func (c *Client) ocsUser(ctx context.Context, base string) (userID string, ocs bool, err error) {
	body, ok, err := c.ocsGet(ctx, "ocs-user", base+"/ocs/v2.php/cloud/user?format=json")
	if err != nil || !ok {
		return "", false, err
	}
	var doc struct {
		OCS struct {
			Data struct {
				ID string `json:"id"`
			} `json:"data"`
		} `json:"ocs"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || doc.OCS.Data.ID == "" {
		return "", false, nil
	}
	if badName(doc.OCS.Data.ID) != "" {
		return "", false, &Error{Op: "ocs-user", Status: http.StatusOK, Kind: ErrBadResponse,
			Message: "the server sent an unusable user id"}
	}
	return doc.OCS.Data.ID, true, nil
}

// capabilities reads the OCS capabilities; a missing or odd key leaves its zero value.
func (c *Client) capabilities(ctx context.Context, base string) (Capabilities, string, error) {
	body, ok, err := c.ocsGet(ctx, "ocs-capabilities", base+"/ocs/v2.php/cloud/capabilities?format=json")
	if err != nil {
		return Capabilities{}, "", err
	}
	if !ok {
		return Capabilities{}, "", errors.New("no capabilities document")
	}
	var doc struct {
		OCS struct {
			Data struct {
				Version      json.RawMessage `json:"version"`
				Capabilities json.RawMessage `json:"capabilities"`
			} `json:"data"`
		} `json:"ocs"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return Capabilities{}, "", fmt.Errorf("capabilities: %w", err)
	}
	raw := doc.OCS.Data.Capabilities
	var caps Capabilities
	caps.Raw = append([]byte(nil), raw...)
	lookup(raw, &caps.PollInterval, "core", "pollinterval")
	lookup(raw, &caps.ChunkingVersion, "dav", "chunking")
	lookup(raw, &caps.BulkUpload, "dav", "bulkupload")
	lookup(raw, &caps.BlacklistedFiles, "files", "blacklisted_files")
	lookup(raw, &caps.ForbiddenFilenameCharacters, "files", "forbidden_filename_characters")
	lookup(raw, &caps.Undelete, "files", "undelete")
	lookup(raw, &caps.Versioning, "files", "versioning")
	lookup(raw, &caps.ChecksumSupportedTypes, "checksums", "supportedTypes")
	lookup(raw, &caps.ChecksumPreferredUploadType, "checksums", "preferredUploadType")
	lookup(raw, &caps.NotifyPushWebsocket, "notify_push", "endpoints", "websocket")
	var version string
	lookup(doc.OCS.Data.Version, &version, "string")
	return caps, version, nil
}

// lookup decodes the value at keys into dst, leaving dst alone when a key is missing or
// the value has another type: one odd key must not lose the others.
func lookup(raw json.RawMessage, dst any, keys ...string) {
	cur := raw
	for _, k := range keys {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(cur, &obj); err != nil {
			return
		}
		next, ok := obj[k]
		if !ok {
			return
		}
		cur = next
	}
	_ = json.Unmarshal(cur, dst)
}
