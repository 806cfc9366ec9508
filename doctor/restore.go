package doctor

import (
	"cmp"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/ncvfs/ncvfs/davclient"
	"github.com/ncvfs/ncvfs/internal/exclude"
)

// RestoreOptions shape a restore.
type RestoreOptions struct {
	// From is the local backup folder the manifest's paths are read from.
	From string
	// To is the server folder they go to, relative to the account's files root.
	To string
	// Execute uploads; without it Restore only plans and sends no request at all.
	Execute bool
	// Overwrite replaces a server file that exists (conditionally, on the ETag just
	// read); without it an existing server file is never touched.
	Overwrite bool
	// Progress, when set, is called as bytes go out.
	Progress func(RestoreProgress)
	Logger   *slog.Logger
}

// RestoreProgress is how far an upload run got.
type RestoreProgress struct {
	Files, TotalFiles int
	Bytes, TotalBytes int64
	Path              string
}

// PlanItem is one manifest path and what became of it.
type PlanItem struct {
	RelPath string
	Size    int64
	ModTime time.Time
	Reason  string // why skipped, missing or failed
}

// RestoreReport is the plan (dry run) or the outcome (Execute).
type RestoreReport struct {
	Upload  []PlanItem // to upload, or uploaded
	Skipped []PlanItem // junk and paths with nothing to restore, with reasons
	Missing []PlanItem // not in the backup
	Failed  []PlanItem // Execute only
	Folders int        // folders created
}

// OK is false when anything was missing or failed.
func (r *RestoreReport) OK() bool { return len(r.Missing) == 0 && len(r.Failed) == 0 }

