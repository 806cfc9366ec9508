package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ncvfs/ncvfs/cache"
	"github.com/ncvfs/ncvfs/fusefs"
	"github.com/ncvfs/ncvfs/hydrate"
	"github.com/ncvfs/ncvfs/internal/control"
)

// pins acts on pins, whichever way they are set (setfattr or the CLI): it hydrates
// what is pinned alwayslocal, frees what is pinned onlineonly, and answers the
// control socket's pin, unpin and free. Its fields are set before the mount serves.
type pins struct {
	store   *cache.Store
	fetcher *hydrate.Fetcher
	pinner  *hydrate.Pinner
	budget  *hydrate.Budget
	fsys    *fusefs.FS
	log     *slog.Logger
}

// set gives id a pin of its own (PinInherit removes it) and acts on what now applies.
// An alwayslocal pin whose content cannot fit is refused (a *noRoomError), whether it
// comes from setfattr or the CLI.
func (p *pins) set(id uint64, pin cache.Pin) error {
	if pin == cache.PinAlwaysLocal {
		it, err := p.store.Get(id)
		if err != nil {
			return err
		}
		if err := p.checkRoom(&it); err != nil {
			return err
		}
	}
	if err := p.store.SetPin(id, pin); err != nil {
		return err
	}
	_, eff, err := p.store.PinOf(id)
	if err != nil {
		return err
	}
	switch eff {
	case cache.PinAlwaysLocal:
		p.pinner.Hydrate(id)
	case cache.PinOnlineOnly:
		go p.free(id, time.Time{}) // what is open or dirty is dropped once closed and clean
	}
	return nil
}

// onListing hydrates what a listing found new in a folder pinned alwayslocal.
func (p *pins) onListing(dirID uint64, d cache.Diff) {
	if len(d.Added)+len(d.Changed) == 0 {
		return
	}
	if _, eff, err := p.store.PinOf(dirID); err == nil && eff == cache.PinAlwaysLocal {
		p.pinner.Hydrate(dirID)
	}
}

// onIdle drops the content of a file pinned onlineonly once its last reader is gone.
func (p *pins) onIdle(id uint64) {
	_, eff, err := p.store.PinOf(id)
	if err != nil || eff != cache.PinOnlineOnly {
		return
	}
	go func() {
		if it, err := p.store.Get(id); err == nil && it.LocalBytes > 0 && !it.Local.HasLocalContent() {
			if err := p.fetcher.Evict(id); err == nil {
				p.fsys.OnVersionChange(id, false)
			}
		}
	}()
}

// treeStats says how much of a subtree is here, from the cache (nothing is listed).
type treeStats struct {
	files, localFiles int
	bytes, localBytes int64
}

// walk visits the files below id (id itself if it is a file) as far as the cache
// knows them; skip says which folders and files below id to leave out.
func (p *pins) walk(id uint64, skip func(it *cache.Item) bool, visit func(it *cache.Item) error) error {
	it, err := p.store.Get(id)
	if err != nil {
		return err
	}
	return p.walkItem(&it, skip, visit, 0)
}

