package session

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A file renamed here is at its old place on the server until the MOVE is uploaded,
// which happens at once (only content waits for the debounce): reading it, or changing
// it (which first copies the server's version), must fetch it from wherever the server
// has it at that moment, also when the MOVE lands while it is asked for.
func TestRenamedFileReadableBeforeItsMoveIsUploaded(t *testing.T) {
	srv := newServer(t)
	for _, p := range []string{"a.txt", "b.txt"} {
		if _, err := srv.WriteFile(p, []byte("content of "+p), sampleTime); err != nil {
			t.Fatal(err)
		}
	}
	s, mp := mount(t, mountOpts{url: srv.URL(), user: "alice", password: "app-password-1",
		debounce: time.Hour, writes: true}) // the append is uploaded when the test flushes
	at := func(p string) string { return filepath.Join(mp, p) }
	if err := os.Mkdir(at("dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustRename(t, at("a.txt"), at("dir/a2.txt"))
	mustRename(t, at("b.txt"), at("b2.txt"))
	if b, err := os.ReadFile(at("dir/a2.txt")); err != nil || string(b) != "content of a.txt" {
		t.Errorf("read a file renamed here: %q, %v", b, err)
	}
	appendFile(t, at("b2.txt"), ", appended")
	flush(t, s)
	sameContent(t, srv, mp)
	if b, _ := srv.ReadFile("b2.txt"); string(b) != "content of b.txt, appended" {
		t.Errorf("server b2.txt: %q", b)
	}
}