// Restore plans, and with opt.Execute performs, the upload of the manifest's files from
// the backup. Every upload is conditional: If-None-Match: * for a new file, If-Match on
// the ETag read just before with Overwrite. Mtimes are kept (X-OC-Mtime), missing
// folders created. An error is returned only when the run could not go on; failures of
// single files are in the report.
func Restore(ctx context.Context, c *davclient.Client, manifest []ManifestEntry, opt RestoreOptions) (RestoreReport, error) {
	var rep RestoreReport
	to := strings.Trim(opt.To, "/")
	if st, err := os.Stat(opt.From); err != nil {
		return rep, fmt.Errorf("doctor: backup folder: %w", err)
	} else if !st.IsDir() {
		return rep, fmt.Errorf("doctor: backup folder %s is not a folder", opt.From)
	}
	entries := slices.Clone(manifest)
	slices.SortFunc(entries, func(a, b ManifestEntry) int { return cmp.Compare(a.RelPath, b.RelPath) })
	entries = slices.CompactFunc(entries, func(a, b ManifestEntry) bool { return a.RelPath == b.RelPath })
	var total int64
	for _, e := range entries {
		it := PlanItem{RelPath: e.RelPath, Size: -1}
		if e.Status == ServerOnly {
			it.Reason = "only on the server: nothing to restore"
			rep.Skipped = append(rep.Skipped, it)
			continue
		}
		if why, noise := exclude.Match(e.RelPath); noise {
			it.Reason = "noise: " + why
			rep.Skipped = append(rep.Skipped, it)
			continue
		}
		fi, err := os.Lstat(filepath.Join(opt.From, filepath.FromSlash(e.RelPath)))
		switch {
		case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
			it.Reason = "not in the backup"
			rep.Missing = append(rep.Missing, it)
		case err != nil:
			it.Reason = err.Error()
			rep.Missing = append(rep.Missing, it)
		case fi.Mode()&fs.ModeSymlink != 0:
			it.Reason = "a symbolic link in the backup: not uploaded"
			rep.Skipped = append(rep.Skipped, it)
		case fi.IsDir():
			it.Reason = "a folder: list its files instead"
			rep.Skipped = append(rep.Skipped, it)
		case !fi.Mode().IsRegular():
			it.Reason = "not a regular file"
			rep.Skipped = append(rep.Skipped, it)
		default:
			it.Size, it.ModTime = fi.Size(), fi.ModTime()
			total += it.Size
			rep.Upload = append(rep.Upload, it)
		}
	}
	if !opt.Execute {
		return rep, nil
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	u := uploader{c: c, opt: opt, to: to, log: log, known: map[string]bool{},
		prog: RestoreProgress{TotalFiles: len(rep.Upload), TotalBytes: total}}
	planned := rep.Upload
	rep.Upload = nil
	for _, it := range planned {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		err := u.upload(ctx, it)
		u.prog.Files++
		if err != nil {
			if ctx.Err() != nil {
				return rep, err
			}
			log.Warn("doctor: upload failed", "op", "restore", "path", it.RelPath, "err", err)
			it.Reason = explainUpload(err)
			rep.Failed = append(rep.Failed, it)
			continue
		}
		rep.Upload = append(rep.Upload, it)
	}
	rep.Folders = u.created
	u.report("")
	return rep, nil
}

// uploader carries one Execute run.
type uploader struct {
	c       *davclient.Client
	opt     RestoreOptions
	to      string
	log     *slog.Logger
	known   map[string]bool // server folders known to exist
	created int
	prog    RestoreProgress
	last    time.Time
}

func (u *uploader) upload(ctx context.Context, it PlanItem) error {
	remote := joinRel(u.to, it.RelPath)
	if err := u.mkdirs(ctx, parentOf(remote)); err != nil {
		return err
	}
	put := davclient.PutOptions{ModTime: it.ModTime, RequestHash: true, IfNoneMatchAny: true}
	if u.opt.Overwrite {
		e, err := u.c.Stat(ctx, remote)
		switch {
		case err == nil && e.IsDir:
			return fmt.Errorf("doctor: %q is a folder on the server", remote)
		case err == nil:
			put.IfNoneMatchAny, put.IfMatch = false, e.ETag
		case !errors.Is(err, davclient.ErrNotFound):
			return err
		}
	}
	f, err := os.Open(filepath.Join(u.opt.From, filepath.FromSlash(it.RelPath)))
	if err != nil {
		return fmt.Errorf("doctor: open the backup file: %w", err)
	}
	defer f.Close()
	h := sha1.New()
	body := &countingReader{r: io.TeeReader(f, h), on: func(n int) {
		u.prog.Bytes += int64(n)
		u.report(it.RelPath)
	}}
	res, err := u.c.Put(ctx, remote, body, it.Size, put)
	if err != nil {
		return err
	}
	if body.n != it.Size {
		return fmt.Errorf("doctor: %s changed size while it was uploaded", it.RelPath)
	}
	return res.VerifySHA1(hex.EncodeToString(h.Sum(nil)))
}

// mkdirs creates dir and its missing parents on the server (MKCOL), top down.
func (u *uploader) mkdirs(ctx context.Context, dir string) error {
	if dir == "" || u.known[dir] {
		return nil
	}
	if err := u.mkdirs(ctx, parentOf(dir)); err != nil {
		return err
	}
	_, err := u.c.Mkcol(ctx, dir)
	switch {
	case err == nil:
		u.created++
	case errors.Is(err, davclient.ErrExists):
	default:
		return err
	}
	u.known[dir] = true
	return nil
}

func (u *uploader) report(p string) {
	if u.opt.Progress == nil {
		return
	}
	if now := time.Now(); p == "" || now.Sub(u.last) >= 200*time.Millisecond {
		u.last = now
		pr := u.prog
		pr.Path = p
		u.opt.Progress(pr)
	}
}

// explainUpload turns an upload error into the report's reason.
func explainUpload(err error) string {
	if errors.Is(err, davclient.ErrPrecondition) {
		return "the server has a file there (or it changed): not overwritten; --overwrite replaces it"
	}
	return err.Error()
}

func parentOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

type countingReader struct {
	r  io.Reader
	n  int64
	on func(int)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if n > 0 {
		c.on(n)
	}
	return n, err
}
