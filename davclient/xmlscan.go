package davclient

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Why a tokenizer of our own: encoding/xml's Decoder.Token allocates for every token
// (names, attribute slices, namespace stack records, interface boxing), which made a
// 5,000-entry listing cost ~87 allocations and ~8 µs per entry. A multistatus body uses
// a handful of element names over and over, so xmlScanner interns resolved names and
// hands out text as slices of its buffer: in the common case a token costs no allocation.
//
// It accepts what encoding/xml in strict mode accepts and yields the same tokens
// (FuzzTokenizerMatchesEncodingXML checks this), with three deliberate refusals:
// <!DOCTYPE> and other declarations (no entity-expansion games), element or attribute
// prefixes that no xmlns declaration binds (encoding/xml silently uses the prefix as the
// namespace), and anything but whitespace, comments and processing instructions after
// the root element.

// maxTokenBytes bounds the bytes buffered for one token (a text run, a tag, a comment, a
// CDATA section), so a hostile server cannot make one token as large as our memory.
const maxTokenBytes = 1 << 20

var errTokenTooLarge = errors.New("an XML token is larger than 1 MiB")

const (
	scanReadSize      = 32 << 10 // first buffer size; it doubles for a larger token
	maxScanDepth      = 256      // the multistatus decoder stops far earlier (maxNesting)
	maxInternedNames  = 4096     // distinct qualified names remembered
	maxInternedValues = 256      // distinct namespace URIs remembered
	relexEagerBytes   = 512      // a token this short is lexed again after every read
	xmlNamespaceURI   = "http://www.w3.org/XML/1998/namespace"
)

// tokenKind is the kind of token an xmlTokens source stands on.
type tokenKind uint8

const (
	tokStart tokenKind = iota + 1 // a start tag; <a/> yields tokStart then tokEnd
	tokEnd
	tokText // character data: text, entities decoded, or a CDATA section
)

// xmlName is an element name resolved to its namespace URI.
type xmlName struct{ space, local string }

// xmlTokens is all the multistatus decoder needs from an XML tokenizer, so that
// xmlScanner and encoding/xml (in tests) drive the same decoding logic. next returns
// io.EOF after the end of a complete document; syntax errors are *xmlSyntaxError.
type xmlTokens interface {
	next() (tokenKind, error)
	name() xmlName // of the current tokStart or tokEnd
	text() []byte  // of the current tokText, valid until the next call to next
}

// xmlSyntaxError reports malformed XML, at a byte offset of the body.
type xmlSyntaxError struct {
	offset int64
	msg    string
	cause  error // io.ErrUnexpectedEOF when the body ends too early
}

func (e *xmlSyntaxError) Error() string {
	return fmt.Sprintf("XML syntax error at byte %d: %s", e.offset, e.msg)
}

func (e *xmlSyntaxError) Unwrap() error { return e.cause }

// errShort says the token being lexed runs past the buffered bytes; it never escapes.
var errShort = errors.New("xmlscan: token continues past the buffer")

// qname is an interned qualified name with its last resolution.
type qname struct {
	raw    string // as written: "d:href"
	prefix string // "" when none
	local  string
	space  string // resolved namespace, valid while gen == xmlScanner.nsGen
	gen    uint64
}

type nsBinding struct{ prefix, uri string } // prefix "" is the default namespace

type openElement struct {
	q      *qname
	space  string // q resolved when the element opened
	nsMark int    // len(xmlScanner.ns) before this element's declarations
}

func (e *openElement) name() xmlName { return xmlName{space: e.space, local: e.q.local} }

// attrSpan locates one attribute of the tag being lexed, as offsets into the buffer.
type attrSpan struct {
	nameStart, nameEnd, valStart, valEnd int
	q                                    *qname // set once the tag is complete
}

// xmlScanner is a streaming, namespace-aware XML tokenizer for DAV bodies. It holds at
// most one token (bounded by maxTokenBytes) plus one read in memory.
type xmlScanner struct {
	r    io.Reader
	buf  []byte
	pos  int   // next byte to lex
	end  int   // end of the bytes read
	base int64 // body offset of buf[0]
	rerr error // why reading stopped (io.EOF at the end); seen once the buffer is used up
	err  error // sticky: once failed, every call fails

	cur        xmlName
	txt        []byte
	scratch    []byte // decoded text when it differs from the raw bytes
	pendingEnd bool   // the start tag just returned was <a/>
	rootClosed bool

	open   []openElement
	ns     []nsBinding
	nsGen  uint64 // changes whenever ns does, invalidating resolved names
	names  map[string]*qname
	recent [64]*qname // before the map: a body uses few names, over and over
	uris   map[string]string
	attrs  []attrSpan
}

