package davclient

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

var discardLog = slog.New(slog.DiscardHandler)

// scanAll returns every token of body as text, or the error that stopped the scan.
func scanAll(r io.Reader) (string, error) {
	s := newXMLScanner(r)
	var out []string
	for {
		kind, err := s.next()
		if err == io.EOF {
			return strings.Join(out, " "), nil
		}
		if err != nil {
			return strings.Join(out, " "), err
		}
		t := scanToken{kind: kind}
		if kind == tokText {
			t.text = string(s.text())
		} else {
			t.name = s.name()
		}
		out = append(out, t.String())
	}
}

func TestScannerTokens(t *testing.T) {
	cases := []struct{ name, body, want string }{
		{"default namespace scoped",
			`<a xmlns="u1"><b xmlns="u2"/><c/></a>`,
			`<{u1}a> <{u2}b> </{u2}b> <{u1}c> </{u1}c> </{u1}a>`},
		{"prefix redeclared then restored",
			`<p:a xmlns:p="u1"><p:b xmlns:p="u2"><p:c/></p:b><p:d/></p:a>`,
			`<{u1}a> <{u2}b> <{u2}c> </{u2}c> </{u2}b> <{u1}d> </{u1}d> </{u1}a>`},
		{"same name in two scopes",
			`<p:x xmlns:p="u1"><p:x xmlns:p="u2"></p:x></p:x>`,
			`<{u1}x> <{u2}x> </{u2}x> </{u1}x>`},
		{"declaration decoded, xml prefix, empty default",
			`<d:a xmlns:d="DAV&#58;" xml:lang="en"><b xmlns=""/><xml:c/></d:a>`,
			`<{DAV:}a> <{}b> </{}b> <{http://www.w3.org/XML/1998/namespace}c> </{http://www.w3.org/XML/1998/namespace}c> </{DAV:}a>`},
		{"references, line ends, CDATA, comments and PIs",
			"<?xml version=\"1.0\"?><a>x&amp;&lt;&#65;&#x42;&quot;&apos;\r\ny\r<!-- c --><![CDATA[<&amp;>\r\n]]><?pi data?>z</a>",
			`<{}a> "x&<AB\"'\ny\n" "<&amp;>\n" "z" </{}a>`},
		{"surrogate reference reads as U+FFFD",
			`<a>&#xD800;</a>`, "<{}a> \"\ufffd\" </{}a>"},
		{"space, comments and PIs after the root",
			"<a/> \n<!-- c --><?pi?>\n", `<{}a> </{}a> " \n" "\n"`},
		{"text before the root, as encoding/xml allows",
			"\ufeff<a/>", `"\ufeff" <{}a> </{}a>`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := scanAll(strings.NewReader(tc.body))
			if err != nil {
				t.Fatalf("error %v after %s", err, got)
			}
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestScannerRefusesMalformed(t *testing.T) {
	cases := []struct{ name, body, wantMsg string }{
		{"DOCTYPE", `<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>`, "DOCTYPE"},
		{"DOCTYPE inside", `<a><!DOCTYPE b></a>`, "DOCTYPE"},
		{"unbound element prefix", `<a><p:b/></a>`, "undeclared namespace prefix"},
		{"unbound attribute prefix", `<a p:x="1"/>`, "undeclared namespace prefix"},
		{"prefix out of scope", `<a><b xmlns:p="u"/><p:c/></a>`, "undeclared namespace prefix"},
		{"xmlns prefix on an element", `<xmlns:a xmlns:xmlns="u"/>`, "xmlns"},
		{"two colons", `<a:b:c xmlns:a="u"/>`, "colon"},
		{"mismatched end", `<a><b></c></a>`, "closed by"},
		{"same space, other prefix", `<p:a xmlns:p="u" xmlns:q="u"></q:a>`, "closed by"},
		{"end without start", `</a>`, "without a start tag"},
		{"unclosed at EOF", `<a><b>text`, "ends inside an element"},
		{"EOF inside a tag", `<a><b x="1`, "ends inside markup"},
		{"text after the root", `<a/>x`, "after the root"},
		{"second root", `<a/><b/>`, "second root"},
		{"CDATA after the root", `<a/><![CDATA[ ]]>`, "after the root"},
		{"unknown entity", `<a>&nbsp;</a>`, "reference"},
		{"entity without semicolon", `<a>&amp </a>`, "reference"},
		{"reference past Unicode", `<a>&#x110000;</a>`, "reference"},
		{"reference to NUL", `<a>&#0;</a>`, "illegal character"},
		{"control character", "<a>\x01</a>", "illegal character"},
		{"U+FFFE", "<a>\uFFFE</a>", "illegal character"},
		{"invalid UTF-8 text", "<a>\xff</a>", "UTF-8"},
		{"invalid UTF-8 name", "<a\xff/>", "invalid XML name"},
		{"name starting with a digit", "<1a/>", "invalid XML name"},
		{"]]> in text", `<a>]]></a>`, "]]>"},
		{"< in an attribute", `<a x="<"/>`, "unescaped <"},
		{"unquoted attribute", `<a x=1/>`, "unquoted"},
		{"attribute without value", `<a x/>`, "without a value"},
		{"slash space", `<a/ >`, "expected />"},
		{"junk in end tag", `<a></a x>`, "expected >"},
		{"bad comment", `<a><!-- a -- b --></a>`, "inside a comment"},
		{"<!- alone", `<a><!-x--></a>`, "comment"},
		{"bad CDATA opener", `<a><![CDAT[x]]></a>`, "<!["},
		{"XML 1.1", `<?xml version="1.1"?><a/>`, "version"},
		{"PI without target", `<? x?><a/>`, "target"},
		{"no element name", `< a/>`, "element name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := scanAll(strings.NewReader(tc.body))
			if err == nil {
				t.Fatalf("accepted: %s", got)
			}
			var syn *xmlSyntaxError
			if !errors.As(err, &syn) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("err = %v, want a syntax error naming %q", err, tc.wantMsg)
			}
		})
	}
}

func TestScannerEOFClassification(t *testing.T) {
	if _, err := scanAll(strings.NewReader(`<a><b>`)); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated body: err = %v, want io.ErrUnexpectedEOF inside", err)
	}
	if got, err := scanAll(strings.NewReader("")); err != nil || got != "" {
		t.Errorf("empty body: %q %v", got, err)
	}
	// The error is sticky: a caller that goes on gets it again.
	s := newXMLScanner(strings.NewReader(`<a></b>`))
	if _, err := s.next(); err != nil {
		t.Fatal(err)
	}
	_, err1 := s.next()
	_, err2 := s.next()
	if err1 == nil || err1 != err2 {
		t.Errorf("errors %v then %v", err1, err2)
	}
}

