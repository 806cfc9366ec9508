// Command benchtool is the benchmark driver behind scripts/bench: in one run, against one
// local server, it times the same workloads through ncvfs, rclone mount, local disk and
// raw curl requests, and prints markdown tables with the goals' PASS/FAIL. The workloads
// are listings (ls -l, find), reading content (a 1 GiB file sequentially, its first
// 4 KiB, again warm, at 100 random places; 10,000 small files with one cat) and writing
// (a 1 GiB file and 1,000 small files, until the server holds them; tar x of 10,000
// small files); --workloads list, content or write (or a comma-separated list of them)
// runs only those kinds.
//
// Methodology (printed with the results as well):
//
//   - One server for everyone: davtest-server (the project's Nextcloud-dialect test
//     server) runs as its own process on 127.0.0.1 with a generated tree (files carry
//     synthetic content generated from a seed); every client talks to it over loopback,
//     one after the other, never at the same time.
//   - Cold: a fresh mount on a new mount point with an EMPTY cache directory, then the
//     first command is timed, then the mount is unmounted (fusermount3 -u), its process
//     waited for; its cache directory is kept until the end of the run (removing
//     thousands of files just before the next cold run slows every file creation of that
//     run on ext4 without a journal). Listings are repeated --repeat-cold
//     times (default 5), content reads --repeat-content times (default 3); the median is
//     reported. The time to mount is not included. Before every timed run (raw requests
//     too) the driver calls sync(2), so that writing back an earlier run's files does not
//     slow the next one.
//   - Warm: one mount, the command run once untimed, then timed --repeat-warm times
//     (default 10; content reads --repeat-content) in a row; the median is reported.
//     Before the warm re-reads of the large file the driver waits (up to 10 s) until the
//     file's allocated blocks cover its size, as du would show, so that the mount has
//     finished storing and verifying it.
//   - The kernel page cache is not dropped: a fresh FUSE mount starts with no cached
//     entries, attributes or pages of its own. The local-disk copy is read warm only.
//   - Timing: each command is a child process (ls -l --color=never DIR, find DIR, dd
//     if=FILE of=/dev/null bs=1M, head -c 4096 FILE, find DIR -type f -exec cat {} +;
//     stdout to /dev/null) timed by wall clock around its whole run, fork and exec
//     included. The random reads are the driver's own randread subcommand as a child
//     process: it opens the file, then times only its 100 preads of 4 KiB at block-aligned
//     offsets from a fixed seed.
//   - Raw PROPFIND: curl with the property set ncvfs asks for, Depth 1, credentials from a
//     0600 netrc file. For ls it is one request for the listed folder; for find it is one
//     Depth-1 request per folder of the tree, sent one after the other by one curl process
//     over one connection. The same reference stands on the cold and the warm rows.
//   - Raw GET: for the large file, curl -o into a file in the work directory (the caches'
//     disk: download and store, the physical limit); for head, curl -r 0-4095 -o FILE; for
//     the small files, one curl process GETting each in turn over one connection, answers
//     to /dev/null.
//   - ncvfs: the real binary, ncvfs mount --cache-dir FRESH --log-level warn, default
//     listing TTL. rclone: rclone mount --vfs-cache-mode full --cache-dir FRESH
//     --dir-cache-time 5m, a webdav remote with vendor nextcloud defined only through
//     RCLONE_CONFIG_* variables (password obscured).
//   - Local disk: the same tree on the file system of the cache directories, with sparse
//     files of the same sizes and mtimes, except for the content workloads' files, which
//     hold the server's bytes.
//   - After the timed runs each client's listing is checked against the generated tree
//     (names, sizes, mtimes of the listed folder; folder and file counts of the walked
//     tree); a client that shows wrong data gets no PASS.
//   - Bytes are checked too: dd must report the file's size; the large file and every
//     small file are read back through the client after the first cold run (and after the
//     warm runs) and compared with the generated content; head's output, curl's downloads
//     and every random read are compared on every run.
//   - Bytes fetched by the random reads: the GET body bytes the server sent, from its
//     counters (davtest-server --stats-addr, a second loopback port), reset just before
//     the timed reads and read after the unmount, so that what a mount fetched in the
//     background counts too.
//   - Writing: before each run the server folder bench-writes is deleted for good (with
//     the trash bin and unfinished chunked uploads) and made again, empty; the driver
//     calls sync(2) and mounts afresh with an empty cache (ncvfs with
//     --experimental-writes, rclone with --vfs-write-back 0s), looks the folder up untimed, then times
//     the command as a child process writing into it: dd if=SRC of=FILE bs=1M conv=fsync
//     for the large file, cp -r SRC/. DIR for the small files, tar -xf ARCHIVE -C DIR for
//     the tree. The sources are made with synthetic content on the caches' disk before the
//     runs (the page cache holds them).
//   - Until the server holds everything: from the start of the command the driver polls
//     the server's own summary of the folder every 10 ms (files, bytes, and a version that
//     changes on every write there, on davtest-server's stats port); once files and bytes
//     are those written, the server hashes every file (SHA-256) and the driver compares
//     them with the sources. The time is when that summary was first seen; the mount is
//     unmounted after it. Bytes that differ get 10 s to be put right, then the cell shows
//     wrong data and gets no PASS; so does an upload that leaves what the server holds
//     unchanged for 2 minutes (or takes over 10 in all); such a run ends the client's
//     runs of that workload. tar x is timed until tar returns, and the wait after it is
//     reported beside.
//   - Raw PUT: curl -T of the same files, FILE/URL pairs from a config file, one process
//     over one connection, every answer 201, then the same wait. Local disk: the same
//     command into a new folder on the caches' disk, then its files hashed and compared.
//   - Peak memory is the serving process's VmHWM from /proc/PID/status, read just before
//     unmounting.
//
// Every child runs in its own process group and gets SIGTERM if the driver dies; on
// exit, error or Ctrl-C the driver unmounts everything it mounted, stops every child,
// and removes its work directory only once nothing below it is mounted. A mount left by
// a driver killed with SIGKILL is unmounted by the next run, if its server is gone.
//
// To add a benchmark, add a workload (workloads.go) and, if it has a target, a goal
// (report.go); clients and the runner stay as they are.
package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/ncvfs/ncvfs/internal/benchtool/treespec"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchtool: %v\n", err)
		os.Exit(1)
	}
}

