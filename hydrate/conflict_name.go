package hydrate

import (
	"strings"
	"time"
)

// conflictTag opens the tag ConflictName puts in a conflict copy's name.
const conflictTag = " (conflicted copy "

// ParseConflictName undoes ConflictName: the name of the file the copy was made
// from, and when (the name's time, in the local zone, as ConflictName wrote it).
// ok is false for a name that has no such tag (another client's, or renamed since).
func ParseConflictName(name string) (original string, at time.Time, ok bool) {
	i := strings.LastIndex(name, conflictTag)
	if i < 0 {
		return "", time.Time{}, false
	}
	rest := name[i+len(conflictTag):]
	end := strings.IndexByte(rest, ')')
	if end < 0 {
		return "", time.Time{}, false
	}
	at, err := time.ParseInLocation("2006-01-02 150405", rest[:end], time.Local)
	if err != nil {
		return "", time.Time{}, false
	}
	original = name[:i] + rest[end+1:]
	if original == "" {
		return "", time.Time{}, false
	}
	return original, at, true
}
