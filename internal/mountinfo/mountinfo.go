// Package mountinfo reads the mount table of this process's namespace
// (/proc/self/mountinfo): which folders are mount points, and of what file system type.
package mountinfo

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Mount is one line of the table.
type Mount struct {
	Point  string // the mount point, unescaped
	FSType string // e.g. "fuse.ncvfs", "ext4"
	// SuperOptions are the file system's own options, e.g. "rw,user_id=0,group_id=0,
	// default_permissions,allow_other" for FUSE.
	SuperOptions string
}

// HasOption reports whether opt is one of the super options.
func (m Mount) HasOption(opt string) bool {
	return slices.Contains(strings.Split(m.SuperOptions, ","), opt)
}

// Parse reads a mountinfo table: the mount point is field 5; the file system type, the
// source and the super options follow the " - " separator.
func Parse(r io.Reader) ([]Mount, error) {
	var out []Mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		m := Mount{Point: Unescape(fields[4])}
		for i, f := range fields {
			if f == "-" && i+1 < len(fields) {
				m.FSType = fields[i+1]
				if i+3 < len(fields) {
					m.SuperOptions = fields[i+3]
				}
				break
			}
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("mountinfo: %w", err)
	}
	return out, nil
}

// Read returns this process's mount table.
func Read() ([]Mount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("mountinfo: %w", err)
	}
	defer f.Close()
	return Parse(f)
}

// IsMounted reports whether dir is a mount point.
func IsMounted(dir string) (bool, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return false, err
	}
	mounts, err := Read()
	if err != nil {
		return false, err
	}
	for _, m := range mounts {
		if m.Point == abs {
			return true, nil
		}
	}
	return false, nil
}

// Find returns the mount on dir, if dir is a mount point.
func Find(dir string) (Mount, bool, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Mount{}, false, err
	}
	mounts, err := Read()
	if err != nil {
		return Mount{}, false, err
	}
	for i := len(mounts) - 1; i >= 0; i-- { // the last one is on top
		if mounts[i].Point == abs {
			return mounts[i], true, nil
		}
	}
	return Mount{}, false, nil
}

// Unescape undoes the kernel's \ooo escapes (\040 for a space); an incomplete or
// invalid escape is left as it is.
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
