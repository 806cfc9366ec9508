// Command benchtool is the benchmark driver behind scripts/bench: in one run, against one
// local server, it times the same workloads through ncvfs, rclone mount, local disk and
// raw curl requests, and prints a markdown table with the goals' PASS/FAIL.
//
// Methodology (printed with the results as well):
//
//   - One server for everyone: davtest-server (the project's Nextcloud-dialect test
//     server) runs as its own process on 127.0.0.1 with a generated tree; every client
//     talks to it over loopback, one after the other, never at the same time.
//   - Cold: a fresh mount on a new mount point with an EMPTY cache directory, then the
//     first command is timed, then the mount is unmounted (fusermount3 -u) and its
//     process waited for. Repeated --repeat-cold times (default 5); the median is
//     reported. The time to mount is not included.
//   - Warm: one mount, the command run once untimed, then timed --repeat-warm times
//     (default 10) in a row; the median is reported.
//   - The kernel page cache is not dropped: listings are metadata, and a fresh FUSE
//     mount starts with no cached entries or attributes of its own. The local-disk copy
//     is listed warm only.
//   - Timing: each command is a child process (ls -l --color=never DIR, find DIR;
//     stdout to /dev/null) timed by wall clock around its whole run, fork and exec
//     included.
//   - Raw PROPFIND: curl with the property set ncvfs asks for, Depth 1, credentials
//     from a 0600 netrc file. For ls it is one request for the listed folder; for find
//     it is one Depth-1 request per folder of the tree, sent one after the other by one
//     curl process over one connection. The same reference stands on the cold and the
//     warm rows.
//   - ncvfs: the real binary, ncvfs mount --cache-dir FRESH --log-level warn, default
//     listing TTL. rclone: rclone mount --vfs-cache-mode full --cache-dir FRESH
//     --dir-cache-time 5m, a webdav remote with vendor nextcloud defined only through
//     RCLONE_CONFIG_* variables (password obscured).
//   - Local disk: the same tree on the file system of the cache directories, with
//     sparse files of the same sizes and mtimes.
//   - After the timed runs each client's listing is checked against the generated tree
//     (names, sizes, mtimes of the listed folder; folder and file counts of the walked
//     tree); a client that shows wrong data gets no PASS.
//   - Peak memory is the serving process's VmHWM from /proc/PID/status, read just
//     before unmounting.
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
	repeats    repeats
	out        string
	only       map[string]bool
	tree       string
	flatFolder string
	treeFolder string
	workDir    string
	ncvfsBin   string
	serverBin  string
	ncvfsArgs  []string
}

// clientNames are the clients --only chooses from, in column order.
var clientNames = []string{colNcvfs, colRclone, colLocal}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fl := flag.NewFlagSet("benchtool", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var c config
	var only, ncvfsArgs string
	fl.IntVar(&c.repeats.cold, "repeat-cold", 5, "cold runs per workload and client (a fresh mount each)")
	fl.IntVar(&c.repeats.warm, "repeat-warm", 10, "warm runs per workload and client")
	fl.StringVar(&c.out, "out", "", "also write the markdown report to this file")
	fl.StringVar(&only, "only", "", "comma-separated clients to run: ncvfs, rclone, local (default all; the raw curl reference always runs)")
	fl.StringVar(&c.tree, "tree", "flat=5000,tree=100x100", "the generated tree (see davtest-server --tree)")
	fl.StringVar(&c.flatFolder, "ls-folder", "flat", "the tree's folder that ls -l lists")
	fl.StringVar(&c.treeFolder, "find-folder", "tree", "the tree's folder that find walks")
	fl.StringVar(&c.workDir, "workdir", "", "where the run's temporary directory goes: mount points, caches, the local copy (default $TMPDIR)")
	fl.StringVar(&c.ncvfsBin, "ncvfs-bin", "", "ncvfs binary (default: go build ./cmd/ncvfs)")
	fl.StringVar(&c.serverBin, "server-bin", "", "davtest-server binary (default: go build ./cmd/davtest-server)")
	fl.StringVar(&ncvfsArgs, "ncvfs-args", "", "extra flags for ncvfs mount, space-separated (e.g. \"--listing-ttl 1m\")")
	if err := fl.Parse(args); err != nil {
		return c, err
	}
	if fl.NArg() != 0 {
		return c, fmt.Errorf("unexpected arguments %q", fl.Args())
	}
	if c.repeats.cold < 1 || c.repeats.warm < 1 {
		return c, errors.New("--repeat-cold and --repeat-warm must be at least 1")
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
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	spec, err := treespec.Parse(cfg.tree)
	if err != nil {
		return err
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
	if err := os.Mkdir(filepath.Join(root, "logs"), 0o700); err != nil {
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

	env, err := startServer(ctx, root, reg, cfg.serverBin, spec)
	if err != nil {
		return err
	}
	progress("server ready at %s with tree %s", env.serverURL, spec)

	workloads, err := listingWorkloads(spec, cfg.flatFolder, cfg.treeFolder)
	if err != nil {
		return err
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
		clients = append(clients, &localClient{env: env})
	}

	res := &results{workloads: workloads, repeats: cfg.repeats, tree: spec.String(), columns: []string{colRaw}}
	for _, c := range clients {
		res.columns = append(res.columns, c.name())
	}
	for _, w := range workloads {
		reps := cfg.repeats.of(w)
		progress("%s: raw PROPFIND", w.label)
		res.set(w.key, colRaw, measureRaw(ctx, w, curl, reps))
		for _, c := range clients {
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted: %w", ctx.Err())
			}
			progress("%s: %s", w.label, c.name())
			cl := measureClient(ctx, c, w, reps)
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted: %w", ctx.Err())
			}
			if cl.err != nil {
				progress("%s: %s failed: %v", w.label, c.name(), cl.err)
			}
			res.set(w.key, c.name(), cl)
		}
	}
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted: %w", ctx.Err())
	}
	res.machine = machineLines(ctx, root, cfg.ncvfsBin, cfg.only[colRclone])
	res.elapsed = time.Since(started)
	report := render(res, evalGoals(res, listingGoals()))
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
// with the tree.
func startServer(ctx context.Context, root string, reg *registry, bin string, spec treespec.Spec) (*benchEnv, error) {
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	env := &benchEnv{
		root: root, user: serverUser, password: hex.EncodeToString(secret),
		passwordFile: filepath.Join(root, "password"), spec: spec, reg: reg,
	}
	if err := os.WriteFile(env.passwordFile, []byte(env.password+"\n"), 0o600); err != nil {
		return nil, err
	}
	_, line, err := startProc(ctx, reg, startOptions{
		name: "davtest-server",
		args: []string{bin, "--addr", "127.0.0.1:0", "--user", env.user,
			"--password-file", env.passwordFile, "--tree", spec.String()},
		logPath:     env.logPath("davtest-server"),
		readyPrefix: "ready ",
		timeout:     2 * time.Minute,
	})
	if err != nil {
		return nil, err
	}
	env.serverURL = strings.TrimSpace(strings.TrimPrefix(line, "ready "))
	if !strings.HasPrefix(env.serverURL, "http://127.0.0.1:") {
		return nil, fmt.Errorf("davtest-server said %q, want ready http://127.0.0.1:PORT", line)
	}
	return env, nil
}
