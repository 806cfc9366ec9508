package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ncvfs/ncvfs/internal/control"
)

// status, flush and conflicts ask a running mount through its control socket; they
// never open its cache (the mount's process holds it).

// findMount finds the ncvfs mount that contains arg (default: the working folder).
func findMount(arg string) (control.Target, error) {
	if arg == "" {
		arg = "."
	}
	// Looking at the path through the kernel also makes the mount learn of it (its
	// folder is listed), so the mount can answer about it.
	if _, err := os.Lstat(arg); errors.Is(err, fs.ErrNotExist) {
		return control.Target{}, fmt.Errorf("%s: no such file or folder", arg)
	}
	t, err := control.Locate(arg)
	if errors.Is(err, control.ErrNotInMount) {
		return control.Target{}, fmt.Errorf("%s is not inside an ncvfs mount", arg)
	}
	return t, err
}

// optional is the one optional positional argument, or "" (the working folder).
func optional(pos []string) string {
	if len(pos) == 1 {
		return pos[0]
	}
	return ""
}

// ask sends op about t's path to the daemon of its mount, with args (nil: none), and
// decodes the answer into out; progress, if not nil, gets the events before it.
func ask(ctx context.Context, t control.Target, op string, args any, progress func(json.RawMessage), out any) error {
	req := control.Request{Op: op, Path: t.Rel}
	if args != nil {
		raw, err := json.Marshal(args)
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		req.Args = raw
	}
	return control.Call(ctx, t, req, progress, out)
}

// signalContext ends on Ctrl-C or SIGTERM, which also cancels the daemon's work.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

const statusAbout = `Show the state of the ncvfs mount that contains PATH (default: the working folder):
the server and user, whether the mount is read-only, how many items are known, the
cache's use against its budget, the upload queue (changed items waiting, in flight,
refused by the server, each refusal with its path and message) and conflict copies.
With a PATH below the mount point, also that file's or folder's state:

  online     a placeholder, nothing downloaded
  partial    part of the content is here
  hydrating  being downloaded now
  local      all of the content is here
  dirty      changed here, not uploaded yet
  uploading  being uploaded now
  conflict   a conflict copy (see ncvfs conflicts)
  error      the server refused its upload (see the message)

--json prints one JSON object with these fields:
  server_url, user, dialect, connection ("online" or "offline"),
  offline_since (RFC 3339, only while offline), mount_point, read_only (bool), items,
  cache_bytes, cache_files, cache_budget_bytes, min_free_bytes,
  upload_queue, dirty, uploading, upload_errors ([{path, error}]),
  last_upload_error (while uploads are retried), conflicts,
  pinned_files, pinned_bytes, pinned_local_bytes (what ncvfs pin keeps here),
  item (only with a PATH below the mount point:
        {path, kind ("file" or "folder"), state, size, local_bytes, local_only, error,
         pin ("alwayslocal", "onlineonly" or "unspecified"), pin_inherited (bool)})`

func cmdStatus(args []string, stdout io.Writer) error {
	c := subcommand{name: "status", synopsis: "[PATH] [--json]", about: statusAbout, maxArgs: 1}
	fl := c.flagSet()
	asJSON := fl.Bool("json", false, "print one JSON object (fields above)")
	pos, err := c.parse(fl, args, stdout)
	if err != nil {
		return err
	}
	t, err := findMount(optional(pos))
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	var st control.Status
	if err := ask(ctx, t, control.OpStatus, nil, nil, &st); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, st)
	}
	printStatus(stdout, &st)
	return nil
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printStatus(w io.Writer, st *control.Status) {
	mode := "read-write"
	if st.ReadOnly {
		mode = "read-only"
	}
	fmt.Fprintf(w, "Server:          %s (user %s, %s)\n", st.ServerURL, st.User, st.Dialect)
	fmt.Fprintf(w, "Mount point:     %s (%s)\n", st.MountPoint, mode)
	if st.OfflineSince != nil {
		fmt.Fprintf(w, "Connection:      offline since %s (server unreachable; working from the cache)\n",
			st.OfflineSince.Local().Format("2006-01-02 15:04:05"))
	} else if st.Connection != "" {
		fmt.Fprintf(w, "Connection:      %s\n", st.Connection)
	}
	fmt.Fprintf(w, "Items known:     %d\n", st.Items)
	fmt.Fprintf(w, "Cache:           %s in %d files, budget %s (keeping %s free on its disk)\n",
		humanBytes(st.CacheBytes), st.CacheFiles, humanBytes(st.CacheBudgetBytes), humanBytes(st.MinFreeBytes))
	if !st.ReadOnly {
		fmt.Fprintf(w, "Upload queue:    %d (%d waiting, %d uploading, %d refused)\n",
			st.UploadQueue, st.Dirty, st.Uploading, len(st.UploadErrors))
		if st.LastUploadError != "" {
			fmt.Fprintf(w, "Retrying after:  %s\n", st.LastUploadError)
		}
		for _, e := range st.UploadErrors {
			fmt.Fprintf(w, "  refused: %s: %s\n", e.Path, e.Error)
		}
	}
	fmt.Fprintf(w, "Conflict copies: %d\n", st.Conflicts)
	fmt.Fprintln(w, pinLine(st))
	if it := st.Item; it != nil {
		fmt.Fprintf(w, "%s: %s (%s", it.Path, it.State, it.Kind)
		if it.Kind == "file" {
			fmt.Fprintf(w, ", %s, %s here", humanBytes(it.Size), humanBytes(it.LocalBytes))
		}
		if it.LocalOnly {
			fmt.Fprint(w, ", kept only here")
		}
		if it.Pin != "" && it.Pin != "unspecified" { // the default goes unsaid
			fmt.Fprintf(w, ", pin %s", it.Pin)
			if it.PinInherited {
				fmt.Fprint(w, " (from a folder above)")
			}
		}
		fmt.Fprintln(w, ")")
		if it.Error != "" {
			fmt.Fprintf(w, "  error: %s\n", it.Error)
		}
	}
}

