package davtest

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// BenchmarkPropfindDepth1 measures a raw Depth-1 PROPFIND of a 10,000-entry folder,
// the baseline ncvfs listings are compared against.
func BenchmarkPropfindDepth1(b *testing.B) {
	s, err := New(Options{User: testUser, Password: testPass})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for i := range 10000 {
		if _, err := s.WriteFile(fmt.Sprintf("big/file-%05d.bin", i), []byte("x"), time.Time{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	var total int64
	for b.Loop() {
		r, _ := http.NewRequest("PROPFIND", s.FilesURL()+"big/", strings.NewReader(propsBody))
		r.SetBasicAuth(testUser, testPass)
		r.Header.Set("Depth", "1")
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusMultiStatus {
			b.Fatalf("status %d err %v", resp.StatusCode, err)
		}
		total += n
	}
	b.SetBytes(total / int64(b.N))
}

// BenchmarkGetSynthetic measures serving a 64 MiB synthetic file.
func BenchmarkGetSynthetic(b *testing.B) {
	s, err := New(Options{User: testUser, Password: testPass})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const size = 64 << 20
	if _, err := s.WriteSynthetic("big.bin", size, 1, time.Time{}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	for b.Loop() {
		r, _ := http.NewRequest(http.MethodGet, s.FilesURL()+"big.bin", nil)
		r.SetBasicAuth(testUser, testPass)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || n != size {
			b.Fatalf("read %d err %v", n, err)
		}
	}
}
