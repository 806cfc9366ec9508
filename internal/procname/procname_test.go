package procname

import (
	"os"
	"path/filepath"
	"testing"
)

// fakeProc makes a /proc stand-in: thread 101 of process 100.
func fakeProc(t *testing.T, comm map[string]string, tgid map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for pid, c := range comm {
		dir := filepath.Join(root, pid)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "comm"), []byte(c+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		status := "Name:\t" + c + "\nTgid:\t" + tgid[pid] + "\nPid:\t" + pid + "\n"
		if err := os.WriteFile(filepath.Join(dir, "status"), []byte(status), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestMatch(t *testing.T) {
	proc := fakeProc(t,
		map[string]string{"100": "tracker-miner-f", "101": "pool-tracker-mi", "200": "cat", "300": "baloo_file"},
		map[string]string{"100": "100", "101": "100", "200": "200", "300": "300"})
	m := New(Parse(" tracker-miner-fs-3, baloo_file ,,"))
	m.proc = proc
	for pid, want := range map[uint32]bool{100: true, 101: true, 200: false, 300: true, 400: false, 0: false} {
		if got := m.Match(pid); got != want {
			t.Errorf("Match(%d) = %v, want %v", pid, got, want)
		}
	}
	// Cached: the answer stays while the process's name is not read again.
	os.WriteFile(filepath.Join(proc, "200", "comm"), []byte("baloo_file\n"), 0o644)
	if m.Match(200) {
		t.Error("the answer for 200 was not cached")
	}
	if New(Parse(" , ")) != nil || New(nil).Match(100) {
		t.Error("an empty list matches something")
	}
}

func TestMatchSelf(t *testing.T) {
	comm, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Skip("no /proc")
	}
	name := string(comm[:len(comm)-1])
	if !New([]string{name}).Match(uint32(os.Getpid())) {
		t.Errorf("this process (%q) does not match its own name", name)
	}
	if New([]string{"no-such-program"}).Match(uint32(os.Getpid())) {
		t.Error("this process matches another name")
	}
}
