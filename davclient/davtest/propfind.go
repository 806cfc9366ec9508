package davtest

import (
	"bufio"
	"compress/gzip"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	nsDAV = "DAV:"
	nsOC  = "http://owncloud.org/ns"
	nsNC  = "http://nextcloud.org/ns"
)

// maxPropfindBody bounds a PROPFIND or PROPPATCH request body.
const maxPropfindBody = 1 << 20

type propID uint8

const (
	pUnknown propID = iota
	pResourceType
	pGetETag
	pGetLastModified
	pGetContentLength
	pGetContentType
	pQuotaUsed
	pQuotaAvailable
	pOCID
	pOCFileID
	pOCPermissions
	pOCSize
	pOCChecksums
	pOCOwnerID
	pOCOwnerDisplayName
	pOCDataFingerprint
	pOCFavorite
	pOCShareTypes
	pNCHasPreview
	pNCIsEncrypted
	pNCCreationTime
	pNCUploadTime
	pNCMountType
	pNCTrashFilename
	pNCTrashLocation
	pNCTrashDeletionTime
	pCount
)

// knownProps maps namespace + local name to the property, and gives its tag.
var knownProps = map[xml.Name]propID{
	{Space: nsDAV, Local: "resourcetype"}:              pResourceType,
	{Space: nsDAV, Local: "getetag"}:                   pGetETag,
	{Space: nsDAV, Local: "getlastmodified"}:           pGetLastModified,
	{Space: nsDAV, Local: "getcontentlength"}:          pGetContentLength,
	{Space: nsDAV, Local: "getcontenttype"}:            pGetContentType,
	{Space: nsDAV, Local: "quota-used-bytes"}:          pQuotaUsed,
	{Space: nsDAV, Local: "quota-available-bytes"}:     pQuotaAvailable,
	{Space: nsOC, Local: "id"}:                         pOCID,
	{Space: nsOC, Local: "fileid"}:                     pOCFileID,
	{Space: nsOC, Local: "permissions"}:                pOCPermissions,
	{Space: nsOC, Local: "size"}:                       pOCSize,
	{Space: nsOC, Local: "checksums"}:                  pOCChecksums,
	{Space: nsOC, Local: "owner-id"}:                   pOCOwnerID,
	{Space: nsOC, Local: "owner-display-name"}:         pOCOwnerDisplayName,
	{Space: nsOC, Local: "data-fingerprint"}:           pOCDataFingerprint,
	{Space: nsOC, Local: "favorite"}:                   pOCFavorite,
	{Space: nsOC, Local: "share-types"}:                pOCShareTypes,
	{Space: nsNC, Local: "has-preview"}:                pNCHasPreview,
	{Space: nsNC, Local: "is-encrypted"}:               pNCIsEncrypted,
	{Space: nsNC, Local: "creation_time"}:              pNCCreationTime,
	{Space: nsNC, Local: "upload_time"}:                pNCUploadTime,
	{Space: nsNC, Local: "mount-type"}:                 pNCMountType,
	{Space: nsNC, Local: "trashbin-filename"}:          pNCTrashFilename,
	{Space: nsNC, Local: "trashbin-original-location"}: pNCTrashLocation,
	{Space: nsNC, Local: "trashbin-deletion-time"}:     pNCTrashDeletionTime,
}

// nsPrefix is how the multistatus root declares the three namespaces.
var nsPrefix = map[string]string{nsDAV: "d:", nsOC: "oc:", nsNC: "nc:"}

// propTags holds the prefixed tag name of each known property.
var propTags = func() (t [pCount]string) {
	for name, id := range knownProps {
		t[id] = nsPrefix[name.Space] + name.Local
	}
	return t
}()

// allprop is what an empty PROPFIND body returns, in the real server's order; each
// entry keeps only the ones it has.
var allprop = []reqProp{
	{id: pGetLastModified}, {id: pGetContentLength}, {id: pResourceType},
	{id: pQuotaUsed}, {id: pQuotaAvailable}, {id: pGetETag}, {id: pGetContentType},
}

type reqProp struct {
	id   propID
	name xml.Name // for unknown properties
}

// propRequest is a parsed PROPFIND body.
type propRequest struct {
	allprop bool
	props   []reqProp
}

