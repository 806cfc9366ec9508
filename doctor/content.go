package doctor

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"hash"
	"hash/adler32"
	"io"
	"os"
	"strings"

	"github.com/ncvfs/ncvfs/davclient"
)

// sameContent decides whether a local file and a server file of the same size hold the
// same bytes: against the server's stored checksum when it has one (oc:checksums), else
// by downloading the server's copy and comparing it with the local one as it streams in.
// how names the method, for the report.
func sameContent(ctx context.Context, c *davclient.Client, local, remote, checksums string, bufs *compareBuffers) (same bool, how string, err error) {
	if algo, want, ok := pickChecksum(checksums); ok {
		got, err := hashFile(local, algo, bufs.a)
		if err != nil {
			return false, "", err
		}
		return strings.EqualFold(got, want), algo, nil
	}
	f, err := os.Open(local)
	if err != nil {
		return false, "", fmt.Errorf("doctor: open local file: %w", err)
	}
	defer f.Close()
	g, err := c.Get(ctx, remote, davclient.GetOptions{})
	if err != nil {
		return false, "", err
	}
	defer g.Body.Close()
	same, err = sameStreams(f, g.Body, bufs)
	return same, "bytes compared", err
}

// pickChecksum chooses the strongest checksum of an oc:checksums value
// ("SHA1:ab.. MD5:cd.. ADLER32:ef..").
func pickChecksum(checksums string) (algo, hexsum string, ok bool) {
	rank := map[string]int{"SHA1": 3, "MD5": 2, "ADLER32": 1}
	best := 0
	for _, f := range strings.Fields(checksums) {
		a, v, found := strings.Cut(f, ":")
		a = strings.ToUpper(a)
		if !found || v == "" || rank[a] <= best {
			continue
		}
		if _, err := hex.DecodeString(v); err != nil {
			continue
		}
		algo, hexsum, best = a, v, rank[a]
	}
	return algo, hexsum, best > 0
}

func hashFile(name, algo string, buf []byte) (string, error) {
	var h hash.Hash
	switch algo {
	case "SHA1":
		h = sha1.New()
	case "MD5":
		h = md5.New()
	default:
		h = adler32.New()
	}
	f, err := os.Open(name)
	if err != nil {
		return "", fmt.Errorf("doctor: open local file: %w", err)
	}
	defer f.Close()
	if _, err := io.CopyBuffer(h, onlyReader{f}, buf); err != nil {
		return "", fmt.Errorf("doctor: read local file: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// sameStreams compares two readers to their ends, stopping at the first difference.
func sameStreams(a, b io.Reader, bufs *compareBuffers) (bool, error) {
	bufA, bufB := bufs.a, bufs.b
	for {
		na, errA := io.ReadFull(a, bufA)
		nb, errB := io.ReadFull(b, bufB)
		if errA != nil && errA != io.EOF && errA != io.ErrUnexpectedEOF {
			return false, fmt.Errorf("doctor: read local file: %w", errA)
		}
		if errB != nil && errB != io.EOF && errB != io.ErrUnexpectedEOF {
			return false, errB
		}
		if na != nb || !bytes.Equal(bufA[:na], bufB[:nb]) {
			return false, nil
		}
		if errA != nil || errB != nil {
			return errA != nil && errB != nil, nil
		}
	}
}

// compareBuffers are reused from one file to the next: a diff may compare 100,000 files.
type compareBuffers struct{ a, b []byte }

func newCompareBuffers() *compareBuffers {
	return &compareBuffers{a: make([]byte, 64<<10), b: make([]byte, 64<<10)}
}

// onlyReader hides *os.File's WriterTo, which would bypass CopyBuffer's buffer.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }
