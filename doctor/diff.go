package doctor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/ncvfs/ncvfs/davclient"
	"github.com/ncvfs/ncvfs/internal/exclude"
)

// DiffOptions shape a diff.
type DiffOptions struct {
	LocalDir string
	// RemotePath is the server folder, relative to the account's files root ("" = root).
	RemotePath string
	// NoContentCheck trusts mtimes: files of one size and different mtimes are then
	// reported as newer on one side without comparing their content.
	NoContentCheck bool
	// IncludeNoise reports files the desktop clients never sync (lock files, Office
	// temporaries, .DS_Store, conflicted copies, ...), which are left out otherwise.
	IncludeNoise bool
	// History looks local_only files up in the trash bin and the activity stream.
	History bool
	// Parallel bounds the PROPFINDs in flight ahead of the walk; default 4.
	Parallel int
	// Progress, when set, is called about twice a second during the walk.
	Progress func(Progress)
	Logger   *slog.Logger
}

// Progress is how far a walk got.
type Progress struct {
	LocalFiles, ServerFiles, Folders int64
	Path                             string // the folder being compared
}

// Summary counts what a diff saw, also what it left out of its rows.
type Summary struct {
	LocalFiles, ServerFiles int64
	Folders                 int64
	Symlinks                int64 // local symbolic links, skipped
	Special                 int64 // local devices, sockets, pipes, skipped
	Noise                   int64 // items left out as noise (a folder counts once)
	Identical               int64 // same size and mtime
	SameContent             int64 // same content, different mtime: left out
	ContentChecks           int64 // files whose content was compared
	Rows                    map[Status]int64
	// Notes say what the diff could not do (no activity app, ...).
	Notes []string
}

