package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ncvfs/ncvfs/davclient/davtest"
	"github.com/ncvfs/ncvfs/internal/benchtool/treespec"
)

// benchEnv is what every client needs: the server, the credentials, the tree, and the
// run's work directory where fresh mount points and cache directories are made.
type benchEnv struct {
	root         string // the run's work directory; everything made goes below it
	serverURL    string // base URL, e.g. http://127.0.0.1:PORT
	statsURL     string // the server's counters port, e.g. http://127.0.0.1:PORT
	logDir       string // where the children's logs go
	user         string
	password     string // only handed to children through files or the environment
	passwordFile string
	spec         treespec.Spec
	reg          *registry

	mu  sync.Mutex
	seq int
}

// filesURL is the WebDAV root of the user's files, ending in "/".
func (e *benchEnv) filesURL() string {
	return e.serverURL + "/remote.php/dav/files/" + e.user + "/"
}

// freshDir makes a new empty directory root/kind-N.
func (e *benchEnv) freshDir(kind string) (string, error) {
	e.mu.Lock()
	e.seq++
	n := e.seq
	e.mu.Unlock()
	dir := filepath.Join(e.root, fmt.Sprintf("%s-%03d", kind, n))
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", fmt.Errorf("benchtool: %w", err)
	}
	return dir, nil
}

func (e *benchEnv) logPath(name string) string {
	dir := e.logDir
	if dir == "" {
		dir = filepath.Join(e.root, "logs")
	}
	return filepath.Join(dir, name+".log")
}

// client is one way of seeing the server's tree as local files.
type client interface {
	name() string
	// open gives a view of the whole tree. For a mount it is a fresh mount with an
	// empty cache directory: the cold state.
	open(ctx context.Context) (view, error)
	// hasColdState reports whether a cold run means anything for this client.
	hasColdState() bool
}

// view is an opened client: a directory holding the tree.
type view interface {
	dir() string
	// peakRSS is the serving process's peak resident set in bytes (0: none); read it
	// before close.
	peakRSS() int64
	close() error
}

// mountView is a FUSE mount served by a child process.
type mountView struct {
	mp string
	p  *proc
	// cacheDir stays until the work directory is removed at the end of the run (a
	// few GiB after the cold 1 GiB reads). Removing it between runs would measure the
	// file system instead of the next client: on ext4 without a journal, every file
	// created in the minutes after a mass deletion scans past all the recently deleted
	// inodes (creating 10,000 files took 5 s instead of 0.24 s here).
	cacheDir string
}

func (v *mountView) dir() string { return v.mp }

func (v *mountView) peakRSS() int64 {
	n, err := readVmHWM(v.p.pid())
	if err != nil {
		return 0
	}
	return n
}

