// Package exclude knows which names the Nextcloud and ownCloud desktop clients never
// sync: their reserved names (sync databases, conflicted copies, over-long names) and
// their default exclude list (editor lock and swap files, Office temporaries, desktop
// metadata such as .DS_Store and Thumbs.db). Such files live on one machine only; the
// desync doctor leaves them out of its reports and restores, and the mount keeps them
// local. It matches names only: it never touches the network; Load reads a user's
// own pattern file.
package exclude

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
)

// maxNameBytes is the longest name the desktop clients sync.
const maxNameBytes = 254

// defaultPatterns is the desktop clients' default exclude list (sync-exclude.lst),
// matched with fnmatch rules against each element of a path. The list's "]" marker
// (fleeting metadata, deletable when it blocks a folder removal) changes nothing for
// matching and is dropped here, as are its quotes and the escape of '#'.
var defaultPatterns = []string{
	"*~", "~$*", ".~lock.*", "~*.tmp", "*.~*", "Icon\r*", ".DS_Store", ".ds_store",
	"._*", "Thumbs.db", "photothumb.db", "System Volume Information", ".*.sw?",
	".*.*sw?", ".TemporaryItems", ".Trashes", ".DocumentRevisions-V100", ".Trash-*",
	".fseventd", ".apdisk", ".directory", "*.part", "*.filepart", "*.crdownload",
	"*.kate-swp", "*.gnucash.tmp-*", ".synkron.*", ".sync.ffs_db", ".symform",
	".symform-store", ".fuse_hidden*", "*.unison", ".nfs*", "My Saved Places.", "#*#",
}

// reservedPatterns are the clients' own files, excluded whatever the exclude list says.
var reservedPatterns = []string{
	".sync_*.db*", "._sync_*", ".csync_journal.db*", ".owncloudsync.log*",
}

// pattern is one fnmatch pattern with cheap necessary conditions checked before
// path.Match: a file walk asks about every name, and most names match nothing.
type pattern struct {
	raw     string
	literal bool   // no wildcard: an exact comparison
	prefix  string // the name must start with this
	needs   string // and contain this (the longest literal run)
}

func compile(raws []string) []pattern {
	out := make([]pattern, 0, len(raws))
	for _, raw := range raws {
		p := pattern{raw: raw}
		if !strings.ContainsAny(raw, "*?[\\") {
			p.literal = true
		} else {
			p.prefix = raw[:strings.IndexAny(raw, "*?[\\")]
			for _, run := range strings.FieldsFunc(raw, func(r rune) bool { return strings.ContainsRune("*?[]\\", r) }) {
				if len(run) > len(p.needs) {
					p.needs = run
				}
			}
		}
		out = append(out, p)
	}
	return out
}

func (p *pattern) match(name string) bool {
	if p.literal {
		return name == p.raw
	}
	if !strings.HasPrefix(name, p.prefix) || !strings.Contains(name, p.needs) {
		return false
	}
	ok, _ := path.Match(p.raw, name)
	return ok
}

var (
	defaults = compile(defaultPatterns)
	reserved = compile(reservedPatterns)
)

// Match reports whether the item at relpath (slash-separated, relative to the synced
// folder's root) is never synced by the desktop clients, and why. An item below an
// excluded folder is excluded too.
func Match(relpath string) (reason string, excluded bool) {
	rest := strings.Trim(relpath, "/")
	for i, done := 0, 0; rest != ""; i++ {
		name, after, more := strings.Cut(rest, "/")
		if name != "" {
			if r, ok := matchName(name, i == 0); ok {
				if more {
					r += " (in " + strings.Trim(relpath, "/")[:done+len(name)] + ")"
				}
				return r, true
			}
		}
		done += len(name) + 1
		rest = after
	}
	return "", false
}

// matchName checks one path element; atRoot says whether it sits in the root folder.
func matchName(name string, atRoot bool) (string, bool) {
	if IsConflictCopy(name) {
		return "conflicted copy", true
	}
	if len(name) > maxNameBytes {
		return "name longer than 254 bytes", true
	}
	if atRoot && name == "Desktop.ini" {
		return "Desktop.ini at the root", true
	}
	for i := range reserved {
		if reserved[i].match(name) {
			return "sync client's own file (" + reserved[i].raw + ")", true
		}
	}
	for i := range defaults {
		if defaults[i].match(name) {
			return "excluded by the desktop clients (" + strings.ReplaceAll(defaults[i].raw, "\r", `\r`) + ")", true
		}
	}
	return "", false
}

// IsConflictCopy recognises the name of a conflicted copy, as the desktop clients
// write it ("a (conflicted copy 2024-05-01 101500).txt") or older clients did
// ("a_conflict-20240501-101500.txt").
func IsConflictCopy(name string) bool {
	return strings.Contains(name, "(conflicted copy") || strings.Contains(name, "_conflict-")
}

// List is a user's own exclude patterns, one fnmatch pattern per line, matched against
// each name as the default list is. Blank lines and lines starting with '#' are
// skipped; a leading ']' (the desktop clients' "deletable" marker) is accepted and
// ignored.
type List struct {
	patterns []pattern
}

// Load reads a user pattern file. A missing file is an empty list.
func Load(file string) (*List, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return &List{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("exclude: read %s: %w", file, err)
	}
	var raws []string
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "]")
		if _, err := path.Match(line, ""); err != nil {
			return nil, fmt.Errorf("exclude: %s line %d: %q is not a valid pattern (fnmatch: * ? [abc])", file, n+1, line)
		}
		raws = append(raws, line)
	}
	return &List{patterns: compile(raws)}, nil
}

// MatchName reports whether a name matches one of the user's patterns, and which.
func (l *List) MatchName(name string) (pattern string, excluded bool) {
	if l == nil {
		return "", false
	}
	for i := range l.patterns {
		if l.patterns[i].match(name) {
			return l.patterns[i].raw, true
		}
	}
	return "", false
}

// Len is the number of patterns.
func (l *List) Len() int {
	if l == nil {
		return 0
	}
	return len(l.patterns)
}
