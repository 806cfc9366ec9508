package session

import (
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ncvfs/ncvfs/davclient/davtest"
)

// multistatus builds a PROPFIND answer from (href, is-folder, size) triples.
func multistatus(items ...hostileItem) []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0"?><d:multistatus xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns">`)
	for i, it := range items {
		rt := "<d:resourcetype/>"
		if it.dir {
			rt = "<d:resourcetype><d:collection/></d:resourcetype>"
		}
		id := it.fileID
		if id == 0 {
			// A made-up id, unique per href: the same id in two folders would be a move.
			h := fnv.New32a()
			h.Write([]byte(it.href))
			id = 1_000_000 + uint64(h.Sum32())
		}
		fmt.Fprintf(&b, `<d:response><d:href>%s</d:href><d:propstat><d:prop>%s`+
			`<d:getetag>&quot;e%d&quot;</d:getetag><d:getlastmodified>Fri, 14 Mar 2025 15:09:26 GMT</d:getlastmodified>`+
			`<d:getcontentlength>%s</d:getcontentlength><oc:fileid>%d</oc:fileid><oc:permissions>RGDNVW</oc:permissions>`+
			`</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>`,
			it.href, rt, i, it.size, id)
	}
	b.WriteString(`</d:multistatus>`)
	return []byte(b.String())
}

type hostileItem struct {
	href   string
	dir    bool
	size   string
	fileID uint64 // 0: a made-up id
}

func TestHostileListingsNeverEscapeTheFolder(t *testing.T) {
	srv := newServer(t)
	const base = "/remote.php/dav/files/alice/"
	good := func(folder string) hostileItem { return hostileItem{href: base + folder + "/good.txt", size: "5"} }
	// The folder's own entry carries its real id: another id means "replaced on the server".
	self := func(folder string) hostileItem {
		info, err := srv.Stat(folder)
		if err != nil {
			t.Fatal(err)
		}
		return hostileItem{href: base + folder + "/", dir: true, size: "0", fileID: info.FileID}
	}

	cases := []struct {
		name      string
		fault     func(folder string) davtest.Fault
		wantError bool     // the listing fails as a whole (EIO)
		wantNames []string // otherwise exactly these entries survive
	}{
		{"href outside the folder", func(f string) davtest.Fault {
			return davtest.Fault{Body: multistatus(self(f), good(f),
				hostileItem{href: base + "other/secret.txt", size: "1"},
				hostileItem{href: "/etc/passwd", size: "1"},
				hostileItem{href: "http://evil.example/" + f + "/x", size: "1"},
				hostileItem{href: base + f + "/sub/deeper.txt", size: "1"})}
		}, false, []string{"good.txt"}},
		{"dot-dot and dot names", func(f string) davtest.Fault {
			return davtest.Fault{Body: multistatus(self(f), good(f),
				hostileItem{href: base + f + "/..", dir: true, size: "0"},
				hostileItem{href: base + f + "/%2e%2e/", dir: true, size: "0"},
				hostileItem{href: base + f + "/./", dir: true, size: "0"},
				hostileItem{href: base + f + "/%2e", size: "1"})}
		}, false, []string{"good.txt"}},
		{"NUL, slash and bad UTF-8 in names", func(f string) davtest.Fault {
			return davtest.Fault{Body: multistatus(self(f), good(f),
				hostileItem{href: base + f + "/a%00b", size: "1"},
				hostileItem{href: base + f + "/a%2fb", size: "1"},
				hostileItem{href: base + f + "/%ff%fe", size: "1"},
				hostileItem{href: base + f + "/" + strings.Repeat("n", 300), size: "1"},
				hostileItem{href: base + f + "/bad%zzescape", size: "1"})}
		}, false, []string{"good.txt"}},
		{"absurd sizes", func(f string) davtest.Fault {
			return davtest.Fault{Body: multistatus(self(f), good(f),
				hostileItem{href: base + f + "/huge", size: "99999999999999999999999"},
				hostileItem{href: base + f + "/negative", size: "-5"})}
		}, false, []string{"good.txt"}},
		{"duplicate names", func(f string) davtest.Fault {
			return davtest.Fault{Body: multistatus(self(f), good(f), good(f))}
		}, false, []string{"good.txt"}},
		{"malformed XML", func(f string) davtest.Fault {
			return davtest.Fault{Body: []byte(`<?xml version="1.0"?><d:multistatus xmlns:d="DAV:"><d:response><d:href>` +
				base + f + `/x</d:href><d:propstat><d:prop></d:multistatus>`)}
		}, true, nil},
		{"not XML at all", func(f string) davtest.Fault {
			return davtest.Fault{Body: []byte("<html><body>Please log in</body></html>")}
		}, true, nil},
		{"body cut half-way", func(f string) davtest.Fault { return davtest.Fault{CutAfter: 300} }, true, nil},
		{"server error", func(f string) davtest.Fault { return davtest.Fault{Status: 500} }, true, nil},
	}
	var folders []string
	for i := range cases {
		folder := fmt.Sprintf("victim%d", i)
		folders = append(folders, folder)
		if _, err := srv.WriteFile(folder+"/good.txt", []byte("hello"), sampleTime); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := srv.WriteFile("other/secret.txt", []byte("s"), sampleTime); err != nil {
		t.Fatal(err)
	}
	// The hostile answers are in place before the mount: background listings of the
	// folders (prefetch) meet them too.
	for i, c := range cases {
		f := c.fault(folders[i])
		f.Method = "PROPFIND"
		f.PathPrefix = base + folders[i]
		t.Cleanup(srv.AddFault(f))
	}
	_, mp := mountDavtest(t, srv, "")

	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			folder := folders[i]
			entries, err := os.ReadDir(filepath.Join(mp, folder))
			if c.wantError {
				if err == nil {
					t.Fatalf("listing succeeded with %d entries; want an error", len(entries))
				}
			} else {
				if err != nil {
					t.Fatalf("listing failed: %v; want the bad items skipped", err)
				}
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				sort.Strings(names)
				if strings.Join(names, "|") != strings.Join(c.wantNames, "|") {
					t.Fatalf("entries %q, want %q", names, c.wantNames)
				}
			}
			for _, e := range entries {
				n := e.Name()
				if n == "" || n == "." || n == ".." || strings.ContainsAny(n, "/\x00") || !utf8.ValidString(n) {
					t.Errorf("unsafe name reached the kernel: %q", n)
				}
			}
		})
	}
	// The mount is alive and nothing escaped into it.
	if _, err := os.Stat(filepath.Join(mp, "other", "secret.txt")); err != nil {
		t.Errorf("mount unusable after hostile answers: %v", err)
	}
	if _, err := os.Stat(filepath.Join(mp, "passwd")); !os.IsNotExist(err) {
		t.Errorf("an item from outside the folder appeared: %v", err)
	}
}