// flushQuiet is how long a flush runs before it reports progress.
const flushQuiet = time.Second

func cmdFlush(args []string, stdout, stderr io.Writer) error {
	c := subcommand{name: "flush", synopsis: "[PATH] [--timeout DURATION]", maxArgs: 1,
		about: `Wait until every change made in the ncvfs mount that contains PATH (default: the
working folder) is on the server. Progress goes to stderr when it takes more than a
moment. Exit status 0 when everything is uploaded; 1 with the last upload error when
the timeout ends, the mount stops, or the server refused a change (each refusal is
listed). On a read-only mount there is nothing to flush (exit 0).`}
	fl := c.flagSet()
	timeout := fl.Duration("timeout", 0, "give up after this long (e.g. 30s, 5m; default: wait until done or Ctrl-C)")
	fl.Bool("wait", true, "accepted for compatibility; flush always waits")
	pos, err := c.parse(fl, args, stdout)
	if err != nil {
		return err
	}
	if *timeout < 0 {
		return usageError{"--timeout must not be negative"}
	}
	t, err := findMount(optional(pos))
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	var fa control.FlushArgs
	if *timeout > 0 {
		fa.Timeout = timeout.String()
	}
	started := time.Now()
	last := ""
	progress := func(data json.RawMessage) {
		var p control.FlushProgress
		if json.Unmarshal(data, &p) != nil || time.Since(started) < flushQuiet {
			return
		}
		line := fmt.Sprintf("ncvfs: %s left to upload", plural(p.Queued, "change"))
		if p.Uploading != "" {
			line += " (uploading " + p.Uploading + ")"
		}
		if p.LastError != "" {
			line += "; retrying after: " + p.LastError
		}
		if line != last { // a line only when something changed
			fmt.Fprintln(stderr, line)
			last = line
		}
	}
	var res control.FlushResult
	err = ask(ctx, t, control.OpFlush, fa, progress, &res)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("flush interrupted; the uploads go on in the background")
		}
		return err
	}
	switch {
	case res.ReadOnly:
		fmt.Fprintf(stdout, "nothing to flush: the mount at %s is read-only\n", t.MountPoint)
	case len(res.Refused) > 0:
		for _, r := range res.Refused {
			fmt.Fprintf(stderr, "ncvfs: refused by the server: %s: %s\n", r.Path, r.Error)
		}
		return fmt.Errorf("%s refused by the server %s kept here, not uploaded; change them (or move them away) to try again",
			plural(len(res.Refused), "change"), isAre(len(res.Refused)))
	default:
		if time.Since(started) >= flushQuiet {
			fmt.Fprintln(stderr, "ncvfs: everything is uploaded")
		}
	}
	return nil
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}

func cmdConflicts(args []string, stdout io.Writer) error {
	c := subcommand{name: "conflicts", synopsis: "[PATH] [--json]", maxArgs: 1,
		about: `List the conflict copies below PATH (default: the whole mount that contains the
working folder): files both this computer and the server changed, whose local version
was kept as "NAME (conflicted copy DATE TIME).EXT" beside the server's version. Each
line: the copy's path, the original's path, and when the conflict was found.

--json prints {"conflicts": [{path, original, original_exists, when, size}]}.`}
	fl := c.flagSet()
	asJSON := fl.Bool("json", false, "print JSON")
	pos, err := c.parse(fl, args, stdout)
	if err != nil {
		return err
	}
	var t control.Target
	if len(pos) == 1 {
		t, err = findMount(pos[0])
	} else {
		t, err = findMount("")
		t.Rel = "" // the whole mount
	}
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	var res control.ConflictsReply
	if err := ask(ctx, t, control.OpConflicts, nil, nil, &res); err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, res)
	}
	if len(res.Conflicts) == 0 {
		fmt.Fprintln(stdout, "no conflict copies")
		return nil
	}
	for _, c := range res.Conflicts {
		orig := c.Original
		switch {
		case orig == "":
			orig = "(original unknown)"
		case !c.OriginalExists:
			orig += " (not here any more)"
		}
		fmt.Fprintf(stdout, "%s\t%s\t%s\n", c.Path, orig, c.When.Local().Format("2006-01-02 15:04:05"))
	}
	return nil
}
