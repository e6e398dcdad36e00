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

// TestMain_Help: -h and --help on lapse-bench and each benchmark print the
// usage on standard output and exit 0 without running anything; an unknown
// flag, benchmark or stray argument exits 2 with the usage on standard error.
func TestMain_Help(t *testing.T) {
	t.Parallel()
	for _, command := range [][]string{{}, {"auth"}, {"inventory"}, {"scan"}, {"reliability"}} {
		for _, help := range []string{"-h", "--help"} {
			args := append(append([]string{}, command...), help)
			t.Run(strings.Join(args, "_"), func(t *testing.T) {
				stdout, stderr, code := clitest.RunMain(t, args...)
				want := "usage: " + strings.Join(append([]string{"lapse-bench"}, command...), " ")
				if code != 0 || !strings.Contains(stdout, want) || stderr != "" {
					t.Fatalf("lapse-bench %s: exit %d, stdout %q, stderr %q; want exit 0 and %q on stdout", strings.Join(args, " "), code, stdout, stderr, want)
				}
			})
		}
		for _, bad := range []string{"--no-such-flag", "stray"} {
			args := append(append([]string{}, command...), bad)
			t.Run(strings.Join(args, "_"), func(t *testing.T) {
				stdout, stderr, code := clitest.RunMain(t, args...)
				if code != 2 || !strings.Contains(stderr, "usage: lapse-bench") || stdout != "" {
					t.Fatalf("lapse-bench %s: exit %d, stdout %q, stderr %q; want exit 2 and the usage on stderr", strings.Join(args, " "), code, stdout, stderr)
				}
			})
		}
	}
	if _, stderr, code := clitest.RunMain(t); code != 2 || !strings.Contains(stderr, "usage: lapse-bench") {
		t.Fatalf("no benchmark: exit %d, stderr %q", code, stderr)
	}
	if _, stderr, code := clitest.RunMain(t, "reliability", "-faults", "2"); code != 2 || !strings.Contains(stderr, "-faults") {
		t.Fatalf("reliability -faults 2: exit %d, stderr %q", code, stderr)
	}
}
