package davclient

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Bounds on what one d:response may hold; a real server stays far below them.
const (
	maxTextBytes          = 64 << 10 // text kept from one element
	maxPropsPerItem       = 512      // property elements in one d:prop, or in an item's 200 propstats
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

	// Buffers reused from one d:response to the next.
	resp     rawResponse
	propstat propSet
	text     []byte
}

// errCallback wraps an error returned by onChild, so the caller can tell it apart.
type errCallback struct{ err error }

func (e errCallback) Error() string { return e.err.Error() }
func (e errCallback) Unwrap() error { return e.err }

// decode reads the whole body. Errors: errNotMultistatus, *xmlSyntaxError for broken
// XML, errTokenTooLarge, the reader's own error when the body failed, errCallback when
// onChild stopped the walk.
func (m *msDecoder) decode(r io.Reader) error {
	return m.decodeTokens(newXMLScanner(r))
}

// decodeTokens is decode over any tokenizer; tests drive it with encoding/xml too.
func (m *msDecoder) decodeTokens(x xmlTokens) error {
	root, err := firstElement(x)
	if err != nil {
		return err
	}
	if root.space != nsDAV || root.local != "multistatus" {
		return errNotMultistatus
	}
	if m.seen == nil {
		m.seen = make(map[string]struct{})
	}
	for {
		kind, err := x.next()
		if err != nil {
			return eofIsUnexpected(err) // the multistatus never closed
		}
		switch kind {
		case tokStart:
			if n := x.name(); n.space == nsDAV && n.local == "response" {
				if err := m.readResponse(x); err != nil {
					return err
				}
				if err := m.handle(&m.resp); err != nil {
					return errCallback{err}
				}
				continue
			}
			if err := skipElement(x, 1); err != nil {
				return err
			}
		case tokEnd:
			return nil // </d:multistatus>; trailing bytes are not read
		}
	}
}

// firstElement returns the name of the document's root element.
func firstElement(x xmlTokens) (xmlName, error) {
	for {
		kind, err := x.next()
		if err != nil {
			if err == io.EOF {
				return xmlName{}, errNotMultistatus
			}
			var syn *xmlSyntaxError
			if errors.As(err, &syn) {
				return xmlName{}, fmt.Errorf("%w: %v", errNotMultistatus, err)
			}
			return xmlName{}, err
		}
		if kind == tokStart {
			return x.name(), nil
		}
	}
}

var errTooDeep = errors.New("XML nested too deeply")

