package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/ncvfs/ncvfs/davclient"
	"github.com/ncvfs/ncvfs/doctor"
)

// accountFlags are the connection flags diff and restore share with mount.
type accountFlags struct {
	url, user, passwordFile, logLevel string
	insecure                          bool
}

func (a *accountFlags) register(fl *flag.FlagSet) {
	fl.StringVar(&a.url, "url", "", "the Nextcloud/ownCloud address (https://cloud.example.com) or any WebDAV folder URL")
	fl.StringVar(&a.user, "user", "", "login name (default: from ~/.netrc for the server's host)")
	fl.StringVar(&a.passwordFile, "password-file", "", "file holding the app password (default: $NCVFS_PASSWORD, then ~/.netrc)")
	fl.StringVar(&a.logLevel, "log-level", "warn", "debug, info, warn or error")
	fl.BoolVar(&a.insecure, "insecure", false, "do not verify the server's TLS certificate (only for servers you trust)")
}

// client builds and discovers a client the way mount does.
func (a *accountFlags) client(ctx context.Context, stderr io.Writer) (*davclient.Client, error) {
	if a.url == "" {
		return nil, usageError{"--url is required"}
	}
	logger, err := startLogging(stderr, a.logLevel)
	if err != nil {
		return nil, err
	}
	creds, err := findCredentials(a.url, a.user, a.passwordFile)
	if err != nil {
		return nil, err
	}
	c, err := davclient.New(davclient.Config{URL: a.url, User: creds.user, Password: creds.password,
		InsecureSkipVerify: a.insecure, Logger: logger})
	if err != nil {
		return nil, err
	}
	if _, err := c.Discover(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// parseInterspersed parses flags that may come before or after the arguments.
func parseInterspersed(fl *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fl.Parse(args); err != nil {
			return nil, err
		}
		if fl.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fl.Arg(0))
		args = fl.Args()[1:]
	}
}

func cmdDiff(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("diff", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var acct accountFlags
	acct.register(fl)
	var opt doctor.DiffOptions
	fl.BoolVar(&opt.NoContentCheck, "no-content-check", false, "trust mtimes: do not compare the content of same-size files whose mtimes differ")
	fl.BoolVar(&opt.IncludeNoise, "include-noise", false, "also list lock files, Office temporaries, .DS_Store, Thumbs.db, conflicted copies, ...")
	fl.BoolVar(&opt.History, "history", false, "look local-only files up in the trash bin and the activity stream (deleted_on_server)")
	fl.IntVar(&opt.Parallel, "parallel", 4, "server folders listed at once")
	quiet := fl.Bool("quiet", false, "no progress on stderr")
	fl.Usage = func() {
		fmt.Fprintf(stderr, "Usage: ncvfs diff --url URL [flags] LOCAL_DIR REMOTE_PATH\n\n"+
			"Compares a local folder with a server folder and writes CSV to stdout:\n  %s\n"+
			"status: local_only, server_only, local_newer, server_newer, conflict, deleted_on_server.\n"+
			"Identical files (also those whose mtime alone differs) are left out.\n\nFlags:\n",
			strings.Join(doctor.CSVHeader, ","))
		fl.PrintDefaults()
	}
	pos, err := parseInterspersed(fl, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		fl.Usage()
		return usageError{"diff needs LOCAL_DIR and REMOTE_PATH"}
	}
	opt.LocalDir, opt.RemotePath = pos[0], pos[1]
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := acct.client(ctx, stderr)
	if err != nil {
		return err
	}
	if !*quiet {
		opt.Progress = func(p doctor.Progress) {
			fmt.Fprintf(stderr, "diff: %d folders, %d local files, %d server files; in %s\n",
				p.Folders, p.LocalFiles, p.ServerFiles, orRoot(p.Path))
		}
	}
	cw, err := doctor.NewCSVWriter(stdout)
	if err != nil {
		return err
	}
	sum, err := doctor.Diff(ctx, c, opt, cw.Write)
	if ferr := cw.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("write the report: %w", ferr)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "diff: %d local files, %d server files; left out: %d identical, %d same content with another mtime, %d noise, %d symbolic links, %d special files\n",
		sum.LocalFiles, sum.ServerFiles, sum.Identical, sum.SameContent, sum.Noise, sum.Symlinks, sum.Special)
	var counts []string
	for _, st := range []doctor.Status{doctor.LocalOnly, doctor.DeletedOnServer, doctor.ServerOnly,
		doctor.LocalNewer, doctor.ServerNewer, doctor.Conflict} {
		if n := sum.Rows[st]; n > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", n, st))
		}
	}
	if len(counts) == 0 {
		counts = []string{"no differences"}
	}
	fmt.Fprintf(stderr, "diff: %s\n", strings.Join(counts, ", "))
	for _, n := range sum.Notes {
		fmt.Fprintf(stderr, "diff: note: %s\n", n)
	}
	return nil
}

func orRoot(p string) string {
	if p == "" {
		return "."
	}
	return p
}
