package davclient

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// The decoding logic as it was before xmlScanner (map-based, driven by encoding/xml),
// kept verbatim as a second reference: FuzzTokenizerMatchesEncodingXML checks that the
// rewrite yields the same entries. Only the names carry a legacy prefix.

// legacyDecodeStd runs the old logic over encoding/xml with the tokenizer policy.
func (m *msDecoder) legacyDecodeStd(r io.Reader) error {
	lexer := xml.NewDecoder(newTokenGuard(r, maxTokenBytes))
	lexer.Strict = true
	lexer.CharsetReader = func(_ string, in io.Reader) (io.Reader, error) { return in, nil }
	return m.legacyDecode(xml.NewTokenDecoder(&prefixPolicy{lexer: lexer}))
}

// legacyDecode reads the whole body. Errors: errNotMultistatus, *xml.SyntaxError and friends
// for broken XML, the reader's own error when the body failed, errCallback when onChild
// stopped the walk.
func (m *msDecoder) legacyDecode(d *xml.Decoder) error {
	root, err := legacyFirstElement(d)
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
				resp, err := legacyReadResponse(d)
				if err != nil {
					return err
				}
				if err := m.legacyHandle(resp); err != nil {
					return errCallback{err}
				}
				continue
			}
			if err := legacySkipElement(d, 1); err != nil {
				return err
			}
		case xml.EndElement:
			return nil // </d:multistatus>; trailing bytes are not read
		}
	}
}

// legacyFirstElement returns the document's root element.
func legacyFirstElement(d *xml.Decoder) (xml.StartElement, error) {
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

// legacySkipElement consumes tokens up to the end of the element just opened, refusing
// absurd nesting (depth counts the elements already open inside the response).
func legacySkipElement(d *xml.Decoder, depth int) error {
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

// legacyResponse is one d:response as read, before validation.
type legacyResponse struct {
	href     string
	hrefLong bool
	status   string // response-level d:status (an item with no propstat)
	props    map[xml.Name]legacyPropValue
	tooMany  bool
	// propstats counts d:propstat blocks: an item with some (even all 404) exists;
	// one with none carries only a status, usually an error.
	propstats int
}

// legacyPropValue is what ncvfs keeps of one property: its text and the names of its child
// elements (d:resourcetype holds d:collection).
type legacyPropValue struct {
	text     string
	children []xml.Name
}

// legacyReadResponse reads one d:response; the start element is already consumed. Only props
// of a propstat whose status is 200 are kept.
func legacyReadResponse(d *xml.Decoder) (legacyResponse, error) {
	resp := legacyResponse{props: make(map[xml.Name]legacyPropValue)}
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
				text, long, err := legacyReadText(d, 2)
				if err != nil {
					return resp, err
				}
				if resp.href == "" && !resp.hrefLong {
					resp.href, resp.hrefLong = text, long
				}
			case t.Name.Space == nsDAV && t.Name.Local == "status":
				text, _, err := legacyReadText(d, 2)
				if err != nil {
					return resp, err
				}
				resp.status = text
			case t.Name.Space == nsDAV && t.Name.Local == "propstat":
				resp.propstats++
				if resp.propstats > maxPropstats {
					resp.tooMany = true
				}
				if err := legacyReadPropstat(d, &resp); err != nil {
					return resp, err
				}
			default:
				if err := legacySkipElement(d, 2); err != nil {
					return resp, err
				}
			}
		}
	}
}

// legacyReadPropstat reads one d:propstat into resp when its status is 200.
func legacyReadPropstat(d *xml.Decoder, resp *legacyResponse) error {
	var props map[xml.Name]legacyPropValue
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
				p, tooMany, err := legacyReadProp(d)
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
				text, _, err := legacyReadText(d, 3)
				if err != nil {
					return err
				}
				status = text
			default:
				if err := legacySkipElement(d, 3); err != nil {
					return err
				}
			}
		}
	}
}

// legacyReadProp reads the children of a d:prop.
func legacyReadProp(d *xml.Decoder) (map[xml.Name]legacyPropValue, bool, error) {
	props := make(map[xml.Name]legacyPropValue)
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
			v, err := legacyReadPropValue(d)
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

// legacyReadPropValue reads one property element: the text of everything inside it (pieces
// joined by a space, as for oc:checksums/oc:checksum) and the names of its children.
func legacyReadPropValue(d *xml.Decoder) (legacyPropValue, error) {
	var v legacyPropValue
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

// legacyReadText reads the text content of a simple element; long is true when it was cut.
func legacyReadText(d *xml.Decoder, depth int) (text string, long bool, err error) {
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

// legacyHandle validates one response and passes it on; it returns only onChild's error.
func (m *msDecoder) legacyHandle(r legacyResponse) error {
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
	if reason := m.legacyFill(&e, r.props); reason != "" {
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

// legacyFill copies the properties into e; a non-empty reason means the item is unusable.
func (m *msDecoder) legacyFill(e *Entry, props map[xml.Name]legacyPropValue) string {
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