// config holds the command line.
type config struct {
	repeats     repeats
	out         string
	only        map[string]bool
	workloads   map[string]bool // of list, content, write, all
	tree        string
	writeTree   string
	uploadStall time.Duration
	flatFolder  string
	treeFolder  string
	bigFolder   string
	smallFolder string
	workDir     string
	logDir      string
	ncvfsBin    string
	serverBin   string
	ncvfsArgs   []string
}

// defaultTree has the listing folders and the content folders: one 1 GiB file and
// 10,000 files of 4 KiB (synthetic content: sizes cost the server nothing).
const defaultTree = "flat=5000,tree=100x100,big=1:1G,small=10000:4K"

func (c config) listing() bool { return c.workloads["list"] || c.workloads["all"] }
func (c config) content() bool { return c.workloads["content"] || c.workloads["all"] }
func (c config) writing() bool { return c.workloads["write"] || c.workloads["all"] }

// clientNames are the clients --only chooses from, in column order.
var clientNames = []string{colNcvfs, colRclone, colLocal}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fl := flag.NewFlagSet("benchtool", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var c config
	var only, ncvfsArgs, workloads string
	fl.IntVar(&c.repeats.cold, "repeat-cold", 5, "cold runs per workload and client (a fresh mount each)")
	fl.IntVar(&c.repeats.warm, "repeat-warm", 10, "warm runs per workload and client")
	fl.IntVar(&c.repeats.content, "repeat-content", 3, "runs per content workload and client, cold or warm")
	fl.IntVar(&c.repeats.write, "repeat-write", 3, "runs per write workload and client (a fresh mount each)")
	fl.StringVar(&workloads, "workloads", "all", "which workloads, comma-separated: list (listings), content (reading files), write (writing files) or all")
	fl.DurationVar(&c.uploadStall, "upload-stall", stallTimeout, "a write run whose upload leaves the server's copy unchanged this long counts as wrong data")
	fl.StringVar(&c.out, "out", "", "also write the markdown report to this file")
	fl.StringVar(&only, "only", "", "comma-separated clients to run: ncvfs, rclone, local (default all; the raw curl reference always runs)")
	fl.StringVar(&c.tree, "tree", defaultTree, "the generated tree (see davtest-server --tree)")
	fl.StringVar(&c.writeTree, "write-tree", defaultWriteTree, "what the write workloads write, in the --tree syntax: a file directly in big (dd), the files of small (cp -r; no subfolders), and the tree below tar (packed, then tar x)")
	fl.StringVar(&c.flatFolder, "ls-folder", "flat", "the tree's folder that ls -l lists")
	fl.StringVar(&c.treeFolder, "find-folder", "tree", "the tree's folder that find walks")
	fl.StringVar(&c.bigFolder, "big-folder", "big", "the tree's folder whose first file the large-file workloads read")
	fl.StringVar(&c.smallFolder, "small-folder", "small", "the tree's folder whose files one cat reads")
	fl.StringVar(&c.workDir, "workdir", "", "where the run's temporary directory goes: mount points, caches, the local copy (default $TMPDIR)")
	fl.StringVar(&c.logDir, "log-dir", "", "keep the server's and the mounts' logs in this directory (default: in the work directory, removed at the end)")
	fl.StringVar(&c.ncvfsBin, "ncvfs-bin", "", "ncvfs binary (default: go build ./cmd/ncvfs)")
	fl.StringVar(&c.serverBin, "server-bin", "", "davtest-server binary (default: go build ./cmd/davtest-server)")
	fl.StringVar(&ncvfsArgs, "ncvfs-args", "", "extra flags for ncvfs mount, space-separated (e.g. \"--listing-ttl 1m\")")
	if err := fl.Parse(args); err != nil {
		return c, err
	}
	if fl.NArg() != 0 {
		return c, fmt.Errorf("unexpected arguments %q", fl.Args())
	}
	if c.repeats.cold < 1 || c.repeats.warm < 1 || c.repeats.content < 1 || c.repeats.write < 1 {
		return c, errors.New("--repeat-cold, --repeat-warm, --repeat-content and --repeat-write must be at least 1")
	}
	c.workloads = map[string]bool{}
	for kind := range strings.SplitSeq(workloads, ",") {
		kind = strings.TrimSpace(kind)
		if !slices.Contains([]string{"list", "content", "write", "all"}, kind) {
			return c, fmt.Errorf("--workloads %q: want list, content, write or all, or several of them comma-separated", workloads)
		}
		c.workloads[kind] = true
	}
	if c.uploadStall <= 0 {
		return c, errors.New("--upload-stall must be positive")
	}
	c.only = map[string]bool{}
	for name := range strings.SplitSeq(only, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !slices.Contains(clientNames, name) {
			return c, fmt.Errorf("--only %q: want some of %s", name, strings.Join(clientNames, ", "))
		}
		c.only[name] = true
	}
	if len(c.only) == 0 {
		for _, n := range clientNames {
			c.only[n] = true
		}
	}
	c.ncvfsArgs = strings.Fields(ncvfsArgs)
	return c, nil
}

