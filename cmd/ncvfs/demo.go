package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ncvfs/ncvfs/davclient/davtest"
	"github.com/ncvfs/ncvfs/internal/session"
)

// cmdDemo starts the built-in Nextcloud-dialect server on loopback with sample files and
// mounts it, so anyone can see ncvfs work without an account. Ctrl-C removes everything
// it made.
func cmdDemo(args []string, stdout, stderr io.Writer) error {
	c := subcommand{name: "demo", synopsis: "[flags] [MOUNTPOINT]", maxArgs: 1,
		about: `Start a sample Nextcloud server on loopback and mount it (in a new temporary
folder unless MOUNTPOINT is given). Ctrl-C unmounts and removes everything it made.`}
	fl := c.flagSet()
	allowNonEmpty := fl.Bool("allow-non-empty", false, "mount over a folder that is not empty (its files are hidden while mounted)")
	logLevel := fl.String("log-level", "info", "debug, info, warn or error")
	args, err := c.parse(fl, args, stdout)
	if err != nil {
		return err
	}
	logger, err := startLogging(stderr, *logLevel)
	if err != nil {
		return err
	}
	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()

	mountpoint := ""
	if len(args) == 1 {
		mountpoint = args[0]
		if _, err := os.Stat(mountpoint); os.IsNotExist(err) {
			if err := os.MkdirAll(mountpoint, 0o700); err != nil {
				return fmt.Errorf("create the mount point: %w", err)
			}
			cleanups = append(cleanups, func() { os.Remove(mountpoint) })
		}
	} else {
		if mountpoint, err = os.MkdirTemp("", "ncvfs-demo-"); err != nil {
			return fmt.Errorf("create a mount point: %w", err)
		}
		cleanups = append(cleanups, func() { os.Remove(mountpoint) })
	}
	cacheDir, err := os.MkdirTemp("", "ncvfs-demo-cache-")
	if err != nil {
		return fmt.Errorf("create a cache directory: %w", err)
	}
	cleanups = append(cleanups, func() { os.RemoveAll(cacheDir) })

	password := randomPassword()
	srv, err := davtest.New(davtest.Options{User: "demo", Password: password, QuotaBytes: 10 << 30})
	if err != nil {
		return fmt.Errorf("start the demo server: %w", err)
	}
	cleanups = append(cleanups, srv.Close)
	if err := populateDemo(srv); err != nil {
		return fmt.Errorf("fill the demo server: %w", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := session.Start(ctx, session.Config{
		URL: srv.URL(), User: "demo", Password: password, Mountpoint: mountpoint,
		CacheDir: cacheDir, AllowNonEmpty: *allowNonEmpty, Logger: logger,
	})
	if err != nil {
		return explainStart(err, "demo", srv.URL())
	}
	fmt.Fprintf(stdout, `
ncvfs demo: a sample Nextcloud server runs at %s (user "demo"),
mounted at %s. Nothing has been downloaded: every file is a placeholder
until it is read.

Try, in another terminal:
  ls -l %[2]s
  find %[2]s | head -20
  stat "%[2]s/Videos/Holiday (4K).mp4"     # 300 MiB on the server, 0 blocks here
  cat %[2]s/Readme.md                     # fetched when read
  head -c 1M "%[2]s/Videos/Holiday (4K).mp4" | wc -c   # fetches a few MiB (read-ahead), not 300
  du -sh --apparent-size %[2]s; du -sh %[2]s   # server size; what is local
  ls -l "%[2]s/Shared with me/Team Handbook"  # a read-only share
  df -h %[2]s                             # the account quota

Press Ctrl-C here to unmount and remove everything the demo made.
`, srv.URL(), mountpoint)
	return serveUntilSignal(ctx, stop, s, stderr)
}

func randomPassword() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// populateDemo builds the sample tree: folders, text files, a large file, a read-only
// share, and names with spaces and non-ASCII letters.
func populateDemo(srv *davtest.Server) error {
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 9, 30, 0, 0, time.UTC) }
	dirs := []string{
		"Documents/Notes", "Photos/2025 Summer", "Videos", "Música",
		"Shared with me/Team Handbook",
	}
	for _, d := range dirs {
		if err := srv.MkdirAll(d); err != nil {
			return err
		}
	}
	files := []struct {
		path string
		body string
		at   time.Time
	}{
		{"Readme.md", "# Welcome to the ncvfs demo\n\nEvery file here is a placeholder until you open it.\n", day(2026, 1, 5)},
		{"Documents/Project plan (final).txt", "Milestones:\n1. mount\n2. hydrate\n3. sync back\n", day(2025, 11, 3)},
		{"Documents/Notes/todo.md", "- [ ] try ncvfs pin\n- [x] mount the demo\n", day(2026, 2, 14)},
		{"Documents/Café Menü – Übersicht.txt", "Espresso 2,10 €\nCrème brûlée 4,50 €\n", day(2024, 6, 1)},
		{"Música/Canción nº 1.txt", "la la la\n", day(2023, 3, 21)},
		{"Shared with me/Team Handbook/Onboarding.md", "Read-only: shared with you by your team.\n", day(2025, 9, 1)},
		{"Shared with me/Team Handbook/Holidays 2026.txt", "1 Jan, 25 Dec\n", day(2025, 12, 1)},
	}
	for _, f := range files {
		if _, err := srv.WriteFile(f.path, []byte(f.body), f.at); err != nil {
			return err
		}
	}
	for i := 1; i <= 12; i++ {
		p := fmt.Sprintf("Photos/2025 Summer/IMG_%04d.jpg", 4000+i)
		if _, err := srv.WriteSynthetic(p, int64(2<<20+i*37_000), uint64(i), day(2025, 7, i)); err != nil {
			return err
		}
	}
	if _, err := srv.WriteSynthetic("Videos/Holiday (4K).mp4", 300<<20, 42, day(2025, 8, 2)); err != nil {
		return err
	}
	// A share received read-only: the folder can be renamed or left, not written into.
	if err := srv.SetPermissions("Shared with me/Team Handbook", "SRGDNV"); err != nil {
		return err
	}
	for _, f := range []string{"Onboarding.md", "Holidays 2026.txt"} {
		if err := srv.SetPermissions("Shared with me/Team Handbook/"+f, "SRG"); err != nil {
			return err
		}
	}
	return nil
}
