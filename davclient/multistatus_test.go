package davclient

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// decoded is what one decode produced.
type decoded struct {
	self     Entry
	gotSelf  bool
	children []Entry
	logs     string
	err      error
}

func decodeBody(t testing.TB, body []byte, rootPath, dir string, depth1 bool) decoded {
	t.Helper()
	var out decoded
	var logBuf bytes.Buffer
	m := &msDecoder{
		scope:   newHrefScope("127.0.0.1:8091", rootPath, dir),
		dir:     dir,
		log:     slog.New(slog.NewTextHandler(&logBuf, nil)),
		badDate: new(atomic.Bool),
		onSelf:  func(e Entry) { out.self, out.gotSelf = e, true },
	}
	if depth1 {
		m.onChild = func(e Entry) error { out.children = append(out.children, e); return nil }
	}
	out.err = m.decode(bytes.NewReader(body))
	out.logs = logBuf.String()
	return out
}

func readSample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const ncRoot = "/remote.php/dav/files/admin/"

func TestDecodeSampleDepth1Props(t *testing.T) {
	got := decodeBody(t, readSample(t, "propfind_depth1_props.xml"), ncRoot, "wire", true)
	if got.err != nil {
		t.Fatal(got.err)
	}
	mtime := time.Date(2026, 11, 22, 0, 57, 43, 0, time.UTC)
	wantSelf := Entry{Path: "wire", Name: "wire", IsDir: true, Size: 35, ModTime: mtime,
		ETag: `"6b023e07ea96b"`, FileID: 2456, Permissions: "RGDNVCK", HasPermissions: true}
	if !got.gotSelf || !entryEqual(got.self, wantSelf) {
		t.Errorf("self = %+v, want %+v", got.self, wantSelf)
	}
	want := []Entry{
		{Path: "wire/a.txt", Name: "a.txt", Size: 35, ModTime: mtime,
			ETag: `"148f6e780a43cd45eb7292f7294e9edf"`, FileID: 2457, Permissions: "RGDNVW", HasPermissions: true},
		{Path: "wire/sub", Name: "sub", IsDir: true, Size: 0, ModTime: mtime,
			ETag: `"6b023e07e97b6"`, FileID: 2458, Permissions: "RGDNVCK", HasPermissions: true},
	}
	if len(got.children) != len(want) {
		t.Fatalf("children = %+v", got.children)
	}
	for i := range want {
		if !entryEqual(got.children[i], want[i]) {
			t.Errorf("child %d = %+v, want %+v", i, got.children[i], want[i])
		}
	}
	if got.logs != "" {
		t.Errorf("unexpected log lines: %s", got.logs)
	}
}

func entryEqual(a, b Entry) bool {
	return a.Path == b.Path && a.Name == b.Name && a.IsDir == b.IsDir && a.Size == b.Size &&
		a.ModTime.Equal(b.ModTime) && a.ETag == b.ETag && a.FileID == b.FileID &&
		a.Permissions == b.Permissions && a.HasPermissions == b.HasPermissions &&
		a.Checksums == b.Checksums && a.OwnerID == b.OwnerID && a.OwnerDisplayName == b.OwnerDisplayName &&
		a.ContentType == b.ContentType && a.QuotaUsed == b.QuotaUsed &&
		a.QuotaAvailable == b.QuotaAvailable && a.HasQuota == b.HasQuota &&
		a.DataFingerprint == b.DataFingerprint
}

func TestDecodeSampleAllpropQuotaAndNoIDs(t *testing.T) {
	got := decodeBody(t, readSample(t, "propfind_depth1_allprop.xml"), ncRoot, "wire", true)
	if got.err != nil {
		t.Fatal(got.err)
	}
	s := got.self
	if !s.IsDir || !s.HasQuota || s.QuotaAvailable != -3 || s.QuotaUsed != 35 || s.FileID != 0 || s.HasPermissions {
		t.Errorf("self = %+v", s)
	}
	if s.Size != -1 {
		t.Errorf("folder without oc:size: Size = %d, want -1", s.Size)
	}
	if s.Perm() != PermAll {
		t.Errorf("no oc:permissions must mean PermAll, got %b", s.Perm())
	}
	a := got.children[0]
	if a.Name != "a.txt" || a.ContentType != "text/plain" || a.Size != 35 || a.IsDir {
		t.Errorf("a.txt = %+v", a)
	}
}

