// Package exclude knows which names the Nextcloud and ownCloud desktop clients never
// sync: their reserved names (sync databases, conflicted copies, over-long names) and
// their default exclude list (editor lock and swap files, Office temporaries, desktop
// metadata such as .DS_Store and Thumbs.db). Such files live on one machine only; the
// desync doctor leaves them out of its reports and restores, and the mount keeps them
// local. It matches names only: it never touches the disk or the network.
package exclude

import (
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

// Match reports whether the item at relpath (slash-separated, relative to the synced
// folder's root) is never synced by the desktop clients, and why. An item below an
// excluded folder is excluded too.
func Match(relpath string) (reason string, excluded bool) {
	elems := strings.Split(strings.Trim(relpath, "/"), "/")
	for i, name := range elems {
		if name == "" {
			continue
		}
		if r, ok := matchName(name, i == 0); ok {
			if i < len(elems)-1 {
				r += " (in " + strings.Join(elems[:i+1], "/") + ")"
			}
			return r, true
		}
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
	for _, p := range reservedPatterns {
		if ok, _ := path.Match(p, name); ok {
			return "sync client's own file (" + p + ")", true
		}
	}
	for _, p := range defaultPatterns {
		if ok, _ := path.Match(p, name); ok {
			return "excluded by the desktop clients (" + strings.ReplaceAll(p, "\r", `\r`) + ")", true
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