// parsePropfind reads a PROPFIND body; an empty body means allprop.
func parsePropfind(body io.Reader) (propRequest, error) {
	dec := xml.NewDecoder(io.LimitReader(body, maxPropfindBody))
	var req propRequest
	depth := 0
	inProp := false
	sawRoot := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return req, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 1:
				if t.Name != (xml.Name{Space: nsDAV, Local: "propfind"}) {
					return req, errors.New("the root element is not DAV:propfind")
				}
				sawRoot = true
			case depth == 2 && t.Name.Space == nsDAV && (t.Name.Local == "allprop" || t.Name.Local == "propname"):
				req.allprop = true
			case depth == 2 && t.Name == (xml.Name{Space: nsDAV, Local: "prop"}):
				inProp = true
			case depth == 3 && inProp:
				p := reqProp{id: knownProps[t.Name], name: t.Name}
				req.props = append(req.props, p)
			}
		case xml.EndElement:
			if depth == 2 {
				inProp = false
			}
			depth--
		}
	}
	if !sawRoot || (len(req.props) == 0 && !req.allprop) {
		req.allprop = true
	}
	if req.allprop {
		req.props = allprop
	}
	return req, nil
}

type entryKind uint8

const (
	kindFile entryKind = iota
	kindUpload
	kindTrashRoot
	kindTrash
)

// davEntry is a copy of what one multistatus response needs, taken under the tree lock
// so the body can be streamed without it.
type davEntry struct {
	kind entryKind
	// base is the encoded href up to (and including) the parent's trailing slash, or
	// the whole href when name is "".
	base     string
	name     string
	isDir    bool
	size     int64
	mtime    time.Time
	uploaded time.Time
	etag     string
	fileID   uint64
	perms    string
	checksum string
	ctype    string
	// ownerID and ownerName are a share's owner; "" means the account's user.
	ownerID, ownerName string
	// trash bin
	trashName, trashOrig string
	trashTime            int64
}

func fileEntry(n *node, base, name string) davEntry {
	e := davEntry{
		kind: kindFile, base: base, name: name, isDir: n.isDir, size: n.size,
		mtime: n.mtime, uploaded: n.uploaded, etag: n.etag, fileID: n.fileID,
		perms: n.perms, checksum: n.checksum,
	}
	e.ownerID, e.ownerName = n.owner()
	if !n.isDir {
		e.ctype = contentTypeFor(n.name)
	}
	return e
}

// snapshotLocked appends n (whose encoded href is href) and, to depth, its descendants.
// depth < 0 means infinity.
func snapshotLocked(n *node, href string, depth int, out []davEntry) []davEntry {
	out = append(out, fileEntry(n, href, ""))
	return snapshotChildrenLocked(n, href, depth, out)
}

func snapshotChildrenLocked(n *node, href string, depth int, out []davEntry) []davEntry {
	if !n.isDir || depth == 0 {
		return out
	}
	for _, c := range n.sorted {
		out = append(out, fileEntry(c, href, c.name))
		if depth < 0 && c.isDir {
			out = snapshotChildrenLocked(c, href+encodePath(c.name)+"/", depth, out)
		}
	}
	return out
}

// has reports whether an entry has the property (else it goes in the 404 propstat).
func (e *davEntry) has(id propID) bool {
	file := !e.isDir
	switch e.kind {
	case kindUpload:
		switch id {
		case pResourceType, pGetLastModified:
			return true
		case pGetContentLength, pGetETag, pGetContentType:
			return file
		}
		return false
	case kindTrashRoot:
		return id == pResourceType
	case kindTrash:
		switch id {
		case pResourceType, pGetETag, pGetLastModified, pOCFileID, pOCSize,
			pNCTrashFilename, pNCTrashLocation, pNCTrashDeletionTime:
			return true
		case pGetContentLength, pGetContentType:
			return file
		}
		return false
	}
	switch id {
	case pResourceType, pGetETag, pGetLastModified, pOCID, pOCFileID, pOCPermissions,
		pOCSize, pOCOwnerID, pOCOwnerDisplayName, pOCDataFingerprint, pOCFavorite,
		pOCShareTypes, pNCHasPreview, pNCCreationTime, pNCMountType:
		return true
	case pGetContentLength, pGetContentType, pNCUploadTime:
		return file
	case pQuotaUsed, pQuotaAvailable, pNCIsEncrypted:
		return e.isDir
	case pOCChecksums:
		return file && e.checksum != ""
	}
	return false
}

// msWriter streams a multistatus through a bufio.Writer with no per-entry formatting
// allocations: the test server must never be the bottleneck of a benchmark.
type msWriter struct {
	w       *bufio.Writer
	scratch []byte
	req     propRequest
	// Account-wide values, copied under the lock.
	quotaFree   int64
	ownerID     string
	ownerName   string
	fingerprint string
}

func (m *msWriter) begin() {
	m.w.WriteString(`<?xml version="1.0"?>` + "\n" +
		`<d:multistatus xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns" xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns">`)
}

func (m *msWriter) end() {
	m.w.WriteString("</d:multistatus>\n")
}