func TestDecodeSampleOtherPropsIgnores404Propstat(t *testing.T) {
	got := decodeBody(t, readSample(t, "propfind_depth1_other.xml"), ncRoot, "wire", true)
	if got.err != nil {
		t.Fatal(got.err)
	}
	if got.self.OwnerID != "admin" || got.self.OwnerDisplayName != "admin" || got.self.DataFingerprint != "" {
		t.Errorf("self = %+v", got.self)
	}
	a := got.children[0]
	// quota props of a.txt sit in the 404 propstat: they must not count.
	if a.HasQuota || a.ContentType != "text/plain" || a.Checksums != "" {
		t.Errorf("a.txt = %+v", a)
	}
}

func TestDecodeSampleChecksums(t *testing.T) {
	got := decodeBody(t, readSample(t, "propfind_depth1_checksums.xml"), ncRoot, "wire", true)
	if got.err != nil {
		t.Fatal(got.err)
	}
	sums := map[string]string{}
	for _, e := range got.children {
		sums[e.Name] = e.Checksums
	}
	if len(got.children) != 8 {
		t.Errorf("got %d children, want 8", len(got.children))
	}
	if sums["ck-good.txt"] != "SHA1:91918bf2fbfc2745097832e8020d41941b9e546b" || sums["a.txt"] != "" {
		t.Errorf("checksums = %v", sums)
	}
}

func TestDecodeSampleDepth0(t *testing.T) {
	got := decodeBody(t, readSample(t, "propfind_depth0_chunked.xml"), ncRoot, "wire/chunked.bin", false)
	if got.err != nil || !got.gotSelf {
		t.Fatal(got.err, got.gotSelf)
	}
	want := Entry{Path: "wire/chunked.bin", Name: "chunked.bin", Size: 11534459,
		ModTime: time.Date(2020, 9, 13, 12, 26, 40, 0, time.UTC),
		ETag:    `"3908c13157540c5d5c191916ab6fad66"`, FileID: 2489,
		Checksums: "SHA1:71704e997b0f3d146bdcd43205b1f31dfa16ffb2"}
	if !entryEqual(got.self, want) {
		t.Errorf("got %+v\nwant %+v", got.self, want)
	}
	root := decodeBody(t, readSample(t, "propfind_depth0_root.xml"), ncRoot, "", false)
	if !root.gotSelf || root.self.Path != "" || root.self.Name != "" || root.self.ETag != `"6b023e299858c"` {
		t.Errorf("root = %+v", root.self)
	}
}

func TestDecodeSampleSpecialNames(t *testing.T) {
	got := decodeBody(t, readSample(t, "propfind_names.xml"), ncRoot, "wire/names", true)
	if got.err != nil {
		t.Fatal(got.err)
	}
	var names []string
	for _, e := range got.children {
		names = append(names, e.Name)
	}
	want := []string{"a b#c%d ü+&?:*.txt", "ü-nfd-input.txt"}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Errorf("names = %q, want %q", names, want)
	}
}

func TestDecodeSampleLegacyAndUploadFolder(t *testing.T) {
	got := decodeBody(t, readSample(t, "propfind_legacy.xml"), "/remote.php/webdav/", "wire/sub", true)
	if got.err != nil || !got.gotSelf || got.self.ETag != `"6b023e1773797"` {
		t.Fatalf("legacy: %+v %v", got.self, got.err)
	}
	up := decodeBody(t, readSample(t, "propfind_upload_folder.xml"), "/remote.php/dav/uploads/admin/wire-upload-1795309093/", "", true)
	if up.err != nil || len(up.children) != 4 {
		t.Fatalf("upload folder: %+v %v", up.children, up.err)
	}
	if up.children[1].Name != "00001" || up.children[1].Size != 5242880 {
		t.Errorf("chunk 1 = %+v", up.children[1])
	}
}

// ms wraps responses in a multistatus document.
func ms(responses ...string) []byte {
	return []byte(`<?xml version="1.0"?><d:multistatus xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns">` +
		strings.Join(responses, "") + `</d:multistatus>`)
}

func resp(href, props string) string {
	return `<d:response><d:href>` + href + `</d:href><d:propstat><d:prop>` + props +
		`</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>`
}

