package session

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// copyProgram copies a program under another name, so that its process is named so.
func copyProgram(t *testing.T, from, name string) string {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	to := filepath.Join(t.TempDir(), name)
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return to
}

// Programs named by --no-hydrate-for read what is here and fail at once, without a
// download, on what is not; other programs download as before. A name longer than
// the kernel keeps for a process (15 bytes) still matches.
func TestNoHydrateFor(t *testing.T) {
	srv := newServer(t)
	for p, n := range map[string]int64{"far.bin": 300 << 10, "near.bin": 200 << 10, "small.txt": 100} {
		if _, err := srv.WriteSynthetic(p, n, uint64(n), sampleTime); err != nil {
			t.Fatal(err)
		}
	}
	s, mp := mount(t, mountOpts{url: srv.URL(), user: "alice", password: "app-password-1",
		noHydrateFor: []string{"baloo_file", "tracker-miner-fs-3"}})
	at := func(p string) string { return filepath.Join(mp, p) }
	indexers := []string{copyProgram(t, "/bin/cat", "baloo_file"), copyProgram(t, "/bin/cat", "tracker-miner-fs-3")}

	// near.bin is made local by an ordinary reader.
	if out, code := tool(t, "cat", at("near.bin")); code != 0 {
		t.Fatalf("cat near.bin: exit %d: %.200s", code, out)
	}
	near, _ := srv.ReadFile("near.bin")
	gets := srv.Counts().Requests["GET"]
	for _, ix := range indexers {
		name := filepath.Base(ix)
		for _, p := range []string{"far.bin", "small.txt"} {
			out, code := tool(t, ix, at(p))
			if code == 0 || !strings.Contains(out, "Input/output error") {
				t.Errorf("%s %s (not local): exit %d, %.200q; want an I/O error", name, p, code, out)
			}
		}
		out, code := tool(t, ix, at("near.bin"))
		if code != 0 || !bytes.Equal([]byte(out), near) {
			t.Errorf("%s near.bin (local): exit %d, %d bytes; want the server's %d", name, code, len(out), len(near))
		}
	}
	if got := srv.Counts().Requests["GET"]; got != gets {
		t.Errorf("the indexers' reads sent %d GETs, want none", got-gets)
	}
	if got := getx(t, "user.ncvfs.state", at("far.bin")); got != "online" {
		t.Errorf("far.bin after the indexers' reads: %q", got)
	}

	// The indexers' opens are no use of the content: an old last use stays old (a use
	// is counted at most once a minute, so the last use is set back first).
	nearID := mustStat(t, srv, "near.bin").FileID
	old := time.Now().Add(-2 * time.Hour)
	if err := s.Store.TouchContent(nearID, old); err != nil {
		t.Fatal(err)
	}
	if _, code := tool(t, indexers[0], at("near.bin")); code != 0 {
		t.Fatalf("baloo_file near.bin: exit %d", code)
	}
	if c, ok, err := s.Store.Content(nearID); err != nil || !ok || c.LastUse.After(old.Add(time.Second)) {
		t.Errorf("near.bin's last use after an indexer's read: %v (%v, %v), want %v", c.LastUse, ok, err, old)
	}
	if _, code := tool(t, "cat", at("near.bin")); code != 0 {
		t.Fatalf("cat near.bin: exit %d", code)
	}
	if c, _, _ := s.Store.Content(nearID); !c.LastUse.After(old.Add(time.Hour)) {
		t.Errorf("near.bin's last use after cat: %v, want now", c.LastUse)
	}

	// Everyone else still downloads.
	out, code := tool(t, "cat", at("far.bin"))
	far, _ := srv.ReadFile("far.bin")
	if code != 0 || !bytes.Equal([]byte(out), far) {
		t.Errorf("cat far.bin: exit %d, %d bytes; want the server's %d", code, len(out), len(far))
	}
	if srv.Counts().Requests["GET"] == gets {
		t.Error("cat far.bin downloaded nothing")
	}
	// And once it is here, the indexers read it too.
	if out, code := tool(t, indexers[0], at("far.bin")); code != 0 || !bytes.Equal([]byte(out), far) {
		t.Errorf("baloo_file far.bin once local: exit %d, %d bytes", code, len(out))
	}
}
