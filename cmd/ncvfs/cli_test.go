package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ncvfs/ncvfs/fusefs"
	"github.com/ncvfs/ncvfs/internal/mountinfo"
)

// runBinary runs ncvfs to its end in a fresh working folder, as a user at a terminal
// would. A command that wrongly mounts (on a folder named like a flag) is stopped after
// 20 s and its mount cleared.
func runBinary(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	for _, name := range []string{"-h", "--help"} {
		if ok, _ := mountinfo.IsMounted(filepath.Join(dir, name)); ok {
			fusefs.Unmount(filepath.Join(dir, name))
			t.Errorf("ncvfs %s mounted a folder named %q", strings.Join(args, " "), name)
		}
	}
	return out.String(), errb.String(), exitCode(err)
}

func TestEverySubcommandAnswersHelp(t *testing.T) {
	for _, name := range []string{"mount", "unmount", "status", "flush", "conflicts", "demo", "version"} {
		for _, h := range []string{"-h", "--help"} {
			out, errOut, code := runBinary(t, name, h)
			if code != 0 || !strings.HasPrefix(out, "Usage: ncvfs "+name) || errOut != "" {
				t.Errorf("ncvfs %s %s: exit %d\nstdout:\n%s\nstderr:\n%s", name, h, code, out, errOut)
			}
		}
	}
}

func TestHelpNamesASubcommand(t *testing.T) {
	want, _, _ := runBinary(t, "mount", "-h")
	out, errOut, code := runBinary(t, "help", "mount")
	if code != 0 || out != want || !strings.Contains(out, "-cache-size") {
		t.Errorf("ncvfs help mount: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if _, errOut, code := runBinary(t, "help", "nonsense"); code != 2 || !strings.Contains(errOut, `unknown command "nonsense"`) {
		t.Errorf("ncvfs help nonsense: exit %d\n%s", code, errOut)
	}
}

// A mistake in the command line is told once, on stderr, with exit 2.
func TestUsageErrorsArePrintedOnceWithExit2(t *testing.T) {
	mp := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"mount", "--cache-size", "bogus", "http://127.0.0.1:1/", mp}, `invalid value "bogus" for flag -cache-size`},
		{[]string{"mount", "http://127.0.0.1:1/", mp, "--min-free-space=lots"}, `invalid value "lots" for flag -min-free-space`},
		{[]string{"mount", "--no-such-flag", "http://127.0.0.1:1/", mp}, "flag provided but not defined: -no-such-flag"},
		{[]string{"mount", "http://127.0.0.1:1/"}, "usage: ncvfs mount"},
		{[]string{"demo", "--log-level", "loud"}, `--log-level "loud"`},
		{[]string{"unmount"}, "usage: ncvfs unmount"},
		{[]string{"unmount", "a", "b"}, "usage: ncvfs unmount"},
		{[]string{"version", "extra"}, "usage: ncvfs version"},
	} {
		out, errOut, code := runBinary(t, tc.args...)
		if code != 2 || strings.Count(errOut, tc.want) != 1 || strings.Contains(errOut, "Flags:") || out != "" {
			t.Errorf("ncvfs %s: exit %d, want 2 and %q once\nstdout:\n%s\nstderr:\n%s",
				strings.Join(tc.args, " "), code, tc.want, out, errOut)
		}
	}
}

func TestParseTakesFlagsAnywhere(t *testing.T) {
	c := subcommand{name: "try", synopsis: "A [B]", minArgs: 1, maxArgs: 2}
	for _, tc := range []struct {
		args    []string
		pos     []string
		verbose bool
	}{
		{[]string{"a", "-v", "b"}, []string{"a", "b"}, true},
		{[]string{"--v", "a"}, []string{"a"}, true},
		{[]string{"a", "b", "--v=false"}, []string{"a", "b"}, false},
		{[]string{"--", "-v"}, []string{"-v"}, false},
		{[]string{"a", "--", "-h"}, []string{"a", "-h"}, false},
	} {
		fl := c.flagSet()
		v := fl.Bool("v", false, "")
		pos, err := c.parse(fl, tc.args, &bytes.Buffer{})
		if err != nil || !slices.Equal(pos, tc.pos) || *v != tc.verbose {
			t.Errorf("parse %q = %q, -v %v, %v; want %q, -v %v", tc.args, pos, *v, err, tc.pos, tc.verbose)
		}
	}
	var help bytes.Buffer
	if _, err := c.parse(c.flagSet(), []string{"a", "-h"}, &help); err != flag.ErrHelp || help.String() != "Usage: ncvfs try A [B]\n" {
		t.Errorf("-h after an argument: %v, printed %q", err, help.String())
	}
	for _, args := range [][]string{{}, {"a", "b", "c"}, {"-x", "a"}} {
		if _, err := c.parse(c.flagSet(), args, &bytes.Buffer{}); !isUsageError(err) {
			t.Errorf("parse %q: %v, want a usage error", args, err)
		}
	}
}

func isUsageError(err error) bool {
	_, ok := err.(usageError)
	return ok
}

// The demo takes --allow-non-empty, as its message suggests, after the folder too.
func TestDemoMountsOverANonEmptyFolderWhenAsked(t *testing.T) {
	mp := t.TempDir()
	if err := os.WriteFile(filepath.Join(mp, "mine.txt"), []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	refused := start(t, nil, nil, "demo", mp)
	if code := exitCode(refused.wait(t)); code != 1 || !strings.Contains(refused.stderr.String(), "--allow-non-empty") {
		t.Fatalf("demo on a non-empty folder: exit %d\n%s", code, refused.stderr)
	}
	p := start(t, nil, nil, "demo", mp, "--allow-non-empty")
	p.waitFor(t, "Press Ctrl-C")
	if _, err := os.Stat(filepath.Join(mp, "Readme.md")); err != nil {
		t.Errorf("demo over a non-empty folder: %v", err)
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	if err := p.wait(t); err != nil {
		t.Fatalf("demo exit: %v\n%s", err, p.stderr)
	}
	if b, err := os.ReadFile(filepath.Join(mp, "mine.txt")); err != nil || string(b) != "keep" {
		t.Errorf("the folder's own file after the demo: %q, %v", b, err)
	}
}

func TestUnmountOfAFolderNotMountedSaysSo(t *testing.T) {
	dir := t.TempDir()
	_, errOut, code := runBinary(t, "unmount", dir)
	if code != 1 || strings.TrimSpace(errOut) != "ncvfs: "+dir+" is not mounted" {
		t.Errorf("unmount of a plain folder: exit %d\n%s", code, errOut)
	}
}