const dirProps = `<d:resourcetype><d:collection/></d:resourcetype><d:getetag>"d"</d:getetag>`
const fileProps = `<d:resourcetype/><d:getcontentlength>3</d:getcontentlength><d:getetag>"f"</d:getetag>`

func TestHostileHrefs(t *testing.T) {
	self := resp("/remote.php/dav/files/admin/wire/", dirProps)
	long := strings.Repeat("x", 256)
	cases := []struct {
		name, href, wantName, wantLog string
	}{
		{"plain", "/remote.php/dav/files/admin/wire/ok.txt", "ok.txt", ""},
		{"uppercase hex", "/remote.php/dav/files/admin/wire/%C3%BC.txt", "ü.txt", ""},
		{"unencoded space", "/remote.php/dav/files/admin/wire/a b.txt", "a b.txt", ""},
		{"encoded prefix", "/remote.php/dav/files/%61dmin/wire/p.txt", "p.txt", ""},
		{"full URL same host", "http://127.0.0.1:8091/remote.php/dav/files/admin/wire/u.txt", "u.txt", ""},
		{"full URL other host", "http://evil.example/remote.php/dav/files/admin/wire/u.txt", "", "another host"},
		{"full URL userinfo", "http://x@127.0.0.1:8091/remote.php/dav/files/admin/wire/u.txt", "", "another host"},
		{"odd scheme", "file:///remote.php/dav/files/admin/wire/u.txt", "", "scheme"},
		{"dotdot", "/remote.php/dav/files/admin/wire/..", "", "dot entry"},
		{"encoded dotdot", "/remote.php/dav/files/admin/wire/%2e%2e", "", "dot entry"},
		{"dot", "/remote.php/dav/files/admin/wire/./", "", "dot entry"},
		{"escape upwards", "/remote.php/dav/files/admin/wire/../../etc/passwd", "", "not a direct child"},
		{"encoded slash", "/remote.php/dav/files/admin/wire/a%2fb", "", "not a direct child"},
		{"grandchild", "/remote.php/dav/files/admin/wire/sub/deep.txt", "", "not a direct child"},
		{"outside", "/remote.php/dav/files/admin/other.txt", "", "outside"},
		{"sibling prefix", "/remote.php/dav/files/admin/wire2/x", "", "outside"},
		{"NUL", "/remote.php/dav/files/admin/wire/a%00b", "", "NUL"},
		{"bad escape", "/remote.php/dav/files/admin/wire/a%zzb", "", "percent-encoding"},
		{"bad utf8", "/remote.php/dav/files/admin/wire/a%ffb", "", "UTF-8"},
		{"too long", "/remote.php/dav/files/admin/wire/" + long, "", "255"},
		{"relative", "wire/x", "", "absolute"},
		{"empty", "", "", "empty href"},
		{"double slash", "/remote.php/dav/files/admin/wire//", "", "empty name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := ms(self, resp(tc.href, fileProps), resp("/remote.php/dav/files/admin/wire/after.txt", fileProps))
			got := decodeBody(t, body, ncRoot, "wire", true)
			if got.err != nil {
				t.Fatal(got.err)
			}
			var names []string
			for _, e := range got.children {
				names = append(names, e.Name)
				if e.Path != "wire/"+e.Name || badName(e.Name) != "" {
					t.Errorf("invalid entry yielded: %+v", e)
				}
			}
			want := []string{"after.txt"}
			if tc.wantName != "" {
				want = []string{tc.wantName, "after.txt"}
			}
			if fmt.Sprint(names) != fmt.Sprint(want) {
				t.Errorf("names = %q, want %q", names, want)
			}
			if tc.wantLog == "" && got.logs != "" {
				t.Errorf("unexpected log: %s", got.logs)
			}
			if tc.wantLog != "" && (!strings.Contains(got.logs, tc.wantLog) || strings.Count(got.logs, "\n") != 1) {
				t.Errorf("want one log line naming %q, got %q", tc.wantLog, got.logs)
			}
		})
	}
}

