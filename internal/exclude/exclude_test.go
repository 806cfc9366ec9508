package exclude

import (
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	excluded := map[string]string{
		"report.docx~":               "*~",
		"Docs/~$report.docx":         "~$*",
		"Docs/.~lock.report.odt#":    ".~lock.*",
		"~WRL0001.tmp":               "~*.tmp",
		"Photos/.DS_Store":           ".DS_Store",
		"Photos/Thumbs.db":           "Thumbs.db",
		"._resource":                 "._*",
		"notes/.todo.txt.swp":        ".*.sw?",
		"Downloads/big.iso.part":     "*.part",
		"Downloads/movie.crdownload": "*.crdownload",
		"#autosave#":                 "#*#",
		"Icon\r":                     `Icon\r*`,
		"a/.nfs0000000001":           ".nfs*",
		".sync_1a2b3c.db":            "sync client's own file",
		".sync_1a2b3c.db-wal":        "sync client's own file",
		".owncloudsync.log":          "sync client's own file",
		"Desktop.ini":                "Desktop.ini at the root",
		"Docs/report (conflicted copy 2024-05-01 101500).docx": "conflicted copy",
		"Docs/report_conflict-20240501-101500.docx":            "conflicted copy",
		"System Volume Information":                            "System Volume Information",
		".Trash-1000/files/x":                                  ".Trash-*",
		strings.Repeat("n", 255):                               "longer than 254",
	}
	for p, want := range excluded {
		reason, ok := Match(p)
		if !ok {
			t.Errorf("Match(%q): not excluded, want %q", p, want)
			continue
		}
		if !strings.Contains(reason, want) {
			t.Errorf("Match(%q) = %q, want it to mention %q", p, reason, want)
		}
	}
	kept := []string{
		"report.docx", "Docs/Desktop.ini", "Docs/notes.txt", "photo~1.jpg", "a.tmp",
		"Thumbs.db.backup", ".bashrc", "conflicted copy of notes.txt", "part.txt",
		strings.Repeat("n", 254), "Icon.png", "#hashtag", ".sync_notes.txt",
	}
	for _, p := range kept {
		if reason, ok := Match(p); ok {
			t.Errorf("Match(%q) excluded it (%s); it should be synced", p, reason)
		}
	}
}

func TestMatchBelowExcludedFolder(t *testing.T) {
	reason, ok := Match(".Trashes/501/photo.jpg")
	if !ok || !strings.Contains(reason, "(in .Trashes)") {
		t.Fatalf("Match = %q, %v; want excluded with the folder named", reason, ok)
	}
}

// The shortcuts before path.Match must never change its answer.
func TestCompiledPatternsAgreeWithPathMatch(t *testing.T) {
	names := []string{"", "a", "a~", "~$x", ".~lock.x#", "~x.tmp", "a.~b", "Icon\r", ".DS_Store",
		"._x", ".x.swp", ".x.y.swp", ".Trash-1000", "x.part", "x.gnucash.tmp-1", ".synkron.x",
		".fuse_hidden01", "x.unison", ".nfs01", "#x#", "#", "##", "My Saved Places.", "report.docx"}
	for _, set := range [][]pattern{defaults, reserved} {
		for i := range set {
			for _, n := range names {
				want, _ := path.Match(set[i].raw, n)
				if got := set[i].match(n); got != want {
					t.Errorf("pattern %q on %q: %v, path.Match says %v", set[i].raw, n, got, want)
				}
			}
		}
	}
}

func TestUserPatternFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "exclude")
	if err := os.WriteFile(file, []byte("# build output\n*.o\r\n\n]scratch-*\nnotes.tmp\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if l.Len() != 3 {
		t.Errorf("%d patterns, want 3", l.Len())
	}
	for name, want := range map[string]bool{"main.o": true, "scratch-1": true, "notes.tmp": true,
		"main.go": false, "# build output": false, "notes.tmp.txt": false} {
		if _, got := l.MatchName(name); got != want {
			t.Errorf("%q excluded %v, want %v", name, got, want)
		}
	}
	if l, err := Load(filepath.Join(dir, "missing")); err != nil || l.Len() != 0 {
		t.Errorf("a missing file: %v patterns, %v; want none and no error", l.Len(), err)
	}
	os.WriteFile(file, []byte("ok\n[unclosed\n"), 0o600)
	if _, err := Load(file); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("a bad pattern: %v; want an error naming line 2", err)
	}
}
