package fusefs

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"syscall"

	"github.com/ncvfs/ncvfs/cache"
)

// Extended attributes: user.ncvfs.pin (read-write) and a few read-only facts about each
// item, so that standard tools (getfattr, setfattr) pin and inspect files.
//
// Cost: the kernel caches no xattr answers, and `ls -l` asks two per file
// (security.selinux, system.posix_acl_access). Names outside user.ncvfs.* are answered
// before anything is looked up (no lock, no database read), and security.* / system.*
// / trusted.* with EOPNOTSUPP, not ENODATA: GNU ls then takes the whole file system for
// one without labels and ACLs and stops asking for the rest of its listing, as it does
// on local disks without them. (FUSE_POSIX_ACL would let the kernel cache the ACL
// answers, but it also turns on default_permissions, a change of who may do what.)
// With Config.NoXattr every request is refused as before they existed: ENOSYS, which
// the kernel remembers for the whole mount.

const (
	xattrPrefix      = "user.ncvfs."
	xattrPin         = xattrPrefix + "pin"
	xattrState       = xattrPrefix + "state"
	xattrFileID      = xattrPrefix + "fileid"
	xattrETag        = xattrPrefix + "etag"
	xattrPermissions = xattrPrefix + "permissions"
	xattrOwner       = xattrPrefix + "owner"
	xattrLocalBytes  = xattrPrefix + "local-bytes"
)

// xattrList is listxattr's answer: every name, each ending in a NUL.
var xattrList = func() string {
	var b strings.Builder
	for _, n := range []string{xattrPin, xattrState, xattrFileID, xattrETag, xattrPermissions, xattrOwner, xattrLocalBytes} {
		b.WriteString(n)
		b.WriteByte(0)
	}
	return b.String()
}()

// foreignXattrErrno answers a name that is not ours without looking anything up.
func foreignXattrErrno(attr string) syscall.Errno {
	if strings.HasPrefix(attr, "user.") {
		return syscall.ENODATA // the user namespace exists; this name is not set
	}
	return syscall.EOPNOTSUPP // no SELinux labels, ACLs, capabilities or trusted names here
}

// Getxattr – FUSE call; one bbolt read for user.ncvfs.* names, nothing for others.
func (n *node) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if n.fsys.cfg.NoXattr {
		return 0, syscall.ENOSYS
	}
	if !strings.HasPrefix(attr, xattrPrefix) {
		return 0, foreignXattrErrno(attr)
	}
	val, errno := n.xattrValue(ctx, attr)
	if errno != 0 {
		return 0, errno
	}
	if len(dest) < len(val) {
		return uint32(len(val)), syscall.ERANGE // go-fuse turns this into the size for a size query
	}
	return uint32(copy(dest, val)), 0
}

func (n *node) xattrValue(ctx context.Context, attr string) (string, syscall.Errno) {
	if attr == xattrPin {
		_, eff, err := n.fsys.cfg.Store.PinOf(n.id)
		if err != nil {
			return "", n.fsys.errno("getxattr", n.id, err)
		}
		return eff.String(), 0
	}
	switch attr {
	case xattrState, xattrFileID, xattrETag, xattrPermissions, xattrOwner, xattrLocalBytes:
	default:
		return "", syscall.ENODATA
	}
	it, err := n.fsys.getSettled(ctx, n)
	if err != nil {
		return "", toErrno(err)
	}
	var val string
	switch attr {
	case xattrState:
		val = n.fsys.stateOf(&it)
	case xattrFileID:
		if id := it.ServerFileID(); id != 0 {
			val = strconv.FormatUint(id, 10)
		}
	case xattrETag:
		val = it.ETag
	case xattrPermissions:
		if it.PermsKnown {
			val = it.Permissions
		}
	case xattrOwner:
		val = it.OwnerID
	case xattrLocalBytes:
		local := it.LocalBytes
		if it.Local.HasLocalContent() {
			local = it.Local.Size
		}
		val = strconv.FormatInt(local, 10)
	}
	if val == "" {
		return "", syscall.ENODATA // not known for this item (not uploaded yet, generic WebDAV)
	}
	return val, 0
}

// stateOf names an item's state as status does.
func (fsys *FS) stateOf(it *cache.Item) string {
	if fsys.cfg.State != nil {
		return fsys.cfg.State(it)
	}
	switch it.Content {
	case cache.ContentPartial:
		return "partial"
	case cache.ContentLocal:
		return "local"
	case cache.ContentDirty:
		return "dirty"
	}
	return "online"
}

// Listxattr – FUSE call; the same names for every item, nothing looked up.
func (n *node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	if n.fsys.cfg.NoXattr {
		return 0, syscall.ENOSYS
	}
	if len(dest) < len(xattrList) {
		return uint32(len(xattrList)), syscall.ERANGE
	}
	return uint32(copy(dest, xattrList)), 0
}

// Setxattr – FUSE call; user.ncvfs.pin takes alwayslocal, onlineonly or unspecified.
// The read-only names answer EPERM; other names ENOTSUP, which cp -a, rsync -X and tar
// --xattrs take for "this file system keeps no such attributes" and go on (go-fuse's
// default, ENODATA, makes cp -a fail on every file).
func (n *node) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	if n.fsys.cfg.NoXattr || !strings.HasPrefix(attr, xattrPrefix) {
		return syscall.ENOTSUP
	}
	switch attr {
	case xattrPin:
	case xattrState, xattrFileID, xattrETag, xattrPermissions, xattrOwner, xattrLocalBytes:
		return syscall.EPERM
	default:
		return syscall.ENOTSUP
	}
	// setfattr -v sends the bytes as given; a trailing NUL or newline is not part of it.
	val := strings.TrimRight(string(data), "\x00\n")
	pin, err := cache.ParsePin(val)
	if err != nil {
		n.fsys.log.Warn("refused pin value", "op", "setxattr", "fileid", n.id, "value", val,
			"allowed", strings.Join(cache.PinNames, ", "))
		return syscall.EINVAL
	}
	return n.setPin(pin)
}

// Removexattr – FUSE call; removing user.ncvfs.pin returns the item to inheriting.
func (n *node) Removexattr(ctx context.Context, attr string) syscall.Errno {
	if n.fsys.cfg.NoXattr || !strings.HasPrefix(attr, xattrPrefix) {
		return syscall.ENOTSUP
	}
	switch attr {
	case xattrPin:
		return n.setPin(cache.PinInherit)
	case xattrState, xattrFileID, xattrETag, xattrPermissions, xattrOwner, xattrLocalBytes:
		return syscall.EPERM
	}
	return syscall.ENODATA
}

func (n *node) setPin(pin cache.Pin) syscall.Errno {
	set := n.fsys.cfg.SetPin
	if set == nil {
		set = n.fsys.cfg.Store.SetPin
	}
	if err := set(n.id, pin); err != nil {
		if errors.Is(err, syscall.ENOSPC) {
			return syscall.ENOSPC // a pin that cannot fit: its setter logged the numbers
		}
		return n.fsys.errno("setxattr", n.id, err)
	}
	return 0
}