// All sample and synthetic bodies tokenize the same whatever the reads look like,
// which exercises every "token continues past the buffer" path.
func TestScannerReadBoundaries(t *testing.T) {
	bodies := syntheticBodies()
	files, _ := filepath.Glob("testdata/*.xml")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, string(b))
	}
	var big bytes.Buffer
	listingXML(&big, 300, func(i int) {
		if i%7 == 0 {
			fmt.Fprintf(&big, "<!-- %s --><?pi %d?>", strings.Repeat("c", i*10), i)
		}
	})
	bodies = append(bodies, big.String())
	for i, body := range bodies {
		want, wantErr := scanAll(strings.NewReader(body))
		for name, r := range map[string]io.Reader{
			"one byte": iotest.OneByteReader(strings.NewReader(body)),
			"halves":   iotest.HalfReader(strings.NewReader(body)),
			"data+EOF": iotest.DataErrReader(strings.NewReader(body)),
		} {
			got, err := scanAll(r)
			if got != want || (err == nil) != (wantErr == nil) {
				t.Errorf("body %d, %s reads: got %.200s (%v)\nwant %.200s (%v)", i, name, got, err, want, wantErr)
			}
		}
	}
}

// brokenReader serves data, then fails like a dropped connection.
type brokenReader struct {
	data []byte
	err  error
}

func (b *brokenReader) Read(p []byte) (int, error) {
	if len(b.data) == 0 {
		return 0, b.err
	}
	n := copy(p, b.data)
	b.data = b.data[n:]
	return n, nil
}