func TestDuplicateAndSecondSelfSkipped(t *testing.T) {
	body := ms(
		resp("/remote.php/dav/files/admin/wire/", dirProps),
		resp("/remote.php/dav/files/admin/wire/a", fileProps),
		resp("/remote.php/dav/files/admin/wire/a/", dirProps), // same name as a folder
		resp("/remote.php/dav/files/admin/wire", dirProps),    // the folder again
		resp("/remote.php/dav/files/admin/wire/b", fileProps),
	)
	got := decodeBody(t, body, ncRoot, "wire", true)
	if got.err != nil {
		t.Fatal(got.err)
	}
	if len(got.children) != 2 || got.children[0].IsDir || got.children[1].Name != "b" {
		t.Errorf("children = %+v", got.children)
	}
	if !strings.Contains(got.logs, "duplicate") || !strings.Contains(got.logs, "second answer") {
		t.Errorf("logs = %s", got.logs)
	}
}

func TestAbsurdValuesSkipped(t *testing.T) {
	body := ms(
		resp("/remote.php/dav/files/admin/wire/", dirProps+`<oc:size>-2</oc:size>`),
		resp("/remote.php/dav/files/admin/wire/neg", `<d:getcontentlength>-5</d:getcontentlength>`),
		resp("/remote.php/dav/files/admin/wire/huge", `<d:getcontentlength>9223372036854775807</d:getcontentlength>`),
		resp("/remote.php/dav/files/admin/wire/nan", `<d:getcontentlength>12abc</d:getcontentlength>`),
		resp("/remote.php/dav/files/admin/wire/badid", `<oc:fileid>-1</oc:fileid>`),
		resp("/remote.php/dav/files/admin/wire/baddate", `<d:getlastmodified>yesterday</d:getlastmodified>`),
		resp("/remote.php/dav/files/admin/wire/baddate2", `<d:getlastmodified>tomorrow</d:getlastmodified>`),
		`<d:response><d:href>/remote.php/dav/files/admin/wire/forbidden</d:href><d:status>HTTP/1.1 403 Forbidden</d:status></d:response>`,
	)
	got := decodeBody(t, body, ncRoot, "wire", true)
	if got.err != nil {
		t.Fatal(got.err)
	}
	if got.self.Size != -1 {
		t.Errorf("negative folder size must read as unknown, got %d", got.self.Size)
	}
	var names []string
	for _, e := range got.children {
		names = append(names, e.Name)
		if !e.ModTime.IsZero() {
			t.Errorf("%s: bad date must give zero time", e.Name)
		}
	}
	if fmt.Sprint(names) != "[baddate baddate2]" {
		t.Errorf("names = %v", names)
	}
	if strings.Count(got.logs, "cannot read") != 1 {
		t.Errorf("a bad date must be logged once: %s", got.logs)
	}
	for _, reason := range []string{"negative file size", "absurdly large", "not a number", "oc:fileid", "status HTTP/1.1 403"} {
		if !strings.Contains(got.logs, reason) {
			t.Errorf("no log naming %q in %s", reason, got.logs)
		}
	}
}

func TestMalformedBodies(t *testing.T) {
	good := string(ms(resp("/remote.php/dav/files/admin/wire/", dirProps), resp("/remote.php/dav/files/admin/wire/a", fileProps)))
	cases := []struct {
		name        string
		body        string
		wantNotDAV  bool
		wantEntries int
	}{
		{"html login page", "<!DOCTYPE html><html><head><title>Login</title></head><body>Sign in</body></html>", true, 0},
		{"json", `{"error":"nope"}`, true, 0},
		{"empty", "", true, 0},
		{"other root", `<?xml version="1.0"?><d:error xmlns:d="DAV:"/>`, true, 0},
		{"truncated", good[:len(good)-40], false, 0},
		{"truncated in second", good[:strings.LastIndex(good, "<d:getetag>")], false, 0},
		{"no end", strings.TrimSuffix(good, "</d:multistatus>"), false, 1},
		{"mismatched tags", strings.Replace(good, "</d:href>", "</d:hrefx>", 1), false, 0},
		{"deep nesting", `<d:multistatus xmlns:d="DAV:"><d:response>` + strings.Repeat("<x>", 10000) + strings.Repeat("</x>", 10000) + `</d:response></d:multistatus>`, false, 0},
		{"deep in prop", `<d:multistatus xmlns:d="DAV:"><d:response><d:propstat><d:prop><d:getetag>` + strings.Repeat("<x>", 100) + strings.Repeat("</x>", 100) + `</d:getetag></d:prop></d:propstat></d:response></d:multistatus>`, false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := decodeBody(t, []byte(tc.body), ncRoot, "wire", true)
			if got.err == nil {
				t.Fatal("want an error")
			}
			if errors.Is(got.err, errNotMultistatus) != tc.wantNotDAV {
				t.Errorf("err = %v, not-DAV = %v", got.err, tc.wantNotDAV)
			}
			if len(got.children) != tc.wantEntries {
				t.Errorf("children = %d, want %d", len(got.children), tc.wantEntries)
			}
		})
	}
}

