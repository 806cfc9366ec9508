// Package treespec describes the benchmark's generated file tree in one short string,
// and generates it deterministically, so that the test server and the local-disk copy
// the benchmark compares against hold exactly the same names, sizes and mtimes.
//
// A spec is a comma-separated list of top-level folders, NAME=COUNTS, where COUNTS is
// one number (a folder of that many files) or numbers joined by "x": every number but
// the last is a level of subfolders, the last the files in each folder of the deepest
// level. "flat=5000,tree=100x100" is a folder "flat" with 5,000 files and a folder
// "tree" with 100 subfolders of 100 files each.
//
// File sizes are spread from 0 to about 8 MiB, like a real folder's, unless the folder
// names one size for all its files after a colon, in bytes or with a binary suffix K, M,
// G or T: "big=1:1G" is one file of 1 GiB, "small=10000:4K" 10,000 files of 4 KiB. The
// content is generated from a seed, so a large size costs the server nothing.
package treespec

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
)

// MaxItems bounds the whole tree, so that a typo cannot make the server or the local
// copy exhaust memory or disk inodes.
const MaxItems = 2_000_000

// MaxFileSize bounds a folder's fixed file size (1 TiB): generous for synthetic content,
// small enough that sizes times counts cannot overflow.
const MaxFileSize = 1 << 40

// Spec is a parsed tree description.
type Spec struct {
	Folders []Folder
}

// Folder is one top-level folder of the tree.
type Folder struct {
	Name string
	// Fanout is the number of subfolders at each level below the folder (empty for a
	// flat folder); Files is the number of files in each folder of the deepest level.
	Fanout []int
	Files  int
	// FileSize, when positive, is the size of every file in the folder; 0 spreads the
	// sizes.
	FileSize int64
}

// Parse reads a spec such as "flat=5000,tree=100x100".
func Parse(s string) (Spec, error) {
	var spec Spec
	seen := map[string]bool{}
	total := 0
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, counts, ok := strings.Cut(part, "=")
		if !ok {
			return Spec{}, fmt.Errorf("treespec: %q: want NAME=COUNT or NAME=AxB..., optionally :SIZE", part)
		}
		var fileSize int64
		if c, size, ok := strings.Cut(counts, ":"); ok {
			n, err := ParseSize(size)
			if err != nil || n == 0 {
				return Spec{}, fmt.Errorf("treespec: %q: %q is not a file size from 1 byte to 1T", part, size)
			}
			counts, fileSize = c, n
		}
		if err := checkName(name); err != nil {
			return Spec{}, err
		}
		if seen[name] {
			return Spec{}, fmt.Errorf("treespec: folder %q named twice", name)
		}
		seen[name] = true
		var nums []int
		for c := range strings.SplitSeq(counts, "x") {
			n, err := strconv.Atoi(c)
			if err != nil || n < 0 || n > MaxItems {
				return Spec{}, fmt.Errorf("treespec: %q: %q is not a count from 0 to %d", part, c, MaxItems)
			}
			nums = append(nums, n)
		}
		f := Folder{Name: name, Fanout: nums[:len(nums)-1], Files: nums[len(nums)-1], FileSize: fileSize}
		items, ok := f.items()
		if !ok || total+items > MaxItems {
			return Spec{}, fmt.Errorf("treespec: %q: the tree would exceed %d items", s, MaxItems)
		}
		total += items
		spec.Folders = append(spec.Folders, f)
	}
	if len(spec.Folders) == 0 {
		return Spec{}, fmt.Errorf("treespec: %q names no folder", s)
	}
	return spec, nil
}

// sizeUnits are the binary suffixes ParseSize accepts, largest first.
var sizeUnits = []struct {
	suffix string
	shift  uint
}{{"T", 40}, {"G", 30}, {"M", 20}, {"K", 10}}

