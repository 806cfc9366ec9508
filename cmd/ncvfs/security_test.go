package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ncvfs/ncvfs/internal/mountinfo"
)

// Like ssh with a private key, a password file others may read or write is refused.
func TestPasswordFileOpenToOthersIsRefused(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("secret-app-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o620, 0o604, 0o602} {
		if err := os.Chmod(pw, mode); err != nil {
			t.Fatal(err)
		}
		_, err := findCredentials("https://cloud.example.com", "alice", pw)
		if err == nil || !strings.Contains(err.Error(), "chmod 600 "+pw) || strings.Contains(err.Error(), "secret") {
			t.Errorf("mode %o: %v, want a refusal naming `chmod 600 %s`", mode, err, pw)
		}
	}
	for _, mode := range []os.FileMode{0o600, 0o400} {
		os.Chmod(pw, mode)
		c, err := findCredentials("https://cloud.example.com", "alice", pw)
		if err != nil || c.password != "secret-app-password" {
			t.Errorf("mode %o: %q, %v", mode, c.password, err)
		}
	}
}

// With --allow-other the kernel checks permission bits for the other users
// (default_permissions): without it, anyone could write to files mode 0644 shows them
// read-only.
func TestAllowOtherTurnsOnPermissionChecks(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root: --allow-other as a normal user needs user_allow_other in /etc/fuse.conf")
	}
	srv := newServer(t)
	mp := t.TempDir()
	p := start(t, []string{"NCVFS_PASSWORD=" + password}, nil,
		"mount", "--user", "alice", "--cache-dir", t.TempDir(), "--allow-other", srv.URL(), mp)
	p.waitFor(t, "mounted")
	m, ok, err := mountinfo.Find(mp)
	if err != nil || !ok {
		t.Fatalf("mount not found: %v", err)
	}
	if !m.HasOption("allow_other") || !m.HasOption("default_permissions") {
		t.Errorf("mount options %q, want allow_other and default_permissions", m.SuperOptions)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.wait(t); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.stderr)
	}
}
