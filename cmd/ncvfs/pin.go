package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/ncvfs/ncvfs/internal/control"
)

// pin, unpin and free ask the running mount through its control socket, like status:
// they work with --no-xattr too.

// manyArgs bounds the paths of one command: any number a shell can pass.
const manyArgs = 1 << 20

func cmdPin(args []string, stdout, stderr io.Writer) error {
	c := subcommand{name: "pin", synopsis: "PATH... [--wait]", minArgs: 1, maxArgs: manyArgs,
		about: `Keep PATH (a file, or a folder and everything below it) on this computer: its content
is downloaded in the background and never evicted, and files that appear in a pinned
folder later are downloaded when the mount learns of them. The pin is kept across
unmounts. A pin whose content cannot fit in the cache budget (--cache-size) and on
the cache's disk (keeping --min-free-space) is refused, saying how much is missing.
The same as: setfattr -n user.ncvfs.pin -v alwayslocal PATH.`}
	fl := c.flagSet()
	wait := fl.Bool("wait", false, "wait until everything pinned is here, with progress on stderr")
	pos, err := c.parse(fl, args, stdout)
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	for _, p := range pos {
		t, err := findMount(p)
		if err != nil {
			return err
		}
		last := ""
		progress := func(data json.RawMessage) {
			var pr control.PinProgress
			if json.Unmarshal(data, &pr) != nil {
				return
			}
			line := fmt.Sprintf("ncvfs: %s: %d of %d files here (%s of %s)", p, pr.LocalFiles, pr.Files,
				humanBytes(pr.LocalBytes), humanBytes(pr.Bytes))
			if pr.LastError != "" {
				line += "; last error: " + pr.LastError
			}
			if line != last {
				fmt.Fprintln(stderr, line)
				last = line
			}
		}
		var pr control.PinProgress
		if err := ask(ctx, t, control.OpPin, control.PinArgs{Wait: *wait}, progress, &pr); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("pin --wait interrupted; %s stays pinned and is downloaded in the background", p)
			}
			return err
		}
		state := "downloading in the background"
		if pr.Done {
			state = "all here"
		}
		fmt.Fprintf(stdout, "pinned %s: %d of %d files here (%s of %s), %s\n", p, pr.LocalFiles, pr.Files,
			humanBytes(pr.LocalBytes), humanBytes(pr.Bytes), state)
	}
	return nil
}

func cmdUnpin(args []string, stdout io.Writer) error {
	c := subcommand{name: "unpin", synopsis: "PATH...", minArgs: 1, maxArgs: manyArgs,
		about: `Let the cache decide again about PATH: its content stays until it is evicted as least
recently used (ncvfs free drops it now). A path inside a pinned folder gets a pin of
its own, "unspecified". The same as: setfattr -x user.ncvfs.pin PATH.`}
	pos, err := c.parse(c.flagSet(), args, stdout)
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	for _, p := range pos {
		t, err := findMount(p)
		if err != nil {
			return err
		}
		var is control.ItemStatus
		if err := ask(ctx, t, control.OpUnpin, nil, nil, &is); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "unpinned %s: %s\n", p, is.Pin)
	}
	return nil
}

func cmdFree(args []string, stdout, stderr io.Writer) error {
	c := subcommand{name: "free", synopsis: "PATH... [--older-than DURATION]", minArgs: 1, maxArgs: manyArgs,
		about: `Free space: turn the files below PATH back into placeholders (names, sizes and times
stay; the next read downloads again). Files changed here and not uploaded yet, files
open or being downloaded, and pinned files are kept, each listed on stderr.`}
	fl := c.flagSet()
	older := fl.Duration("older-than", 0, "only content not used for this long (e.g. 720h)")
	pos, err := c.parse(fl, args, stdout)
	if err != nil {
		return err
	}
	if *older < 0 {
		return usageError{"--older-than must not be negative"}
	}
	var fa control.FreeArgs
	if *older > 0 {
		fa.OlderThan = older.String()
	}
	ctx, stop := signalContext()
	defer stop()
	for _, p := range pos {
		t, err := findMount(p)
		if err != nil {
			return err
		}
		var res control.FreeResult
		if err := ask(ctx, t, control.OpFree, fa, nil, &res); err != nil {
			return err
		}
		for _, s := range res.Skipped {
			fmt.Fprintf(stderr, "ncvfs: kept %s: %s\n", s.Path, s.Reason)
		}
		fmt.Fprintf(stdout, "freed %s in %d files below %s; %d kept\n", humanBytes(res.FreedBytes), res.FreedFiles, p, len(res.Skipped))
	}
	return nil
}

// pinLine is status's line about pins.
func pinLine(st *control.Status) string {
	return fmt.Sprintf("Pinned:          %d files, %s of %s here", st.PinnedFiles,
		humanBytes(st.PinnedLocalBytes), humanBytes(st.PinnedBytes))
}