// close unmounts the way a user would and waits for the serving process to exit; a
// process that lingers is stopped.
func (v *mountView) close() error {
	var errs []error
	if err := unmount(v.mp); err != nil {
		errs = append(errs, err)
	}
	if !v.p.waitExit(20 * time.Second) {
		errs = append(errs, fmt.Errorf("benchtool: %s did not exit after its unmount", v.p.name))
		if err := v.p.stop(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// readVmHWM returns the peak resident set size of a process, in bytes.
func readVmHWM(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return parseVmHWM(f)
}

func parseVmHWM(f io.Reader) (int64, error) {
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("benchtool: unexpected VmHWM line %q", sc.Text())
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("benchtool: VmHWM: %w", err)
		}
		return kb << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("benchtool: no VmHWM line in the process status")
}

// mountTimeout bounds how long a client may take to mount.
const mountTimeout = 60 * time.Second

// ncvfsClient mounts with the real ncvfs binary.
type ncvfsClient struct {
	env   *benchEnv
	bin   string
	extra []string // extra "ncvfs mount" flags from the command line
}

func (c *ncvfsClient) name() string       { return "ncvfs" }
func (c *ncvfsClient) hasColdState() bool { return true }

// flush runs "ncvfs flush DIR": it ends the upload debounce and returns once every
// change of the mount is on the server.
func (c *ncvfsClient) flush(ctx context.Context, dir string) error {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, c.bin, "flush", dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("benchtool: ncvfs flush: %w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// forWrites mounts with write-back on (it is off by default while experimental).
func (c *ncvfsClient) forWrites() client {
	w := *c
	w.extra = append([]string{"--experimental-writes"}, c.extra...)
	return &w
}

func (c *ncvfsClient) open(ctx context.Context) (view, error) {
	mp, err := c.env.freshDir("mnt-ncvfs")
	if err != nil {
		return nil, err
	}
	cacheDir, err := c.env.freshDir("cache-ncvfs")
	if err != nil {
		return nil, err
	}
	args := []string{c.bin, "mount", "--user", c.env.user, "--password-file", c.env.passwordFile,
		"--cache-dir", cacheDir, "--log-level", "warn"}
	args = append(args, c.extra...)
	args = append(args, c.env.serverURL, mp)
	c.env.reg.addMount(mp)
	p, _, err := startProc(ctx, c.env.reg, startOptions{
		name: "ncvfs mount", args: args, logPath: c.env.logPath(filepath.Base(mp)),
		readyPrefix: "mounted", timeout: mountTimeout,
	})
	if err != nil {
		return nil, errors.Join(err, unmount(mp))
	}
	v := &mountView{mp: mp, p: p, cacheDir: cacheDir}
	if err := waitMounted(ctx, mp, p, 10*time.Second); err != nil {
		return nil, errors.Join(err, v.close())
	}
	return v, nil
}

// rcloneClient mounts with `rclone mount --vfs-cache-mode full`, configured only through
// RCLONE_CONFIG_* variables so that the user's rclone.conf is neither read nor written.
type rcloneClient struct {
	env        *benchEnv
	configFile string   // an empty config file
	remoteEnv  []string // RCLONE_CONFIG_NCBENCH_*
	extra      []string // more rclone mount flags
}

const rcloneRemote = "ncbench"

// newRcloneClient obscures the password with `rclone obscure -`, which reads it from
// stdin, so it never appears on a command line.
func newRcloneClient(ctx context.Context, env *benchEnv) (*rcloneClient, error) {
	obscured, err := runWithStdin(ctx, env.password+"\n", "rclone", "obscure", "-")
	if err != nil {
		return nil, fmt.Errorf("benchtool: rclone obscure: %w", err)
	}
	conf := filepath.Join(env.root, "rclone.conf")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		return nil, fmt.Errorf("benchtool: %w", err)
	}
	prefix := "RCLONE_CONFIG_" + strings.ToUpper(rcloneRemote) + "_"
	return &rcloneClient{
		env:        env,
		configFile: conf,
		remoteEnv: []string{
			prefix + "TYPE=webdav",
			prefix + "URL=" + env.filesURL(),
			prefix + "VENDOR=nextcloud",
			prefix + "USER=" + env.user,
			prefix + "PASS=" + strings.TrimSpace(obscured),
		},
	}, nil
}

func (c *rcloneClient) name() string       { return "rclone" }
func (c *rcloneClient) hasColdState() bool { return true }

// forWrites uploads a closed file at once instead of after the default 5 s.
func (c *rcloneClient) forWrites() client {
	w := *c
	w.extra = append(slices.Clone(c.extra), "--vfs-write-back", "0s")
	return &w
}

func (c *rcloneClient) open(ctx context.Context) (view, error) {
	mp, err := c.env.freshDir("mnt-rclone")
	if err != nil {
		return nil, err
	}
	cacheDir, err := c.env.freshDir("cache-rclone")
	if err != nil {
		return nil, err
	}
	c.env.reg.addMount(mp)
	p, _, err := startProc(ctx, c.env.reg, startOptions{
		name: "rclone mount",
		args: append([]string{"rclone", "mount", rcloneRemote + ":", mp,
			"--config", c.configFile,
			"--vfs-cache-mode", "full",
			"--cache-dir", cacheDir,
			"--dir-cache-time", "5m"},
			c.extra...),
		env:     c.remoteEnv,
		logPath: c.env.logPath(filepath.Base(mp)),
	})
	if err != nil {
		return nil, errors.Join(err, unmount(mp))
	}
	v := &mountView{mp: mp, p: p, cacheDir: cacheDir}
	if err := waitMounted(ctx, mp, p, mountTimeout); err != nil {
		return nil, errors.Join(err, v.close())
	}
	return v, nil
}

// localClient is a copy of the tree on local disk: sparse files of the same sizes and
// mtimes, on the same file system as the cache directories, with the server's real
// bytes in the files the content workloads read. It has no cold state worth measuring
// (that would need dropping the whole machine's page cache).
type localClient struct {
	env *benchEnv
	// withContent picks the files that get their content; nil: none.
	withContent func(treespec.Entry) bool
	once        sync.Once
	dir         string
	err         error
}

func (c *localClient) name() string       { return "local" }
func (c *localClient) hasColdState() bool { return false }

func (c *localClient) open(context.Context) (view, error) {
	c.once.Do(func() {
		c.dir = filepath.Join(c.env.root, "local")
		c.err = buildLocalTree(c.dir, c.env.spec, c.withContent)
	})
	if c.err != nil {
		return nil, c.err
	}
	return localView(c.dir), nil
}

type localView string

func (v localView) dir() string    { return string(v) }
func (v localView) peakRSS() int64 { return 0 }
func (v localView) close() error   { return nil }

// buildLocalTree writes spec under dir as sparse files, or with their synthetic content
// where withContent says so. Folder mtimes are set after their contents, since creating
// a file changes its folder's mtime.
func buildLocalTree(dir string, spec treespec.Spec, withContent func(treespec.Entry) bool) error {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("benchtool: local copy: %w", err)
	}
	var dirs []treespec.Entry
	err := spec.Walk(func(e treespec.Entry) error {
		p := filepath.Join(dir, filepath.FromSlash(e.Path))
		if e.IsDir {
			dirs = append(dirs, e)
			return os.Mkdir(p, 0o755)
		}
		f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		if withContent != nil && withContent(e) {
			_, err = io.Copy(f, io.NewSectionReader(davtest.SyntheticReaderAt(e.Seed, e.Size), 0, e.Size))
		} else {
			err = f.Truncate(e.Size)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		return os.Chtimes(p, e.ModTime, e.ModTime)
	})
	if err != nil {
		return fmt.Errorf("benchtool: local copy: %w", err)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		p := filepath.Join(dir, filepath.FromSlash(dirs[i].Path))
		if err := os.Chtimes(p, dirs[i].ModTime, dirs[i].ModTime); err != nil {
			return fmt.Errorf("benchtool: local copy: %w", err)
		}
	}
	return nil
}
