package doctor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ncvfs/ncvfs/davclient/davtest"
)

// BenchmarkDiff20kInProcess diffs 20,000 identical files (20 folders of 1,000) in this
// process, for profiling the walk (-cpuprofile, -memprofile); the figures of record
// come from BenchmarkDiff100k in cmd/ncvfs, which measures the command itself.
func BenchmarkDiff20kInProcess(b *testing.B) {
	s, c := newServer(b, davtest.Options{})
	local := b.TempDir()
	for d := range 20 {
		dir := fmt.Sprintf("d%02d", d)
		if err := os.MkdirAll(filepath.Join(local, dir), 0o755); err != nil {
			b.Fatal(err)
		}
		for f := range 1000 {
			rel := fmt.Sprintf("%s/file-%04d.txt", dir, f)
			data := []byte("content of " + rel)
			p := filepath.Join(local, rel)
			if err := os.WriteFile(p, data, 0o644); err != nil {
				b.Fatal(err)
			}
			if err := os.Chtimes(p, t0, t0); err != nil {
				b.Fatal(err)
			}
			if _, err := s.WriteFile("Tree/"+rel, data, t0); err != nil {
				b.Fatal(err)
			}
		}
	}
	for b.Loop() {
		sum, err := Diff(context.Background(), c, DiffOptions{LocalDir: local, RemotePath: "Tree"}, func(r Row) error {
			return fmt.Errorf("unexpected row %+v", r)
		})
		if err != nil || sum.Identical != 20000 {
			b.Fatalf("summary %+v, err %v", sum, err)
		}
	}
}
