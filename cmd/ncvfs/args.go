package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Every subcommand reads its arguments the same way, through a subcommand value:
//
//	c := subcommand{name: "unmount", synopsis: "MOUNTPOINT", about: "...", minArgs: 1, maxArgs: 1}
//	fl := c.flagSet()
//	fl.BoolVar(...)
//	pos, err := c.parse(fl, args, stdout)
//	if err != nil {
//		return err // run answers flag.ErrHelp with exit 0 and a usageError with exit 2
//	}
//
// Flags may come before or after the positional arguments; "--" ends the flags (for a
// folder named "-h"); -h and --help print the subcommand's usage on stdout.

// subcommand describes one "ncvfs NAME" for parsing and for its usage text.
type subcommand struct {
	name     string // "mount"
	synopsis string // what follows the name in the usage line: "[flags] URL MOUNTPOINT"
	about    string // paragraphs printed after the usage line; may be empty
	// minArgs and maxArgs bound the number of positional arguments.
	minArgs, maxArgs int
}

// usageError is a mistake in the command line: run prints it once, with a pointer to
// the subcommand's help, and exits 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// flagSet returns an empty flag set to define the subcommand's flags on. It prints
// nothing itself: parse reports every error once.
func (c subcommand) flagSet() *flag.FlagSet {
	fl := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fl.SetOutput(io.Discard)
	return fl
}

// parse parses args into fl and returns the positional arguments. -h/--help prints the
// usage to stdout and returns flag.ErrHelp; a bad flag, a bad flag value or the wrong
// number of positional arguments returns a usageError.
func (c subcommand) parse(fl *flag.FlagSet, args []string, stdout io.Writer) ([]string, error) {
	var pos []string
	for {
		err := fl.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			c.printUsage(stdout, fl)
			return nil, flag.ErrHelp
		}
		if err != nil {
			return nil, usageError{err.Error()}
		}
		rest := fl.Args()
		if len(rest) == 0 {
			break
		}
		if consumed := args[:len(args)-len(rest)]; len(consumed) > 0 && consumed[len(consumed)-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		// A positional argument stops the flag package; flags may follow it.
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if len(pos) < c.minArgs || len(pos) > c.maxArgs {
		return nil, usageError{"usage: ncvfs " + strings.TrimSpace(c.name+" "+c.synopsis)}
	}
	return pos, nil
}

func (c subcommand) printUsage(w io.Writer, fl *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: ncvfs %s\n", strings.TrimSpace(c.name+" "+c.synopsis))
	if c.about != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(c.about, "\n"))
	}
	hasFlags := false
	fl.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprint(w, "\nFlags:\n")
		fl.SetOutput(w)
		fl.PrintDefaults()
		fl.SetOutput(io.Discard)
	}
}
