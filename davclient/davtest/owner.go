package davtest

import "fmt"

// SetOwner makes the item at p the root of a share owned by another user: it and
// everything below it report that user in oc:owner-id and oc:owner-display-name, and it
// gets the share letter S in oc:permissions. An empty id makes it the account's again.
func (s *Server) SetOwner(p, id, displayName string) error {
	return s.update("owner", p, func(n *node) error {
		if n.parent == nil {
			return fmt.Errorf("davtest: owner %q: the root belongs to the account", p)
		}
		n.ownerID, n.ownerName = id, displayName
		if id != "" && !containsRune(n.perms, 'S') {
			n.perms = "S" + n.perms
		}
		return nil
	})
}

// owner is the share owner n inherits from its nearest shared ancestor, "" when none.
func (n *node) owner() (id, name string) {
	for p := n; p != nil; p = p.parent {
		if p.ownerID != "" {
			return p.ownerID, p.ownerName
		}
	}
	return "", ""
}

func containsRune(s string, r rune) bool {
	for _, c := range s {
		if c == r {
			return true
		}
	}
	return false
}
