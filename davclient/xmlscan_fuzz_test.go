package davclient

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// scanToken is one token as the differential tests compare them.
type scanToken struct {
	kind  tokenKind
	name  xmlName
	text  string
	depth int
}

func (t scanToken) String() string {
	switch t.kind {
	case tokStart:
		return fmt.Sprintf("<{%s}%s>", t.name.space, t.name.local)
	case tokEnd:
		return fmt.Sprintf("</{%s}%s>", t.name.space, t.name.local)
	}
	return fmt.Sprintf("%q", t.text)
}

// collectTokens reads tokens until the root element closes, the input ends, an error,
// or nesting deeper than the decoder accepts.
func collectTokens(x xmlTokens) ([]scanToken, error) {
	var out []scanToken
	depth := 0
	for {
		kind, err := x.next()
		if err != nil {
			if err == io.EOF {
				return out, nil
			}
			return out, err
		}
		t := scanToken{kind: kind, depth: depth}
		switch kind {
		case tokStart:
			t.name = x.name()
			depth++
			if depth > maxNesting+1 {
				return out, nil // the decoder gives up here (the tokenizers' own caps differ)
			}
		case tokEnd:
			t.name = x.name()
			depth--
		case tokText:
			t.text = string(x.text())
		}
		out = append(out, t)
		if kind == tokEnd && depth == 0 {
			return out, nil // what follows the root is never read by the decoder
		}
	}
}

// decodeWith runs one of the decoders over body and records what it yields.
func decodeWith(body []byte, dir string, run func(*msDecoder, io.Reader) error) decoded {
	var out decoded
	m := &msDecoder{
		scope:   newHrefScope("127.0.0.1:8091", ncRoot, dir),
		dir:     dir,
		log:     slog.New(slog.DiscardHandler),
		onSelf:  func(e Entry) { out.self, out.gotSelf = e, true },
		onChild: func(e Entry) error { out.children = append(out.children, e); return nil },
	}
	out.err = run(m, bytes.NewReader(body))
	return out
}

var (
	decodeFast   = (*msDecoder).decode
	decodeStd    = (*msDecoder).decodeStd
	decodeLegacy = (*msDecoder).legacyDecodeStd
)

// sameDecoded says how a and b differ, or "".
func sameDecoded(a, b decoded) string {
	if (a.err == nil) != (b.err == nil) {
		return fmt.Sprintf("errors differ: %v / %v", a.err, b.err)
	}
	if a.gotSelf != b.gotSelf || !entryEqual(a.self, b.self) {
		return fmt.Sprintf("self differs: %v %+v / %v %+v", a.gotSelf, a.self, b.gotSelf, b.self)
	}
	if len(a.children) != len(b.children) {
		return fmt.Sprintf("%d children / %d", len(a.children), len(b.children))
	}
	for i := range a.children {
		if !entryEqual(a.children[i], b.children[i]) {
			return fmt.Sprintf("child %d differs: %+v / %+v", i, a.children[i], b.children[i])
		}
	}
	return ""
}

// maxDifferentialInput keeps fuzz inputs below the token-size cap, where the two
// paths legitimately differ (the reference guard counts tag and text together);
// TestHugeTokens covers the cap on both.
const maxDifferentialInput = 256 << 10