func newXMLScanner(r io.Reader) *xmlScanner {
	return &xmlScanner{
		r:     r,
		buf:   make([]byte, scanReadSize),
		names: make(map[string]*qname, 32),
		uris:  make(map[string]string, 4),
		open:  make([]openElement, 0, 16),
	}
}

func (s *xmlScanner) name() xmlName { return s.cur }
func (s *xmlScanner) text() []byte  { return s.txt }

func (s *xmlScanner) next() (tokenKind, error) {
	if s.err != nil {
		return 0, s.err
	}
	kind, err := s.scan()
	if err != nil {
		s.err = err
		return 0, err
	}
	return kind, nil
}

func (s *xmlScanner) scan() (tokenKind, error) {
	if s.pendingEnd {
		s.pendingEnd = false
		s.cur = s.open[len(s.open)-1].name()
		s.closeElement()
		return tokEnd, nil
	}
	for {
		if s.pos == s.end {
			if err := s.more(); err != nil {
				if err != io.EOF {
					return 0, err
				}
				if len(s.open) > 0 {
					return 0, s.syntaxError(s.end, "the document ends inside an element", io.ErrUnexpectedEOF)
				}
				return 0, io.EOF
			}
		}
		var kind tokenKind
		var err error
		if s.buf[s.pos] == '<' {
			kind, err = s.scanMarkup()
		} else {
			kind, err = s.scanText()
		}
		if err != nil || kind != 0 {
			return kind, err
		}
		// A comment or processing instruction: nothing to return, go on.
	}
}