// Diff compares opt.LocalDir with opt.RemotePath on the server and calls emit once per
// difference, folder by folder. Identical files (also those whose mtimes alone differ)
// are not reported. An error from emit stops the walk and is returned.
func Diff(ctx context.Context, c *davclient.Client, opt DiffOptions, emit func(Row) error) (Summary, error) {
	sum := Summary{Rows: map[Status]int64{}}
	remote := strings.Trim(opt.RemotePath, "/")
	if st, err := os.Stat(opt.LocalDir); err != nil {
		return sum, fmt.Errorf("doctor: local folder: %w", err)
	} else if !st.IsDir() {
		return sum, fmt.Errorf("doctor: local folder %s is not a folder", opt.LocalDir)
	}
	info := c.Info()
	if info.Dialect == 0 {
		var err error
		if info, err = c.Discover(ctx); err != nil {
			return sum, err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	parallel := opt.Parallel
	if parallel <= 0 {
		parallel = 4
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &walker{
		opt: opt, c: c, remote: remote, account: info.UserID, emit: emit, sum: &sum, log: log,
		lister: newLister(ctx, c, parallel), bufs: newCompareBuffers(),
	}
	defer func() {
		cancel()
		w.lister.close()
	}()
	if opt.History {
		h, notes, err := loadHistory(ctx, c, remote)
		if err != nil {
			return sum, err
		}
		w.hist = h
		sum.Notes = append(sum.Notes, notes...)
	}
	root := newServerDir(remote)
	err := w.both(ctx, "", root)
	w.progress(true)
	return sum, err
}

// walker is one diff's state; it runs on one goroutine (the lister's workers only fetch).
type walker struct {
	opt     DiffOptions
	c       *davclient.Client
	remote  string
	account string
	emit    func(Row) error
	sum     *Summary
	log     *slog.Logger
	lister  *lister
	hist    *history

	current      string
	lastProgress time.Time
	bufs         *compareBuffers
}

// localEntry is what a diff keeps of a local item.
type localEntry struct {
	name  string
	kind  fs.FileMode // 0 regular file, fs.ModeDir, fs.ModeSymlink, or another type bit
	size  int64
	mtime int64
}

// pair is one name with what each side has under it (nil: nothing).
type pair struct {
	name   string
	local  *localEntry
	server *remoteEntry
}

func (w *walker) serverPath(rel string) string { return joinRel(w.remote, rel) }

func (w *walker) localPath(rel string) string {
	return filepath.Join(w.opt.LocalDir, filepath.FromSlash(rel))
}

// both compares a folder that exists on both sides.
func (w *walker) both(ctx context.Context, rel string, sd *serverDir) error {
	if err := w.lister.take(sd); err != nil {
		return err
	}
	w.enterFolder(rel)
	locals, err := readLocal(w.localPath(rel))
	if err != nil {
		return err
	}
	pairs := pairUp(locals, sd.entries)
	folderOwner := w.foreign(sd.self.OwnerID)
	sd.entries = nil // what is left is in pairs

	// Queue the server folders this walk will enter, in the order it will enter them.
	subdirs := map[string]*serverDir{}
	for i := range pairs {
		p := &pairs[i]
		if p.server == nil || !p.server.isDir || (p.local != nil && p.local.kind != fs.ModeDir && isFileOrDir(p.local.kind)) {
			continue
		}
		if _, noise := exclude.Match(joinRel(rel, p.name)); noise && !w.opt.IncludeNoise {
			continue
		}
		d := newServerDir(w.serverPath(joinRel(rel, p.name)))
		subdirs[p.name] = d
		w.lister.ahead(d)
	}

	for i := range pairs {
		p := &pairs[i]
		prel := joinRel(rel, p.name)
		noiseReason, noise := exclude.Match(prel)
		if noise && !w.opt.IncludeNoise {
			w.sum.Noise++
			continue
		}
		l, s := p.local, p.server
		if l != nil {
			switch {
			case l.kind == fs.ModeSymlink:
				w.sum.Symlinks++
				l = nil
			case !isFileOrDir(l.kind):
				w.sum.Special++
				l = nil
			}
		}
		var err error
		switch {
		case l == nil && s == nil:
		case l != nil && s != nil && l.kind == fs.ModeDir && s.isDir:
			err = w.both(ctx, prel, subdirs[p.name])
		case l != nil && s != nil && (l.kind == fs.ModeDir) != s.isDir:
			err = w.typeConflict(prel, l, s, noiseReason)
		case l != nil && s != nil:
			err = w.compare(ctx, prel, l, s, noiseReason)
		case l != nil && l.kind == fs.ModeDir:
			err = w.localOnlyTree(prel, folderOwner)
		case l != nil:
			err = w.localOnly(prel, l, folderOwner, noiseReason)
		case s.isDir:
			err = w.serverOnlyTree(ctx, prel, subdirs[p.name])
		default:
			err = w.serverOnly(prel, s, noiseReason)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func isFileOrDir(m fs.FileMode) bool { return m == 0 || m == fs.ModeDir }

// foreign is the owner to show: "" for the account's own items.
func (w *walker) foreign(owner string) string {
	if owner == w.account {
		return ""
	}
	return owner
}

func (w *walker) row(r Row) error {
	w.sum.Rows[r.Status]++
	return w.emit(r)
}

func (w *walker) localOnly(rel string, l *localEntry, owner, noise string) error {
	w.countLocal()
	r := Row{RelPath: rel, Status: LocalOnly, LocalSize: l.size, LocalMtime: time.Unix(l.mtime, 0),
		ServerSize: -1, Owner: owner, Reason: noteNoise("", noise)}
	if w.hist != nil {
		if why, ok := w.hist.explain(w.serverPath(rel)); ok {
			r.Status, r.Reason = DeletedOnServer, noteNoise(why, noise)
		}
	}
	return w.row(r)
}

func (w *walker) serverOnly(rel string, s *remoteEntry, noise string) error {
	w.countServer()
	return w.row(Row{RelPath: rel, Status: ServerOnly, LocalSize: -1, ServerSize: s.size,
		ServerMtime: time.Unix(s.mtime, 0), Owner: w.foreign(s.owner), Reason: noteNoise("", noise)})
}

func (w *walker) typeConflict(rel string, l *localEntry, s *remoteEntry, noise string) error {
	r := Row{RelPath: rel, Status: Conflict, LocalSize: -1, ServerSize: -1,
		LocalMtime: time.Unix(l.mtime, 0), ServerMtime: time.Unix(s.mtime, 0), Owner: w.foreign(s.owner)}
	if l.kind == fs.ModeDir {
		r.ServerSize = s.size
		r.Reason = "a folder here, a file on the server"
	} else {
		r.LocalSize = l.size
		r.Reason = "a file here, a folder on the server"
	}
	r.Reason = noteNoise(r.Reason, noise)
	return w.row(r)
}

// compare reports one file both sides have, unless it is the same.
func (w *walker) compare(ctx context.Context, rel string, l *localEntry, s *remoteEntry, noise string) error {
	w.countLocal()
	w.countServer()
	r := Row{RelPath: rel, LocalSize: l.size, LocalMtime: time.Unix(l.mtime, 0),
		ServerSize: s.size, ServerMtime: time.Unix(s.mtime, 0), Owner: w.foreign(s.owner)}
	newer := func() Status {
		if l.mtime > s.mtime {
			return LocalNewer
		}
		return ServerNewer
	}
	age := time.Duration(l.mtime-s.mtime) * time.Second
	if age < 0 {
		age = -age
	}
	switch {
	case l.size == s.size && l.mtime == s.mtime:
		w.sum.Identical++
		return nil
	case l.size == s.size && w.opt.NoContentCheck:
		r.Status, r.Reason = newer(), fmt.Sprintf("same size, mtimes %s apart; content not compared", age)
	case l.size == s.size:
		w.sum.ContentChecks++
		same, how, err := sameContent(ctx, w.c, w.localPath(rel), w.serverPath(rel), s.checksum, w.bufs)
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			w.log.Warn("doctor: content not compared", "op", "diff", "path", rel, "err", err)
			r.Status, r.Reason = newer(), fmt.Sprintf("same size, mtimes %s apart; content could not be compared: %v", age, err)
			break
		}
		if same {
			w.sum.SameContent++
			return nil
		}
		r.Status, r.Reason = newer(), fmt.Sprintf("content differs (%s), mtimes %s apart", how, age)
	case l.mtime == s.mtime:
		r.Status, r.Reason = Conflict, "same mtime, sizes differ"
	default:
		r.Status, r.Reason = newer(), fmt.Sprintf("sizes differ, mtimes %s apart", age)
	}
	r.Reason = noteNoise(r.Reason, noise)
	return w.row(r)
}

// localOnlyTree reports every file below a folder the server does not have.
func (w *walker) localOnlyTree(rel, owner string) error {
	w.enterFolder(rel)
	locals, err := readLocal(w.localPath(rel))
	if err != nil {
		return err
	}
	for i := range locals {
		l := &locals[i]
		prel := joinRel(rel, l.name)
		noiseReason, noise := exclude.Match(prel)
		if noise && !w.opt.IncludeNoise {
			w.sum.Noise++
			continue
		}
		switch {
		case l.kind == fs.ModeSymlink:
			w.sum.Symlinks++
		case l.kind == fs.ModeDir:
			err = w.localOnlyTree(prel, owner)
		case l.kind == 0:
			err = w.localOnly(prel, l, owner, noiseReason)
		default:
			w.sum.Special++
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// serverOnlyTree reports every file below a server folder the local side does not have.
func (w *walker) serverOnlyTree(ctx context.Context, rel string, sd *serverDir) error {
	if err := w.lister.take(sd); err != nil {
		return err
	}
	w.enterFolder(rel)
	entries := sd.entries
	sd.entries = nil
	subdirs := map[string]*serverDir{}
	for i := range entries {
		s := &entries[i]
		if !s.isDir {
			continue
		}
		if _, noise := exclude.Match(joinRel(rel, s.name)); noise && !w.opt.IncludeNoise {
			continue
		}
		d := newServerDir(w.serverPath(joinRel(rel, s.name)))
		subdirs[s.name] = d
		w.lister.ahead(d)
	}
	for i := range entries {
		s := &entries[i]
		prel := joinRel(rel, s.name)
		noiseReason, noise := exclude.Match(prel)
		if noise && !w.opt.IncludeNoise {
			w.sum.Noise++
			continue
		}
		var err error
		if s.isDir {
			err = w.serverOnlyTree(ctx, prel, subdirs[s.name])
		} else {
			err = w.serverOnly(prel, s, noiseReason)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func noteNoise(reason, noise string) string {
	if noise == "" {
		return reason
	}
	if reason == "" {
		return "noise: " + noise
	}
	return reason + "; noise: " + noise
}

func (w *walker) enterFolder(rel string) {
	w.sum.Folders++
	w.current = rel
	w.progress(false)
}

func (w *walker) countLocal() {
	w.sum.LocalFiles++
	if w.sum.LocalFiles%1024 == 0 {
		w.progress(false)
	}
}

func (w *walker) countServer() { w.sum.ServerFiles++ }

// progress calls opt.Progress at most twice a second (and once at the end).
func (w *walker) progress(final bool) {
	if w.opt.Progress == nil {
		return
	}
	now := time.Now()
	if !final && now.Sub(w.lastProgress) < 500*time.Millisecond {
		return
	}
	w.lastProgress = now
	w.opt.Progress(Progress{LocalFiles: w.sum.LocalFiles, ServerFiles: w.sum.ServerFiles,
		Folders: w.sum.Folders, Path: w.current})
}

// readLocal lists a local folder without following symbolic links, sorted by name.
func readLocal(dir string) ([]localEntry, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("doctor: read local folder: %w", err)
	}
	out := make([]localEntry, 0, len(des))
	for _, de := range des {
		e := localEntry{name: de.Name(), kind: de.Type() & fs.ModeType}
		if e.kind == 0 || e.kind == fs.ModeDir {
			fi, err := de.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed while we looked
			}
			if err != nil {
				return nil, fmt.Errorf("doctor: stat local file: %w", err)
			}
			e.kind = fi.Mode() & fs.ModeType
			e.size, e.mtime = fi.Size(), fi.ModTime().Unix()
		}
		out = append(out, e)
	}
	return out, nil
}

// pairUp matches local and server items by name, comparing names in NFC (the server
// stores NFC; a Mac writes NFD), sorted by that name.
func pairUp(locals []localEntry, remotes []remoteEntry) []pair {
	out := make([]pair, 0, max(len(locals), len(remotes)))
	idx := make(map[string]int, len(remotes))
	for i := range remotes {
		idx[nfc(remotes[i].name)] = len(out)
		out = append(out, pair{name: remotes[i].name, server: &remotes[i]})
	}
	for i := range locals {
		if j, ok := idx[nfc(locals[i].name)]; ok && out[j].local == nil {
			out[j].local = &locals[i]
			continue
		}
		out = append(out, pair{name: locals[i].name, local: &locals[i]})
	}
	slices.SortFunc(out, func(a, b pair) int { return cmp.Compare(a.name, b.name) })
	return out
}

func nfc(s string) string {
	if norm.NFC.IsNormalString(s) {
		return s
	}
	return norm.NFC.String(s)
}

func joinRel(dir, name string) string {
	if dir == "" {
		return name
	}
	if name == "" {
		return dir
	}
	return dir + "/" + name
}
