package davclient

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
)

// Bounds on what one d:response may hold; a real server stays far below them.
const (
	maxTextBytes          = 64 << 10 // text kept from one element
	maxPropsPerItem       = 512
	maxPropstats          = 64
	maxNesting            = 32
	maxSaneSize     int64 = 1 << 62
)

const (
	nsDAV      = "DAV:"
	nsOwnCloud = "http://owncloud.org/ns"
	nsNextcl   = "http://nextcloud.org/ns"
)

// errNotMultistatus marks a body that is not a DAV multistatus at all.
var errNotMultistatus = errors.New("the answer is not a WebDAV multistatus; the URL is probably not a WebDAV endpoint (a web page or a login form answered)")

// msDecoder streams a multistatus body and yields validated entries one d:response at a
// time, so memory stays flat however large the folder.
type msDecoder struct {
	scope   hrefScope
	dir     string // relative path asked for ("" = root)
	log     *slog.Logger
	badDate *atomic.Bool // "unparseable date" is logged once per client

	onSelf  func(Entry)
	onChild func(Entry) error // nil: children are ignored (Depth 0)

	seen     map[string]struct{}
	sawSelf  bool
	children int
}

// errCallback wraps an error returned by onChild, so the caller can tell it apart.
type errCallback struct{ err error }

func (e errCallback) Error() string { return e.err.Error() }
func (e errCallback) Unwrap() error { return e.err }

// decode reads the whole body. Errors: errNotMultistatus, *xml.SyntaxError and friends
// for broken XML, the reader's own error when the body failed, errCallback when onChild
// stopped the walk.
func (m *msDecoder) decode(r io.Reader) error {
	d := xml.NewDecoder(newTokenGuard(r, maxTokenBytes))
	d.Strict = true
	// The decoder would otherwise reject a non-UTF-8 charset label; our servers send
	// UTF-8, and anything else is read as bytes and then checked name by name.
	d.CharsetReader = func(_ string, in io.Reader) (io.Reader, error) { return in, nil }

	root, err := firstElement(d)
	if err != nil {
		return err
	}
	if root.Name.Space != nsDAV || root.Name.Local != "multistatus" {
		return errNotMultistatus
	}
	if m.seen == nil {
		m.seen = make(map[string]struct{})
	}
	for {
		tok, err := d.Token()
		if err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF // the multistatus never closed
			}
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Space == nsDAV && t.Name.Local == "response" {
				resp, err := readResponse(d)
				if err != nil {
					return err
				}
				if err := m.handle(resp); err != nil {
					return errCallback{err}
				}
				continue
			}
			if err := skipElement(d, 1); err != nil {
				return err
			}
		case xml.EndElement:
			return nil // </d:multistatus>; trailing bytes are not read
		}
	}
}

// firstElement returns the document's root element.
func firstElement(d *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := d.Token()
		if err != nil {
			if err == io.EOF {
				return xml.StartElement{}, errNotMultistatus
			}
			var syn *xml.SyntaxError
			if errors.As(err, &syn) {
				return xml.StartElement{}, fmt.Errorf("%w: %v", errNotMultistatus, err)
			}
			return xml.StartElement{}, err
		}
		if se, ok := tok.(xml.StartElement); ok {
			return se, nil
		}
	}
}

// skipElement consumes tokens up to the end of the element just opened, refusing
// absurd nesting (depth counts the elements already open inside the response).
func skipElement(d *xml.Decoder, depth int) error {
	open := 1
	for open > 0 {
		tok, err := d.Token()
		if err != nil {
			return eofIsUnexpected(err)
		}
		switch tok.(type) {
		case xml.StartElement:
			open++
			if depth+open > maxNesting {
				return errors.New("XML nested too deeply")
			}
		case xml.EndElement:
			open--
		}
	}
	return nil
}

func eofIsUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// rawResponse is one d:response as read, before validation.
type rawResponse struct {
	href     string
	hrefLong bool
	status   string // response-level d:status (an item with no propstat)
	props    map[xml.Name]propValue
	tooMany  bool
	// propstats counts d:propstat blocks: an item with some (even all 404) exists;
	// one with none carries only a status, usually an error.
	propstats int
}

// propValue is what ncvfs keeps of one property: its text and the names of its child
// elements (d:resourcetype holds d:collection).
type propValue struct {
	text     string
	children []xml.Name
}

