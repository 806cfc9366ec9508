package holders

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

func pids(ps []Process) []int {
	var out []int
	for _, p := range ps {
		out = append(out, p.PID)
	}
	return out
}

func TestOfFindsWorkingFoldersAndOpenFiles(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "mnt")
	sub := filepath.Join(dir, "sub")
	sibling := filepath.Join(base, "mnt2") // shares the prefix, not the folder
	for _, d := range []string{sub, sibling} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	sleeper := func(cwd string) *exec.Cmd {
		cmd := exec.Command("sleep", "60")
		cmd.Dir = cwd
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	inside, outside := sleeper(sub), sleeper(sibling)
	f, err := os.Create(filepath.Join(sub, "open.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	got, err := Of(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(pids(got), inside.Process.Pid) || !slices.Contains(pids(got), os.Getpid()) {
		t.Errorf("Of(%s) = %v, want the sleeper %d (working folder) and this test %d (open file)",
			dir, got, inside.Process.Pid, os.Getpid())
	}
	if slices.Contains(pids(got), outside.Process.Pid) {
		t.Errorf("Of(%s) = %v lists %d, whose working folder is %s", dir, got, outside.Process.Pid, sibling)
	}
	for _, p := range got {
		if p.PID == inside.Process.Pid && p.Name != "sleep" {
			t.Errorf("name of the sleeper: %q", p.Name)
		}
	}
	if got, err := Of(filepath.Join(base, "nothing-here")); err != nil || len(got) != 0 {
		t.Errorf("Of(an unused folder) = %v, %v", got, err)
	}
}
