// Package clitest runs a command's real main from its tests.
package clitest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"testing"
	"time"
)

// EnvRunMain tells a test binary to run the command's main instead of its
// tests (see RunMain).
const EnvRunMain = "LAPSE_TEST_RUN_MAIN"

// RunMain runs the real main of the command under test, as a child process
// of the test binary, and returns its output and exit status. The package's
// TestMain must call main when EnvRunMain is set.
func RunMain(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	// A command that ignores -h and starts its work (a server) must fail
	// the test, not hang it.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), EnvRunMain+"=1")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%v did not exit within a minute\nstdout: %s\nstderr: %s", args, out.String(), errOut.String())
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}
