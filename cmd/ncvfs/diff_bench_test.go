package main

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ncvfs/ncvfs/davclient/davtest"
)

// BenchmarkDiff100k runs `ncvfs diff` as its own process over 100,000 files in 100
// folders (10 × 10, 1,000 files each), local and on an in-process test server, and
// reports the time and the diff process's peak RSS. "same": the trees agree, so the
// diff is bound by its PROPFINDs; "touched": every local mtime differs and the server
// has SHA1 checksums, so every local file is hashed too.
//
//	go test ./cmd/ncvfs -run '^$' -bench Diff100k -benchtime 1x
func BenchmarkDiff100k(b *testing.B) {
	const folders, perFolder = 100, 1000
	local := b.TempDir()
	mt := time.Unix(1700000000, 0)
	touched := mt.Add(time.Hour)
	same, err := davtest.New(davtest.Options{User: "alice", Password: password})
	if err != nil {
		b.Fatal(err)
	}
	defer same.Close()
	hashed, err := davtest.New(davtest.Options{User: "alice", Password: password})
	if err != nil {
		b.Fatal(err)
	}
	defer hashed.Close()
	for d := range folders {
		dir := fmt.Sprintf("d%02d/e%02d", d/10, d%10)
		if err := os.MkdirAll(filepath.Join(local, dir), 0o755); err != nil {
			b.Fatal(err)
		}
		for f := range perFolder {
			rel := fmt.Sprintf("%s/file-%04d.txt", dir, f)
			data := fmt.Appendf(nil, "%s: content of this file, a hundred bytes or so of it...................", rel)
			p := filepath.Join(local, rel)
			if err := os.WriteFile(p, data, 0o644); err != nil {
				b.Fatal(err)
			}
			if err := os.Chtimes(p, mt, mt); err != nil {
				b.Fatal(err)
			}
			if _, err := same.WriteFile("Tree/"+rel, data, mt); err != nil {
				b.Fatal(err)
			}
			if _, err := hashed.WriteFile("Tree/"+rel, data, touched); err != nil {
				b.Fatal(err)
			}
			sum := sha1.Sum(data)
			if err := hashed.SetChecksum("Tree/"+rel, "SHA1:"+hex.EncodeToString(sum[:])); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, bc := range []struct {
		name string
		srv  *davtest.Server
	}{{"same", same}, {"touched", hashed}} {
		b.Run(bc.name, func(b *testing.B) {
			var peak int64
			for b.Loop() {
				bc.srv.ResetCounts()
				cmd := exec.Command(binary, "diff", "--quiet", "--url", bc.srv.URL(), "--user", "alice", local, "Tree")
				cmd.Env = append(os.Environ(), "NCVFS_PASSWORD="+password)
				var out bytes.Buffer
				cmd.Stdout = &out
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				hwm := watchHWM(cmd.Process.Pid)
				if err := cmd.Wait(); err != nil {
					b.Fatalf("diff: %v", err)
				}
				peak = max(peak, hwm())
				if out.Len() != len("relpath,status,local_size,local_mtime,local_mtime_iso,server_size,server_mtime,server_mtime_iso,owner,reason\n") {
					b.Fatalf("the trees agree, yet diff reported:\n%.500s", out.String())
				}
			}
			b.ReportMetric(float64(peak)/1024, "peak-RSS-MiB")
			b.ReportMetric(float64(bc.srv.Counts().Requests["PROPFIND"]), "PROPFINDs")
			b.ReportMetric(float64(folders*perFolder), "files")
		})
	}
}

// watchHWM samples the process's VmHWM (peak RSS, KiB) until it exits; the returned
// function stops and gives the highest value seen. The rusage of a child cannot be
// used: its ru_maxrss also counts the parent's memory, shared until exec.
func watchHWM(pid int) func() int64 {
	var peak atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err != nil || (peak.Load() > 0 && !strings.Contains(string(b), "VmHWM:")) {
				return // exited (a zombie has no memory): never read a reused pid
			}
			{
				for line := range strings.SplitSeq(string(b), "\n") {
					if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
						if kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64); err == nil && kib > peak.Load() {
							peak.Store(kib)
						}
					}
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() int64 {
		close(stop)
		<-done
		return peak.Load()
	}
}
