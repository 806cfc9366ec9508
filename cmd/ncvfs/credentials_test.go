package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
