package davclient

import (
	"net/url"
	"strings"
	"unicode/utf8"
)

// maxNameLen is the longest name accepted from the server, in bytes (NAME_MAX).
const maxNameLen = 255

// hrefScope says which hrefs a PROPFIND answer may carry: the folder asked for (or the
// item, at Depth 0) and, at Depth 1, its direct children.
type hrefScope struct {
	host   string // lowercase authority of the server, for full-URL hrefs
	folder string // decoded absolute path of the item asked for, without trailing slash
}

func newHrefScope(host, rootPath, rel string) hrefScope {
	folder := strings.TrimSuffix(rootPath, "/")
	if rel != "" {
		folder += "/" + rel
	}
	return hrefScope{host: strings.ToLower(host), folder: folder}
}

// resolve checks one href. It returns self=true for the item asked for, or the name of a
// direct child; reason is non-empty when the href must be skipped.
func (s hrefScope) resolve(href string) (name string, self bool, reason string) {
	href = strings.TrimSpace(href)
	if href == "" {
		return "", false, "empty href"
	}
	rawPath := href
	if i := strings.Index(href, "://"); i >= 0 && !strings.HasPrefix(href, "/") {
		scheme := strings.ToLower(href[:i])
		if scheme != "http" && scheme != "https" {
			return "", false, "href has an unexpected scheme"
		}
		rest := href[i+3:]
		authority, p, found := strings.Cut(rest, "/")
		if !found {
			p = ""
		}
		if !sameHost(authority, s.host, scheme) {
			return "", false, "href names another host"
		}
		rawPath = "/" + p
	}
	if !strings.HasPrefix(rawPath, "/") {
		return "", false, "href is not an absolute path"
	}
	decoded, err := url.PathUnescape(rawPath)
	if err != nil {
		return "", false, "malformed percent-encoding"
	}
	if strings.IndexByte(decoded, 0) >= 0 {
		return "", false, "href contains NUL"
	}
	// Folders end in "/"; exactly one trailing slash is tolerated.
	p := strings.TrimSuffix(decoded, "/")
	if p == s.folder {
		return "", true, ""
	}
	rest, ok := strings.CutPrefix(p, s.folder+"/")
	if !ok {
		return "", false, "href lies outside the folder"
	}
	if strings.Contains(rest, "/") {
		return "", false, "href is not a direct child"
	}
	if reason := badName(rest); reason != "" {
		return "", false, reason
	}
	return rest, false, ""
}

// badName says why a single path element is unusable as a local name, or "".
func badName(n string) string {
	switch {
	case n == "":
		return "empty name"
	case n == "." || n == "..":
		return "name is a dot entry"
	case strings.ContainsRune(n, '/'):
		return "name contains a slash"
	case strings.IndexByte(n, 0) >= 0:
		return "name contains NUL"
	case !utf8.ValidString(n):
		return "name is not valid UTF-8"
	case len(n) > maxNameLen:
		return "name is longer than 255 bytes"
	}
	return ""
}

// sameHost compares authorities case-insensitively, ignoring the scheme's default port.
func sameHost(a, b, scheme string) bool {
	if strings.Contains(a, "@") {
		return false // userinfo in an href is never legitimate here
	}
	return stripDefaultPort(strings.ToLower(a), scheme) == stripDefaultPort(b, scheme)
}

func stripDefaultPort(h, scheme string) string {
	switch {
	case scheme == "http" && strings.HasSuffix(h, ":80"):
		return strings.TrimSuffix(h, ":80")
	case scheme == "https" && strings.HasSuffix(h, ":443"):
		return strings.TrimSuffix(h, ":443")
	}
	return h
}