// run does the whole benchmark; whatever happens, it cleans up before returning.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	if len(args) > 0 && args[0] == helperRandRead {
		return randRead(args[1:], stdout, stderr)
	}
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	spec, err := treespec.Parse(cfg.tree)
	if err != nil {
		return err
	}
	var writeSpec treespec.Spec
	if cfg.writing() {
		if writeSpec, err = treespec.Parse(cfg.writeTree); err != nil {
			return fmt.Errorf("--write-tree: %w", err)
		}
		if _, err := planWrites(writeSpec); err != nil {
			return err
		}
		if _, ok := spec.Folder(writeFolder); ok {
			return fmt.Errorf("--tree %q has a folder %s, which the write workloads empty before each run", spec, writeFolder)
		}
	}
	if err := checkTools(cfg); err != nil {
		return err
	}
	started := time.Now()
	progress := func(format string, a ...any) { fmt.Fprintf(stderr, "bench: "+format+"\n", a...) }

	if parent, err := absDir(cmp.Or(cfg.workDir, os.TempDir())); err == nil {
		reaped, err := reapStaleMounts(parent)
		for _, m := range reaped {
			progress("unmounted %s, left behind by a run that was killed", m)
		}
		if err != nil {
			return err
		}
	}
	root, err := os.MkdirTemp(cfg.workDir, "ncvfs-bench-")
	if err != nil {
		return fmt.Errorf("create the work directory: %w", err)
	}
	if root, err = absDir(root); err != nil {
		return err
	}
	reg := &registry{}
	defer func() {
		cerr := reg.cleanup()
		if cerr == nil {
			cerr = removeWorkDir(root)
		}
		if cerr != nil {
			err = errors.Join(err, fmt.Errorf("cleanup: %w", cerr))
		}
	}()
	logDir := filepath.Join(root, "logs")
	if cfg.logDir != "" {
		logDir = filepath.Join(cfg.logDir, filepath.Base(root))
		progress("logs go to %s", logDir)
	}
	if err := os.MkdirAll(logDir, 0o700); err != nil {
		return err
	}

	if cfg.ncvfsBin == "" && cfg.only[colNcvfs] {
		progress("building ncvfs")
		if cfg.ncvfsBin, err = goBuild(ctx, root, "github.com/ncvfs/ncvfs/cmd/ncvfs", "ncvfs"); err != nil {
			return err
		}
	}
	if cfg.serverBin == "" {
		progress("building davtest-server")
		if cfg.serverBin, err = goBuild(ctx, root, "github.com/ncvfs/ncvfs/cmd/davtest-server", "davtest-server"); err != nil {
			return err
		}
	}

	env, err := startServer(ctx, root, logDir, reg, cfg.serverBin, spec)
	if err != nil {
		return err
	}
	progress("server ready at %s with tree %s", env.serverURL, spec)

	var workloads []workload
	if cfg.listing() {
		ws, err := listingWorkloads(spec, cfg.flatFolder, cfg.treeFolder)
		if err != nil {
			return err
		}
		workloads = append(workloads, ws...)
	}
	if cfg.content() {
		helper, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find the driver's own binary for its random-read helper: %w", err)
		}
		ws, err := contentWorkloads(spec, contentSetup{
			bigFolder: cfg.bigFolder, smallFolder: cfg.smallFolder, helper: helper,
			counters: newServerCounters(env.statsURL), settleTimeout: 10 * time.Second,
		})
		if err != nil {
			return err
		}
		workloads = append(workloads, ws...)
	}
	if cfg.writing() {
		progress("writing the write workloads' sources (%s)", writeSpec)
		ws, err := writeWorkloads(writeSetup{
			spec: writeSpec, srcDir: filepath.Join(root, "write-src"), server: newServerCounters(env.statsURL), stall: cfg.uploadStall,
			localDir: func() (string, error) { return env.freshDir("local-write") },
		})
		if err != nil {
			return err
		}
		workloads = append(workloads, ws...)
	}
	curl, err := newCurlRunner(env)
	if err != nil {
		return err
	}
	var clients []client
	if cfg.only[colNcvfs] {
		clients = append(clients, &ncvfsClient{env: env, bin: cfg.ncvfsBin, extra: cfg.ncvfsArgs})
	}
	if cfg.only[colRclone] {
		rc, err := newRcloneClient(ctx, env)
		if err != nil {
			return err
		}
		clients = append(clients, rc)
	}
	if cfg.only[colLocal] {
		lc := &localClient{env: env}
		if cfg.content() {
			// The content workloads compare bytes: their files get the real content.
			lc.withContent = func(e treespec.Entry) bool {
				return strings.HasPrefix(e.Path, cfg.bigFolder+"/") || strings.HasPrefix(e.Path, cfg.smallFolder+"/")
			}
		}
		// The write workloads need no copy: they write into new folders of their own.
		if cfg.listing() || cfg.content() {
			progress("writing the local copy of the tree")
			if _, err := lc.open(ctx); err != nil {
				return err
			}
		}
		clients = append(clients, lc)
	}

	res := &results{workloads: workloads, repeats: cfg.repeats, tree: spec.String(), columns: []string{colRaw}}
	for _, c := range clients {
		res.columns = append(res.columns, c.name())
	}
	for _, w := range workloads {
		reps := cfg.repeats.of(w)
		if w.raw != nil {
			progress("%s: %s", w.label, columnTitle(w.group, colRaw))
		}
		raw := measureRaw(ctx, w, curl, reps)
		logSamples(progress, w.label, colRaw, raw)
		res.set(w.key, colRaw, raw)
		for _, c := range clients {
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted: %w", ctx.Err())
			}
			progress("%s: %s", w.label, c.name())
			cl := measureClient(ctx, forWorkload(c, w), w, reps)
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted: %w", ctx.Err())
			}
			if cl.err != nil {
				progress("%s: %s failed: %v", w.label, c.name(), cl.err)
			}
			logSamples(progress, w.label, c.name(), cl)
			res.set(w.key, c.name(), cl)
		}
	}
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted: %w", ctx.Err())
	}
	res.machine = machineLines(ctx, root, cfg.ncvfsBin, cfg.only[colRclone])
	res.elapsed = time.Since(started)
	var goals []goal
	if cfg.listing() {
		goals = append(goals, listingGoals()...)
	}
	if cfg.content() {
		goals = append(goals, contentGoals()...)
	}
	if cfg.writing() {
		goals = append(goals, writeGoals(workloads)...)
	}
	report := render(res, evalGoals(res, goals))
	if _, err := io.WriteString(stdout, report); err != nil {
		return err
	}
	if cfg.out != "" {
		if err := os.WriteFile(cfg.out, []byte(report), 0o644); err != nil {
			return fmt.Errorf("write the report: %w", err)
		}
	}
	if failed := failedCells(res); failed > 0 {
		return fmt.Errorf("%d measurement(s) failed or showed wrong data; see the notes under the table", failed)
	}
	return nil
}

