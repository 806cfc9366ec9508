package session

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/ncvfs/ncvfs/cache"
	"github.com/ncvfs/ncvfs/hydrate"
	"github.com/ncvfs/ncvfs/internal/control"
)

// The control socket's operations: what `ncvfs status`, `flush` and `conflicts` ask a
// running mount. They read the store and the uploader; none of them touches the mount
// itself (the serving process must never do that).

// flushProgressEvery is how often a flush reports what is left.
const flushProgressEvery = 500 * time.Millisecond

// startControl serves the control socket. A failure costs the CLI commands, not the
// mount: it is logged and the mount goes on.
func (s *Session) startControl() {
	if s.canonMP == "" {
		s.log.Warn("no control socket: the mount point's path is unknown", "op", "control")
		return
	}
	sock, err := control.ServerSocket(s.canonMP)
	if err == nil {
		s.ctl, err = control.Listen(sock, s.controlHandlers(), s.log)
	}
	if err != nil {
		s.log.Warn("no control socket: ncvfs status, flush and conflicts will not reach this mount",
			"op", "control", "err", err)
		return
	}
	s.log.Debug("control socket", "op", "control", "path", sock)
}

// controlHandlers maps each operation to its handler; a new operation is one more
// entry here (and its types in package control).
func (s *Session) controlHandlers() map[string]control.Handler {
	return map[string]control.Handler{
		control.OpStatus:    s.ctlStatus,
		control.OpFlush:     s.ctlFlush,
		control.OpConflicts: s.ctlConflicts,
		control.OpPin:       s.ctlPin,
		control.OpUnpin:     s.ctlUnpin,
		control.OpFree:      s.ctlFree,
	}
}

// stopControl closes the socket and waits for the operations in progress; the store
// must still be open.
func (s *Session) stopControl() {
	if s.ctl == nil {
		return
	}
	if err := s.ctl.Close(); err != nil {
		s.log.Warn("control socket", "op", "control", "err", err)
	}
	s.ctl = nil
}

// itemState names an item's state for status. A change's own state (conflict copy,
// refused, in flight, waiting) wins over how much of the content is here.
func itemState(it *cache.Item, up hydrate.UploaderStatus) string {
	f := it.Local.Flags
	switch {
	case f&cache.LocalConflict != 0:
		return control.StateConflict
	case it.Local.Error != "":
		return control.StateError
	case up.Uploading(it.ID):
		return control.StateUploading
	case f&cache.LocalOnly == 0 && f&(cache.LocalCreated|cache.LocalDirty|cache.LocalMoved|cache.LocalDeleted) != 0:
		return control.StateDirty
	case f&cache.LocalOnly != 0:
		return control.StateLocal // an excluded name: all of it is here, and only here
	}
	switch it.Content {
	case cache.ContentPartial:
		return control.StatePartial
	case cache.ContentLocal:
		return control.StateLocal
	case cache.ContentDirty:
		return control.StateDirty
	}
	return control.StateOnline
}

func (s *Session) uploaderStatus() hydrate.UploaderStatus {
	if s.Uploader == nil {
		return hydrate.UploaderStatus{}
	}
	return s.Uploader.Status()
}

// lookup finds the item at a path relative to the mount root, from the cache.
func (s *Session) lookup(rel string) (cache.Item, error) {
	it, err := s.Store.LookupPath(s.rootID, rel)
	if errors.Is(err, cache.ErrNotFound) {
		return cache.Item{}, fmt.Errorf("%s is not known to the mount (list its folder first)", rel)
	}
	if err != nil {
		return cache.Item{}, fmt.Errorf("look up %s: %w", rel, err)
	}
	return it, nil
}

