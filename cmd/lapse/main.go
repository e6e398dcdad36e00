// Command lapse runs the Lapse service: `lapse serve`, `lapse migrate`,
// `lapse version`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	// Policies name IANA time zones; embedding the zone database keeps them
	// valid on hosts and images without /usr/share/zoneinfo (distroless,
	// scratch), where time.LoadLocation would otherwise fail.
	_ "time/tzdata"

	"github.com/lapsehq/lapse/cmd/internal/cli"
)

// stdin is where connect-org reads the API key; tests replace it.
var stdin io.Reader = os.Stdin

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(cli.Exit("lapse", err, os.Stderr))
}

const usage = `usage: lapse <command>

commands:
  serve     run the HTTP service (migrates the database first unless LAPSE_MIGRATE_ON_START=false)
  migrate   apply database migrations and exit (for a Kubernetes Job or init container)
  version   print the version
  devsite   run a simulated Atlassian site (Admin API, Jira, Confluence) to develop and test against
  connect-org --tenant REF --org ORG_ID < key-file
            store a tenant's organization id and Admin API key (encrypted)
  inventory --tenant REF [--json]
            read who holds which product on the tenant's site, through which group, last active when
  audit verify [--tenant REF] | audit export --tenant REF [--format csv|ndjson] [--from T] [--to T] [--action a,b] [--account ID]
            check audit hash chains (fails at the first broken event), or write a tenant's audit trail to stdout

configuration comes from LAPSE_* environment variables; see README.md.
run "lapse <command> --help" for a command's flags.
`

// run is the whole program behind main, so tests can run it in-process.
// Help shown is success.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	err := dispatch(ctx, args, getenv, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func dispatch(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return cli.Usagef("no command given")
	}
	if cli.IsHelp(args[0]) {
		fmt.Fprint(stdout, usage)
		return nil
	}
	switch args[0] {
	case "serve":
		fs := cli.FlagSet("lapse serve", "lapse serve", "Run the HTTP service until SIGINT or SIGTERM. It migrates the database first unless\n"+
			"LAPSE_MIGRATE_ON_START=false. Configuration comes from LAPSE_* environment variables (README.md).")
		if err := cli.Parse(fs, args[1:], stdout, stderr); err != nil {
			return err
		}
		return runServe(ctx, getenv, stderr, nil)
	case "migrate":
		fs := cli.FlagSet("lapse migrate", "lapse migrate", "Apply the database migrations and exit (for a Kubernetes Job or init container).\n"+
			"Configuration comes from LAPSE_* environment variables (README.md).")
		if err := cli.Parse(fs, args[1:], stdout, stderr); err != nil {
			return err
		}
		return runMigrate(ctx, getenv, stdout, stderr)
	case "connect-org":
		return runConnectOrg(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "inventory":
		return runInventory(ctx, args[1:], getenv, stdout, stderr)
	case "audit":
		return runAudit(ctx, args[1:], getenv, stdout, stderr)
	case "devsite":
		return runDevsite(ctx, args[1:], getenv, stdout, stderr, nil)
	case "version":
		if err := cli.Parse(cli.FlagSet("lapse version", "lapse version", "Print the version."), args[1:], stdout, stderr); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "lapse", version)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return cli.Usagef("unknown command %q", args[0])
	}
}