func TestScannerReadErrorAfterData(t *testing.T) {
	var buf bytes.Buffer
	listingXML(&buf, 50, nil)
	body := buf.Bytes()
	cut := bytes.Index(body, []byte("file%20000030")) // inside the 31st response
	drop := errors.New("connection reset")
	got := decodeWith(nil, "big", func(m *msDecoder, _ io.Reader) error {
		m.scope = newHrefScope("127.0.0.1:8091", ncRoot, "big")
		return m.decode(&brokenReader{data: body[:cut], err: drop})
	})
	if !errors.Is(got.err, drop) {
		t.Errorf("err = %v, want the reader's error", got.err)
	}
	if len(got.children) != 30 {
		t.Errorf("%d children before the failure, want 30", len(got.children))
	}
}

func TestHugeTokensRefusedBothPaths(t *testing.T) {
	for name, filler := range map[string]string{
		"text":    "<d:href>" + strings.Repeat("a", 2<<20) + "</d:href>",
		"comment": "<!--" + strings.Repeat("<<", 1<<20) + "-->",
		"cdata":   "<d:href><![CDATA[" + strings.Repeat("<a>", 1<<20) + "]]></d:href>",
		"pi":      "<?pi " + strings.Repeat("x", 2<<20) + "?>",
		"tag":     `<d:x a="` + strings.Repeat("x", 2<<20) + `"/>`,
	} {
		body := []byte(`<d:multistatus xmlns:d="DAV:"><d:response>` + filler + `</d:response></d:multistatus>`)
		for path, run := range map[string]func(*msDecoder, io.Reader) error{"fast": decodeFast, "encoding/xml": decodeStd} {
			t.Run(name+"/"+path, func(t *testing.T) {
				got := decodeWith(body, "wire", run)
				if !errors.Is(got.err, errTokenTooLarge) {
					t.Errorf("err = %v, want errTokenTooLarge", got.err)
				}
			})
		}
	}
	// The scanner's buffer stays bounded however long the refused token runs.
	s := newXMLScanner(io.MultiReader(strings.NewReader("<a>"), iotest.OneByteReader(strings.NewReader(strings.Repeat("x", 3<<20)))))
	for {
		if _, err := s.next(); err != nil {
			if !errors.Is(err, errTokenTooLarge) {
				t.Errorf("err = %v", err)
			}
			break
		}
	}
	if len(s.buf) > maxTokenBytes+scanReadSize {
		t.Errorf("buffer grew to %d bytes", len(s.buf))
	}
}

// A realistic Nextcloud body: names are interned, text is not copied, so decoding
// costs a few allocations per entry, all for strings kept in the Entry.
func TestDecodeAllocationsPerEntry(t *testing.T) {
	const n = 500
	body := nextcloudListing(n)
	allocs := testing.AllocsPerRun(5, func() {
		got := 0
		m := &msDecoder{scope: newHrefScope("h", ncRoot, "big"), dir: "big", log: discardLog,
			onChild: func(Entry) error { got++; return nil }}
		if err := m.decode(bytes.NewReader(body)); err != nil || got != n {
			t.Fatal(err, got)
		}
	})
	if perEntry := allocs / n; perEntry > 10 {
		t.Errorf("%.1f allocations per entry, want at most 10", perEntry)
	}
}

// nextcloudListing writes n files the way Nextcloud formats a listing: indented,
// ETags as &quot;, a 404 propstat per item.
func nextcloudListing(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0"?>` + "\n" + `<d:multistatus xmlns:d="DAV:" xmlns:s="http://sabredav.org/ns" xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns">` + "\n")
	b.WriteString(resp("/remote.php/dav/files/admin/big/", dirProps))
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, ` <d:response>
  <d:href>/remote.php/dav/files/admin/big/photo%%20%06d.jpg</d:href>
  <d:propstat>
   <d:prop>
    <d:getlastmodified>Sun, 22 Nov 2026 00:57:43 GMT</d:getlastmodified>
    <d:getcontentlength>%d</d:getcontentlength>
    <d:resourcetype/>
    <d:getetag>&quot;%032x&quot;</d:getetag>
    <d:getcontenttype>image/jpeg</d:getcontenttype>
    <oc:id>%08doc1vt40eheh6</oc:id>
    <oc:fileid>%d</oc:fileid>
    <oc:permissions>RGDNVW</oc:permissions>
    <oc:size>%d</oc:size>
   </d:prop>
   <d:status>HTTP/1.1 200 OK</d:status>
  </d:propstat>
  <d:propstat>
   <d:prop>
    <oc:checksums/>
   </d:prop>
   <d:status>HTTP/1.1 404 Not Found</d:status>
  </d:propstat>
 </d:response>
`, i, i*1000, i, i+100, i+100, i*1000)
	}
	b.WriteString("</d:multistatus>\n")
	return b.Bytes()
}

