package realservers

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Seed writes a file into the share behind the server's back, creating missing folders,
// owned by the server's user and with the given modification time. rel is slash-separated
// and relative to DataDir. An existing file is overwritten in place (same inode), so its
// folder's mtime, and with it the folder's ETag on Apache, does not change.
func (s *Server) Seed(rel string, data []byte, mtime time.Time) error {
	path, err := s.local(rel)
	if err != nil {
		return err
	}
	if dir := filepath.Dir(rel); dir != "." {
		if err := s.SeedDir(dir); err != nil {
			return err
		}
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("realservers: seed %s: %w", rel, err)
	}
	if err := s.chown(path); err != nil {
		return err
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		return fmt.Errorf("realservers: seed %s: %w", rel, err)
	}
	return nil
}

// SeedDir creates a folder (and its missing parents) in the share, owned by the server's
// user. rel is slash-separated and relative to DataDir.
func (s *Server) SeedDir(rel string) error {
	if _, err := s.local(rel); err != nil {
		return err
	}
	path := s.DataDir
	for _, part := range strings.Split(filepath.ToSlash(filepath.Clean(rel)), "/") {
		path = filepath.Join(path, part)
		err := os.Mkdir(path, 0o755)
		if os.IsExist(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("realservers: seed folder %s: %w", rel, err)
		}
		if err := s.chown(path); err != nil {
			return err
		}
	}
	return nil
}

// local maps a share-relative path to DataDir, refusing paths that leave it.
func (s *Server) local(rel string) (string, error) {
	native := filepath.FromSlash(rel)
	if !filepath.IsLocal(native) {
		return "", fmt.Errorf("realservers: seed %q: not a path inside the share", rel)
	}
	return filepath.Join(s.DataDir, native), nil
}

func (s *Server) chown(path string) error {
	if s.owner == nil {
		return nil
	}
	if err := os.Lchown(path, s.owner.uid, s.owner.gid); err != nil {
		return fmt.Errorf("realservers: chown %s: %w", path, err)
	}
	return nil
}
