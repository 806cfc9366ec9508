package davclient

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"unicode/utf8"
)

// Character-level rules of XML 1.0 as xmlScanner applies them: character data,
// references, names.

// appendCharData appends the characters of raw to dst: line ends normalised to "\n",
// references (&amp; &#38; &#x26;) replaced when refs is set, and every character
// checked to be one XML allows. A non-empty message says why raw is malformed.
func appendCharData(dst, raw []byte, refs bool) ([]byte, string) {
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '&' && refs:
			r, n, ok := charRef(raw[i:])
			if !ok {
				return dst, "invalid character or entity reference"
			}
			if !xmlChar(r) {
				return dst, fmt.Sprintf("illegal character code %U", r)
			}
			dst = utf8.AppendRune(dst, r)
			i += n
		case c == '\r':
			dst = append(dst, '\n')
			i++
			if i < len(raw) && raw[i] == '\n' {
				i++
			}
		case c < utf8.RuneSelf:
			if c < 0x20 && c != '\t' && c != '\n' {
				return dst, fmt.Sprintf("illegal character code %U", rune(c))
			}
			dst = append(dst, c)
			i++
		default:
			r, n := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && n == 1 {
				return dst, "invalid UTF-8"
			}
			if !xmlChar(r) {
				return dst, fmt.Sprintf("illegal character code %U", r)
			}
			dst = append(dst, raw[i:i+n]...)
			i += n
		}
	}
	return dst, ""
}

// charRef reads the reference at the start of raw ("&lt;", "&#60;", "&#x3c;") and
// returns its character and length.
func charRef(raw []byte) (r rune, n int, ok bool) {
	if len(raw) > 1 && raw[1] == '#' {
		i, base := 2, uint64(10)
		if i < len(raw) && raw[i] == 'x' {
			i, base = 3, 16
		}
		digits := i
		var v uint64
		for ; i < len(raw); i++ {
			d := digitValue(raw[i])
			if d >= base {
				break
			}
			if v <= utf8.MaxRune { // past it the value only needs to stay too large
				v = v*base + d
			}
		}
		if i == digits || i == len(raw) || raw[i] != ';' || v > utf8.MaxRune {
			return 0, 0, false
		}
		r = rune(v)
		if 0xD800 <= r && r <= 0xDFFF {
			r = utf8.RuneError // a surrogate is not a character; encoding/xml does the same
		}
		return r, i + 1, true
	}
	i := 1
	for i < len(raw) && nameBytes[raw[i]] {
		i++
	}
	if i == len(raw) || raw[i] != ';' {
		return 0, 0, false
	}
	switch string(raw[1:i]) {
	case "lt":
		r = '<'
	case "gt":
		r = '>'
	case "amp":
		r = '&'
	case "apos":
		r = '\''
	case "quot":
		r = '"'
	default:
		return 0, 0, false
	}
	return r, i + 1, true
}

func digitValue(c byte) uint64 {
	switch {
	case '0' <= c && c <= '9':
		return uint64(c - '0')
	case 'a' <= c && c <= 'f':
		return uint64(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return uint64(c-'A') + 10
	}
	return 99
}

// xmlChar reports whether r may appear in an XML document (the Char production).
func xmlChar(r rune) bool {
	return r == '\t' || r == '\n' || r == '\r' ||
		0x20 <= r && r <= 0xD7FF ||
		0xE000 <= r && r <= 0xFFFD ||
		0x10000 <= r && r <= utf8.MaxRune
}

// validName checks a name made of nameBytes against the XML Name production.
func validName(raw []byte) bool {
	if len(raw) == 0 {
		return false
	}
	ascii := true
	for _, c := range raw {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if !ascii {
		return validNameSlow(raw)
	}
	c := raw[0]
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || c == '_' || c == ':'
}

// validNameSlow asks encoding/xml about a non-ASCII name, which DAV bodies practically
// never hold: XML 1.0's name tables are long, and this way both tokenizers agree on
// them exactly. The answer is remembered with the interned name.
func validNameSlow(raw []byte) bool {
	doc := make([]byte, 0, len(raw)+4)
	doc = append(append(append(doc, "<?"...), raw...), "?>"...)
	tok, err := xml.NewDecoder(bytes.NewReader(doc)).RawToken()
	pi, ok := tok.(xml.ProcInst)
	return err == nil && ok && pi.Target == string(raw)
}

// procInstParam finds param="value" (or 'value') in the body of a processing
// instruction, the way encoding/xml reads the XML declaration: the first occurrence of
// param= followed by a quote. An occurrence followed by anything else is stepped over
// together with that character.
func procInstParam(body []byte, param string) string {
	key := []byte(param + "=")
	rest := body
	for len(rest) > 0 {
		k := bytes.Index(rest, key)
		if k < 0 || k+len(key) >= len(rest) {
			return ""
		}
		after := rest[k+len(key)]
		rest = rest[k+len(key)+1:]
		if after == '"' || after == '\'' {
			if j := bytes.IndexByte(rest, after); j >= 0 {
				return string(rest[:j])
			}
			return ""
		}
	}
	return ""
}

// nameRun returns the end of the run of name bytes starting at p.
func nameRun(b []byte, p int) int {
	for p < len(b) && nameBytes[b[p]] {
		p++
	}
	return p
}

func skipSpace(b []byte, p int) int {
	for p < len(b) && (b[p] == ' ' || b[p] == '\n' || b[p] == '\t' || b[p] == '\r') {
		p++
	}
	return p
}

func isSpace(b []byte) bool {
	return skipSpace(b, 0) == len(b)
}

// indexQuoteOrLT finds the closing quote of an attribute value, or a "<" before it.
func indexQuoteOrLT(b []byte, quote byte) int {
	for i, c := range b {
		if c == quote || c == '<' {
			return i
		}
	}
	return -1
}

// nameBytes marks the bytes a name may hold: ASCII letters, digits, "_:.-", and every
// byte of a multi-byte character (validName checks those).
var nameBytes = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '_' || c == ':' || c == '.' || c == '-' || c >= utf8.RuneSelf
	}
	return t
}()

// plainText marks the bytes text may hold as they are: printable ASCII but "&" and "]"
// (the start of "]]>"), tab and newline. Anything else takes the careful path.
var plainText = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '&' && c != ']'
	}
	t['\t'], t['\n'] = true, true
	return t
}()
