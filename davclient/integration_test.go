package davclient_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ncvfs/ncvfs/davclient"
	"github.com/ncvfs/ncvfs/davclient/davtest"
)

const (
	itUser     = "alice"
	itPassword = "app-password-Zq7"
)

// start runs a davtest server whose user id differs from the login (as with LDAP) and a
// client discovered against its base URL.
func start(t *testing.T) (*davtest.Server, *davclient.Client) {
	t.Helper()
	s, err := davtest.New(davtest.Options{User: itUser, Password: itPassword, UserID: "alice-ldap-7"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	c, err := davclient.New(davclient.Config{
		URL: s.URL(), User: itUser, Password: itPassword,
		Retry:  davclient.RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.Dialect != davclient.DialectNextcloud || info.UserID != "alice-ldap-7" || info.FilesURL != s.FilesURL() {
		t.Fatalf("discovered %+v, server files URL %s", info, s.FilesURL())
	}
	return s, c
}

func TestIntegrationNamesRoundTrip(t *testing.T) {
	s, c := start(t)
	ctx := context.Background()
	names := []string{"a b#c%d ü+&?:*.txt", "ü-nfd-input.txt", "100% #1 ?x=y&z", "日本語 (1).txt", "plain"}
	if _, err := s.Mkdir("names"); err != nil {
		t.Fatal(err)
	}
	for i, n := range names {
		if _, err := s.WriteFile("names/"+n, []byte{byte(i)}, time.Unix(1500000000, 0)); err != nil {
			t.Fatal(err)
		}
	}
	var listed []string
	self, err := c.List(ctx, "names", func(e davclient.Entry) error {
		listed = append(listed, e.Name)
		info, err := s.Stat(e.Path)
		if err != nil || info.FileID != e.FileID || info.ETag != e.ETag || info.Size != e.Size || !e.ModTime.Equal(time.Unix(1500000000, 0)) {
			t.Errorf("%q: listed %+v, server %+v (%v)", e.Path, e, info, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(listed)
	want := slices.Clone(names)
	slices.Sort(want)
	if !slices.Equal(listed, want) || !self.IsDir || self.Path != "names" {
		t.Errorf("listed %q, want %q (self %+v)", listed, want, self)
	}
	for i, n := range names {
		g, err := c.Get(ctx, "names/"+n, davclient.GetOptions{})
		if err != nil {
			t.Fatalf("%q: %v", n, err)
		}
		b, err := io.ReadAll(g.Body)
		g.Body.Close()
		if err != nil || !bytes.Equal(b, []byte{byte(i)}) {
			t.Errorf("%q: content %v %v", n, b, err)
		}
	}
}

func TestIntegrationConditionalPut(t *testing.T) {
	s, c := start(t)
	ctx := context.Background()
	data := []byte("version 1\n")
	sum := sha1.Sum(data)
	res, err := c.Put(ctx, "put.txt", bytes.NewReader(data), int64(len(data)), davclient.PutOptions{
		IfNoneMatchAny: true, ModTime: time.Unix(1500000000, 0), RequestHash: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := res.VerifySHA1(hex.EncodeToString(sum[:])); err != nil || res.HashSHA1 == "" {
		t.Errorf("hash %q: %v", res.HashSHA1, err)
	}
	info, _ := s.Stat("put.txt")
	if !res.Created || res.ETag != info.ETag || res.FileID != info.FileID || !res.MtimeAccepted || !info.ModTime.Equal(time.Unix(1500000000, 0)) {
		t.Errorf("result %+v, server %+v", res, info)
	}
	// Creating again must fail; updating with the current ETag works; a stale one fails.
	if _, err := c.Put(ctx, "put.txt", bytes.NewReader(data), int64(len(data)), davclient.PutOptions{IfNoneMatchAny: true}); !errors.Is(err, davclient.ErrPrecondition) {
		t.Errorf("second create: %v", err)
	}
	res2, err := c.Put(ctx, "put.txt", bytes.NewReader([]byte("v2")), 2, davclient.PutOptions{IfMatch: res.ETag})
	if err != nil || res2.Created || res2.ETag == res.ETag || res2.FileID != res.FileID {
		t.Errorf("update: %+v %v", res2, err)
	}
	if _, err := c.Put(ctx, "put.txt", bytes.NewReader(data), int64(len(data)), davclient.PutOptions{IfMatch: res.ETag}); !errors.Is(err, davclient.ErrPrecondition) {
		t.Errorf("stale If-Match: %v", err)
	}
	if _, err := c.Put(ctx, "nodir/x.txt", bytes.NewReader(data), int64(len(data)), davclient.PutOptions{}); !errors.Is(err, davclient.ErrNotFound) {
		t.Errorf("missing parent: %v", err)
	}
	if _, err := c.Get(ctx, "put.txt", davclient.GetOptions{IfMatch: res.ETag}); !errors.Is(err, davclient.ErrPrecondition) {
		t.Errorf("GET with a stale If-Match: %v", err)
	}
}

func TestIntegrationRangesAndFolders(t *testing.T) {
	s, c := start(t)
	ctx := context.Background()
	if _, err := s.WriteSynthetic("big.bin", 1<<20, 42, time.Now()); err != nil {
		t.Fatal(err)
	}
	g, err := c.Get(ctx, "big.bin", davclient.GetOptions{Offset: 1000, Length: 5000})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(g.Body)
	g.Body.Close()
	if !g.Partial || g.Offset != 1000 || g.TotalSize != 1<<20 || !bytes.Equal(b, davtest.SyntheticBytes(42, 1000, 5000)) {
		t.Errorf("range: partial %v offset %d total %d len %d", g.Partial, g.Offset, g.TotalSize, len(b))
	}
	if _, err := c.Get(ctx, "big.bin", davclient.GetOptions{Offset: 2 << 20}); !errors.Is(err, davclient.ErrBadRequest) {
		t.Errorf("past EOF: %v", err)
	}
	if err := s.MkdirAll("d1/sub"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "d1", davclient.GetOptions{}); !errors.Is(err, davclient.ErrBadResponse) {
		t.Errorf("GET on a folder: %v", err)
	}
}

func TestIntegrationNamespaceOps(t *testing.T) {
	s, c := start(t)
	ctx := context.Background()
	id, err := c.Mkcol(ctx, "dir1")
	if err != nil || id == 0 {
		t.Fatal(id, err)
	}
	if _, err := c.Mkcol(ctx, "dir1"); !errors.Is(err, davclient.ErrExists) {
		t.Errorf("mkcol existing: %v", err)
	}
	if _, err := c.Mkcol(ctx, "nope/dir2"); !errors.Is(err, davclient.ErrConflict) {
		t.Errorf("mkcol without parent: %v", err)
	}
	fid, _ := s.WriteFile("dir1/a #1.txt", []byte("abc"), time.Now())
	if err := c.Move(ctx, "dir1/a #1.txt", "dir1/b?.txt", false, ""); err != nil {
		t.Fatal(err)
	}
	moved, err := c.Stat(ctx, "dir1/b?.txt")
	if err != nil || moved.FileID != fid {
		t.Errorf("move kept no fileid: %+v %v", moved, err)
	}
	cid, err := c.Copy(ctx, "dir1/b?.txt", "dir1/c.txt", false)
	if err != nil || cid == 0 || cid == fid {
		t.Errorf("copy id %d (source %d): %v", cid, fid, err)
	}
	if _, err := c.Copy(ctx, "dir1/b?.txt", "dir1/c.txt", false); !errors.Is(err, davclient.ErrPrecondition) {
		t.Errorf("copy onto existing without overwrite: %v", err)
	}
	if err := c.Move(ctx, "dir1/c.txt", "dir1/d.txt", false, `"stale"`); !errors.Is(err, davclient.ErrPrecondition) {
		t.Errorf("move with stale If-Match: %v", err)
	}
	if err := c.Delete(ctx, "dir1/c.txt", moved.ETag); !errors.Is(err, davclient.ErrPrecondition) {
		t.Errorf("delete with another item's ETag: %v", err)
	}
	if err := c.Delete(ctx, "dir1", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Stat(ctx, "dir1"); !errors.Is(err, davclient.ErrNotFound) {
		t.Errorf("stat after delete: %v", err)
	}
}

func TestIntegrationChunkedUploadAndResume(t *testing.T) {
	s, c := start(t)
	ctx := context.Background()
	const size = 5*64<<10 + 1234
	r := davtest.SyntheticReaderAt(7, size)
	want := davtest.SyntheticBytes(7, 0, size)
	opt := davclient.ChunkedOptions{ChunkSize: 64 << 10, TransferID: "resume-me",
		PutOptions: davclient.PutOptions{ModTime: time.Unix(1600000000, 0), IfNoneMatchAny: true}}

	// The fourth chunk's connection drops (every attempt): the upload fails and the
	// folder stays for a resume.
	remove := s.AddFault(davtest.Fault{Method: http.MethodPut, PathPrefix: "/remote.php/dav/uploads/alice-ldap-7/resume-me/00004", Abort: true})
	if _, err := c.UploadChunked(ctx, "up/big.bin", r, size, opt); err == nil {
		t.Fatal("upload with a dead chunk succeeded")
	}
	remove()
	if err := s.MkdirAll("up"); err != nil {
		t.Fatal(err)
	}
	s.ResetCounts()
	res, err := c.UploadChunked(ctx, "up/big.bin", r, size, opt)
	if err != nil {
		t.Fatal(err)
	}
	if n := s.Counts().Requests["PUT"]; n != 3 {
		t.Errorf("resume sent %d chunks, want 3 (00004..00006)", n)
	}
	got, err := s.ReadFile("up/big.bin")
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("assembled file differs (%d bytes, %v)", len(got), err)
	}
	info, _ := s.Stat("up/big.bin")
	if res.ETag != info.ETag || res.FileID != info.FileID || !info.ModTime.Equal(time.Unix(1600000000, 0)) {
		t.Errorf("result %+v, server %+v", res, info)
	}

	// An update with a stale ETag: 412 at the MOVE, and the upload folder is gone.
	opt2 := davclient.ChunkedOptions{ChunkSize: 64 << 10, TransferID: "stale",
		PutOptions: davclient.PutOptions{IfMatch: `"0123456789abcdef0123456789abcdef"`}}
	if _, err := c.UploadChunked(ctx, "up/big.bin", r, size, opt2); !errors.Is(err, davclient.ErrPrecondition) {
		t.Errorf("stale update: %v", err)
	}
	req, _ := http.NewRequest("PROPFIND", s.URL()+"/remote.php/dav/uploads/alice-ldap-7/stale", nil)
	req.SetBasicAuth(itUser, itPassword)
	req.Header.Set("Depth", "0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("upload folder after a 412: HTTP %d, want 404", resp.StatusCode)
	}
	// The right ETag works.
	opt2.TransferID, opt2.IfMatch = "fresh", info.ETag
	if _, err := c.UploadChunked(ctx, "up/big.bin", r, size, opt2); err != nil {
		t.Errorf("update with the current ETag: %v", err)
	}
}

func TestIntegrationFaults(t *testing.T) {
	s, c := start(t)
	ctx := context.Background()
	s.AddFault(davtest.Fault{Method: "PROPFIND", Nth: 1, Status: http.StatusServiceUnavailable})
	s.AddFault(davtest.Fault{Method: "PROPFIND", Nth: 2, Status: http.StatusBadGateway})
	s.ResetCounts()
	if _, err := c.Stat(ctx, ""); err != nil {
		t.Fatalf("stat through two transient failures: %v", err)
	}
	if n := s.Counts().Requests["PROPFIND"]; n != 3 {
		t.Errorf("%d PROPFINDs, want 3", n)
	}
	s.AddFault(davtest.Fault{Method: "PROPFIND", Body: []byte(`<d:multistatus xmlns:d="DAV:"><d:response><d:href>/remote.php/dav/files/alice-ldap-7/../x</d:href>`)})
	if _, err := c.List(ctx, "", func(davclient.Entry) error { return nil }); !errors.Is(err, davclient.ErrBadResponse) {
		t.Errorf("hostile truncated body: %v", err)
	}
}

// A wrong stored checksum is recomputed by the server on request; the ETag stays.
func TestIntegrationRecalculateChecksum(t *testing.T) {
	s, c := start(t)
	ctx := context.Background()
	data := []byte("the real bytes")
	if _, err := s.WriteFile("sum.txt", data, time.Unix(1500000000, 0)); err != nil {
		t.Fatal(err)
	}
	if err := s.SetChecksum("sum.txt", "SHA1:0000000000000000000000000000000000000000"); err != nil {
		t.Fatal(err)
	}
	before, err := c.Stat(ctx, "sum.txt")
	if err != nil {
		t.Fatal(err)
	}
	sum, err := c.RecalculateChecksum(ctx, "sum.txt")
	want := fmt.Sprintf("SHA1:%x", sha1.Sum(data))
	if err != nil || !strings.EqualFold(sum, want) {
		t.Fatalf("recalculated %q, %v; want %s", sum, err, want)
	}
	after, err := c.Stat(ctx, "sum.txt")
	if err != nil || !strings.EqualFold(after.Checksums, want) || after.ETag != before.ETag {
		t.Errorf("after the recalculation: checksums %q etag %s (before %s), %v", after.Checksums, after.ETag, before.ETag, err)
	}
	s.AddFault(davtest.Fault{Method: "PATCH", Status: 501})
	if _, err := c.RecalculateChecksum(ctx, "sum.txt"); !errors.Is(err, davclient.ErrUnsupported) {
		t.Errorf("server without it: %v, want ErrUnsupported", err)
	}
}