// more reads further input, keeping s.buf[s.pos:s.end], the token being lexed. It
// returns io.EOF at the end of the body, or the reader's error.
func (s *xmlScanner) more() error {
	if s.rerr != nil {
		return s.rerr
	}
	if s.end-s.pos > maxTokenBytes {
		return errTokenTooLarge
	}
	if s.pos > 0 {
		s.base += int64(s.pos)
		s.end = copy(s.buf, s.buf[s.pos:s.end])
		s.pos = 0
	}
	if s.end == len(s.buf) {
		bigger := make([]byte, min(2*len(s.buf), maxTokenBytes+scanReadSize))
		copy(bigger, s.buf[:s.end])
		s.buf = bigger
	}
	for empty := 0; empty < 100; empty++ {
		n, err := s.r.Read(s.buf[s.end:])
		s.end += n
		if err != nil {
			s.rerr = err
		}
		if n > 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
	s.rerr = io.ErrNoProgress
	return s.rerr
}

func (s *xmlScanner) syntaxError(at int, msg string, cause error) error {
	return &xmlSyntaxError{offset: s.base + int64(at), msg: msg, cause: cause}
}

// relex runs lex on the token at s.pos, reading more input until it is complete. A
// token of some size is lexed again only once as many bytes again have arrived, so one
// that trickles in a byte per read costs linear time, not quadratic.
func (s *xmlScanner) relex(lex func() (tokenKind, error)) (tokenKind, error) {
	for {
		kind, err := lex()
		if err != errShort {
			return kind, err
		}
		have := s.end - s.pos
		for {
			if err := s.more(); err != nil {
				if s.end-s.pos > have {
					break // lex what arrived; the error comes back on the next read
				}
				if err == io.EOF {
					return 0, s.syntaxError(s.end, "the document ends inside markup", io.ErrUnexpectedEOF)
				}
				return 0, err
			}
			if got := s.end - s.pos; have < relexEagerBytes || got >= 2*have {
				break
			}
		}
	}
}

func (s *xmlScanner) scanMarkup() (tokenKind, error) { return s.relex(s.lexMarkup) }

func (s *xmlScanner) lexMarkup() (tokenKind, error) {
	if s.pos+1 >= s.end {
		return 0, errShort
	}
	switch s.buf[s.pos+1] {
	case '/':
		return s.lexEndTag()
	case '?':
		return s.lexProcInst()
	case '!':
		return s.lexBang()
	}
	return s.lexStartTag()
}

// scanText returns the character data up to the next "<" or the end of the body.
func (s *xmlScanner) scanText() (tokenKind, error) {
	searched := 0 // bytes after s.pos known to hold no "<"
	for {
		if i := bytes.IndexByte(s.buf[s.pos+searched:s.end], '<'); i >= 0 {
			return s.emitText(s.pos + searched + i)
		}
		searched = s.end - s.pos
		if err := s.more(); err != nil {
			if err == io.EOF {
				return s.emitText(s.end)
			}
			return 0, err
		}
	}
}

func (s *xmlScanner) emitText(stop int) (tokenKind, error) {
	start := s.pos
	raw := s.buf[start:stop]
	plain := true
	for _, c := range raw {
		if !plainText[c] {
			plain = false
			break
		}
	}
	if plain {
		s.txt = raw
	} else {
		if bytes.Contains(raw, []byte("]]>")) {
			return 0, s.syntaxError(start, "unescaped ]]> in text", nil)
		}
		var msg string
		s.scratch, msg = appendCharData(s.scratch[:0], raw, true)
		if msg != "" {
			return 0, s.syntaxError(start, msg, nil)
		}
		s.txt = s.scratch
	}
	if s.rootClosed && !isSpace(s.txt) {
		return 0, s.syntaxError(start, "text after the root element", nil)
	}
	s.pos = stop
	return tokText, nil
}

// lexStartTag reads "<name attr='v' ...>" or "<name .../>".
func (s *xmlScanner) lexStartTag() (tokenKind, error) {
	b := s.buf[:s.end]
	start := s.pos
	nameEnd := nameRun(b, start+1)
	if nameEnd == len(b) {
		return 0, errShort
	}
	if nameEnd == start+1 {
		return 0, s.syntaxError(start, "expected an element name after <", nil)
	}
	s.attrs = s.attrs[:0]
	selfClosing := false
	p := nameEnd
	for {
		p = skipSpace(b, p)
		if p == len(b) {
			return 0, errShort
		}
		if b[p] == '>' {
			p++
			break
		}
		if b[p] == '/' {
			if p+1 == len(b) {
				return 0, errShort
			}
			if b[p+1] != '>' {
				return 0, s.syntaxError(p, "expected /> in an element", nil)
			}
			p += 2
			selfClosing = true
			break
		}
		a := attrSpan{nameStart: p, nameEnd: nameRun(b, p)}
		if a.nameEnd == len(b) {
			return 0, errShort
		}
		if a.nameEnd == a.nameStart {
			return 0, s.syntaxError(p, "expected an attribute name in an element", nil)
		}
		p = skipSpace(b, a.nameEnd)
		if p == len(b) {
			return 0, errShort
		}
		if b[p] != '=' {
			return 0, s.syntaxError(p, "attribute without a value", nil)
		}
		p = skipSpace(b, p+1)
		if p == len(b) {
			return 0, errShort
		}
		quote := b[p]
		if quote != '"' && quote != '\'' {
			return 0, s.syntaxError(p, "unquoted attribute value", nil)
		}
		a.valStart = p + 1
		i := indexQuoteOrLT(b[a.valStart:], quote)
		if i < 0 {
			return 0, errShort
		}
		a.valEnd = a.valStart + i
		if b[a.valEnd] == '<' {
			return 0, s.syntaxError(a.valEnd, "unescaped < in an attribute value", nil)
		}
		s.attrs = append(s.attrs, a)
		p = a.valEnd + 1
	}
	// The tag is complete: from here on nothing returns errShort.
	if err := s.openElement(start, nameEnd); err != nil {
		return 0, err
	}
	s.pos = p
	s.pendingEnd = selfClosing
	return tokStart, nil
}

// openElement applies a lexed start tag: namespace declarations, name resolution and
// the stack of open elements.
func (s *xmlScanner) openElement(start, nameEnd int) error {
	if s.rootClosed {
		return s.syntaxError(start, "a second root element", nil)
	}
	if len(s.open) >= maxScanDepth {
		return s.syntaxError(start, "elements nested too deeply", nil)
	}
	q, err := s.intern(s.buf[start+1:nameEnd], start)
	if err != nil {
		return err
	}
	mark := len(s.ns)
	// Declarations first: they apply to the element's own name and attributes.
	for i := range s.attrs {
		a := &s.attrs[i]
		aq, err := s.intern(s.buf[a.nameStart:a.nameEnd], a.nameStart)
		if err != nil {
			return err
		}
		a.q = aq
		var msg string
		s.scratch, msg = appendCharData(s.scratch[:0], s.buf[a.valStart:a.valEnd], true)
		if msg != "" {
			return s.syntaxError(a.valStart, msg, nil)
		}
		switch {
		case aq.prefix == "xmlns":
			s.ns = append(s.ns, nsBinding{prefix: aq.local, uri: s.internValue(s.scratch)})
		case aq.prefix == "" && aq.local == "xmlns":
			s.ns = append(s.ns, nsBinding{uri: s.internValue(s.scratch)})
		}
	}
	if len(s.ns) != mark {
		s.nsGen++
	}
	for _, a := range s.attrs {
		if aq := a.q; aq.prefix != "" && aq.prefix != "xmlns" && aq.prefix != "xml" {
			if _, ok := s.lookupPrefix(aq.prefix); !ok {
				return s.syntaxError(a.nameStart, "undeclared namespace prefix "+quoteName(aq.prefix), nil)
			}
		}
	}
	space, err := s.resolve(q, start)
	if err != nil {
		return err
	}
	s.cur = xmlName{space: space, local: q.local}
	s.open = append(s.open, openElement{q: q, space: space, nsMark: mark})
	return nil
}

// lexEndTag reads "</name>", which must close the innermost open element.
func (s *xmlScanner) lexEndTag() (tokenKind, error) {
	b := s.buf[:s.end]
	start := s.pos
	if len(s.open) > 0 {
		// Fast path: the expected name, then ">".
		want := s.open[len(s.open)-1].q.raw
		if gt := start + 2 + len(want); gt < len(b) && b[gt] == '>' && string(b[start+2:gt]) == want {
			s.cur = s.open[len(s.open)-1].name()
			s.closeElement()
			s.pos = gt + 1
			return tokEnd, nil
		}
	}
	nameEnd := nameRun(b, start+2)
	p := skipSpace(b, nameEnd)
	if p == len(b) {
		return 0, errShort
	}
	if b[p] != '>' {
		return 0, s.syntaxError(p, "expected > after the name of an end tag", nil)
	}
	raw := b[start+2 : nameEnd]
	if len(s.open) == 0 {
		return 0, s.syntaxError(start, "end tag "+quoteName(string(raw))+" without a start tag", nil)
	}
	top := s.open[len(s.open)-1]
	if string(raw) != top.q.raw {
		return 0, s.syntaxError(start, "element "+quoteName(top.q.raw)+" closed by "+quoteName(string(raw)), nil)
	}
	s.cur = top.name()
	s.closeElement()
	s.pos = p + 1
	return tokEnd, nil
}

func (s *xmlScanner) closeElement() {
	top := s.open[len(s.open)-1]
	s.open = s.open[:len(s.open)-1]
	if len(s.ns) != top.nsMark {
		s.ns = s.ns[:top.nsMark]
		s.nsGen++
	}
	if len(s.open) == 0 {
		s.rootClosed = true
	}
}

// lexProcInst skips "<?target ...?>"; the XML declaration's version must be 1.0.
func (s *xmlScanner) lexProcInst() (tokenKind, error) {
	b := s.buf[:s.end]
	start := s.pos
	targetEnd := nameRun(b, start+2)
	if targetEnd == len(b) {
		return 0, errShort
	}
	if targetEnd == start+2 {
		return 0, s.syntaxError(start, "expected a target name after <?", nil)
	}
	body := skipSpace(b, targetEnd)
	i := bytes.Index(b[body:], []byte("?>"))
	if i < 0 {
		return 0, errShort
	}
	target := b[start+2 : targetEnd]
	if !validName(target) {
		return 0, s.syntaxError(start, "invalid XML name "+quoteName(string(target)), nil)
	}
	if string(target) == "xml" {
		if v := procInstParam(b[body:body+i], "version"); v != "" && v != "1.0" {
			return 0, s.syntaxError(start, "unsupported XML version "+quoteName(v), nil)
		}
	}
	s.pos = body + i + 2
	return 0, nil
}

// lexBang reads what starts with "<!": a comment (skipped), a CDATA section (text), or
// a declaration such as <!DOCTYPE>, which is refused.
func (s *xmlScanner) lexBang() (tokenKind, error) {
	b := s.buf[:s.end]
	start := s.pos
	if start+2 >= len(b) {
		return 0, errShort
	}
	switch b[start+2] {
	case '-':
		if start+3 >= len(b) {
			return 0, errShort
		}
		if b[start+3] != '-' {
			return 0, s.syntaxError(start, "<!- does not start a comment", nil)
		}
		body := start + 4
		i := bytes.Index(b[body:], []byte("--"))
		if i < 0 || body+i+2 >= len(b) {
			return 0, errShort
		}
		if b[body+i+2] != '>' {
			return 0, s.syntaxError(body+i, `"--" inside a comment`, nil)
		}
		s.pos = body + i + 3
		return 0, nil
	case '[':
		const open = "<![CDATA["
		for k := 2; k < len(open); k++ {
			if start+k >= len(b) {
				return 0, errShort
			}
			if b[start+k] != open[k] {
				return 0, s.syntaxError(start, "invalid <![ sequence", nil)
			}
		}
		body := start + len(open)
		i := bytes.Index(b[body:], []byte("]]>"))
		if i < 0 {
			return 0, errShort
		}
		if s.rootClosed {
			return 0, s.syntaxError(start, "CDATA after the root element", nil)
		}
		var msg string
		s.scratch, msg = appendCharData(s.scratch[:0], b[body:body+i], false)
		if msg != "" {
			return 0, s.syntaxError(body, msg, nil)
		}
		s.txt = s.scratch
		s.pos = body + i + 3
		return tokText, nil
	}
	return 0, s.syntaxError(start, "declarations such as <!DOCTYPE> are not accepted", nil)
}

// intern returns the qualified name written as raw, checked once and remembered.
func (s *xmlScanner) intern(raw []byte, at int) (*qname, error) {
	slot := &s.recent[(len(raw)*7+int(raw[len(raw)-1])*3+int(raw[len(raw)/2]))&(len(s.recent)-1)]
	if q := *slot; q != nil && q.raw == string(raw) {
		return q, nil
	}
	if q, ok := s.names[string(raw)]; ok {
		*slot = q
		return q, nil
	}
	if !validName(raw) {
		return nil, s.syntaxError(at, "invalid XML name "+quoteName(string(raw)), nil)
	}
	q := &qname{raw: string(raw)}
	q.local = q.raw
	switch colon := bytes.IndexByte(raw, ':'); {
	case bytes.Count(raw, []byte(":")) > 1:
		return nil, s.syntaxError(at, "more than one colon in the name "+quoteName(q.raw), nil)
	case colon > 0 && colon < len(raw)-1:
		q.prefix, q.local = q.raw[:colon], q.raw[colon+1:]
	}
	q.gen = ^uint64(0) // not resolved yet
	if len(s.names) < maxInternedNames {
		s.names[q.raw] = q
		*slot = q
	}
	return q, nil
}

func (s *xmlScanner) internValue(v []byte) string {
	if u, ok := s.uris[string(v)]; ok {
		return u
	}
	u := string(v)
	if len(s.uris) < maxInternedValues {
		s.uris[u] = u
	}
	return u
}

// resolve returns the namespace of an element name in the current scope.
func (s *xmlScanner) resolve(q *qname, at int) (string, error) {
	if q.gen == s.nsGen {
		return q.space, nil
	}
	var space string
	switch q.prefix {
	case "":
		if q.local != "xmlns" { // encoding/xml leaves an element named xmlns unqualified
			space, _ = s.lookupPrefix("")
		}
	case "xml":
		space = xmlNamespaceURI
	case "xmlns":
		return "", s.syntaxError(at, "the prefix xmlns names no element", nil)
	default:
		uri, ok := s.lookupPrefix(q.prefix)
		if !ok {
			return "", s.syntaxError(at, "undeclared namespace prefix "+quoteName(q.prefix), nil)
		}
		space = uri
	}
	q.space, q.gen = space, s.nsGen
	return space, nil
}

func (s *xmlScanner) lookupPrefix(prefix string) (string, bool) {
	for i := len(s.ns) - 1; i >= 0; i-- {
		if s.ns[i].prefix == prefix {
			return s.ns[i].uri, true
		}
	}
	return "", false
}

func quoteName(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return fmt.Sprintf("%q", s)
}
