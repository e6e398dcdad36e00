package main

import (
	"os"
	"strings"
	"testing"

	"github.com/lapsehq/lapse/cmd/internal/cli/clitest"
)

// TestMain lets clitest.RunMain run the real main in a child process.
func TestMain(m *testing.M) {
	if os.Getenv(clitest.EnvRunMain) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// lapseCommands is every command and subcommand of lapse.
var lapseCommands = [][]string{
	{}, {"serve"}, {"migrate"}, {"version"}, {"devsite"}, {"connect-org"}, {"inventory"},
	{"audit"}, {"audit", "verify"}, {"audit", "export"},
}

// TestMain_Help: -h and --help on every command print its usage on
// standard output and exit 0, before any configuration is read.
func TestMain_Help(t *testing.T) {
	t.Parallel()
	for _, command := range lapseCommands {
		for _, help := range []string{"-h", "--help"} {
			args := append(append([]string{}, command...), help)
			t.Run(strings.Join(args, "_"), func(t *testing.T) {
				stdout, stderr, code := clitest.RunMain(t, args...)
				want := "usage: " + strings.Join(append([]string{"lapse"}, command...), " ")
				if code != 0 || !strings.Contains(stdout, want) || stderr != "" {
					t.Fatalf("lapse %s: exit %d, stdout %q, stderr %q; want exit 0 and %q on stdout", strings.Join(args, " "), code, stdout, stderr, want)
				}
			})
		}
	}
	if stdout, _, code := clitest.RunMain(t, "help"); code != 0 || !strings.Contains(stdout, "usage: lapse <command>") {
		t.Fatalf("lapse help: exit %d, %q", code, stdout)
	}
}

// TestMain_UsageErrors: an unknown flag, a stray argument, an unknown
// command or subcommand, or none at all exit 2 with the usage on standard
// error.
func TestMain_UsageErrors(t *testing.T) {
	t.Parallel()
	for _, command := range lapseCommands {
		for _, bad := range []string{"--no-such-flag", "stray"} {
			args := append(append([]string{}, command...), bad)
			t.Run(strings.Join(args, "_"), func(t *testing.T) {
				stdout, stderr, code := clitest.RunMain(t, args...)
				if code != 2 || !strings.Contains(stderr, "usage: lapse") || stdout != "" {
					t.Fatalf("lapse %s: exit %d, stdout %q, stderr %q; want exit 2 and the usage on stderr", strings.Join(args, " "), code, stdout, stderr)
				}
			})
		}
	}
	for _, args := range [][]string{nil, {"audit"}, {"connect-org", "--tenant", "t"}, {"inventory"}, {"audit", "export"}} {
		t.Run("missing_"+strings.Join(args, "_"), func(t *testing.T) {
			_, stderr, code := clitest.RunMain(t, args...)
			if code != 2 || !strings.Contains(stderr, "usage: lapse") {
				t.Fatalf("lapse %v: exit %d, stderr %q; want exit 2 with the usage", args, code, stderr)
			}
		})
	}
}