// readResponse reads one d:response; the start element is already consumed. Only props
// of a propstat whose status is 200 are kept.
func readResponse(d *xml.Decoder) (rawResponse, error) {
	resp := rawResponse{props: make(map[xml.Name]propValue)}
	for {
		tok, err := d.Token()
		if err != nil {
			return resp, eofIsUnexpected(err)
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return resp, nil
		case xml.StartElement:
			switch {
			case t.Name.Space == nsDAV && t.Name.Local == "href":
				text, long, err := readText(d, 2)
				if err != nil {
					return resp, err
				}
				if resp.href == "" && !resp.hrefLong {
					resp.href, resp.hrefLong = text, long
				}
			case t.Name.Space == nsDAV && t.Name.Local == "status":
				text, _, err := readText(d, 2)
				if err != nil {
					return resp, err
				}
				resp.status = text
			case t.Name.Space == nsDAV && t.Name.Local == "propstat":
				resp.propstats++
				if resp.propstats > maxPropstats {
					resp.tooMany = true
				}
				if err := readPropstat(d, &resp); err != nil {
					return resp, err
				}
			default:
				if err := skipElement(d, 2); err != nil {
					return resp, err
				}
			}
		}
	}
}

// readPropstat reads one d:propstat into resp when its status is 200.
func readPropstat(d *xml.Decoder, resp *rawResponse) error {
	var props map[xml.Name]propValue
	status := ""
	for {
		tok, err := d.Token()
		if err != nil {
			return eofIsUnexpected(err)
		}
		switch t := tok.(type) {
		case xml.EndElement:
			if statusCode(status) == http.StatusOK && !resp.tooMany {
				for k, v := range props {
					if len(resp.props) >= maxPropsPerItem {
						resp.tooMany = true
						break
					}
					resp.props[k] = v
				}
			}
			return nil
		case xml.StartElement:
			switch {
			case t.Name.Space == nsDAV && t.Name.Local == "prop":
				p, tooMany, err := readProp(d)
				if err != nil {
					return err
				}
				resp.tooMany = resp.tooMany || tooMany
				if props == nil {
					props = p
				} else {
					for k, v := range p {
						props[k] = v
					}
				}
			case t.Name.Space == nsDAV && t.Name.Local == "status":
				text, _, err := readText(d, 3)
				if err != nil {
					return err
				}
				status = text
			default:
				if err := skipElement(d, 3); err != nil {
					return err
				}
			}
		}
	}
}

// readProp reads the children of a d:prop.
func readProp(d *xml.Decoder) (map[xml.Name]propValue, bool, error) {
	props := make(map[xml.Name]propValue)
	tooMany := false
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, false, eofIsUnexpected(err)
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return props, tooMany, nil
		case xml.StartElement:
			v, err := readPropValue(d)
			if err != nil {
				return nil, false, err
			}
			if len(props) >= maxPropsPerItem {
				tooMany = true
				continue
			}
			props[xml.Name{Space: t.Name.Space, Local: t.Name.Local}] = v
		}
	}
}

