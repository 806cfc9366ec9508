package davclient

import (
	"bytes"
	"errors"
	"io"
)

// maxTokenBytes bounds the bytes encoding/xml may have to buffer for one token.
const maxTokenBytes = 1 << 20

var errTokenTooLarge = errors.New("an XML token is larger than 1 MiB")

// tokenGuard sits between the body and encoding/xml and fails once a single markup
// token (text, tag, comment, CDATA section, processing instruction, directive) runs past
// a limit. encoding/xml buffers each token whole, so without this a hostile server could
// make one text node or comment as large as our memory. The scanner only tracks where
// tokens may end, so it errs on the side of counting more, never less.
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