// FuzzTokenizerMatchesEncodingXML: for any body, xmlScanner and encoding/xml yield the
// same tokens up to the end of the root element and fail on the same inputs, and the
// decoder yields the same entries over either, and the same as the decoding logic that
// preceded xmlScanner.
func FuzzTokenizerMatchesEncodingXML(f *testing.F) {
	files, err := filepath.Glob("testdata/*.xml")
	if err != nil || len(files) == 0 {
		f.Fatalf("no sample bodies: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, "wire")
		f.Add(b, "wire/names")
	}
	for _, body := range hostileBodies() {
		f.Add(body, "wire")
	}
	for _, body := range syntheticBodies() {
		f.Add([]byte(body), "wire")
	}
	f.Fuzz(func(t *testing.T, body []byte, dir string) {
		if len(body) > maxDifferentialInput || checkPath(dir) != nil {
			return
		}
		fastToks, fastErr := collectTokens(newXMLScanner(bytes.NewReader(body)))
		stdToks, stdErr := collectTokens(newStdTokens(bytes.NewReader(body)))
		if (fastErr == nil) != (stdErr == nil) {
			t.Fatalf("tokenizers disagree on failing: fast %v, encoding/xml %v", fastErr, stdErr)
		}
		if len(fastToks) != len(stdToks) {
			t.Fatalf("%d tokens / %d from encoding/xml\nfast %v\nstd  %v", len(fastToks), len(stdToks), fastToks, stdToks)
		}
		for i := range fastToks {
			if fastToks[i] != stdToks[i] {
				t.Fatalf("token %d: %v / %v from encoding/xml", i, fastToks[i], stdToks[i])
			}
		}

		fast := decodeWith(body, dir, decodeFast)
		if diff := sameDecoded(fast, decodeWith(body, dir, decodeStd)); diff != "" {
			t.Fatalf("fast tokenizer vs encoding/xml: %s", diff)
		}
		if diff := sameDecoded(fast, decodeWith(body, dir, decodeLegacy)); diff != "" {
			t.Fatalf("new decoder vs the old one: %s", diff)
		}
	})
}

// hostileBodies are the bodies FuzzDecodeMultistatus starts from.
func hostileBodies() [][]byte {
	self := resp("/remote.php/dav/files/admin/wire/", dirProps)
	var out [][]byte
	for _, href := range []string{
		"/remote.php/dav/files/admin/wire/..",
		"/remote.php/dav/files/admin/wire/%2e%2e/x",
		"/remote.php/dav/files/admin/wire/a%00b",
		"/remote.php/dav/files/admin/wire/a%2fb",
		"/remote.php/dav/files/admin/other",
		"http://evil/remote.php/dav/files/admin/wire/x",
		"/remote.php/dav/files/admin/wire/%ff",
		"/remote.php/dav/files/admin/wire/" + strings.Repeat("y", 300),
	} {
		out = append(out, ms(self, resp(href, fileProps)))
	}
	good := ms(self, resp("/remote.php/dav/files/admin/wire/a", fileProps))
	out = append(out, good[:len(good)/2],
		[]byte(`<d:multistatus xmlns:d="DAV:"><d:response>`+strings.Repeat("<a>", 500)),
		[]byte("<html><body>login</body></html>"),
		ms(resp("/remote.php/dav/files/admin/", dirProps), resp("/remote.php/dav/files/admin/x", fileProps)))
	return out
}

// syntheticBodies exercise namespaces, references, CDATA, comments and odd markup.
func syntheticBodies() []string {
	self := resp("/remote.php/dav/files/admin/wire/", dirProps)
	wrap := func(inner string) string { return string(ms(self, inner)) }
	return []string{
		// Namespaces: default, redeclared, scoped, unbound, reserved.
		`<multistatus xmlns="DAV:"><response><href>/remote.php/dav/files/admin/wire/</href><propstat><prop><resourcetype><collection/></resourcetype></prop><status>HTTP/1.1 200 OK</status></propstat></response></multistatus>`,
		`<a:multistatus xmlns:a="DAV:"><b:response xmlns:b="DAV:"><b:href>/remote.php/dav/files/admin/wire/</b:href><a:propstat><a:prop xmlns:a="http://owncloud.org/ns"><a:fileid>7</a:fileid></a:prop><a:status>HTTP/1.1 200 OK</a:status></a:propstat></b:response></a:multistatus>`,
		`<d:multistatus xmlns:d="DAV:"><d:response xmlns:d="http://example.com/"><d:href>/x</d:href></d:response></d:multistatus>`,
		`<d:multistatus xmlns:d="DAV:"><x:response><d:href>/x</d:href></x:response></d:multistatus>`,
		`<d:multistatus xmlns:d="DAV:" x:y="1"></d:multistatus>`,
		`<xmlns:multistatus xmlns:xmlns="DAV:"></xmlns:multistatus>`,
		`<d:multistatus xmlns:d="DAV:" xml:lang="en"><xml:foo/></d:multistatus>`,
		`<d:multistatus xmlns:d="DAV&#58;" xmlns:e='DAV:' xmlns=""><e:response/><xmlns/></d:multistatus>`,
		`<d:multistatus xmlns:d="DAV:" xmlns:d="urn:x"></d:multistatus>`,
		`<d:multistatus xmlns:d="DAV:"><d:response xmlns:p=""><p:x/></d:response></d:multistatus>`,
		`<:a xmlns:="x"/>`,
		`<a:b:c xmlns:a="DAV:"/>`,
		`<d:multistatus xmlns:d="DAV:"></D:multistatus>`,
		`<d:multistatus xmlns:d="DAV:" xmlns:e="DAV:"></e:multistatus>`,
		// References and character data.
		wrap(resp("/remote.php/dav/files/admin/wire/a&amp;b&#32;c&#x41;&lt;&gt;&quot;&apos;", fileProps)),
		wrap(resp("/remote.php/dav/files/admin/wire/&#xD800;", fileProps)),
		wrap(resp("/remote.php/dav/files/admin/wire/&#0;", fileProps)),
		wrap(resp("/remote.php/dav/files/admin/wire/&#1114112;", fileProps)),
		wrap(resp("/remote.php/dav/files/admin/wire/&#00000000000000000000065;", fileProps)),
		wrap(resp("/remote.php/dav/files/admin/wire/&#X41;", fileProps)),
		wrap(resp("/remote.php/dav/files/admin/wire/&nbsp;", fileProps)),
		wrap(resp("/remote.php/dav/files/admin/wire/&amp", fileProps)),
		wrap(resp("/remote.php/dav/files/admin/wire/a]]>b", fileProps)),
		wrap(resp("/remote.php/dav/files/admin/wire/a\r\nb\rc", fileProps)),
		wrap(resp("/remote.php/dav/files/admin/wire/\xff", fileProps)),
		wrap(resp("/remote.php/dav/files/admin/wire/\xef\xbf\xbe", fileProps)),
		wrap(resp("/remote.php/dav/files/admin/wire/x\x01", fileProps)),
		// CDATA, comments, processing instructions, declarations.
		wrap(resp("/remote.php/dav/files/admin/wire/<![CDATA[a<b>&amp;]]]>c", fileProps)),
		wrap(resp("/remote.php/dav/files/admin/wire/c", `<d:getetag><![CDATA[]]>"e"<!-- x --> y</d:getetag>`)),
		wrap(resp("/remote.php/dav/files/admin/wire/c", `<oc:checksums><oc:checksum>SHA1:1</oc:checksum><!---->  <oc:checksum>MD5:2</oc:checksum></oc:checksums>`)),
		wrap(`<!-- a -- b -->`),
		wrap(`<!--->-->`),
		wrap(`<![CDATA[x]]`),
		wrap(`<![CDAT[x]]>`),
		wrap(`<?php echo 1 ?><?xml-stylesheet href="a"?>`),
		`<?xml version="1.1"?><d:multistatus xmlns:d="DAV:"/>`,
		`<?xml version='1.0' encoding="ISO-8859-1"?><d:multistatus xmlns:d="DAV:"/>`,
		`<?xml version=version="2"?><d:multistatus xmlns:d="DAV:"/>`,
		`<?xml?><d:multistatus xmlns:d="DAV:"/>`,
		`<? xml?><d:multistatus xmlns:d="DAV:"/>`,
		`<!DOCTYPE d [<!ENTITY e "x">]><d:multistatus xmlns:d="DAV:"/>`,
		wrap(`<!DOCTYPE x>`),
		"\ufeff" + wrap(""),
		"junk" + wrap(""),
		wrap("") + "trailing <junk",
		// Tags.
		`<d:multistatus xmlns:d="DAV:" a='1'b="2"></d:multistatus>`,
		`<d:multistatus xmlns:d="DAV:" a=1></d:multistatus>`,
		`<d:multistatus xmlns:d="DAV:" a></d:multistatus>`,
		`<d:multistatus xmlns:d="DAV:" a="<"></d:multistatus>`,
		`<d:multistatus xmlns:d="DAV:" a="]]>&#x26;"></d:multistatus>`,
		`<d:multistatus xmlns:d="DAV:"/ >`,
		`<d:multistatus xmlns:d="DAV:"></d:multistatus >`,
		`<d:multistatus xmlns:d="DAV:"></d:multistatus x>`,
		`<d:multistatus xmlns:d="DAV:"><1a/></d:multistatus>`,
		`<d:multistatus xmlns:d="DAV:"><é/><a·b/></d:multistatus>`,
		`<d:multistatus xmlns:d="DAV:"><a` + "\xff" + `/></d:multistatus>`,
		`<d:multistatus xmlns:d="DAV:"></>`,
		`</d:multistatus>`,
		`<d:multistatus xmlns:d="DAV:">`,
		`<`,
		`<d:multistatus xmlns:d="DAV:"><d:response><d:href>/remote.php/dav/files/admin/wire/</d:href><d:propstat><d:prop/><d:status>HTTP/1.1 200 OK</d:status><d:status>HTTP/1.1 404 Nope</d:status></d:propstat></d:response></d:multistatus>`,
	}
}