func (m *msWriter) entry(e *davEntry) {
	w := m.w
	w.WriteString("<d:response><d:href>")
	w.WriteString(e.base)
	if e.name != "" {
		writeEncodedPath(w, e.name)
		if e.isDir {
			w.WriteByte('/')
		}
	}
	w.WriteString("</d:href>")
	found, missing := 0, 0
	for i := range m.req.props {
		if e.has(m.req.props[i].id) {
			found++
		} else {
			missing++
		}
	}
	if found > 0 {
		w.WriteString("<d:propstat><d:prop>")
		for i := range m.req.props {
			if p := &m.req.props[i]; e.has(p.id) {
				m.value(e, p.id)
			}
		}
		w.WriteString("</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>")
	}
	if missing > 0 && !m.req.allprop {
		w.WriteString("<d:propstat><d:prop>")
		for i := range m.req.props {
			if p := &m.req.props[i]; !e.has(p.id) {
				m.emptyTag(p)
			}
		}
		w.WriteString("</d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat>")
	}
	w.WriteString("</d:response>")
}

// emptyTag writes <prefix:name/>, declaring the namespace inline when it is not one of
// the three the multistatus declares.
func (m *msWriter) emptyTag(p *reqProp) {
	w := m.w
	if p.id != pUnknown {
		w.WriteByte('<')
		w.WriteString(propTags[p.id])
		w.WriteString("/>")
		return
	}
	if prefix, ok := nsPrefix[p.name.Space]; ok {
		w.WriteByte('<')
		w.WriteString(prefix)
		w.WriteString(p.name.Local)
		w.WriteString("/>")
		return
	}
	if p.name.Space == "" {
		w.WriteByte('<')
		w.WriteString(p.name.Local)
		w.WriteString(` xmlns=""/>`)
		return
	}
	w.WriteString("<x1:")
	w.WriteString(p.name.Local)
	w.WriteString(` xmlns:x1="`)
	xmlEscapeTo(w, p.name.Space)
	w.WriteString(`"/>`)
}

func (m *msWriter) open(id propID) {
	m.w.WriteByte('<')
	m.w.WriteString(propTags[id])
	m.w.WriteByte('>')
}

func (m *msWriter) close(id propID) {
	m.w.WriteString("</")
	m.w.WriteString(propTags[id])
	m.w.WriteByte('>')
}

func (m *msWriter) intProp(id propID, v int64) {
	m.open(id)
	m.scratch = strconv.AppendInt(m.scratch[:0], v, 10)
	m.w.Write(m.scratch)
	m.close(id)
}

func (m *msWriter) textProp(id propID, v string) {
	if v == "" {
		m.emptyTag(&reqProp{id: id})
		return
	}
	m.open(id)
	xmlEscapeTo(m.w, v)
	m.close(id)
}

func (m *msWriter) value(e *davEntry, id propID) {
	w := m.w
	switch id {
	case pResourceType:
		if e.isDir {
			w.WriteString("<d:resourcetype><d:collection/></d:resourcetype>")
		} else {
			w.WriteString("<d:resourcetype/>")
		}
	case pGetETag:
		m.open(id)
		if e.kind == kindTrash {
			// Trash-bin ETags are unquoted deletion times on the real server.
			w.WriteString(e.etag)
		} else {
			w.WriteString("&quot;")
			w.WriteString(e.etag)
			w.WriteString("&quot;")
		}
		m.close(id)
	case pGetLastModified:
		m.open(id)
		m.scratch = e.mtime.UTC().AppendFormat(m.scratch[:0], http.TimeFormat)
		w.Write(m.scratch)
		m.close(id)
	case pGetContentLength, pOCSize, pQuotaUsed:
		m.intProp(id, e.size)
	case pGetContentType:
		m.textProp(id, e.ctype)
	case pQuotaAvailable:
		m.intProp(id, m.quotaFree)
	case pOCID:
		m.open(id)
		m.scratch = appendOCID(m.scratch[:0], e.fileID)
		w.Write(m.scratch)
		m.close(id)
	case pOCFileID:
		m.open(id)
		m.scratch = strconv.AppendUint(m.scratch[:0], e.fileID, 10)
		w.Write(m.scratch)
		m.close(id)
	case pOCPermissions:
		m.textProp(id, e.perms)
	case pOCChecksums:
		w.WriteString("<oc:checksums><oc:checksum>")
		xmlEscapeTo(w, e.checksum)
		w.WriteString("</oc:checksum></oc:checksums>")
	case pOCOwnerID:
		if e.ownerID != "" {
			m.textProp(id, e.ownerID)
		} else {
			m.textProp(id, m.ownerID)
		}
	case pOCOwnerDisplayName:
		if e.ownerID != "" {
			m.textProp(id, e.ownerName)
		} else {
			m.textProp(id, m.ownerName)
		}
	case pOCDataFingerprint:
		m.textProp(id, m.fingerprint)
	case pOCFavorite, pNCIsEncrypted, pNCCreationTime:
		m.intProp(id, 0)
	case pOCShareTypes, pNCMountType:
		m.textProp(id, "")
	case pNCHasPreview:
		if strings.HasPrefix(e.ctype, "image/") || strings.HasPrefix(e.ctype, "text/") {
			m.textProp(id, "true")
		} else {
			m.textProp(id, "false")
		}
	case pNCUploadTime:
		m.intProp(id, e.uploaded.Unix())
	case pNCTrashFilename:
		m.textProp(id, e.trashName)
	case pNCTrashLocation:
		m.textProp(id, e.trashOrig)
	case pNCTrashDeletionTime:
		m.intProp(id, e.trashTime)
	}
}

