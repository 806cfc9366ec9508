package doctor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ncvfs/ncvfs/davclient"
)

// maxActivities bounds how far back the activity stream is read.
const maxActivities = 100_000

// history is what the server remembers of deletions below the diffed folder.
type history struct {
	trash     map[string]davclient.TrashEntry // by original path, newest deletion
	deletions map[string]davclient.Activity   // file_deleted by path, newest
}

// loadHistory reads the trash bin and, where the activity app answers, the deletions of
// the activity stream, keeping only what lies below remote. notes say what is missing.
func loadHistory(ctx context.Context, c *davclient.Client, remote string) (*history, []string, error) {
	h := &history{trash: map[string]davclient.TrashEntry{}, deletions: map[string]davclient.Activity{}}
	var notes []string
	err := c.ListTrash(ctx, func(e davclient.TrashEntry) error {
		if below(e.OriginalPath, remote) {
			if old, ok := h.trash[e.OriginalPath]; !ok || e.DeletedAt.After(old.DeletedAt) {
				h.trash[e.OriginalPath] = e
			}
		}
		return nil
	})
	switch {
	case errors.Is(err, davclient.ErrUnsupported):
		notes = append(notes, "the server has no trash bin: deleted files show as local_only")
	case err != nil:
		return nil, nil, fmt.Errorf("doctor: read the trash bin: %w", err)
	}
	seen := 0
	err = c.Activities(ctx, func(a davclient.Activity) bool {
		seen++
		if a.Type == "file_deleted" && below(a.Path, remote) {
			if _, ok := h.deletions[a.Path]; !ok { // newest first: keep the first
				h.deletions[a.Path] = a
			}
		}
		return seen < maxActivities
	})
	switch {
	case errors.Is(err, davclient.ErrUnsupported):
		notes = append(notes, "the activity app does not answer: who deleted a file is not known")
	case err != nil:
		return nil, nil, fmt.Errorf("doctor: read the activity stream: %w", err)
	case seen >= maxActivities:
		notes = append(notes, fmt.Sprintf("only the newest %d activities were read", maxActivities))
	}
	return h, notes, nil
}

// explain says how the server lost p (relative to the account's root): p itself or a
// folder above it in the trash bin, or deleted according to the activity stream.
func (h *history) explain(p string) (string, bool) {
	var parts []string
	where := p
	for q := p; ; {
		if t, ok := h.trash[q]; ok {
			where = q
			s := "in the trash bin since " + iso(t.DeletedAt)
			if q != p {
				s += " with its folder " + q
			}
			parts = append(parts, s)
			break
		}
		i := strings.LastIndexByte(q, '/')
		if i < 0 {
			break
		}
		q = q[:i]
	}
	// Who deleted it: the item itself, else the folder that went to the trash bin with
	// it, else any folder above it.
	for _, q := range append([]string{p, where}, ancestors(p)...) {
		a, ok := h.deletions[q]
		if !ok {
			continue
		}
		who := "deleted by " + a.User + " at " + iso(a.Time)
		if q != p {
			who += " (its folder " + q + ")"
		}
		if len(parts) == 0 {
			parts = append(parts, "no longer in the trash bin")
		}
		parts = append([]string{who}, parts...)
		break
	}
	if len(parts) == 0 {
		return "", false
	}
	return strings.Join(parts, "; "), true
}

// ancestors lists the folders above p, nearest first.
func ancestors(p string) []string {
	var out []string
	for i := strings.LastIndexByte(p, '/'); i > 0; i = strings.LastIndexByte(p, '/') {
		p = p[:i]
		out = append(out, p)
	}
	return out
}

func below(p, root string) bool {
	return root == "" || p == root || strings.HasPrefix(p, root+"/")
}

func iso(t time.Time) string { return t.UTC().Format(time.RFC3339) }
