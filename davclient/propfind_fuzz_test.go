package davclient

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzDecodeMultistatus feeds arbitrary bodies to the streaming decoder. Property: it
// never panics, and every entry it yields is the folder asked for or a valid, unique,
// direct child of it.
func FuzzDecodeMultistatus(f *testing.F) {
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
	self := resp("/remote.php/dav/files/admin/wire/", dirProps)
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
		f.Add(ms(self, resp(href, fileProps)), "wire")
	}
	good := ms(self, resp("/remote.php/dav/files/admin/wire/a", fileProps))
	f.Add(good[:len(good)/2], "wire")
	f.Add([]byte(`<d:multistatus xmlns:d="DAV:"><d:response>`+strings.Repeat("<a>", 500)), "wire")
	f.Add([]byte("<html><body>login</body></html>"), "")
	f.Add(ms(resp("/remote.php/dav/files/admin/", dirProps), resp("/remote.php/dav/files/admin/x", fileProps)), "")

	f.Fuzz(func(t *testing.T, body []byte, dir string) {
		if checkPath(dir) != nil {
			return // List refuses such paths before any request
		}
		seen := map[string]bool{}
		selves := 0
		m := &msDecoder{
			scope: newHrefScope("127.0.0.1:8091", ncRoot, dir),
			dir:   dir,
			log:   slog.New(slog.DiscardHandler),
			onSelf: func(e Entry) {
				selves++
				if e.Path != dir {
					t.Errorf("self path %q, asked %q", e.Path, dir)
				}
			},
			onChild: func(e Entry) error {
				if reason := badName(e.Name); reason != "" {
					t.Errorf("yielded invalid name %q: %s", e.Name, reason)
				}
				if e.Path != joinPath(dir, e.Name) {
					t.Errorf("yielded %q, not a direct child of %q", e.Path, dir)
				}
				if seen[e.Name] {
					t.Errorf("yielded %q twice", e.Name)
				}
				seen[e.Name] = true
				if e.Size < -1 || (!e.IsDir && e.Size > maxSaneSize) {
					t.Errorf("yielded absurd size %d", e.Size)
				}
				return nil
			},
		}
		_ = m.decode(bytes.NewReader(body))
		if selves > 1 {
			t.Errorf("self yielded %d times", selves)
		}
	})
}
