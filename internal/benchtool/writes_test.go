package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ncvfs/ncvfs/internal/benchtool/treespec"
)

func TestFileSetCompare(t *testing.T) {
	want := fileSet{sha256: map[string]string{"a": "1", "d/b": "2"}, bytes: 8}
	if err := want.compare(map[string]string{"a": "1", "d/b": "2"}); err != nil {
		t.Errorf("equal sets: %v", err)
	}
	for _, got := range []map[string]string{
		{"a": "1"},
		{"a": "1", "d/b": "3"},
		{"a": "1", "d/b": "2", "c": "4"},
	} {
		if err := want.compare(got); err == nil {
			t.Errorf("compare(%v) found no difference", got)
		}
	}
}

func TestPlanWritesNeedsItsFolders(t *testing.T) {
	spec, _ := treespec.Parse(defaultWriteTree)
	p, err := planWrites(spec)
	if err != nil {
		t.Fatal(err)
	}
	if p.big.Size != 1<<30 || len(p.small) != 1000 || len(p.tared) != 10000 || len(p.tarDirs) != 101 {
		t.Errorf("plan: big %d bytes, %d small, %d tared in %d folders", p.big.Size, len(p.small), len(p.tared), len(p.tarDirs))
	}
	for _, bad := range []string{"small=3,tar=2", "big=1,tar=2", "big=1,small=2", "big=1,small=2x2,tar=2"} {
		spec, err := treespec.Parse(bad)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := planWrites(spec); err == nil {
			t.Errorf("planWrites(%q) accepted a tree without what the workloads need", bad)
		}
	}
}

