// Command ncvfs mounts a Nextcloud (or ownCloud, or WebDAV) account as a local folder
// whose files are placeholders until they are used.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/ncvfs/ncvfs/fusefs"
	"github.com/ncvfs/ncvfs/hydrate"
	"github.com/ncvfs/ncvfs/internal/holders"
	"github.com/ncvfs/ncvfs/internal/procname"
	"github.com/ncvfs/ncvfs/internal/session"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

const usage = `ncvfs — Nextcloud virtual files for Linux

Usage:
  ncvfs mount [flags] URL MOUNTPOINT   mount an account (runs in the foreground; Ctrl-C unmounts)
  ncvfs unmount MOUNTPOINT             unmount (also a mount left by a process that died)
  ncvfs status [PATH] [--json]         the state of a running mount, and of PATH in it
  ncvfs flush [PATH] [--timeout D]     wait until every change made in a mount is on the server
  ncvfs conflicts [PATH] [--json]      list the conflict copies of a mount
  ncvfs pin PATH... [--wait]           keep files and folders on this computer
  ncvfs unpin PATH...                  let the cache decide again
  ncvfs free PATH... [--older-than D]  free space: turn files back into placeholders
  ncvfs diff --url URL LOCAL_DIR REMOTE_PATH   CSV of what differs between a folder and the server
  ncvfs restore --url URL --manifest CSV --from DIR --to REMOTE_PATH [--execute]   upload files from a backup
  ncvfs demo [flags] [MOUNTPOINT]      start a built-in sample server on loopback and mount it
  ncvfs version                        print the version

Run "ncvfs help COMMAND" (or "ncvfs COMMAND -h") for a command's flags.
`

func main() {
	tuneGC()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "mount":
		err = cmdMount(args[1:], stdout, stderr)
	case "unmount", "umount":
		err = cmdUnmount(args[1:], stdout)
	case "status":
		err = cmdStatus(args[1:], stdout)
	case "flush":
		err = cmdFlush(args[1:], stdout, stderr)
	case "conflicts":
		err = cmdConflicts(args[1:], stdout)
	case "pin":
		err = cmdPin(args[1:], stdout, stderr)
	case "unpin":
		err = cmdUnpin(args[1:], stdout)
	case "free":
		err = cmdFree(args[1:], stdout, stderr)
	case "diff":
		err = cmdDiff(args[1:], stdout, stderr)
	case "restore":
		err = cmdRestore(args[1:], stdout, stderr)
	case "demo":
		err = cmdDemo(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		err = cmdVersion(args[1:], stdout)
	case "help", "-h", "--help":
		return cmdHelp(args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "ncvfs: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "ncvfs: %v\nRun \"ncvfs %s -h\" for help.\n", err, args[0])
			return 2
		}
		fmt.Fprintf(stderr, "ncvfs: %v\n", err)
		return 1
	}
	return 0
}

// cmdHelp answers "ncvfs help [COMMAND]": the general usage, or COMMAND's own.
func cmdHelp(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(stdout, usage)
		return 0
	}
	return run([]string{args[0], "-h"}, stdout, stderr)
}

func cmdVersion(args []string, stdout io.Writer) error {
	c := subcommand{name: "version", about: "Print the version of ncvfs."}
	if _, err := c.parse(c.flagSet(), args, stdout); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "ncvfs", version)
	return nil
}

// mountFlags are the flags of "ncvfs mount".
type mountFlags struct {
	user, passwordFile, cacheDir, logLevel string
	noHydrateFor                           string
	insecure, allowOther, allowNonEmpty    bool
	writes, uploadConflicts, noXattr       bool
	debugFUSE                              bool
	listingTTL                             time.Duration
	poll                                   time.Duration
	cacheSize, minFree                     byteSize
}

var mountCommand = subcommand{
	name:     "mount",
	synopsis: "[flags] URL MOUNTPOINT",
	about: `Mount an account; ncvfs stays in the foreground, and Ctrl-C unmounts.

URL is the Nextcloud/ownCloud address (https://cloud.example.com) or any WebDAV folder URL.
Use an app password, never your login password.`,
	minArgs: 2, maxArgs: 2,
}

