package control

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/ncvfs/ncvfs/internal/mountinfo"
)

// ErrUnsafeDir: the socket folder exists but another user owns it or others may
// reach it; a socket there could be replaced or watched.
var ErrUnsafeDir = errors.New("control: unsafe socket folder")

// maxSocketPath is what fits in sockaddr_un.sun_path (with its NUL).
const maxSocketPath = 107

// SocketDir is the folder of uid's control sockets: $XDG_RUNTIME_DIR/ncvfs when that
// is set, else /tmp/ncvfs-<uid>. /tmp is fixed, not $TMPDIR: the daemon and the CLI
// must agree whatever their environments.
func SocketDir(uid int) string {
	return socketDir(os.Getenv("XDG_RUNTIME_DIR"), "/tmp", uid)
}

func socketDir(runtimeDir, tmp string, uid int) string {
	if runtimeDir != "" {
		return filepath.Join(runtimeDir, "ncvfs")
	}
	return filepath.Join(tmp, "ncvfs-"+strconv.Itoa(uid))
}

// SocketName is the socket file's name for a mount point: a hash of its absolute,
// clean path, so a mount point of any length or spelling gives a short, safe name.
func SocketName(mountPoint string) string {
	sum := sha256.Sum256([]byte(filepath.Clean(mountPoint)))
	return hex.EncodeToString(sum[:16]) + ".sock"
}

// PrepareDir creates dir 0700 for the daemon (uid), or checks an existing one: it must
// be a folder (not a link to one), owned by uid, that group and others cannot reach.
func PrepareDir(dir string, uid int) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("control: create the socket folder %s: %w", dir, err)
	}
	return CheckDir(dir, uid)
}

// CheckDir checks that dir is a folder owned by uid (or root) that group and others
// cannot reach.
func CheckDir(dir string, uid int) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("control: socket folder: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.IsDir():
		return fmt.Errorf("%w: %s is not a folder (a link or a file): remove it", ErrUnsafeDir, dir)
	case !ok:
		return fmt.Errorf("%w: %s: cannot read its owner", ErrUnsafeDir, dir)
	case int(st.Uid) != uid:
		return fmt.Errorf("%w: %s belongs to uid %d, not to uid %d: remove it", ErrUnsafeDir, dir, st.Uid, uid)
	case fi.Mode().Perm()&0o077 != 0:
		return fmt.Errorf("%w: %s has mode %04o, open to group or others: run chmod 700 %s",
			ErrUnsafeDir, dir, fi.Mode().Perm(), dir)
	}
	return nil
}

// CanonicalMountPoint is the mount point as the kernel's mount table will show it:
// absolute, clean, links resolved. Call it before mounting: once mounted, resolving
// it would ask the mount itself.
func CanonicalMountPoint(mp string) (string, error) {
	abs, err := filepath.Abs(mp)
	if err != nil {
		return "", fmt.Errorf("control: mount point %s: %w", mp, err)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	return abs, nil
}

// ServerSocket prepares the daemon's socket folder and returns the socket path for
// the mount point (canonical, see CanonicalMountPoint).
func ServerSocket(mountPoint string) (string, error) {
	uid := os.Getuid()
	dir := SocketDir(uid)
	if err := PrepareDir(dir, uid); err != nil {
		return "", err
	}
	return filepath.Join(dir, SocketName(mountPoint)), nil
}

// Target is a mount found from a path: where to ask, and what about.
type Target struct {
	MountPoint string
	// Rel is the path asked about, relative to the mount point ("" for the mount point).
	Rel string
	// Abs is the absolute path asked about.
	Abs string
	// OwnerUID is the uid the mount belongs to (its daemon's), -1 if the table
	// does not say.
	OwnerUID int
	// Socket is the control socket's path ("" when no candidate exists; Candidates
	// says where it was looked for).
	Socket     string
	Candidates []string
}

// ErrNotInMount: the path is inside no ncvfs mount.
var ErrNotInMount = errors.New("not inside an ncvfs mount")

// Locate finds the ncvfs mount that contains path (the longest mount point that is a
// prefix of it) and its control socket.
func Locate(path string) (Target, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return Target{}, fmt.Errorf("%s: %w", path, err)
	}
	// Links are resolved where the path can be read; a dead mount, or one that keeps
	// us out, is matched by its spelling.
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	mounts, err := mountinfo.Read()
	if err != nil {
		return Target{}, err
	}
	best := -1
	for i, m := range mounts {
		if !within(abs, m.Point) {
			continue
		}
		// The longest point wins; among equal ones the last, which is on top.
		if best < 0 || len(m.Point) >= len(mounts[best].Point) {
			best = i
		}
	}
	if best < 0 || mounts[best].FSType != "fuse.ncvfs" {
		return Target{}, fmt.Errorf("%s is %w", abs, ErrNotInMount)
	}
	m := mounts[best]
	t := Target{MountPoint: m.Point, Abs: abs, OwnerUID: ownerUID(m)}
	if rel, err := filepath.Rel(m.Point, abs); err == nil && rel != "." {
		t.Rel = filepath.ToSlash(rel)
	}
	t.Candidates = candidateDirs(t.OwnerUID)
	for _, dir := range t.Candidates {
		p := filepath.Join(dir, SocketName(m.Point))
		if _, err := os.Lstat(p); err == nil || !errors.Is(err, fs.ErrNotExist) {
			t.Socket = p // an error other than absence (EACCES) is told when dialling
			break
		}
	}
	return t, nil
}

// within reports whether p is dir or below it.
func within(p, dir string) bool {
	if dir == "/" {
		return strings.HasPrefix(p, "/")
	}
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// ownerUID reads user_id= from a FUSE mount's options.
func ownerUID(m mountinfo.Mount) int {
	for _, o := range strings.Split(m.SuperOptions, ",") {
		if v, ok := strings.CutPrefix(o, "user_id="); ok {
			if n, err := strconv.Atoi(v); err == nil {
				return n
			}
		}
	}
	return -1
}

// candidateDirs are the folders the daemon of a mount owned by owner may have used:
// ours when it is our mount, then that user's usual runtime folder and /tmp one (root
// asking about another user's mount, or a daemon started without XDG_RUNTIME_DIR).
func candidateDirs(owner int) []string {
	me := os.Getuid()
	var out []string
	if owner < 0 || owner == me {
		out = append(out, SocketDir(me))
		owner = me
	}
	for _, d := range []string{
		filepath.Join("/run/user", strconv.Itoa(owner), "ncvfs"),
		socketDir("", "/tmp", owner),
	} {
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}