// skipElement consumes tokens up to the end of the element just opened, refusing
// absurd nesting (depth counts the elements already open inside the multistatus).
func skipElement(x xmlTokens, depth int) error {
	open := 1
	for open > 0 {
		kind, err := x.next()
		if err != nil {
			return eofIsUnexpected(err)
		}
		switch kind {
		case tokStart:
			open++
			if depth+open > maxNesting {
				return errTooDeep
			}
		case tokEnd:
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

// propID numbers the properties ncvfs reads; every other property is walked over.
type propID uint8

const (
	propOther propID = iota
	propResourceType
	propETag
	propLastModified
	propContentLength
	propContentType
	propQuotaAvailable
	propQuotaUsed
	propFileID
	propOCID
	propOCSize
	propPermissions
	propChecksums
	propOwnerID
	propOwnerDisplayName
	propDataFingerprint
	numProps
)

// propOf names the property an element of d:prop holds.
func propOf(n xmlName) propID {
	switch n.space {
	case nsDAV:
		switch n.local {
		case "resourcetype":
			return propResourceType
		case "getetag":
			return propETag
		case "getlastmodified":
			return propLastModified
		case "getcontentlength":
			return propContentLength
		case "getcontenttype":
			return propContentType
		case "quota-available-bytes":
			return propQuotaAvailable
		case "quota-used-bytes":
			return propQuotaUsed
		}
	case nsOwnCloud:
		switch n.local {
		case "fileid":
			return propFileID
		case "id":
			return propOCID
		case "size":
			return propOCSize
		case "permissions":
			return propPermissions
		case "checksums":
			return propChecksums
		case "owner-id":
			return propOwnerID
		case "owner-display-name":
			return propOwnerDisplayName
		case "data-fingerprint":
			return propDataFingerprint
		}
	}
	return propOther
}

// propSet holds the known properties of one propstat or one response, as text. A fixed
// array instead of a map: no allocation per response, and the buffers are reused.
type propSet struct {
	has  [numProps]bool
	text [numProps][]byte
	// collection: d:resourcetype holds d:collection among its first 16 children.
	collection bool
	// count is the number of property elements read, known or not.
	count int
}

func (p *propSet) reset() {
	p.has = [numProps]bool{}
	p.collection = false
	p.count = 0
}

func (p *propSet) get(id propID) ([]byte, bool) {
	if !p.has[id] {
		return nil, false // the buffer may hold an earlier response's value
	}
	return p.text[id], true
}

// mergeFrom copies every property present in o, later values winning.
func (p *propSet) mergeFrom(o *propSet) {
	for id := propID(1); id < numProps; id++ {
		if o.has[id] {
			p.has[id] = true
			p.text[id] = append(p.text[id][:0], o.text[id]...)
		}
	}
	if o.has[propResourceType] {
		p.collection = o.collection
	}
	p.count += o.count
}

// rawResponse is one d:response as read, before validation; its buffers are reused
// from one response to the next.
type rawResponse struct {
	href     []byte
	hrefLong bool
	status   []byte // response-level d:status (an item with no propstat)
	props    propSet
	tooMany  bool
	// propstats counts d:propstat blocks: an item with some (even all 404) exists;
	// one with none carries only a status, usually an error.
	propstats int
}

// readResponse reads one d:response into m.resp; the start element is already
// consumed. Only props of a propstat whose status is 200 are kept.
func (m *msDecoder) readResponse(x xmlTokens) error {
	r := &m.resp
	r.href, r.hrefLong, r.status = r.href[:0], false, r.status[:0]
	r.props.reset()
	r.tooMany, r.propstats = false, 0
	for {
		kind, err := x.next()
		if err != nil {
			return eofIsUnexpected(err)
		}
		switch kind {
		case tokEnd:
			return nil
		case tokStart:
			switch n := x.name(); {
			case n.space == nsDAV && n.local == "href":
				text, long, err := m.readText(x, 2)
				if err != nil {
					return err
				}
				if len(r.href) == 0 && !r.hrefLong {
					r.href, r.hrefLong = append(r.href, text...), long
				}
			case n.space == nsDAV && n.local == "status":
				text, _, err := m.readText(x, 2)
				if err != nil {
					return err
				}
				r.status = append(r.status[:0], text...)
			case n.space == nsDAV && n.local == "propstat":
				r.propstats++
				if r.propstats > maxPropstats {
					r.tooMany = true
				}
				if err := m.readPropstat(x, r); err != nil {
					return err
				}
			default:
				if err := skipElement(x, 2); err != nil {
					return err
				}
			}
		}
	}
}

// readPropstat reads one d:propstat into r when its status is 200.
func (m *msDecoder) readPropstat(x xmlTokens, r *rawResponse) error {
	ps := &m.propstat
	ps.reset()
	statusOK := false
	for {
		kind, err := x.next()
		if err != nil {
			return eofIsUnexpected(err)
		}
		switch kind {
		case tokEnd:
			if statusOK && !r.tooMany {
				r.props.mergeFrom(ps)
				if r.props.count > maxPropsPerItem {
					r.tooMany = true
				}
			}
			return nil
		case tokStart:
			switch n := x.name(); {
			case n.space == nsDAV && n.local == "prop":
				if err := m.readProp(x, ps, r); err != nil {
					return err
				}
			case n.space == nsDAV && n.local == "status":
				text, _, err := m.readText(x, 3)
				if err != nil {
					return err
				}
				statusOK = statusIsOK(text) // the last d:status counts
			default:
				if err := skipElement(x, 3); err != nil {
					return err
				}
			}
		}
	}
}

// readProp reads the children of a d:prop into ps.
func (m *msDecoder) readProp(x xmlTokens, ps *propSet, r *rawResponse) error {
	count := 0
	for {
		kind, err := x.next()
		if err != nil {
			return eofIsUnexpected(err)
		}
		switch kind {
		case tokEnd:
			return nil
		case tokStart:
			id := propOf(x.name())
			count++
			if count > maxPropsPerItem {
				r.tooMany = true
				id = propOther // walked over, not kept
			}
			if id == propOther {
				if err := skipElement(x, 4); err != nil {
					return err
				}
			} else {
				text, collection, err := readPropValue(x, ps.text[id][:0])
				if err != nil {
					return err
				}
				ps.has[id], ps.text[id] = true, text
				if id == propResourceType {
					ps.collection = collection
				}
			}
			ps.count++
		}
	}
}

// readPropValue appends to dst the text of everything inside one property element,
// pieces trimmed and joined by a space (as for oc:checksums/oc:checksum), and says
// whether one of its first 16 child elements is d:collection.
func readPropValue(x xmlTokens, dst []byte) (text []byte, collection bool, err error) {
	children := 0
	open := 1
	for open > 0 {
		kind, err := x.next()
		if err != nil {
			return dst, false, eofIsUnexpected(err)
		}
		switch kind {
		case tokStart:
			open++
			if 4+open > maxNesting {
				return dst, false, errTooDeep
			}
			if open == 2 && children < 16 {
				children++
				if n := x.name(); n.space == nsDAV && n.local == "collection" {
					collection = true
				}
			}
		case tokEnd:
			open--
		case tokText:
			piece := bytes.TrimSpace(x.text())
			if len(piece) == 0 || len(dst)+len(piece) > maxTextBytes {
				continue
			}
			if len(dst) > 0 {
				dst = append(dst, ' ')
			}
			dst = append(dst, piece...)
		}
	}
	return dst, collection, nil
}

// readText reads the text content of a simple element into m.text; long is true when
// it was cut. The result is valid until the next call.
func (m *msDecoder) readText(x xmlTokens, depth int) (text []byte, long bool, err error) {
	b := m.text[:0]
	open := 1
	for open > 0 {
		kind, err := x.next()
		if err != nil {
			return nil, false, eofIsUnexpected(err)
		}
		switch kind {
		case tokStart:
			open++
			if depth+open > maxNesting {
				return nil, false, errTooDeep
			}
		case tokEnd:
			open--
		case tokText:
			t := x.text()
			if len(b)+len(t) > maxTextBytes {
				long = true
				continue
			}
			b = append(b, t...)
		}
	}
	m.text = b
	return bytes.TrimSpace(b), long, nil
}

// statusIsOK reads "HTTP/1.1 200 OK" as statusCode does, without allocating when the
// status is ASCII (always, in practice: "HTTP/1.1 404 Not Found" follows every item).
func statusIsOK(s []byte) bool {
	for _, c := range s {
		if c >= utf8.RuneSelf {
			return statusCode(string(s)) == http.StatusOK // Unicode spaces split fields too
		}
	}
	isSpace := func(c byte) bool { return c == ' ' || '\t' <= c && c <= '\r' }
	i := 0
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	for i < len(s) && !isSpace(s[i]) {
		i++
	}
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	j := i
	for j < len(s) && !isSpace(s[j]) {
		j++
	}
	n, err := strconv.Atoi(string(s[i:j]))
	return err == nil && n == http.StatusOK
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
func (m *msDecoder) handle(r *rawResponse) error {
	if r.hrefLong {
		m.skip("href longer than 64 KiB", "")
		return nil
	}
	href := string(r.href)
	name, self, reason := m.scope.resolve(href)
	if reason != "" {
		m.skip(reason, href)
		return nil
	}
	if self && m.sawSelf {
		m.skip("second answer for the folder itself", href)
		return nil
	}
	if !self {
		if m.onChild == nil {
			return nil // Depth 0: a server that listed children anyway
		}
		if _, dup := m.seen[name]; dup {
			m.skip("duplicate name in the listing", href)
			return nil
		}
	}
	if r.tooMany {
		m.skip("too many properties", href)
		return nil
	}
	if r.propstats == 0 {
		// A response with only a status (e.g. 403 for an unreadable child).
		m.skip("no readable properties (status "+cleanMessage(string(r.status))+")", href)
		return nil
	}
	e := Entry{Name: name}
	if self {
		e.Path = m.dir
		e.Name = lastElement(m.dir)
	} else {
		e.Path = joinPath(m.dir, name)
	}
	if reason := m.fill(&e, &r.props); reason != "" {
		m.skip(reason, href)
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
// Strings are made only for values kept in e; numbers and dates are read in place.
func (m *msDecoder) fill(e *Entry, props *propSet) string {
	str := func(id propID) string {
		v, _ := props.get(id)
		return string(v)
	}
	e.IsDir = props.has[propResourceType] && props.collection
	e.ETag = str(propETag)
	e.ContentType = str(propContentType)
	if v, ok := props.get(propLastModified); ok && len(v) > 0 {
		t, err := parseHTTPTime(v)
		if err != nil {
			if m.badDate != nil && m.badDate.CompareAndSwap(false, true) {
				m.log.Warn("davclient: the server sent a date ncvfs cannot read; using zero times",
					"op", "propfind", "path", e.Path, "value", cleanMessage(string(v)))
			}
		} else {
			e.ModTime = t
		}
	}

	e.Size = -1
	sizeText, hasSize := props.get(propContentLength)
	if e.IsDir || (!hasSize && props.has[propOCSize]) {
		sizeText, hasSize = props.get(propOCSize)
	}
	if hasSize && len(sizeText) > 0 {
		n, err := strconv.ParseInt(string(sizeText), 10, 64)
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

	if v, ok := props.get(propFileID); ok && len(v) > 0 {
		id, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			return "oc:fileid is not a number"
		}
		e.FileID = id
	} else if v, ok := props.get(propOCID); ok {
		e.FileID = leadingNumber(string(v))
	}
	if v, ok := props.get(propPermissions); ok {
		e.Permissions, e.HasPermissions = string(v), true
	}
	e.Checksums = str(propChecksums)
	e.OwnerID = str(propOwnerID)
	e.OwnerDisplayName = str(propOwnerDisplayName)
	e.DataFingerprint = str(propDataFingerprint)

	if v, ok := props.get(propQuotaAvailable); ok && len(v) > 0 {
		if n, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			e.QuotaAvailable, e.HasQuota = n, true
		}
	}
	if v, ok := props.get(propQuotaUsed); ok && len(v) > 0 {
		if n, err := strconv.ParseInt(string(v), 10, 64); err == nil {
			e.QuotaUsed = n
		}
	}
	return ""
}

// parseHTTPTime is http.ParseTime on bytes, with a fast path for the one format
// servers send ("Sun, 22 Nov 2026 00:57:43 GMT"); time.Parse took ~15% of a listing.
func parseHTTPTime(v []byte) (time.Time, error) {
	if t, ok := parseIMFFixdate(v); ok {
		return t, nil
	}
	return http.ParseTime(string(v))
}

// parseIMFFixdate reads exactly "Mon, 02 Jan 2006 15:04:05 GMT" with the names
// capitalised so; it declines anything else, leaving it to http.ParseTime. Where it
// accepts, it agrees with http.ParseTime (FuzzParseHTTPTime checks this).
func parseIMFFixdate(v []byte) (time.Time, bool) {
	const layout = "Mon, 02 Jan 2006 15:04:05 GMT"
	if len(v) != len(layout) || v[3] != ',' || v[4] != ' ' || v[7] != ' ' || v[11] != ' ' ||
		v[16] != ' ' || v[19] != ':' || v[22] != ':' || string(v[25:]) != " GMT" {
		return time.Time{}, false
	}
	if !validWeekday(v[0:3]) {
		return time.Time{}, false
	}
	month := 0
	for i := range 12 {
		if string(v[8:11]) == time.Month(i + 1).String()[:3] {
			month = i + 1
		}
	}
	day, ok1 := twoDigits(v[5:7])
	year1, ok2 := twoDigits(v[12:14])
	year2, ok3 := twoDigits(v[14:16])
	hour, ok4 := twoDigits(v[17:19])
	minute, ok5 := twoDigits(v[20:22])
	sec, ok6 := twoDigits(v[23:25])
	if month == 0 || !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || hour > 23 || minute > 59 || sec > 59 || day < 1 {
		return time.Time{}, false
	}
	t := time.Date(year1*100+year2, time.Month(month), day, hour, minute, sec, 0, time.UTC)
	if t.Day() != day { // the 31st of a 30-day month, the 29th of February in a common year
		return time.Time{}, false
	}
	return t, true
}

func validWeekday(b []byte) bool {
	for d := time.Sunday; d <= time.Saturday; d++ {
		if string(b) == d.String()[:3] {
			return true
		}
	}
	return false
}

func twoDigits(b []byte) (int, bool) {
	if b[0] < '0' || b[0] > '9' || b[1] < '0' || b[1] > '9' {
		return 0, false
	}
	return int(b[0]-'0')*10 + int(b[1]-'0'), true
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