func cmdMount(args []string, stdout, stderr io.Writer) error {
	fl := mountCommand.flagSet()
	var f mountFlags
	fl.StringVar(&f.user, "user", "", "login name (default: from ~/.netrc for the server's host)")
	fl.StringVar(&f.passwordFile, "password-file", "", "file holding the app password, readable only by you (default: $NCVFS_PASSWORD, then ~/.netrc)")
	fl.StringVar(&f.cacheDir, "cache-dir", "", "where metadata and content are kept (default: $XDG_CACHE_HOME/ncvfs/<user>@<host>)")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.BoolVar(&f.insecure, "insecure", false, "do not verify the server's TLS certificate (only for servers you trust)")
	fl.BoolVar(&f.allowOther, "allow-other", false, "let other users see the mount (needs user_allow_other in /etc/fuse.conf)")
	fl.BoolVar(&f.allowNonEmpty, "allow-non-empty", false, "mount over a folder that is not empty (its files are hidden while mounted)")
	fl.BoolVar(&f.writes, "experimental-writes", false, "accept changes and upload them (experimental; without it every change fails with EROFS)")
	fl.BoolVar(&f.uploadConflicts, "upload-conflicts", false, "upload conflict copies too (by default they stay on this computer)")
	fl.BoolVar(&f.noXattr, "no-xattr", false, "offer no extended attributes (user.ncvfs.pin and the others); ncvfs pin, unpin and free still work")
	fl.StringVar(&f.noHydrateFor, "no-hydrate-for", "", "comma-separated program names (e.g. tracker-miner-fs-3,tracker-extract-3,baloo_file) whose reads never download: they read what is here, and get EIO for the rest")
	fl.BoolVar(&f.debugFUSE, "debug-fuse", false, "log every FUSE request (very verbose; implies --log-level debug)")
	f.cacheSize, f.minFree = hydrate.DefaultCacheSize, hydrate.DefaultMinFreeSpace
	fl.Var(&f.cacheSize, "cache-size", "how much downloaded content to keep; least recently used files beyond it become placeholders again (e.g. 20G, 500M)")
	fl.Var(&f.minFree, "min-free-space", "free space to leave on the cache's disk (e.g. 2G)")
	fl.DurationVar(&f.listingTTL, "listing-ttl", 0, "how long a folder listing is trusted before it is checked with the server again (default 5s)")
	fl.DurationVar(&f.poll, "poll", hydrate.DefaultPollInterval, "how often to ask the server whether others changed anything (0: never; changes then show when folders are visited)")
	pos, err := mountCommand.parse(fl, args, stdout)
	if err != nil {
		return err
	}
	if f.poll < 0 {
		return usageError{"--poll must not be negative (0 turns polling off)"}
	}
	if f.debugFUSE {
		f.logLevel = "debug" // go-fuse's request log is logged at debug level
	}
	logger, err := startLogging(stderr, f.logLevel)
	if err != nil {
		return err
	}
	creds, err := findCredentials(pos[0], f.user, f.passwordFile)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := session.Start(ctx, session.Config{
		URL: pos[0], User: creds.user, Password: creds.password, Mountpoint: pos[1],
		CacheDir: f.cacheDir, InsecureSkipVerify: f.insecure, AllowOther: f.allowOther,
		AllowNonEmpty: f.allowNonEmpty, Debug: f.debugFUSE, Writes: f.writes, UploadConflicts: f.uploadConflicts, ListingTTL: f.listingTTL, Logger: logger,
		Poll:      f.poll,
		CacheSize: int64(f.cacheSize), MinFreeSpace: int64(f.minFree), NoXattr: f.noXattr,
		NoHydrateFor: procname.Parse(f.noHydrateFor),
	})
	if err != nil {
		return explainStart(err, creds.user, pos[0])
	}
	fmt.Fprintf(stdout, "mounted %s at %s (Ctrl-C to unmount)\n", pos[0], pos[1])
	return serveUntilSignal(ctx, stop, s, stderr)
}

// serveUntilSignal waits for Ctrl-C/SIGTERM or an outside unmount, then cleans up.
// While programs keep the mount busy it says so once (again only if that changes) and
// keeps trying. After the first signal a second one ends the process the default way,
// leaving a dead mount for `ncvfs unmount`.
func serveUntilSignal(ctx context.Context, stopSignals func(), s *session.Session, stderr io.Writer) error {
	done := make(chan struct{})
	go func() { s.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		stopSignals()
		fmt.Fprintln(stderr, "ncvfs: unmounting")
	}
	said := ""
	for {
		err := s.Unmount()
		if err == nil {
			return nil
		}
		if msg := busyMessage(s.Mountpoint(), err); msg != said {
			fmt.Fprintln(stderr, "ncvfs: "+msg)
			said = msg
		}
		select {
		case <-time.After(2 * time.Second):
		case <-done:
			return s.Unmount()
		}
	}
}

// busyMessage is one line on why mp cannot be unmounted yet, naming the programs that
// hold it when /proc tells.
func busyMessage(mp string, err error) string {
	const waiting = "; waiting (Ctrl-C again quits and leaves the mount for `ncvfs unmount %s`)"
	if procs, _ := holders.Of(mp); len(procs) > 0 {
		names := make([]string, len(procs))
		for i, p := range procs {
			names[i] = p.String()
		}
		return fmt.Sprintf("%s is in use by %s: close them to unmount"+waiting, mp, strings.Join(names, ", "), mp)
	}
	// fusermount3's answer spans lines; its first line says it.
	first, _, _ := strings.Cut(err.Error(), "\n")
	return fmt.Sprintf("cannot unmount yet (%s): close the programs using %s"+waiting, strings.TrimSpace(first), mp, mp)
}

func cmdUnmount(args []string, stdout io.Writer) error {
	c := subcommand{name: "unmount", synopsis: "MOUNTPOINT", minArgs: 1, maxArgs: 1,
		about: "Unmount an ncvfs mount, also one left behind by a process that died."}
	pos, err := c.parse(c.flagSet(), args, stdout)
	if err != nil {
		return err
	}
	return fusefs.Unmount(pos[0])
}

// startLogging returns the logger for level and makes it the default, so lines that
// libraries print with the standard log package (go-fuse does) come out in the same
// format as ncvfs's own.
func startLogging(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToLower(level))); err != nil {
		return nil, usageError{fmt.Sprintf("--log-level %q: want debug, info, warn or error", level)}
	}
	logger := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
	slog.SetDefault(logger) // also sends the standard logger's lines to logger, at level INFO
	return logger, nil
}

// tuneGC makes the collector run less often: listing a large folder allocates much
// short-lived garbage (decoded XML) while little stays live, and at the default
// GOGC=100 collections took a fifth of a cold listing's time. The soft memory limit keeps
// the process small anyway: near it, the collector runs as often as it must. GOGC and
// GOMEMLIMIT in the environment win.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(40 << 20)
	}
}
