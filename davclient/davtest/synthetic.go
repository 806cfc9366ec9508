package davtest

import (
	"encoding/binary"
	"fmt"
	"io"
	"sort"
)

// SyntheticBytes returns n bytes of the synthetic content of seed starting at off: the
// same bytes a file added with WriteSynthetic(…, seed, …) serves there. Negative off or
// n give nil.
func SyntheticBytes(seed uint64, off int64, n int) []byte {
	if off < 0 || n <= 0 {
		return nil
	}
	b := make([]byte, n)
	fillSynthetic(seed, off, b)
	return b
}

// SyntheticReaderAt returns a ReaderAt over size synthetic bytes of seed, for comparing
// large files without holding them in memory.
func SyntheticReaderAt(seed uint64, size int64) io.ReaderAt {
	return syntheticContent{seed: seed, size: size}
}

// syntheticWord is splitmix64 of the 8-byte block index: cheap, deterministic, and
// without short cycles, so a misplaced range shows up as wrong bytes.
func syntheticWord(seed uint64, block uint64) uint64 {
	z := seed + (block+1)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func fillSynthetic(seed uint64, off int64, b []byte) {
	block := uint64(off) / 8
	skip := int(uint64(off) % 8)
	var word [8]byte
	for len(b) > 0 {
		if skip == 0 && len(b) >= 8 {
			binary.LittleEndian.PutUint64(b, syntheticWord(seed, block))
			b = b[8:]
			block++
			continue
		}
		binary.LittleEndian.PutUint64(word[:], syntheticWord(seed, block))
		n := copy(b, word[skip:])
		b = b[n:]
		skip = 0
		block++
	}
}

// syntheticContent generates its bytes on every read: a 1 GiB file costs no memory.
type syntheticContent struct {
	seed uint64
	size int64
}

func (c syntheticContent) Size() int64 { return c.size }

func (c syntheticContent) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("davtest: negative offset %d", off)
	}
	if off >= c.size {
		return 0, io.EOF
	}
	n := len(p)
	if rest := c.size - off; int64(n) > rest {
		n = int(rest)
	}
	fillSynthetic(c.seed, off, p[:n])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// segmentsContent is the concatenation of uploaded chunks, kept as they are so that a
// chunked upload's final MOVE copies nothing.
type segmentsContent struct {
	parts  [][]byte
	starts []int64 // starts[i] is the offset of parts[i]
	size   int64
}

func newSegments(parts [][]byte) segmentsContent {
	c := segmentsContent{parts: parts, starts: make([]int64, len(parts))}
	for i, p := range parts {
		c.starts[i] = c.size
		c.size += int64(len(p))
	}
	return c
}

func (c segmentsContent) Size() int64 { return c.size }

func (c segmentsContent) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("davtest: negative offset %d", off)
	}
	if off >= c.size {
		return 0, io.EOF
	}
	// The last part starting at or before off.
	i := sort.Search(len(c.starts), func(i int) bool { return c.starts[i] > off }) - 1
	n := 0
	for ; i < len(c.parts) && n < len(p); i++ {
		rel := off + int64(n) - c.starts[i]
		n += copy(p[n:], c.parts[i][rel:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
