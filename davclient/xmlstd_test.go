package davclient

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
)

// stdTokens drives the multistatus decoder with encoding/xml, the reference the fast
// tokenizer is compared with. encoding/xml lexes and resolves namespaces; prefixPolicy,
// sitting between its lexer and its namespace layer, applies the two refusals xmlScanner
// adds (declarations, unbound prefixes), so both must agree on every input.
type stdTokens struct {
	d    *xml.Decoder
	cur  xmlName
	data []byte
}

func newStdTokens(r io.Reader) *stdTokens {
	lexer := xml.NewDecoder(newTokenGuard(r, maxTokenBytes))
	lexer.Strict = true
	// The old decoder accepted any charset label and read the bytes as UTF-8.
	lexer.CharsetReader = func(_ string, in io.Reader) (io.Reader, error) { return in, nil }
	d := xml.NewTokenDecoder(&prefixPolicy{lexer: lexer})
	d.Strict = true
	return &stdTokens{d: d}
}

func (s *stdTokens) name() xmlName { return s.cur }
func (s *stdTokens) text() []byte  { return s.data }

func (s *stdTokens) next() (tokenKind, error) {
	for {
		tok, err := s.d.Token()
		if err != nil {
			var syn *xml.SyntaxError
			if errors.As(err, &syn) {
				return 0, &xmlSyntaxError{offset: s.d.InputOffset(), msg: syn.Msg, cause: err}
			}
			return 0, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			s.cur = xmlName{space: t.Name.Space, local: t.Name.Local}
			return tokStart, nil
		case xml.EndElement:
			s.cur = xmlName{space: t.Name.Space, local: t.Name.Local}
			return tokEnd, nil
		case xml.CharData:
			s.data = t
			return tokText, nil
		}
	}
}

// prefixPolicy passes encoding/xml's raw tokens on, refusing directives (<!DOCTYPE>)
// and element or attribute prefixes no xmlns declaration in scope binds.
type prefixPolicy struct {
	lexer  *xml.Decoder
	scopes [][]string // prefixes declared by each open element
}

func (p *prefixPolicy) Token() (xml.Token, error) {
	tok, err := p.lexer.RawToken()
	if err != nil {
		return tok, err
	}
	switch t := tok.(type) {
	case xml.Directive:
		return nil, &xml.SyntaxError{Msg: "declarations such as <!DOCTYPE> are not accepted"}
	case xml.StartElement:
		var declared []string
		for _, a := range t.Attr {
			if a.Name.Space == "xmlns" {
				declared = append(declared, a.Name.Local)
			}
		}
		p.scopes = append(p.scopes, declared)
		if t.Name.Space == "xmlns" || !p.bound(t.Name.Space) {
			return nil, &xml.SyntaxError{Msg: "undeclared prefix " + t.Name.Space}
		}
		for _, a := range t.Attr {
			if a.Name.Space != "xmlns" && !p.bound(a.Name.Space) {
				return nil, &xml.SyntaxError{Msg: "undeclared prefix " + a.Name.Space}
			}
		}
		return t, nil
	case xml.EndElement:
		if len(p.scopes) > 0 {
			p.scopes = p.scopes[:len(p.scopes)-1]
		}
	}
	return tok, nil
}

func (p *prefixPolicy) bound(prefix string) bool {
	if prefix == "" || prefix == "xml" {
		return true
	}
	for _, s := range p.scopes {
		for _, d := range s {
			if d == prefix {
				return true
			}
		}
	}
	return false
}

// decodeStd decodes body with encoding/xml driving the same decoding logic.
func (m *msDecoder) decodeStd(r io.Reader) error {
	return m.decodeTokens(newStdTokens(r))
}

// tokenGuard sits between the body and encoding/xml and fails once a single markup
// token (text, tag, comment, CDATA section, processing instruction, directive) runs past
// a limit, as xmlScanner does itself. encoding/xml buffers each token whole. The guard
// only tracks where tokens may end, so it errs on the side of counting more, never less.
type tokenGuard struct {
	r     io.Reader
	limit int
	run   int // bytes since the last point where a token surely ended

	state    guardState
	prefix   []byte // bytes after "<" while deciding what the markup is
	tail     [2]byte
	quote    byte // open quote inside a directive
	dirDepth int  // "<" nesting inside a directive
}

type guardState uint8

const (
	guardText      guardState = iota // text or tags: "<" ends the current token
	guardMarkup                      // just after "<": reading the first bytes
	guardComment                     // until "-->"
	guardCDATA                       // until "]]>"
	guardProcInst                    // until "?>"
	guardDirective                   // until the ">" closing "<!"
)

func newTokenGuard(r io.Reader, limit int) *tokenGuard {
	return &tokenGuard{r: r, limit: limit, prefix: make([]byte, 0, 8)}
}

func (g *tokenGuard) Read(p []byte) (int, error) {
	n, err := g.r.Read(p)
	buf := p[:n]
	for len(buf) > 0 {
		if g.state == guardText {
			// Fast path: most bytes are text or tags, where only "<" matters.
			i := bytes.IndexByte(buf, '<')
			if i < 0 {
				g.run += len(buf)
				break
			}
			g.run += i
			buf = buf[i:]
		}
		if g.run > g.limit {
			return 0, errTokenTooLarge
		}
		g.step(buf[0])
		buf = buf[1:]
	}
	if g.run > g.limit {
		return 0, errTokenTooLarge
	}
	return n, err
}

func (g *tokenGuard) step(b byte) {
	g.run++
	switch g.state {
	case guardText:
		if b == '<' {
			g.run = 1
			g.state = guardMarkup
			g.prefix = g.prefix[:0]
		}
	case guardMarkup:
		g.prefix = append(g.prefix, b)
		g.classify()
	case guardComment:
		if b == '>' && g.tail == [2]byte{'-', '-'} {
			g.state = guardText
		}
	case guardCDATA:
		if b == '>' && g.tail == [2]byte{']', ']'} {
			g.state = guardText
		}
	case guardProcInst:
		if b == '>' && g.tail[1] == '?' {
			g.state = guardText
		}
	case guardDirective:
		switch {
		case g.quote != 0:
			if b == g.quote {
				g.quote = 0
			}
		case b == '"' || b == '\'':
			g.quote = b
		case b == '<':
			g.dirDepth++
		case b == '>':
			g.dirDepth--
			if g.dirDepth <= 0 {
				g.state = guardText
			}
		}
	}
	g.tail[0], g.tail[1] = g.tail[1], b
}

// classify decides, from the bytes after "<", which kind of markup this is.
func (g *tokenGuard) classify() {
	p := string(g.prefix)
	switch {
	case p == "?":
		g.state = guardProcInst
	case p == "!" || p == "!-" || (len(p) < 8 && p == "![CDATA["[:len(p)]):
		// still undecided
	case p == "!--":
		g.state = guardComment
		g.tail = [2]byte{} // "<!-->" does not close the comment
	case p == "![CDATA[":
		g.state = guardCDATA
		g.tail = [2]byte{}
	case p[0] == '!':
		g.state = guardDirective
		g.quote, g.dirDepth = 0, 1
		g.step2(p[1:])
	default:
		// A tag: its bytes and the text after it count until the next "<".
		g.state = guardText
	}
}

// step2 replays the bytes already read after "<!" through the directive scanner.
func (g *tokenGuard) step2(s string) {
	for i := 0; i < len(s); i++ {
		g.run-- // step counts them again
		g.step(s[i])
	}
}