// readPropValue reads one property element: the text of everything inside it (pieces
// joined by a space, as for oc:checksums/oc:checksum) and the names of its children.
func readPropValue(d *xml.Decoder) (propValue, error) {
	var v propValue
	var text strings.Builder
	open := 1
	for open > 0 {
		tok, err := d.Token()
		if err != nil {
			return v, eofIsUnexpected(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			open++
			if 4+open > maxNesting {
				return v, errors.New("XML nested too deeply")
			}
			if open == 2 && len(v.children) < 16 {
				v.children = append(v.children, xml.Name{Space: t.Name.Space, Local: t.Name.Local})
			}
		case xml.EndElement:
			open--
		case xml.CharData:
			piece := strings.TrimSpace(string(t))
			if piece == "" || text.Len()+len(piece) > maxTextBytes {
				continue
			}
			if text.Len() > 0 {
				text.WriteByte(' ')
			}
			text.WriteString(piece)
		}
	}
	v.text = text.String()
	return v, nil
}

// readText reads the text content of a simple element; long is true when it was cut.
func readText(d *xml.Decoder, depth int) (text string, long bool, err error) {
	var b strings.Builder
	open := 1
	for open > 0 {
		tok, err := d.Token()
		if err != nil {
			return "", false, eofIsUnexpected(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			open++
			if depth+open > maxNesting {
				return "", false, errors.New("XML nested too deeply")
			}
		case xml.EndElement:
			open--
		case xml.CharData:
			if b.Len()+len(t) > maxTextBytes {
				long = true
				continue
			}
			b.Write(t)
		}
	}
	return strings.TrimSpace(b.String()), long, nil
}

// statusCode reads "HTTP/1.1 200 OK"; 0 when unreadable.
func statusCode(s string) int {
	f := strings.Fields(s)
	if len(f) < 2 {
		return 0
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		return 0
	}
	return n
}

// handle validates one response and passes it on; it returns only onChild's error.
func (m *msDecoder) handle(r rawResponse) error {
	if r.hrefLong {
		m.skip("href longer than 64 KiB", "")
		return nil
	}
	name, self, reason := m.scope.resolve(r.href)
	if reason != "" {
		m.skip(reason, r.href)
		return nil
	}
	if self && m.sawSelf {
		m.skip("second answer for the folder itself", r.href)
		return nil
	}
	if !self {
		if m.onChild == nil {
			return nil // Depth 0: a server that listed children anyway
		}
		if _, dup := m.seen[name]; dup {
			m.skip("duplicate name in the listing", r.href)
			return nil
		}
	}
	if r.tooMany {
		m.skip("too many properties", r.href)
		return nil
	}
	if r.propstats == 0 {
		// A response with only a status (e.g. 403 for an unreadable child).
		m.skip("no readable properties (status "+cleanMessage(r.status)+")", r.href)
		return nil
	}
	e := Entry{Name: name, Path: joinPath(m.dir, name)}
	if self {
		e.Path = m.dir
		e.Name = lastElement(m.dir)
	}
	if reason := m.fill(&e, r.props); reason != "" {
		m.skip(reason, r.href)
		return nil
	}
	if self {
		m.sawSelf = true
		if m.onSelf != nil {
			m.onSelf(e)
		}
		return nil
	}
	m.seen[name] = struct{}{}
	m.children++
	return m.onChild(e)
}

func (m *msDecoder) skip(reason, href string) {
	if len(href) > 200 {
		href = href[:200] + "…"
	}
	m.log.Warn("davclient: skipping an item of a listing", "op", "propfind", "path", m.dir,
		"reason", reason, "href", href)
}

// fill copies the properties into e; a non-empty reason means the item is unusable.
func (m *msDecoder) fill(e *Entry, props map[xml.Name]propValue) string {
	get := func(space, local string) (string, bool) {
		v, ok := props[xml.Name{Space: space, Local: local}]
		return v.text, ok
	}
	if rt, ok := props[xml.Name{Space: nsDAV, Local: "resourcetype"}]; ok {
		for _, c := range rt.children {
			if c.Space == nsDAV && c.Local == "collection" {
				e.IsDir = true
			}
		}
	}
	e.ETag, _ = get(nsDAV, "getetag")
	e.ContentType, _ = get(nsDAV, "getcontenttype")
	if v, ok := get(nsDAV, "getlastmodified"); ok && v != "" {
		t, err := http.ParseTime(v)
		if err != nil {
			if m.badDate != nil && m.badDate.CompareAndSwap(false, true) {
				m.log.Warn("davclient: the server sent a date ncvfs cannot read; using zero times",
					"op", "propfind", "path", e.Path, "value", cleanMessage(v))
			}
		} else {
			e.ModTime = t
		}
	}

	e.Size = -1
	contentLength, hasLength := get(nsDAV, "getcontentlength")
	ocSize, hasOCSize := get(nsOwnCloud, "size")
	sizeText, hasSize := contentLength, hasLength
	if e.IsDir || (!hasLength && hasOCSize) {
		sizeText, hasSize = ocSize, hasOCSize
	}
	if hasSize && sizeText != "" {
		n, err := strconv.ParseInt(sizeText, 10, 64)
		switch {
		case err != nil:
			return "size is not a number"
		case n > maxSaneSize:
			return "size is absurdly large"
		case n < 0 && !e.IsDir:
			return "negative file size"
		case n >= 0:
			e.Size = n
		}
	}

	if v, ok := get(nsOwnCloud, "fileid"); ok && v != "" {
		id, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return "oc:fileid is not a number"
		}
		e.FileID = id
	} else if v, ok := get(nsOwnCloud, "id"); ok {
		e.FileID = leadingNumber(v)
	}
	if v, ok := get(nsOwnCloud, "permissions"); ok {
		e.Permissions, e.HasPermissions = v, true
	}
	e.Checksums, _ = get(nsOwnCloud, "checksums")
	e.OwnerID, _ = get(nsOwnCloud, "owner-id")
	e.OwnerDisplayName, _ = get(nsOwnCloud, "owner-display-name")
	e.DataFingerprint, _ = get(nsOwnCloud, "data-fingerprint")

	if v, ok := get(nsDAV, "quota-available-bytes"); ok && v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			e.QuotaAvailable, e.HasQuota = n, true
		}
	}
	if v, ok := get(nsDAV, "quota-used-bytes"); ok && v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			e.QuotaUsed = n
		}
	}
	return ""
}

// leadingNumber reads the decimal digits that start s ("00002459oc1vt40eheh6" -> 2459);
// 0 when there are none or they overflow.
func leadingNumber(s string) uint64 {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	n, err := strconv.ParseUint(s[:i], 10, 64)
	if err != nil {
		return 0
	}
	return n
}

func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

func lastElement(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}