// failedCells counts the cells that did not give a usable number for a reason other
// than not applying.
func failedCells(r *results) int {
	n := 0
	for _, row := range r.cells {
		for _, c := range row {
			if c.err != nil || c.checkErr != nil {
				n++
			}
		}
	}
	return n
}

// checkTools fails early, with the package to install, when a needed tool is missing.
func checkTools(cfg config) error {
	need := map[string]string{"curl": "curl", "ls": "coreutils", "find": "findutils"}
	if cfg.only[colNcvfs] || cfg.only[colRclone] {
		need["fusermount3"] = "fuse3"
		if _, err := os.Stat("/dev/fuse"); err != nil {
			return fmt.Errorf("/dev/fuse is missing: FUSE is not available here (%v)", err)
		}
	}
	if cfg.only[colRclone] {
		need["rclone"] = "rclone"
	}
	if cfg.writing() {
		need["tar"] = "tar"
		need["dd"] = "coreutils"
	}
	if (cfg.ncvfsBin == "" && cfg.only[colNcvfs]) || cfg.serverBin == "" {
		need["go"] = "golang (or pass --ncvfs-bin and --server-bin)"
	}
	for tool, pkg := range need {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found; install it (Debian: apt-get install %s)", tool, pkg)
		}
	}
	return nil
}

