// Package doctor repairs a folder that a desktop sync client left out of step with the
// server. Diff compares a local folder with a server folder, file by file, and reports
// what differs (only here, only there, newer on one side, conflicting, deleted on the
// server and by whom); Restore uploads the files a person picked from that report out of
// a backup, never overwriting a server file unless asked to.
//
// It works without a mount, on the wire alone (davclient), and knows nothing of FUSE or
// the cache. Memory stays bounded on any tree: the server is listed one folder at a time
// (PROPFIND Depth 1, a few in parallel ahead of the walk), rows are handed out as they
// are found, and only the folder being compared is held.
package doctor

import (
	"encoding/csv"
	"io"
	"strconv"
	"time"
)

// Status is what a row says about one path.
type Status string

const (
	LocalOnly   Status = "local_only"
	ServerOnly  Status = "server_only"
	LocalNewer  Status = "local_newer"
	ServerNewer Status = "server_newer"
	// Conflict: both sides have it with the same mtime and different sizes (or one side
	// has a file where the other has a folder): no time says which one is right.
	Conflict Status = "conflict"
	// DeletedOnServer is a local_only file that the server's trash bin or activity
	// stream shows was deleted there (Diff with History).
	DeletedOnServer Status = "deleted_on_server"
)

// Row is one line of a diff report. Sizes are -1 and times zero on the side that has
// no file.
type Row struct {
	RelPath     string // slash-separated, relative to both roots
	Status      Status
	LocalSize   int64
	LocalMtime  time.Time
	ServerSize  int64
	ServerMtime time.Time
	// Owner is the owner of a server item shared with the account (oc:owner-id), ""
	// for the account's own items.
	Owner  string
	Reason string
}

// CSVHeader is the first line of a report.
var CSVHeader = []string{"relpath", "status", "local_size", "local_mtime", "local_mtime_iso",
	"server_size", "server_mtime", "server_mtime_iso", "owner", "reason"}

// CSVWriter writes rows as CSV; call Flush at the end.
type CSVWriter struct {
	w   *csv.Writer
	rec []string
}

// NewCSVWriter writes the header line and returns a writer for the rows.
func NewCSVWriter(w io.Writer) (*CSVWriter, error) {
	cw := &CSVWriter{w: csv.NewWriter(w), rec: make([]string, len(CSVHeader))}
	if err := cw.w.Write(CSVHeader); err != nil {
		return nil, err
	}
	return cw, nil
}

// Write adds one row.
func (cw *CSVWriter) Write(r Row) error {
	rec := cw.rec
	rec[0], rec[1] = r.RelPath, string(r.Status)
	rec[2], rec[3], rec[4] = sizeField(r.LocalSize), unixField(r.LocalMtime), isoField(r.LocalMtime)
	rec[5], rec[6], rec[7] = sizeField(r.ServerSize), unixField(r.ServerMtime), isoField(r.ServerMtime)
	rec[8], rec[9] = r.Owner, r.Reason
	return cw.w.Write(rec)
}

// Flush writes out what is buffered and reports any write error.
func (cw *CSVWriter) Flush() error {
	cw.w.Flush()
	return cw.w.Error()
}

func sizeField(n int64) string {
	if n < 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}

func unixField(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.Unix(), 10)
}

// isoField is RFC 3339 in UTC at second precision: servers keep no finer mtimes.
func isoField(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Truncate(time.Second).Format(time.RFC3339)
}