// ParseSize reads a byte count such as 4096, 4K or 1G (binary units), up to MaxFileSize.
func ParseSize(s string) (int64, error) {
	digits, shift := s, uint(0)
	for _, u := range sizeUnits {
		if d, ok := strings.CutSuffix(s, u.suffix); ok {
			digits, shift = d, u.shift
			break
		}
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n < 0 || n > MaxFileSize>>shift {
		return 0, fmt.Errorf("treespec: size %q: want a number of bytes up to 1T, with an optional K, M, G or T", s)
	}
	return n << shift, nil
}

// FormatSize writes a size with the largest binary suffix that divides it exactly, the
// inverse of ParseSize.
func FormatSize(n int64) string {
	for _, u := range sizeUnits {
		if n > 0 && n%(1<<u.shift) == 0 {
			return strconv.FormatInt(n>>u.shift, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

func checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") {
		return fmt.Errorf("treespec: %q is not a usable folder name", name)
	}
	return nil
}

// String gives the spec back in its parsed form.
func (s Spec) String() string {
	parts := make([]string, len(s.Folders))
	for i, f := range s.Folders {
		var b strings.Builder
		b.WriteString(f.Name + "=")
		for _, n := range f.Fanout {
			b.WriteString(strconv.Itoa(n) + "x")
		}
		b.WriteString(strconv.Itoa(f.Files))
		if f.FileSize > 0 {
			b.WriteString(":" + FormatSize(f.FileSize))
		}
		parts[i] = b.String()
	}
	return strings.Join(parts, ",")
}

// Folder returns the top-level folder called name.
func (s Spec) Folder(name string) (Folder, bool) {
	for _, f := range s.Folders {
		if f.Name == name {
			return f, true
		}
	}
	return Folder{}, false
}

// items counts the folder's subfolders and files (not the folder itself); ok is false
// when the count passes MaxItems.
func (f Folder) items() (n int, ok bool) {
	dirs := 1 // folders at the current level
	for _, fan := range f.Fanout {
		dirs *= fan
		n += dirs
		if dirs > MaxItems || n > MaxItems {
			return 0, false
		}
	}
	files := dirs * f.Files
	if f.Files != 0 && files/f.Files != dirs {
		return 0, false
	}
	n += files
	return n, n <= MaxItems
}

// Entries is the number of items directly in the folder.
func (f Folder) Entries() int {
	if len(f.Fanout) > 0 {
		return f.Fanout[0]
	}
	return f.Files
}

// Items is the number of items below the folder, at any depth.
func (f Folder) Items() int {
	n, _ := f.items()
	return n
}

// FileCount counts all files below the folder.
func (f Folder) FileCount() int {
	dirs := 1
	for _, fan := range f.Fanout {
		dirs *= fan
	}
	return dirs * f.Files
}

// Dirs lists the folder and all its subfolders, parents first, as slash paths.
func (f Folder) Dirs() []string {
	var out []string
	var walk func(p string, depth int)
	walk = func(p string, depth int) {
		out = append(out, p)
		if depth == len(f.Fanout) {
			return
		}
		for i := range f.Fanout[depth] {
			walk(path.Join(p, dirName(i)), depth+1)
		}
	}
	walk(f.Name, 0)
	return out
}

// Entry is one generated item. Path is slash-separated and relative to the tree's root.
type Entry struct {
	Path    string
	IsDir   bool
	Size    int64
	ModTime time.Time
	// Seed selects the synthetic content of a file.
	Seed uint64
}

// baseTime is the mtime of the first file; later files are spread over the following
// years so that ls shows varied dates.
var baseTime = time.Date(2024, time.March, 1, 8, 0, 0, 0, time.UTC)

// Walk calls fn for every item of the tree, each folder before its contents, in the
// same order every time. It stops at fn's first error.
func (s Spec) Walk(fn func(Entry) error) error {
	var seq uint64
	var fileSize int64 // the current top-level folder's
	var walk func(p string, fanout []int, files int) error
	walk = func(p string, fanout []int, files int) error {
		if err := fn(Entry{Path: p, IsDir: true, ModTime: baseTime}); err != nil {
			return err
		}
		if len(fanout) > 0 {
			for i := range fanout[0] {
				if err := walk(path.Join(p, dirName(i)), fanout[1:], files); err != nil {
					return err
				}
			}
			return nil
		}
		for i := range files {
			seq++
			e := fileEntry(p, i, seq)
			if fileSize > 0 {
				e.Size = fileSize
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	}
	for _, f := range s.Folders {
		fileSize = f.FileSize
		if err := walk(f.Name, f.Fanout, f.Files); err != nil {
			return err
		}
	}
	return nil
}

// FolderEntries returns the items directly in the top-level folder name, exactly as
// Walk generates them, for checking a client's listing.
func (s Spec) FolderEntries(name string) ([]Entry, error) {
	var out []Entry
	prefix := name + "/"
	err := s.Walk(func(e Entry) error {
		if strings.HasPrefix(e.Path, prefix) && !strings.Contains(e.Path[len(prefix):], "/") {
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

func dirName(i int) string { return fmt.Sprintf("dir-%04d", i) }

// extensions vary the names, and with them the content types a server reports.
var extensions = []string{".jpg", ".txt", ".pdf", ".bin", ".mp3", ".odt"}

// fileEntry derives a file's name, size and mtime from its sequence number alone.
func fileEntry(dir string, i int, seq uint64) Entry {
	h := mix(seq)
	// Sizes from 0 to about 8 MiB, spread over orders of magnitude like real folders.
	size := int64(h % (1 << ((h >> 59) % 24)))
	mtime := baseTime.Add(time.Duration((h>>32)%(3*365*24*3600)) * time.Second)
	return Entry{
		Path:    path.Join(dir, fmt.Sprintf("file-%06d%s", i, extensions[seq%uint64(len(extensions))])),
		Size:    size,
		ModTime: mtime,
		Seed:    seq,
	}
}

// mix is splitmix64's finaliser: a cheap, well-spread hash of the sequence number.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
