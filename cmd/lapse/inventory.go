package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/adminapi"
	"github.com/lapsehq/lapse/app/inventory"
	"github.com/lapsehq/lapse/app/store"
	"github.com/lapsehq/lapse/cmd/internal/cli"
)

// runConnectOrg stores a tenant's organization id and Admin API key. The
// key is read from a file or standard input, never from the command line,
// where it would land in shell history and the process list.
func runConnectOrg(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := cli.FlagSet("lapse connect-org", "lapse connect-org --tenant REF --org ORG_ID [--api-key-file FILE] < key-file",
		"Store a tenant's Atlassian organization id and org admin API key, encrypted. The key is read from\n"+
			"--api-key-file or standard input, never from the command line.")
	tenantRef := fs.String("tenant", "", "tenant id, Connect clientKey or Forge installation id")
	orgID := fs.String("org", "", "Atlassian organization id (admin.atlassian.com → Settings → API keys)")
	keyFile := fs.String("api-key-file", "-", "file holding the org admin API key; - reads standard input")
	if err := cli.Parse(fs, args, stdout, stderr); err != nil {
		return err
	}
	if *tenantRef == "" || *orgID == "" {
		return cli.Refuse(fs, stderr, "connect-org needs --tenant and --org; the API key comes from --api-key-file or standard input")
	}
	key, err := readKey(*keyFile, stdin)
	if err != nil {
		return err
	}
	_, _, st, err := setup(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	t, err := st.FindTenantByRef(ctx, *tenantRef)
	if err != nil {
		return err
	}
	if _, err := st.SetOrgConnection(ctx, t.ID, *orgID, key, app.Actor{Type: app.ActorSystem, ID: "cli"}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "tenant %s (%s %s) connected to organization %s\n", t.ID, t.Product, t.BaseURL, *orgID)
	return nil
}

func readKey(path string, stdin io.Reader) (string, error) {
	var r io.Reader = stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return "", fmt.Errorf("--api-key-file: %w", err)
		}
		defer f.Close()
		r = f
	}
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	key := strings.TrimSpace(line)
	if key == "" {
		if err != nil && !errors.Is(err, io.EOF) {
			return "", err
		}
		return "", errors.New("no API key given: pass it on standard input or with --api-key-file")
	}
	return key, nil
}

// runInventory reads a tenant's access inventory from the Admin API and
// prints a summary, or every account as NDJSON with --json. It spends the
// shared request budget like any other Lapse work.
func runInventory(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := cli.FlagSet("lapse inventory", "lapse inventory --tenant REF [--json]",
		"Read who holds which product on the tenant's site, through which group, last active when, from the\n"+
			"Admin API (run connect-org first). Prints a summary, or every account as one JSON line with --json.")
	tenantRef := fs.String("tenant", "", "tenant id, Connect clientKey or Forge installation id")
	asJSON := fs.Bool("json", false, "print every account as one JSON line instead of a summary")
	if err := cli.Parse(fs, args, stdout, stderr); err != nil {
		return err
	}
	if *tenantRef == "" {
		return cli.Refuse(fs, stderr, "inventory needs --tenant")
	}
	cfg, log, st, err := setup(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	t, err := st.FindTenantByRef(ctx, *tenantRef)
	if err != nil {
		return err
	}
	conn, err := st.OrgConnection(ctx, t.ID)
	if err != nil {
		return fmt.Errorf("%w (run: lapse connect-org --tenant %s --org <org id> < key-file)", err, t.ID)
	}
	client, err := adminClientFunc(cfg, st, log)(ctx, t, conn)
	if err != nil {
		return err
	}
	plan, err := prepareInventory(ctx, st, t, conn, client)
	if err != nil {
		return err
	}
	return writeInventory(ctx, plan, *asJSON, stdout)
}

// prepareInventory reads the plan and records what it learned: the site's
// cloud id and, when it was detected, the tenant's activity source.
func prepareInventory(ctx context.Context, st *store.Store, t *app.Tenant, conn *app.OrgConnection, c *adminapi.Client) (*inventory.Plan, error) {
	plan, err := inventory.Prepare(ctx, c, inventory.Options{CloudID: t.CloudID, SiteURL: t.BaseURL, Family: string(t.Product), ActivitySource: conn.ActivitySource})
	if err != nil {
		return nil, err
	}
	if t.CloudID == "" {
		if err := st.SetTenantCloudID(ctx, t.ID, plan.CloudID); err != nil {
			return nil, err
		}
	}
	if plan.Detected {
		if err := st.SetActivitySource(ctx, t.ID, plan.ActivitySource); err != nil {
			return nil, err
		}
	}
	return plan, nil
}

func writeInventory(ctx context.Context, plan *inventory.Plan, asJSON bool, out io.Writer) error {
	enc := json.NewEncoder(out)
	var accounts, never, unknown, synced int
	for acc, err := range plan.Accounts(ctx) {
		if err != nil {
			return err
		}
		accounts++
		if asJSON {
			if err := enc.Encode(acc); err != nil {
				return err
			}
			continue
		}
		if !acc.ActivityKnown {
			unknown++
		}
		for _, a := range acc.Access {
			if a.LastActive == nil {
				never++
			}
			for _, p := range a.Paths {
				if p.Synced {
					synced++
					break
				}
			}
		}
	}
	if !asJSON {
		fmt.Fprintf(out, "site %s: %d products, %d granting groups, activity source %s\n", plan.CloudID, len(plan.Resources), len(plan.Grants), plan.ActivitySource)
		fmt.Fprintf(out, "accounts with access: %d; product accesses never used: %d; through IdP-synced groups: %d; activity unknown: %d\n",
			accounts, never, synced, unknown)
	}
	return nil
}