// goBuild builds a command of this module into root/bin.
func goBuild(ctx context.Context, root, pkg, name string) (string, error) {
	bin := filepath.Join(root, "bin", name)
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build %s (run from the repository, or pass the binary): %w\n%s", pkg, err, out)
	}
	return bin, nil
}

// serverUser is the benchmark account's login name.
const serverUser = "bench"

// startServer writes a fresh random password to a 0600 file and starts davtest-server
// with the tree and its counters port.
func startServer(ctx context.Context, root, logDir string, reg *registry, bin string, spec treespec.Spec) (*benchEnv, error) {
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	env := &benchEnv{
		root: root, user: serverUser, password: hex.EncodeToString(secret),
		passwordFile: filepath.Join(root, "password"), spec: spec, reg: reg, logDir: logDir,
	}
	if err := os.WriteFile(env.passwordFile, []byte(env.password+"\n"), 0o600); err != nil {
		return nil, err
	}
	_, line, err := startProc(ctx, reg, startOptions{
		name: "davtest-server",
		args: []string{bin, "--addr", "127.0.0.1:0", "--user", env.user,
			"--password-file", env.passwordFile, "--tree", spec.String(), "--stats-addr", "127.0.0.1:0"},
		logPath:     env.logPath("davtest-server"),
		readyPrefix: "ready ",
		timeout:     2 * time.Minute,
	})
	if err != nil {
		return nil, err
	}
	fields := strings.Fields(line)
	if len(fields) != 4 || fields[0] != "ready" || fields[2] != "stats" ||
		!strings.HasPrefix(fields[1], "http://127.0.0.1:") || !strings.HasPrefix(fields[3], "http://127.0.0.1:") {
		return nil, fmt.Errorf("davtest-server said %q, want ready http://127.0.0.1:PORT stats http://127.0.0.1:PORT", line)
	}
	env.serverURL, env.statsURL = fields[1], fields[3]
	return env, nil
}

// logSamples shows every sample of a cell on the progress output, to judge the spread
// behind a median.
func logSamples(progress func(string, ...any), label, column string, c cell) {
	if len(c.samples) == 0 {
		return
	}
	parts := make([]string, len(c.samples))
	for i, d := range c.samples {
		parts[i] = fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond))
	}
	progress("%s: %s samples (ms): %s", label, column, strings.Join(parts, " "))
}