func (s *Session) ctlStatus(ctx context.Context, req control.Request, _ func(any) error) (any, error) {
	st := control.Status{
		ServerURL: s.url, User: s.user, Dialect: s.Info.Dialect.String(), MountPoint: s.canonMP,
		ReadOnly: s.Uploader == nil, UploadErrors: []control.UploadError{},
		CacheBudgetBytes: s.Budget.MaxBytes, MinFreeBytes: s.Budget.MinFree,
		Connection: "online",
	}
	if since, off := s.Online.OfflineSince(); off {
		st.Connection, st.OfflineSince = "offline", &since
	}
	var err error
	if st.Items, err = s.Store.Count(); err != nil {
		return nil, fmt.Errorf("count the items: %w", err)
	}
	if st.CacheBytes, st.CacheFiles, err = s.Store.ContentUsage(); err != nil {
		return nil, fmt.Errorf("read the cache usage: %w", err)
	}
	if st.UploadQueue, err = s.Store.QueueLen(); err != nil {
		return nil, fmt.Errorf("read the upload queue: %w", err)
	}
	up := s.uploaderStatus()
	if up.LastError != nil {
		st.LastUploadError = up.LastError.Error()
	}
	locals, err := s.Store.LocalItems()
	if err != nil {
		return nil, fmt.Errorf("read the local changes: %w", err)
	}
	for i := range locals {
		it := &locals[i]
		switch itemState(it, up) {
		case control.StateConflict:
			st.Conflicts++
		case control.StateError:
			st.UploadErrors = append(st.UploadErrors, control.UploadError{Path: s.pathOf(it.ID), Error: it.Local.Error})
		case control.StateUploading:
			st.Uploading++
		case control.StateDirty:
			st.Dirty++
		}
	}
	slices.SortFunc(st.UploadErrors, func(a, b control.UploadError) int { return cmp.Compare(a.Path, b.Path) })
	pinned, err := s.pins.pinned()
	if err != nil {
		return nil, fmt.Errorf("count the pinned files: %w", err)
	}
	st.PinnedFiles, st.PinnedBytes, st.PinnedLocalBytes = pinned.files, pinned.bytes, pinned.localBytes
	if req.Path != "" {
		it, err := s.lookup(req.Path)
		if err != nil {
			return nil, err
		}
		st.Item = s.itemStatus(req.Path, &it, up)
	}
	return st, ctx.Err()
}

// itemStatus is what status says of one item.
func (s *Session) itemStatus(rel string, it *cache.Item, up hydrate.UploaderStatus) *control.ItemStatus {
	is := &control.ItemStatus{Path: rel, Kind: "file", State: itemState(it, up),
		Size: it.VisibleSize(), LocalBytes: it.LocalBytes, Error: it.Local.Error,
		LocalOnly: it.Local.Flags&cache.LocalOnly != 0}
	if it.IsDir {
		is.Kind, is.Size = "folder", 0
	}
	if it.Local.HasLocalContent() {
		is.LocalBytes = it.Local.Size
	}
	if (is.State == control.StateOnline || is.State == control.StatePartial) && s.Fetcher.Hydrating(it.ID) {
		is.State = control.StateHydrating
	}
	if own, eff, err := s.Store.PinOf(it.ID); err == nil {
		is.Pin, is.PinInherited = eff.String(), own == cache.PinInherit
	}
	return is
}

// pathOf is an item's path for a message; its id when the path cannot be told.
func (s *Session) pathOf(id uint64) string {
	p, err := s.Store.Path(id)
	if err != nil {
		return fmt.Sprintf("(item %d)", id)
	}
	return p
}

func (s *Session) ctlFlush(ctx context.Context, req control.Request, progress func(any) error) (any, error) {
	if s.Uploader == nil {
		return control.FlushResult{ReadOnly: true, Refused: []control.UploadError{}}, nil
	}
	var args control.FlushArgs
	if len(req.Args) > 0 {
		if err := json.Unmarshal(req.Args, &args); err != nil {
			return nil, fmt.Errorf("malformed flush arguments: %v", err)
		}
	}
	fctx := ctx
	var timeout time.Duration
	if args.Timeout != "" {
		var err error
		if timeout, err = time.ParseDuration(args.Timeout); err != nil || timeout <= 0 {
			return nil, fmt.Errorf("flush timeout %q: want a positive duration such as 90s", args.Timeout)
		}
		var cancel context.CancelFunc
		fctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	s.Uploader.RetryNow()
	done := make(chan error, 1)
	go func() { done <- s.Uploader.Flush(fctx) }()
	tick := time.NewTicker(flushProgressEvery)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				return nil, s.flushError(ctx, fctx, timeout)
			}
			return s.flushResult()
		case <-tick.C:
			if err := progress(s.flushProgress()); err != nil {
				// The client went away; ctx ends with it and the flush too.
				s.log.Debug("flush: progress not delivered", "op", "control", "err", err)
			}
		}
	}
}