func TestHugeTokensRefused(t *testing.T) {
	for name, filler := range map[string]string{
		"text":    "<d:href>" + strings.Repeat("a", 3<<20) + "</d:href>",
		"comment": "<!--" + strings.Repeat("<<", 2<<20) + "-->",
		"cdata":   "<d:href><![CDATA[" + strings.Repeat("<a>", 1<<20) + "]]></d:href>",
	} {
		t.Run(name, func(t *testing.T) {
			body := `<d:multistatus xmlns:d="DAV:"><d:response>` + filler + `</d:response></d:multistatus>`
			got := decodeBody(t, []byte(body), ncRoot, "wire", true)
			if !errors.Is(got.err, errTokenTooLarge) {
				t.Errorf("err = %v, want errTokenTooLarge", got.err)
			}
		})
	}
	// Large but legal: a 40 KiB display name is kept whole, and many small tokens pass.
	name := strings.Repeat("n", 40<<10)
	body := ms(resp("/remote.php/dav/files/admin/wire/", dirProps+"<oc:owner-display-name>"+name+"</oc:owner-display-name>"+
		"<!-- a comment with < and > inside -->"))
	got := decodeBody(t, body, ncRoot, "wire", true)
	if got.err != nil || got.self.OwnerDisplayName != name {
		t.Errorf("err = %v, name kept = %v", got.err, got.self.OwnerDisplayName == name)
	}
}

func TestCallbackErrorStops(t *testing.T) {
	body := ms(resp("/remote.php/dav/files/admin/wire/a", fileProps), resp("/remote.php/dav/files/admin/wire/b", fileProps))
	stop := errors.New("stop")
	calls := 0
	m := &msDecoder{scope: newHrefScope("h", ncRoot, "wire"), dir: "wire", log: slog.New(slog.DiscardHandler),
		onChild: func(Entry) error { calls++; return stop }}
	err := m.decode(bytes.NewReader(body))
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("err = %v, calls = %d", err, calls)
	}
}

// listingXML writes a multistatus of n files under /remote.php/dav/files/admin/big/.
func listingXML(w io.Writer, n int, between func(i int)) {
	io.WriteString(w, `<?xml version="1.0"?><d:multistatus xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns">`)
	io.WriteString(w, resp("/remote.php/dav/files/admin/big/", dirProps+"<oc:fileid>1</oc:fileid>"))
	for i := 0; i < n; i++ {
		if between != nil {
			between(i)
		}
		fmt.Fprintf(w, `<d:response><d:href>/remote.php/dav/files/admin/big/file%%20%06d.bin</d:href><d:propstat><d:prop>`+
			`<d:resourcetype/><d:getcontentlength>%d</d:getcontentlength><d:getetag>"%032x"</d:getetag>`+
			`<d:getlastmodified>Sun, 22 Nov 2026 00:57:43 GMT</d:getlastmodified><oc:fileid>%d</oc:fileid>`+
			`<oc:permissions>RGDNVW</oc:permissions></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>`,
			i, i, i, i+100)
	}
	io.WriteString(w, `</d:multistatus>`)
}

func BenchmarkDecodeListing5000(b *testing.B) {
	var buf bytes.Buffer
	listingXML(&buf, 5000, nil)
	benchDecode(b, buf.Bytes(), 5000, (*msDecoder).decode)
}

// benchDecode times decode on a listing of the folder "big" with n children.
func benchDecode(b *testing.B, body []byte, n int, decode func(*msDecoder, io.Reader) error) {
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		got := 0
		m := &msDecoder{scope: newHrefScope("h", ncRoot, "big"), dir: "big", log: slog.New(slog.DiscardHandler),
			onChild: func(Entry) error { got++; return nil }}
		if err := decode(m, bytes.NewReader(body)); err != nil || got != n {
			b.Fatal(err, got)
		}
	}
}