// appendOCID formats oc:id / OC-FileId: the id as %08d followed by the instance id.
func appendOCID(b []byte, id uint64) []byte {
	start := len(b)
	b = strconv.AppendUint(b, id, 10)
	if n := len(b) - start; n < 8 {
		pad := 8 - n
		b = append(b, "00000000"[:pad]...)
		copy(b[start+pad:], b[start:start+n])
		copy(b[start:start+pad], "00000000")
	}
	return append(b, instanceID...)
}

func ocID(id uint64) string { return string(appendOCID(nil, id)) }

// multistatusMeta is the account-wide part of a multistatus, copied under the lock.
type multistatusMeta struct {
	quotaFree   int64
	fingerprint string
}

// writeMultistatus streams entries as a 207 answer, gzip-compressed when enabled and
// accepted.
func (s *Server) writeMultistatus(w http.ResponseWriter, r *http.Request, dav string, req propRequest, meta multistatusMeta, entries []davEntry) {
	h := w.Header()
	h.Set("Content-Type", "application/xml; charset=utf-8")
	if dav != "" {
		h.Set("DAV", dav)
	}
	var out io.Writer = w
	var gz *gzip.Writer
	if s.opt.Gzip && acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		h.Add("Vary", "Accept-Encoding")
		gz, _ = gzip.NewWriterLevel(w, gzip.BestSpeed)
		out = gz
	}
	w.WriteHeader(http.StatusMultiStatus)
	bw := bufio.NewWriterSize(out, 64<<10)
	m := msWriter{
		w: bw, scratch: make([]byte, 0, 64), req: req,
		quotaFree: meta.quotaFree, ownerID: s.opt.UserID, ownerName: s.opt.DisplayName,
		fingerprint: meta.fingerprint,
	}
	m.begin()
	for i := range entries {
		m.entry(&entries[i])
	}
	m.end()
	if err := bw.Flush(); err != nil {
		s.log.Debug("davtest: propfind: client went away", "path", r.URL.Path, "err", err)
		return
	}
	if gz != nil {
		_ = gz.Close()
	}
}

func acceptsGzip(r *http.Request) bool {
	for part := range strings.SplitSeq(r.Header.Get("Accept-Encoding"), ",") {
		enc, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(enc, "gzip") {
			return true
		}
	}
	return false
}

// propfindDepth reads the Depth header: 0, 1, or -1 for infinity (Sabre's default when
// the header is missing).
func (s *Server) propfindDepth(r *http.Request) int {
	switch depthName(r.Header.Get("Depth")) {
	case "0":
		return 0
	case "1":
		return 1
	}
	if s.opt.DisableDepthInfinity {
		return 1
	}
	return -1
}

// propfindFiles answers PROPFIND on the files endpoints.
func (s *Server) propfindFiles(w http.ResponseWriter, r *http.Request, ep filesEndpoint, fr filesRequest) {
	req, err := parsePropfind(r.Body)
	if err != nil {
		writeDavError(w, badRequest("The PROPFIND request body is not valid XML: "+err.Error()))
		return
	}
	depth := s.propfindDepth(r)
	s.mu.RLock()
	n := s.lookupLocked(fr.parts)
	if n == nil {
		s.mu.RUnlock()
		w.Header().Set("DAV", ep.dav)
		writeDavError(w, notFound(fr.rel))
		return
	}
	href := ep.hrefOf(fr.rel, n.isDir)
	entries := snapshotLocked(n, href, depth, nil)
	meta := multistatusMeta{quotaFree: s.freeLocked(), fingerprint: s.fingerprint}
	s.mu.RUnlock()
	s.writeMultistatus(w, r, ep.dav, req, meta, entries)
}