func (s *Session) flushProgress() control.FlushProgress {
	var p control.FlushProgress
	p.Queued, _ = s.Store.QueueLen()
	up := s.Uploader.Status()
	if len(up.InFlight) > 0 {
		p.Uploading = s.pathOf(up.InFlight[0])
	}
	if up.LastError != nil {
		p.LastError = up.LastError.Error()
	}
	return p
}

// flushError says why a flush ended with work left.
func (s *Session) flushError(ctx, fctx context.Context, timeout time.Duration) error {
	n, _ := s.Store.QueueLen()
	up := s.Uploader.Status()
	last := ""
	if up.LastError != nil {
		last = "; last upload error: " + up.LastError.Error()
	}
	switch {
	case ctx.Err() != nil:
		// The client left, or the mount is being unmounted.
		return fmt.Errorf("flush stopped with %s left (uploaded at the next mount if it is unmounted now)%s", changes(n), last)
	case up.Stopped:
		return fmt.Errorf("the uploader stopped with %s left; they are uploaded at the next mount%s", changes(n), last)
	case fctx.Err() != nil:
		if last == "" {
			last = "; no upload failed: a file may still be open for writing"
		}
		return fmt.Errorf("%s not uploaded after %s%s", changes(n), timeout, last)
	}
	return fmt.Errorf("%s not uploaded%s", changes(n), last)
}

func changes(n int) string {
	if n == 1 {
		return "1 change"
	}
	return fmt.Sprintf("%d changes", n)
}

// flushResult lists the changes the server refused, which stay here: with any, the
// flush did not put everything on the server.
func (s *Session) flushResult() (control.FlushResult, error) {
	res := control.FlushResult{Refused: []control.UploadError{}}
	locals, err := s.Store.LocalItems()
	if err != nil {
		return res, fmt.Errorf("read the local changes: %w", err)
	}
	for i := range locals {
		it := &locals[i]
		if it.Local.Error != "" && it.Local.Flags&cache.LocalConflict == 0 {
			res.Refused = append(res.Refused, control.UploadError{Path: s.pathOf(it.ID), Error: it.Local.Error})
		}
	}
	slices.SortFunc(res.Refused, func(a, b control.UploadError) int { return cmp.Compare(a.Path, b.Path) })
	return res, nil
}

func (s *Session) ctlConflicts(ctx context.Context, req control.Request, _ func(any) error) (any, error) {
	if req.Path != "" {
		if _, err := s.lookup(req.Path); err != nil {
			return nil, err
		}
	}
	locals, err := s.Store.LocalItems()
	if err != nil {
		return nil, fmt.Errorf("read the local changes: %w", err)
	}
	out := control.ConflictsReply{Conflicts: []control.Conflict{}}
	for i := range locals {
		it := &locals[i]
		if it.Local.Flags&cache.LocalConflict == 0 || it.Local.Flags&cache.LocalDeleted != 0 {
			continue
		}
		p, err := s.Store.Path(it.ID)
		if err != nil {
			continue // not in the tree (removed meanwhile)
		}
		if req.Path != "" && p != req.Path && !strings.HasPrefix(p, req.Path+"/") {
			continue
		}
		c := control.Conflict{Path: p, Size: it.VisibleSize(), When: it.VisibleMTime()}
		if orig, at, ok := hydrate.ParseConflictName(it.Name); ok {
			c.Original, c.When = path.Join(path.Dir(p), orig), at
			_, lerr := s.Store.Lookup(it.Parent, orig)
			c.OriginalExists = lerr == nil
		}
		out.Conflicts = append(out.Conflicts, c)
	}
	slices.SortFunc(out.Conflicts, func(a, b control.Conflict) int { return cmp.Compare(a.Path, b.Path) })
	return out, ctx.Err()
}
