package cache

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrBadListing: a listing that would corrupt the tree (bad or duplicate names, ids
// that make a cycle). Nothing of it is stored.
var ErrBadListing = errors.New("cache: invalid listing")

// ErrStaleListing: the folder changed here after the listing was asked for; nothing of
// it is stored (ask again).
var ErrStaleListing = errors.New("cache: listing older than a change made here")

// ApplyListing stores one folder's Depth-1 answer in one transaction: the folder's
// remote fields (its ETag becomes ListedETag too), new, changed, moved and removed
// children. Unchanged children are not rewritten. See Listing for the id rules.
// Content of a file whose ETag or size changed is dropped (Diff.ContentDropped), and so
// is that of removed items; their files go after the commit.
func (s *Store) ApplyListing(l Listing) (Diff, error) {
	order, err := sortedChildren(l.Children)
	if err != nil {
		return Diff{}, fmt.Errorf("cache: listing of %d: %w", l.Dir.ID, err)
	}
	var diff Diff
	err = s.update(func(t *txn) error {
		r, err := t.placeListing(&l, order)
		if err != nil {
			return err
		}
		diff, err = r.finish()
		return err
	})
	if err != nil {
		return Diff{}, fmt.Errorf("cache: listing of %d: %w", l.Dir.ID, err)
	}
	return diff, nil
}

// ApplyListings applies several folder listings in one transaction: one commit (and one
// pair of fsyncs) for a group of folders listed in the background or by one pass of the
// change poller. If any listing is rejected, nothing is written and the error names it.
//
// Every listing is placed before any of them removes anything: an item that left one
// folder of the group for another (moved on the server) is moved with its content,
// whichever of the two folders comes first, instead of being removed and then found
// again as a new item whose content must be downloaded again.
func (s *Store) ApplyListings(ls []Listing) ([]Diff, error) {
	orders := make([][]*Item, len(ls))
	for i := range ls {
		order, err := sortedChildren(ls[i].Children)
		if err != nil {
			return nil, fmt.Errorf("cache: listing of %d: %w", ls[i].Dir.ID, err)
		}
		orders[i] = order
	}
	diffs := make([]Diff, len(ls))
	err := s.update(func(t *txn) error {
		runs := make([]*listingRun, len(ls))
		for i := range ls {
			r, err := t.placeListing(&ls[i], orders[i])
			if err != nil {
				return fmt.Errorf("listing of %d: %w", ls[i].Dir.ID, err)
			}
			runs[i] = r
		}
		for i, r := range runs {
			d, err := r.finish()
			if err != nil {
				return fmt.Errorf("listing of %d: %w", ls[i].Dir.ID, err)
			}
			diffs[i] = d
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	return diffs, nil
}

// sortedChildren checks the children's names and returns them in name-byte order.
func sortedChildren(children []Item) ([]*Item, error) {
	order := make([]*Item, len(children))
	for i := range children {
		c := &children[i]
		if err := checkName(c.Name); err != nil {
			return nil, err
		}
		order[i] = c
	}
	byName := func(a, b *Item) int { return strings.Compare(a.Name, b.Name) }
	if !slices.IsSortedFunc(order, byName) {
		slices.SortFunc(order, byName)
	}
	for i := 1; i < len(order); i++ {
		if order[i].Name == order[i-1].Name {
			return nil, fmt.Errorf("%w: name %q listed twice", ErrBadListing, order[i].Name)
		}
	}
	return order, nil
}

// maxNameBytes is far above any file system's name limit (255 bytes on Linux) yet
// keeps children-index keys well inside bbolt's key limit.
const maxNameBytes = 4096

func checkName(name string) error {
	switch {
	case len(name) > maxNameBytes:
		return fmt.Errorf("%w: name of %d bytes", ErrBadListing, len(name))
	case name == "":
		return fmt.Errorf("%w: empty name", ErrBadListing)
	case name == "." || name == "..":
		return fmt.Errorf("%w: name %q", ErrBadListing, name)
	case strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("%w: name %q contains a slash or NUL", ErrBadListing, name)
	}
	return nil
}

// listingRun is the state of one ApplyListing transaction.
type listingRun struct {
	t       *txn
	dirID   uint64
	claimed map[uint64]struct{} // server ids present in the listing
	diff    Diff
	// stale holds index entries whose item no longer has its name here, and dropBelow
	// the folders that became files. Both are removed after every listed child is in
	// place, so an item moved out of a doomed subtree is detached before it goes.
	stale     []childLink
	dropBelow []uint64
	// puts holds the children's new records, written in id order at the end: bbolt
	// inserts into an in-memory node, and ids arriving in random order would make
	// each insert shift the rest (quadratic on a 5,000-entry folder).
	puts []Item
}

// placeListing puts a listing's children in place (new, changed, moved in) and notes
// what it no longer has; finish then removes that.
func (t *txn) placeListing(l *Listing, order []*Item) (*listingRun, error) {
	t.listing = true
	// Checked in the writer's lock: the changes made here commit in it too.
	if l.CheckLocal && t.s.FolderSeq(l.Dir.ID) != l.LocalSeq {
		return nil, ErrStaleListing
	}
	if !l.Dir.IsDir {
		return nil, fmt.Errorf("%w: %d is not a folder", ErrBadListing, l.Dir.ID)
	}
	dir, ok, err := t.getItem(l.Dir.ID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrNotFound
	}
	claimed, err := t.checkIDs(dir.ID, order)
	if err != nil {
		return nil, err
	}
	if err := t.updateListedDir(dir, l.Dir); err != nil {
		return nil, err
	}
	existing, err := t.links(dir.ID)
	if err != nil {
		return nil, err
	}

	r := &listingRun{t: t, dirID: dir.ID, claimed: claimed, puts: make([]Item, 0, len(order))}
	if len(existing) == 0 {
		r.diff.Added = make([]string, 0, len(order)) // a first listing: every name is new
	}
	// Merge the two name-sorted sequences.
	j := 0
	for _, c := range order {
		for j < len(existing) && existing[j].name < c.Name {
			if err := r.gone(existing[j]); err != nil {
				return nil, err
			}
			j++
		}
		var prev *childLink
		if j < len(existing) && existing[j].name == c.Name {
			prev = &existing[j]
			j++
		}
		id, err := r.applyChild(c, prev)
		if err != nil {
			return nil, err
		}
		if prev != nil && prev.id != id {
			r.stale = append(r.stale, *prev)
		}
	}
	for ; j < len(existing); j++ {
		if err := r.gone(existing[j]); err != nil {
			return nil, err
		}
	}

	// Sort indices, not the records: moving 5,000 records of ~200 bytes costs more
	// than the inserts it saves.
	byID := make([]int32, len(r.puts))
	for i := range byID {
		byID[i] = int32(i)
	}
	slices.SortFunc(byID, func(a, b int32) int { return cmp.Compare(r.puts[a].ID, r.puts[b].ID) })
	for _, i := range byID {
		if err := t.putItem(&r.puts[i]); err != nil {
			return nil, err
		}
	}

	return r, nil
}

// finish removes what the listing no longer has: subtrees of folders that became files,
// and stale names, unless the item now lives elsewhere (moved by a listing placed
// since, in the same transaction).
func (r *listingRun) finish() (Diff, error) {
	t, dirID := r.t, r.dirID
	for _, id := range r.dropBelow {
		if err := t.removeDescendants(id); err != nil {
			return Diff{}, err
		}
	}
	for _, st := range r.stale {
		if _, ok := r.claimed[st.id]; ok {
			continue // moved to another name of this listing
		}
		if err := t.removeStale(dirID, st); err != nil {
			return Diff{}, err
		}
	}
	slices.Sort(r.diff.ContentDropped)
	return r.diff, nil
}

// gone notes an existing name the listing no longer has. An item with local changes
// stays: made here and not uploaded yet, moved here, or changed here (when the server
// removed it meanwhile, its upload finds out and keeps it as a conflict copy).
func (r *listingRun) gone(l childLink) error {
	it, ok, err := r.t.getItem(l.id)
	if err != nil {
		return err
	}
	if ok && it.Local.Pending() {
		return nil
	}
	r.stale = append(r.stale, l)
	r.diff.Removed = append(r.diff.Removed, l.name)
	return nil
}

// checkIDs returns the set of server ids in the listing, refusing duplicates, ids
// that would make a folder its own ancestor, and unknown ids in the local range.
func (t *txn) checkIDs(dirID uint64, order []*Item) (map[uint64]struct{}, error) {
	claimed := make(map[uint64]struct{}, len(order))
	// Items made here keep their local id after their upload: the server's file id of
	// such an item is an alias of it. Checked only when there are aliases at all.
	aliases := t.aliases()
	hasAliases := aliases != nil && aliases.Stats().KeyN > 0
	for i, c := range order {
		if c.ID == 0 {
			continue
		}
		if _, dup := claimed[c.ID]; dup {
			return nil, fmt.Errorf("%w: file id %d listed twice", ErrBadListing, c.ID)
		}
		if c.ID >= localIDBase && !t.hasItem(c.ID) {
			return nil, fmt.Errorf("%w: file id %d is in the locally allocated range", ErrBadListing, c.ID)
		}
		if id := c.ID; hasAliases {
			if local := t.resolveServerID(id); local != id {
				// A copy: the caller's items may be read by others (a listing handed
				// to readdir while it is committed).
				alias := *c
				alias.ID = local
				order[i] = &alias
			}
		}
		claimed[order[i].ID] = struct{}{}
	}
	ancestors, err := t.ancestors(dirID)
	if err != nil {
		return nil, err
	}
	for _, a := range ancestors {
		if _, ok := claimed[a]; ok {
			return nil, fmt.Errorf("%w: child id %d is the folder itself or one of its ancestors", ErrBadListing, a)
		}
	}
	return claimed, nil
}

// updateListedDir stores the folder's new remote fields and marks its listing current.
func (t *txn) updateListedDir(dir, remote Item) error {
	var next Item
	if dir.IsDir {
		next = mergeRemote(dir, remote)
	} else {
		next = freshRemote(remote)
		next.ID, next.Parent, next.Name = dir.ID, dir.Parent, dir.Name
	}
	next.ListedETag = remote.ETag
	if _, err := t.dropStaleContent(dir, &next); err != nil {
		return err
	}
	if sameRemote(dir, next) {
		return nil
	}
	return t.putItem(&next)
}

// applyChild stores one listed child in folder dirID, given the index entry that held
// its name before (nil if none), and returns the id it now has. A child that local
// changes hide is skipped, and the name keeps its holder (see skipForLocal).
func (r *listingRun) applyChild(c *Item, prev *childLink) (uint64, error) {
	t := r.t
	if skip, err := r.skipForLocal(c, prev); err != nil || skip {
		if prev != nil {
			return prev.id, err
		}
		return 0, err
	}
	if c.ID == 0 && prev != nil {
		if _, taken := r.claimed[prev.id]; !taken {
			old, ok, err := t.getItem(prev.id)
			if err != nil {
				return 0, err
			}
			if ok && old.IsDir == c.IsDir {
				return prev.id, r.refreshChild(old, c, prev)
			}
		}
	}
	if c.ID != 0 {
		old, ok, err := t.getItem(c.ID)
		if err != nil {
			return 0, err
		}
		if ok {
			return c.ID, r.refreshChild(old, c, prev)
		}
	}
	id := c.ID
	if id == 0 {
		var err error
		if id, err = t.allocID(); err != nil {
			return 0, err
		}
	}
	next := freshRemote(*c)
	next.ID, next.Parent, next.Name = id, r.dirID, c.Name
	if err := t.adoptKeptContent(&next); err != nil {
		return 0, err
	}
	r.puts = append(r.puts, next)
	if err := t.putLink(r.dirID, c.Name, id); err != nil {
		return 0, err
	}
	r.noteName(c.Name, prev, id, false)
	return id, nil
}

// skipForLocal reports whether a listed child must be left alone because of local
// changes: its name is held here by an item the server does not have yet (or by
// another item than the server's), or the server's item was moved or removed here
// and that is not uploaded yet. The upload resolves it (a conflict copy where both
// sides made something of the same name).
func (r *listingRun) skipForLocal(c *Item, prev *childLink) (bool, error) {
	t := r.t
	if prev != nil {
		held, ok, err := t.getItem(prev.id)
		if err != nil {
			return false, err
		}
		if ok && held.Local.Pending() {
			same := prev.id == c.ID
			if c.ID == 0 {
				// No file ids: the name is the identity where the server has the item;
				// one moved here is at its old name there still.
				same = held.Local.Flags&(LocalCreated|LocalOnly|LocalMoved) == 0 && held.IsDir == c.IsDir
			}
			if !same {
				return true, nil
			}
		}
	}
	id := c.ID
	if id == 0 {
		if prev != nil {
			return false, nil
		}
		var ok bool
		if id, ok = t.vacatedBy(r.dirID, c.Name); !ok {
			return false, nil
		}
	}
	it, ok, err := t.getItem(id)
	if err != nil || !ok {
		return false, err
	}
	return it.Local.Flags&(LocalMoved|LocalDeleted) != 0 && (prev == nil || prev.id != id), nil
}

// refreshChild updates a known item old from listed child c: its place in the folder
// (moving it if it was elsewhere) and its remote fields. A kind change drops its
// subtree (later) and its local state.
func (r *listingRun) refreshChild(old Item, c *Item, prev *childLink) error {
	t, dirID := r.t, r.dirID
	var next Item
	if old.IsDir != c.IsDir {
		r.dropBelow = append(r.dropBelow, old.ID)
		next = freshRemote(*c)
	} else {
		next = mergeRemote(old, *c)
	}
	next.ID, next.Parent, next.Name = old.ID, dirID, c.Name
	dropped, err := t.dropStaleContent(old, &next)
	if err != nil {
		return err
	}
	if dropped {
		r.diff.ContentDropped = append(r.diff.ContentDropped, old.ID)
	}
	if old.Parent != dirID || old.Name != c.Name {
		if err := t.deleteLinkIf(old.Parent, old.Name, old.ID); err != nil {
			return err
		}
		if old.Parent != dirID {
			r.diff.MovedIn = append(r.diff.MovedIn, Move{ID: old.ID, FromParent: old.Parent, FromName: old.Name})
		}
	}
	if prev == nil || prev.id != old.ID {
		if err := t.putLink(dirID, c.Name, old.ID); err != nil {
			return err
		}
	}
	if !sameRemote(old, next) {
		r.puts = append(r.puts, next)
	}
	r.noteName(c.Name, prev, old.ID, visiblyEqual(old, next))
	return nil
}

// noteName records a listed name in the diff: Added if the name is new here, Changed
// if it now names another item or the item's visible fields differ.
func (r *listingRun) noteName(name string, prev *childLink, id uint64, unchanged bool) {
	switch {
	case prev == nil:
		r.diff.Added = append(r.diff.Added, name)
	case prev.id != id || !unchanged:
		r.diff.Changed = append(r.diff.Changed, name)
	}
}

// removeStale drops an index entry of folder dirID that the listing no longer has, and
// the item with its subtree if the item still believes it lives there.
func (t *txn) removeStale(dirID uint64, st childLink) error {
	if err := t.deleteLinkIf(dirID, st.name, st.id); err != nil {
		return err
	}
	it, ok, err := t.getItem(st.id)
	if err != nil || !ok {
		return err
	}
	if it.Parent != dirID || it.Name != st.name {
		return nil // the index was stale; the item lives elsewhere
	}
	return t.removeSubtree(st.id)
}
