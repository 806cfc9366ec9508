// Command davtest-server serves the project's Nextcloud-dialect test server
// (davclient/davtest) on a loopback port, filled with a generated tree, as a process of
// its own: the benchmark points every client at the same server this way.
//
//	davtest-server --user bench --password-file FILE --tree flat=5000,tree=100x100
//
// It prints "ready <URL>" on stdout once the tree is in place and the port answers,
// and exits cleanly on SIGTERM or SIGINT. With --stats-addr it also serves the request
// and byte counters, and what a folder holds (for the write benchmark), on a second
// loopback port (see stats.go) and the line becomes "ready <URL> stats <STATS-URL>". Files carry synthetic content generated on the
// fly, so a large tree costs no memory for its bytes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/ncvfs/ncvfs/davclient/davtest"
	"github.com/ncvfs/ncvfs/internal/benchtool/treespec"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "davtest-server: %v\n", err)
		stop()
		os.Exit(1)
	}
}

type options struct {
	addr, statsAddr, user, passwordFile, tree, logLevel string
	gzip                                                bool
}

// run serves until ctx ends; "ready <URL>" goes to stdout, logs to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("davtest-server", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var o options
	fl.StringVar(&o.addr, "addr", "127.0.0.1:0", "listen address (port 0 picks a free port)")
	fl.StringVar(&o.statsAddr, "stats-addr", "", "also serve the request and byte counters and the folder endpoints here, without authentication; loopback only (e.g. 127.0.0.1:0)")
	fl.StringVar(&o.user, "user", "bench", "login name and user id")
	fl.StringVar(&o.passwordFile, "password-file", "", "file holding the password (required; never pass it on the command line)")
	fl.StringVar(&o.tree, "tree", "flat=5000,tree=100x100", "generated tree: NAME=FILES or NAME=SUBDIRSx...xFILES, comma-separated")
	fl.StringVar(&o.logLevel, "log-level", "warn", "debug (one line per request), info, warn or error")
	fl.BoolVar(&o.gzip, "gzip", false, "compress PROPFIND answers for clients that accept gzip, as Nextcloud does")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q", fl.Args())
	}
	if o.passwordFile == "" {
		return errors.New("--password-file is required")
	}
	password, err := readPassword(o.passwordFile)
	if err != nil {
		return err
	}
	spec, err := treespec.Parse(o.tree)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("--log-level %q: want debug, info, warn or error", o.logLevel)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	var statsLn net.Listener
	if o.statsAddr != "" {
		if statsLn, err = listenStats(o.statsAddr); err != nil {
			return err
		}
		defer statsLn.Close()
	}

	srv, err := davtest.New(davtest.Options{
		User: o.user, Password: password, Addr: o.addr, Logger: logger, Gzip: o.gzip,
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := populate(srv, spec); err != nil {
		return err
	}
	ready := "ready " + srv.URL()
	if statsLn != nil {
		// Counting starts clean once the tree is in place.
		srv.ResetCounts()
		defer serveStats(statsLn, srv, logger)()
		ready += " stats http://" + statsLn.Addr().String()
	}
	logger.Info("davtest-server: serving", "url", srv.URL(), "tree", spec.String())
	if _, err := fmt.Fprintln(stdout, ready); err != nil {
		return fmt.Errorf("write the ready line: %w", err)
	}
	<-ctx.Done()
	return nil
}

// readPassword reads the first line of path; an empty password is refused because the
// server requires one.
func readPassword(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read the password file: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimRight(line, "\r")
	if line == "" {
		return "", fmt.Errorf("the password file %s is empty", path)
	}
	return line, nil
}

// populate creates the spec's folders and synthetic files on the server.
func populate(srv *davtest.Server, spec treespec.Spec) error {
	return spec.Walk(func(e treespec.Entry) error {
		if e.IsDir {
			if err := srv.MkdirAll(e.Path); err != nil {
				return fmt.Errorf("create folder %s: %w", e.Path, err)
			}
			return nil
		}
		if _, err := srv.WriteSynthetic(e.Path, e.Size, e.Seed, e.ModTime); err != nil {
			return fmt.Errorf("create file %s: %w", e.Path, err)
		}
		return nil
	})
}