func BenchmarkDecodeNextcloudListing5000(b *testing.B) {
	benchDecode(b, nextcloudListing(5000), 5000, (*msDecoder).decode)
}

// BenchmarkDecodeListing5000Std is the same decoding driven by encoding/xml, for
// comparison with BenchmarkDecodeListing5000.
func BenchmarkDecodeListing5000Std(b *testing.B) {
	var buf bytes.Buffer
	listingXML(&buf, 5000, nil)
	benchDecode(b, buf.Bytes(), 5000, (*msDecoder).decodeStd)
}

func TestParseIMFFixdate(t *testing.T) {
	for _, s := range []string{
		"Sun, 22 Nov 2026 00:57:43 GMT",
		"Thu, 29 Feb 2024 23:59:59 GMT",
		"Mon, 01 Jan 0001 00:00:00 GMT",
		"Fri, 31 Dec 9999 23:59:59 GMT",
	} {
		got, ok := parseIMFFixdate([]byte(s))
		want, err := http.ParseTime(s)
		if !ok || err != nil || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("%s: fast %v %v, net/http %v %v", s, got, ok, want, err)
		}
	}
	for _, s := range []string{
		"Sun, 22 Nov 2026 00:57:43 UTC",  // not the fixed format
		"sun, 22 Nov 2026 00:57:43 GMT",  // net/http takes it; the fast path leaves it
		"Sunday, 22-Nov-26 00:57:43 GMT", // RFC 850
		"Sun Nov 22 00:57:43 2026",       // asctime
		"Thu, 29 Feb 2023 00:00:00 GMT",  // no such day
		"Sun, 31 Nov 2026 00:00:00 GMT",
		"Sun, 00 Nov 2026 00:00:00 GMT",
		"Sun, 22 Nov 2026 24:00:00 GMT",
		"Sun, 22 Nov 2026 00:60:00 GMT",
		"Sun, 22 Nov 2026 00:00:60 GMT",
		"Sun, 22 Nov 2026 00:00:0x GMT",
		"Xyz, 22 Nov 2026 00:00:00 GMT",
		"Sun, 22 Abc 2026 00:00:00 GMT",
	} {
		if _, ok := parseIMFFixdate([]byte(s)); ok {
			t.Errorf("%s: the fast path accepted it", s)
		}
	}
	// Whatever the fast path declines still parses the old way.
	if got, err := parseHTTPTime([]byte("Sunday, 22-Nov-26 00:57:43 GMT")); err != nil || got.Year() != 2026 {
		t.Errorf("RFC 850 date: %v %v", got, err)
	}
}

// FuzzParseHTTPTime: where the fast date path accepts, net/http agrees.
func FuzzParseHTTPTime(f *testing.F) {
	f.Add("Sun, 22 Nov 2026 00:57:43 GMT")
	f.Add("Thu, 29 Feb 2024 23:59:59 GMT")
	f.Add("Sat, 31 Apr 2000 12:00:00 GMT")
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseIMFFixdate([]byte(s))
		if !ok {
			return
		}
		want, err := http.ParseTime(s)
		if err != nil || !got.Equal(want) || got.Location() != want.Location() {
			t.Errorf("%q: fast path %v, net/http %v %v", s, got, want, err)
		}
	})
}

func TestStatusIsOKMatchesStatusCode(t *testing.T) {
	for _, s := range []string{
		"HTTP/1.1 200 OK", "HTTP/1.1 404 Not Found", "HTTP/1.1 +200 OK", "HTTP/1.1 0200",
		" \tHTTP/1.1\v200\f", "HTTP/1.1", "", "200", "HTTP/1.1 200", "HTTP/1.1\u00a0200 OK",
		"HTTP/1.1 2OO OK", "HTTP/1.1 99999999999999999999 OK", "HTTP/1.1 \x85200",
	} {
		if got, want := statusIsOK([]byte(s)), statusCode(s) == http.StatusOK; got != want {
			t.Errorf("%q: statusIsOK %v, statusCode says %v", s, got, want)
		}
	}
}