func (p *pins) walkItem(it *cache.Item, skip func(it *cache.Item) bool, visit func(it *cache.Item) error, depth int) error {
	if !it.IsDir {
		return visit(it)
	}
	if depth > 4096 {
		return errors.New("folders nested too deep")
	}
	children, err := p.store.Children(it.ID)
	if err != nil {
		return err
	}
	for i := range children {
		c := &children[i]
		if skip != nil && skip(c) {
			continue
		}
		if err := p.walkItem(c, skip, visit, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func isLocal(it *cache.Item) bool {
	return it.Content == cache.ContentLocal || it.Local.HasLocalContent()
}

// stats counts a subtree; with pinnedOnly, only what the pin of id reaches (items
// with a pin of their own are left out).
func (p *pins) stats(id uint64, pinnedOnly bool) (treeStats, error) {
	var st treeStats
	var skip func(it *cache.Item) bool
	if pinnedOnly {
		skip = func(it *cache.Item) bool {
			own, _, err := p.store.PinOf(it.ID)
			return err != nil || own != cache.PinInherit
		}
	}
	err := p.walk(id, skip, func(it *cache.Item) error {
		st.files++
		st.bytes += max(it.VisibleSize(), 0)
		if isLocal(it) {
			st.localFiles++
		}
		st.localBytes += it.LocalBytes
		return nil
	})
	return st, err
}

// pinned counts everything pinned alwayslocal.
func (p *pins) pinned() (treeStats, error) {
	var total treeStats
	all, err := p.store.Pins()
	if err != nil {
		return total, err
	}
	for id, pin := range all {
		if pin != cache.PinAlwaysLocal {
			continue
		}
		st, err := p.stats(id, true)
		if errors.Is(err, cache.ErrNotFound) {
			continue
		}
		if err != nil {
			return total, err
		}
		total.files += st.files
		total.localFiles += st.localFiles
		total.bytes += st.bytes
		total.localBytes += st.localBytes
	}
	return total, nil
}

// checkRoom refuses a pin whose content cannot fit: in the budget beside what is
// pinned already, and on the disk (keeping MinFree) once unpinned content is evicted.
func (p *pins) checkRoom(it *cache.Item) error {
	if _, eff, err := p.store.PinOf(it.ID); err != nil {
		return err
	} else if eff == cache.PinAlwaysLocal {
		return nil // already counted among the pins
	}
	below, err := p.stats(it.ID, false)
	if err != nil {
		return fmt.Errorf("measure %s: %w", it.Name, err)
	}
	size := below.bytes
	if it.IsDir && it.Size > size {
		size = it.Size // oc:size covers the folders not listed yet
	}
	need := max(size-below.localBytes, 0)
	if need == 0 {
		return nil
	}
	already, err := p.pinned()
	if err != nil {
		return err
	}
	used, _, err := p.store.ContentUsage()
	if err != nil {
		return err
	}
	budgetRoom := p.budget.MaxBytes - already.bytes
	var sfs unix.Statfs_t
	if err := unix.Statfs(p.store.ContentDir(), &sfs); err != nil {
		return fmt.Errorf("free space of the cache's disk: %w", err)
	}
	free := int64(sfs.Bavail) * sfs.Bsize
	// Unpinned content can be evicted; pinned content still to come will take room.
	diskRoom := free - p.budget.MinFree + (used - already.localBytes) - (already.bytes - already.localBytes)
	room := min(budgetRoom, diskRoom)
	if need <= room {
		return nil
	}
	missing := need - max(room, 0)
	p.log.Warn("pin refused: its content cannot fit", "op", "pin", "path", orRoot(p.pathOf(it.ID)), "fileid", it.ID,
		"need", need, "room", max(room, 0), "missing", missing, "cache_budget", p.budget.MaxBytes,
		"pinned", already.bytes, "disk_free", free, "min_free", p.budget.MinFree)
	return &noRoomError{fmt.Sprintf("cannot pin %s: it needs %s more here, but only %s fits (cache budget %s with %s pinned already; %s free on the cache's disk, keeping %s free): %s missing; raise --cache-size, free disk space or pin less",
		orRoot(it.Name), bytesText(need), bytesText(max(room, 0)), bytesText(p.budget.MaxBytes), bytesText(already.bytes),
		bytesText(free), bytesText(p.budget.MinFree), bytesText(missing))}
}

// noRoomError is a pin refused for want of room. It is ENOSPC, which setfattr shows
// as "No space left on device"; the CLI shows the sentence.
type noRoomError struct{ msg string }

func (e *noRoomError) Error() string        { return e.msg }
func (e *noRoomError) Is(target error) bool { return target == syscall.ENOSPC }

func orRoot(name string) string {
	if name == "" {
		return "the whole mount"
	}
	return name
}

// bytesText is an exact count with a readable size beside it.
func bytesText(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f, u := float64(n), 0
	for f >= 1024 && u < len(units)-1 {
		f /= 1024
		u++
	}
	if u == 0 {
		return fmt.Sprintf("%d B", n)
	}
	return fmt.Sprintf("%.1f %s (%d bytes)", f, units[u], n)
}

// free drops the content of the clean, closed files below id that no pin keeps, and
// used before cutoff (zero: any); the rest is reported.
func (p *pins) free(id uint64, cutoff time.Time) (control.FreeResult, error) {
	res := control.FreeResult{Skipped: []control.Skipped{}}
	skipPinned := func(it *cache.Item) bool {
		own, _, err := p.store.PinOf(it.ID)
		if err == nil && own == cache.PinAlwaysLocal {
			res.Skipped = append(res.Skipped, control.Skipped{Path: p.pathOf(it.ID), Reason: "pinned alwayslocal (ncvfs unpin it first)"})
			return true
		}
		return false
	}
	if _, eff, err := p.store.PinOf(id); err != nil {
		return res, err
	} else if eff == cache.PinAlwaysLocal {
		res.Skipped = append(res.Skipped, control.Skipped{Path: p.pathOf(id), Reason: "pinned alwayslocal (ncvfs unpin it first)"})
		return res, nil
	}
	err := p.walk(id, skipPinned, func(it *cache.Item) error {
		switch {
		case it.Local.HasLocalContent() || it.Content == cache.ContentDirty:
			res.Skipped = append(res.Skipped, control.Skipped{Path: p.pathOf(it.ID), Reason: "changed here and not uploaded yet"})
			return nil
		case it.LocalBytes == 0:
			return nil // nothing here to free (an empty file stays local)
		}
		if !cutoff.IsZero() {
			if c, ok, err := p.store.Content(it.ID); err == nil && ok && c.LastUse.After(cutoff) {
				return nil
			}
		}
		switch err := p.fetcher.Evict(it.ID); {
		case errors.Is(err, hydrate.ErrBusy):
			res.Skipped = append(res.Skipped, control.Skipped{Path: p.pathOf(it.ID), Reason: "open, or being downloaded"})
		case errors.Is(err, cache.ErrDirty):
			res.Skipped = append(res.Skipped, control.Skipped{Path: p.pathOf(it.ID), Reason: "changed here and not uploaded yet"})
		case err != nil:
			return fmt.Errorf("free %s: %w", p.pathOf(it.ID), err)
		default:
			res.FreedFiles++
			res.FreedBytes += it.LocalBytes
			p.fsys.OnVersionChange(it.ID, false) // the kernel's pages go too: the next read downloads
		}
		return nil
	})
	return res, err
}

func (p *pins) pathOf(id uint64) string {
	if path, err := p.store.Path(id); err == nil {
		return path
	}
	return fmt.Sprintf("(item %d)", id)
}

// Control socket handlers.

// pinProgressEvery is how often pin --wait reports.
const pinProgressEvery = 500 * time.Millisecond

func (s *Session) ctlPin(ctx context.Context, req control.Request, progress func(any) error) (any, error) {
	var args control.PinArgs
	if len(req.Args) > 0 {
		if err := json.Unmarshal(req.Args, &args); err != nil {
			return nil, fmt.Errorf("malformed pin arguments: %v", err)
		}
	}
	it, err := s.lookup(req.Path)
	if err != nil {
		return nil, err
	}
	if err := s.pins.set(it.ID, cache.PinAlwaysLocal); err != nil {
		var full *noRoomError
		if errors.As(err, &full) {
			return nil, err // a sentence of its own, naming the path
		}
		return nil, fmt.Errorf("pin %s: %w", req.Path, err)
	}
	report := func() (control.PinProgress, error) {
		st, err := s.pins.stats(it.ID, false)
		if err != nil {
			return control.PinProgress{}, fmt.Errorf("measure %s: %w", req.Path, err)
		}
		pr := control.PinProgress{Path: req.Path, Files: st.files, LocalFiles: st.localFiles,
			Bytes: st.bytes, LocalBytes: st.localBytes}
		pr.Done = st.localFiles == st.files && s.pins.pinner.Idle()
		if e := s.pins.pinner.LastError(); e != nil {
			pr.LastError = e.Error()
		}
		return pr, nil
	}
	if !args.Wait {
		return report()
	}
	tick := time.NewTicker(pinProgressEvery)
	defer tick.Stop()
	idleTicks := 0
	for {
		changed := s.pins.pinner.Changed()
		pr, err := report()
		if err != nil || pr.Done {
			return pr, err
		}
		if s.pins.pinner.Idle() {
			// Downloads ended; their records may still be on their way. A failure ends
			// the wait once nothing moves for a while.
			idleTicks++
			if pr.LastError != "" && idleTicks > 10 {
				return nil, fmt.Errorf("%d of %d files below %s are not local: %s", pr.Files-pr.LocalFiles, pr.Files, orRoot(req.Path), pr.LastError)
			}
			if idleTicks%4 == 0 {
				s.pins.pinner.Hydrate(it.ID)
			}
		} else {
			idleTicks = 0
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
			if err := progress(pr); err != nil {
				s.log.Debug("pin: progress not delivered", "op", "control", "err", err)
			}
		case <-changed:
		}
	}
}

func (s *Session) ctlUnpin(ctx context.Context, req control.Request, _ func(any) error) (any, error) {
	it, err := s.lookup(req.Path)
	if err != nil {
		return nil, err
	}
	if err := s.pins.set(it.ID, cache.PinInherit); err != nil {
		return nil, fmt.Errorf("unpin %s: %w", req.Path, err)
	}
	// Still kept by a folder above: a pin of its own says the cache decides.
	if _, eff, err := s.Store.PinOf(it.ID); err == nil && eff == cache.PinAlwaysLocal {
		if err := s.pins.set(it.ID, cache.PinUnspecified); err != nil {
			return nil, fmt.Errorf("unpin %s: %w", req.Path, err)
		}
	}
	if it, err = s.Store.Get(it.ID); err != nil {
		return nil, fmt.Errorf("unpin %s: %w", req.Path, err)
	}
	return s.itemStatus(req.Path, &it, s.uploaderStatus()), ctx.Err()
}

func (s *Session) ctlFree(ctx context.Context, req control.Request, _ func(any) error) (any, error) {
	var args control.FreeArgs
	if len(req.Args) > 0 {
		if err := json.Unmarshal(req.Args, &args); err != nil {
			return nil, fmt.Errorf("malformed free arguments: %v", err)
		}
	}
	var cutoff time.Time
	if args.OlderThan != "" {
		d, err := time.ParseDuration(args.OlderThan)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("--older-than %q: want a positive duration such as 720h", args.OlderThan)
		}
		cutoff = time.Now().Add(-d)
	}
	it, err := s.lookup(req.Path)
	if err != nil {
		return nil, err
	}
	res, err := s.pins.free(it.ID, cutoff)
	if err != nil {
		return nil, err
	}
	return res, ctx.Err()
}
