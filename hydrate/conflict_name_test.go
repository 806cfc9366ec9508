package hydrate

import (
	"testing"
	"time"
)

func TestParseConflictNameUndoesConflictName(t *testing.T) {
	at := time.Date(2026, 12, 5, 10, 15, 0, 0, time.Local)
	for _, name := range []string{"report.odt", "Makefile", ".bashrc", "a.tar.gz", "x (1).txt"} {
		orig, when, ok := ParseConflictName(ConflictName(name, at))
		if !ok || orig != name || !when.Equal(at) {
			t.Errorf("%q: got %q %v %v", name, orig, when, ok)
		}
	}
	for _, name := range []string{"report.odt", "report (conflicted copy soon).odt", "x (conflicted copy 2026-12-05 101500", "_conflict-x"} {
		if orig, _, ok := ParseConflictName(name); ok {
			t.Errorf("%q parsed as a copy of %q", name, orig)
		}
	}
}
