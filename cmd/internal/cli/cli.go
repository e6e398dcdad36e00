// Package cli gives every Lapse command the same command-line behaviour:
// -h or --help prints the command's usage to standard output and succeeds;
// an unknown flag, a stray argument or a missing required flag prints the
// usage to standard error and exits with status 2, as the flag package's
// own ExitOnError does; any other failure exits with status 1.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// UsageError is a command line the program cannot act on.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Usagef returns a UsageError.
func Usagef(format string, args ...any) error {
	return UsageError{fmt.Errorf(format, args...)}
}

// IsHelp reports whether a subcommand position asks for help.
func IsHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

// FlagSet returns a flag set whose usage is the synopsis, a description,
// and the flags when there are any.
func FlagSet(name, synopsis, description string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "usage: %s\n\n%s\n", synopsis, strings.TrimSpace(description))
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(w, "\nflags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// Parse parses a command's arguments, which are flags only. Help requested
// prints the usage to stdout and returns flag.ErrHelp (Exit treats it as
// success); a bad flag or a positional argument prints the usage to stderr
// and returns a UsageError.
func Parse(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	fs.SetOutput(io.Discard) // the flag package would print to stderr, help included
	err := fs.Parse(args)
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(stdout)
		fs.Usage()
		return flag.ErrHelp
	}
	if err != nil {
		fs.SetOutput(stderr)
		fs.Usage()
		return UsageError{err}
	}
	return nil
}

// Exit prints a failure as "prog: error" and returns the exit status: 0
// for success or help shown, 2 for a usage error, 1 for anything else.
func Exit(prog string, err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(stderr, "%s: %v\n", prog, err)
	if errors.As(err, new(UsageError)) {
		return 2
	}
	return 1
}

// Refuse prints the usage to stderr and returns a UsageError, for a
// command line that parsed but lacks what the command needs.
func Refuse(fs *flag.FlagSet, stderr io.Writer, format string, args ...any) error {
	fs.SetOutput(stderr)
	fs.Usage()
	return Usagef(format, args...)
}