// The sources and the archive hold what the plan says: extracting the archive with tar
// leaves exactly the wanted files.
func TestWriteWorkloadsMakeTheirSources(t *testing.T) {
	spec, _ := treespec.Parse("big=1:100K,small=5:4K,tar=2x3:1K")
	src := t.TempDir()
	ws, err := writeWorkloads(writeSetup{spec: spec, srcDir: src})
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 3 || ws[0].key != keyWriteBig || ws[1].items != 5 || ws[2].items != 6 || ws[2].write.raw != nil {
		t.Fatalf("workloads: %+v", ws)
	}
	for _, w := range ws {
		if w.group != groupWriting || !w.cold || w.write == nil || w.write.command == nil {
			t.Errorf("%s: not a writing row", w.key)
		}
	}
	if got, want := ws[0].label, "write 100 KiB (dd bs=1M conv=fsync), until on the server"; got != want {
		t.Errorf("label %q, want %q", got, want)
	}
	for _, w := range ws {
		dir := t.TempDir()
		c := w.write.command(dir)
		if out, err := exec.Command(c.args[0], c.args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %q: %v\n%s", w.key, c.args, err, out)
		}
		got, err := hashTree(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.write.want.compare(got); err != nil {
			t.Errorf("%s: %v", w.key, err)
		}
	}
}

// fakeFolderServer serves the stats port's folder endpoints from a local directory that
// stands in for the server's folder: what a fake mount writes there, the "server" holds.
type fakeFolderServer struct {
	dir    string // holds the folder writeFolder
	mu     sync.Mutex
	resets int
	polls  int
}

func (f *fakeFolderServer) start(t *testing.T) *serverCounters {
	t.Helper()
	folder := filepath.Join(f.dir, writeFolder)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /folder", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.polls++
		f.mu.Unlock()
		sums, err := hashTree(folder)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		st := folderState{Files: len(sums)}
		var b strings.Builder
		for p, s := range sums {
			info, _ := os.Stat(filepath.Join(folder, p))
			st.Bytes += info.Size()
			b.WriteString(p + s)
		}
		st.Version = fmt.Sprint(len(b.String()), st.Bytes)
		json.NewEncoder(w).Encode(st)
	})
	mux.HandleFunc("GET /folder/sha256", func(w http.ResponseWriter, r *http.Request) {
		sums, err := hashTree(folder)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"files": sums})
	})
	mux.HandleFunc("POST /folder/reset", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("path") != writeFolder {
			http.Error(w, "wrong folder", http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.resets++
		f.mu.Unlock()
		os.RemoveAll(folder)
		os.Mkdir(folder, 0o700)
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return newServerCounters(srv.URL)
}

// A mount's sample runs until the "server" holds the files, a local-disk sample until
// the command returns; every run starts from an emptied folder on a fresh view.
func TestMeasureWriteWaitsForTheServer(t *testing.T) {
	spec, _ := treespec.Parse("big=1:64K,small=4:4K,tar=2x2:1K")
	mountDir := t.TempDir()
	fake := &fakeFolderServer{dir: mountDir}
	server := fake.start(t)
	local := t.TempDir()
	n := 0
	ws, err := writeWorkloads(writeSetup{spec: spec, srcDir: t.TempDir(), server: server,
		localDir: func() (string, error) {
			n++
			d := filepath.Join(local, fmt.Sprint(n))
			return d, os.Mkdir(d, 0o700)
		}})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		c := &fakeClient{cold: true, dir: mountDir}
		got := measureClient(context.Background(), c, w, 2)
		if !got.usable() || len(got.samples) != 2 || len(got.returned) != 2 || len(got.uploaded) != 2 || c.opens != 2 || c.closes != 2 {
			t.Errorf("%s on a mount: cell %+v after %d opens, %d closes", w.key, got, c.opens, c.closes)
		}
		lc := &fakeClient{dir: local}
		got = measureClient(context.Background(), lc, w, 2)
		if !got.usable() || len(got.samples) != 2 || len(got.uploaded) != 0 || lc.opens != 0 {
			t.Errorf("%s on local disk: cell %+v after %d opens", w.key, got, lc.opens)
		}
	}
	if fake.resets != 12 {
		t.Errorf("%d resets, want one per run (12)", fake.resets)
	}

	// Wrong bytes on the "server" are wrong data, after the grace.
	w := ws[1]
	w.write.wrongGrace = 50 * time.Millisecond
	wrong := map[string]string{}
	for p := range w.write.want.sha256 {
		wrong[p] = "0000"
	}
	w.write.want.sha256 = wrong
	got := measureClient(context.Background(), &fakeClient{cold: true, dir: mountDir}, w, 1)
	if got.checkErr == nil || got.usable() {
		t.Errorf("wrong bytes gave the cell %+v", got)
	}
}

// A client that never uploads everything fails once the wait is over, instead of
// hanging the run.
func TestAwaitServerGivesUp(t *testing.T) {
	fake := &fakeFolderServer{dir: t.TempDir()}
	j := &writeJob{server: fake.start(t), want: fileSet{sha256: map[string]string{"x": "1"}, bytes: 1}, wrongGrace: time.Second, stall: time.Minute}
	if err := os.Mkdir(filepath.Join(fake.dir, writeFolder), 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, _, err := j.awaitServer(ctx, time.Now()); err == nil {
		t.Error("awaitServer returned without the files")
	}
	// Nothing changing on the server ends the wait too.
	j.stall = 50 * time.Millisecond
	begin := time.Now()
	if waited, checkErr, err := j.awaitServer(context.Background(), begin); err != nil || checkErr == nil ||
		!strings.Contains(checkErr.Error(), "never held everything") || waited < j.stall {
		t.Errorf("a stalled upload gave %v, %v after %v", checkErr, err, waited)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("a stalled upload was waited for %v", d)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if fake.polls < 3 {
		t.Errorf("%d polls in 100 ms, want one every %v", fake.polls, pollEvery)
	}
}

func TestForWorkloadTurnsWritesOn(t *testing.T) {
	nc := &ncvfsClient{extra: []string{"--listing-ttl", "1m"}}
	rc := &rcloneClient{}
	write := workload{write: &writeJob{}}
	if got := forWorkload(nc, write).(*ncvfsClient); strings.Join(got.extra, " ") != "--experimental-writes --listing-ttl 1m" {
		t.Errorf("ncvfs for writes: %q", got.extra)
	}
	if len(nc.extra) != 2 {
		t.Errorf("the read client's flags changed: %q", nc.extra)
	}
	if got := forWorkload(rc, write).(*rcloneClient); strings.Join(got.extra, " ") != "--vfs-write-back 0s" {
		t.Errorf("rclone for writes: %q", got.extra)
	}
	if forWorkload(nc, workload{}) != client(nc) {
		t.Error("a reading workload got another client")
	}
}
