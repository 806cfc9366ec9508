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

	"github.com/ncvfs/ncvfs/doctor"
)

func cmdRestore(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("restore", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var acct accountFlags
	acct.register(fl)
	var opt doctor.RestoreOptions
	manifest := fl.String("manifest", "", "CSV with a relpath column (an ncvfs diff report, curated)")
	fl.StringVar(&opt.From, "from", "", "the local backup folder the files are read from")
	fl.StringVar(&opt.To, "to", "", "the server folder they go to")
	fl.BoolVar(&opt.Execute, "execute", false, "upload; without it only the plan is shown and nothing is sent")
	fl.BoolVar(&opt.Overwrite, "overwrite", false, "replace server files that exist (only if unchanged since read); never without this flag")
	quiet := fl.Bool("quiet", false, "no progress bar")
	fl.Usage = func() {
		fmt.Fprintf(stderr, "Usage: ncvfs restore --url URL --manifest FILE.csv --from BACKUP_DIR --to REMOTE_PATH [--execute]\n\n"+
			"Uploads the files a manifest lists from a backup. A dry run by default.\n\nFlags:\n")
		fl.PrintDefaults()
	}
	pos, err := parseInterspersed(fl, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 || *manifest == "" || opt.From == "" || !flagSet(fl, "to") {
		fl.Usage()
		return usageError{"restore needs --manifest, --from and --to, and no other arguments"}
	}
	f, err := os.Open(*manifest)
	if err != nil {
		return fmt.Errorf("open the manifest: %w", err)
	}
	entries, err := doctor.ReadManifest(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", *manifest, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cl, err := acct.client(ctx, stderr)
	if err != nil {
		return err
	}
	if opt.Execute && !*quiet {
		opt.Progress = func(p doctor.RestoreProgress) { drawBar(stderr, p) }
	}
	rep, err := doctor.Restore(ctx, cl, entries, opt)
	if opt.Execute && !*quiet {
		fmt.Fprintln(stderr)
	}
	if err != nil {
		return err
	}
	printReport(stdout, &rep, opt)
	if !rep.OK() {
		return fmt.Errorf("restore: %d missing in the backup, %d failed (listed above)", len(rep.Missing), len(rep.Failed))
	}
	return nil
}

func flagSet(fl *flag.FlagSet, name string) bool {
	set := false
	fl.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func printReport(w io.Writer, rep *doctor.RestoreReport, opt doctor.RestoreOptions) {
	var bytes int64
	for _, it := range rep.Upload {
		bytes += it.Size
	}
	if opt.Execute {
		fmt.Fprintf(w, "uploaded %d files (%s) to %s, %d folders created\n", len(rep.Upload), humanBytes(bytes), orRoot(opt.To), rep.Folders)
	} else {
		fmt.Fprintf(w, "plan: %d to upload (%s) to %s\n", len(rep.Upload), humanBytes(bytes), orRoot(opt.To))
		for _, it := range rep.Upload {
			fmt.Fprintf(w, "  upload   %s\n", it.RelPath)
		}
	}
	for _, it := range rep.Skipped {
		fmt.Fprintf(w, "  skipped  %s: %s\n", it.RelPath, it.Reason)
	}
	for _, it := range rep.Missing {
		fmt.Fprintf(w, "  missing  %s: %s\n", it.RelPath, it.Reason)
	}
	for _, it := range rep.Failed {
		fmt.Fprintf(w, "  failed   %s: %s\n", it.RelPath, it.Reason)
	}
	if !opt.Execute {
		fmt.Fprintf(w, "dry run: nothing was sent; add --execute to upload\n")
	}
}

// drawBar redraws one progress line on stderr.
func drawBar(w io.Writer, p doctor.RestoreProgress) {
	const width = 30
	done := 0
	if p.TotalBytes > 0 {
		done = int(int64(width) * p.Bytes / p.TotalBytes)
	} else if p.TotalFiles > 0 {
		done = width * p.Files / p.TotalFiles
	}
	done = min(done, width)
	fmt.Fprintf(w, "\r[%s%s] %d/%d files, %s/%s", strings.Repeat("#", done), strings.Repeat("-", width-done),
		p.Files, p.TotalFiles, humanBytes(p.Bytes), humanBytes(p.TotalBytes))
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
