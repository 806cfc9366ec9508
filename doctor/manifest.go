package doctor

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// ManifestEntry is one line of a restore manifest.
type ManifestEntry struct {
	Line    int // 1-based line number in the file, for messages
	RelPath string
	Status  Status // the diff's status when the manifest has that column, else ""
}

// ErrBadManifest marks a manifest that is refused as a whole.
var ErrBadManifest = errors.New("bad manifest")

// ReadManifest reads a CSV with a header naming a relpath column (a diff report, curated
// or not). A path that is absolute, climbs with "..", holds NUL or a backslash, or is
// not in clean form refuses the whole manifest, naming its line: nothing may be written
// outside the target folder.
func ReadManifest(r io.Reader) ([]ManifestEntry, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("doctor: %w: the file is empty; it needs a header line with a relpath column", ErrBadManifest)
	}
	if err != nil {
		return nil, fmt.Errorf("doctor: %w: %v", ErrBadManifest, err)
	}
	pathCol, statusCol := -1, -1
	for i, h := range header {
		switch strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")) {
		case "relpath":
			pathCol = i
		case "status":
			statusCol = i
		}
	}
	if pathCol < 0 {
		return nil, fmt.Errorf("doctor: %w: line 1 has no relpath column (a header line like the one of ncvfs diff is needed)", ErrBadManifest)
	}
	var out []ManifestEntry
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			return nil, fmt.Errorf("doctor: %w: %v", ErrBadManifest, err)
		}
		if len(rec) <= pathCol {
			return nil, fmt.Errorf("doctor: %w: line %d has no relpath field", ErrBadManifest, line)
		}
		p := rec[pathCol]
		if reason := badRelPath(p); reason != "" {
			return nil, fmt.Errorf("doctor: %w: line %d: relpath %q %s", ErrBadManifest, line, p, reason)
		}
		e := ManifestEntry{Line: line, RelPath: p}
		if statusCol >= 0 && statusCol < len(rec) {
			e.Status = Status(strings.TrimSpace(rec[statusCol]))
		}
		out = append(out, e)
	}
}

// badRelPath says why p cannot name a file below the target folder, "" when it can.
func badRelPath(p string) string {
	switch {
	case p == "":
		return "is empty"
	case strings.IndexByte(p, 0) >= 0:
		return "contains NUL"
	case strings.HasPrefix(p, "/"):
		return "is absolute"
	case strings.ContainsRune(p, '\\'):
		return "contains a backslash"
	}
	for _, el := range strings.Split(p, "/") {
		if el == ".." {
			return "climbs out of the folder with .."
		}
	}
	if path.Clean(p) != p || p == "." {
		return "is not a clean path (empty, . or trailing / elements)"
	}
	return ""
}
