package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/audit"
	"github.com/lapsehq/lapse/app/store"
	"github.com/lapsehq/lapse/cmd/internal/cli"
)

// runAudit runs `lapse audit verify` and `lapse audit export`: the
// operator's side of the audit trail, for checking it has not been
// tampered with and for handing it to an auditor.
func runAudit(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, auditUsage)
		return cli.Usagef("audit needs a subcommand: verify or export")
	}
	if cli.IsHelp(args[0]) {
		fmt.Fprint(stdout, auditUsage)
		return nil
	}
	switch args[0] {
	case "verify":
		return runAuditVerify(ctx, args[1:], getenv, stdout, stderr)
	case "export":
		return runAuditExport(ctx, args[1:], getenv, stdout, stderr)
	default:
		fmt.Fprint(stderr, auditUsage)
		return cli.Usagef("unknown audit subcommand %q (want verify or export)", args[0])
	}
}

const (
	auditVerifySynopsis = "lapse audit verify [--tenant REF]"
	auditExportSynopsis = "lapse audit export --tenant REF [--format csv|ndjson] [--from T] [--to T] [--action a,b] [--account ID]"
	auditUsage          = "usage: " + auditVerifySynopsis + "\n       " + auditExportSynopsis + `

verify checks the audit hash chains and fails at the first broken event;
export writes a tenant's audit trail to standard output.
Run "lapse audit verify --help" or "lapse audit export --help" for their flags.
`
)

// runAuditVerify checks one tenant's hash chain, or every tenant's, and
// prints one line per tenant. It fails when any chain is broken, so a cron
// job or CI step can alert on it.
func runAuditVerify(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := cli.FlagSet("lapse audit verify", auditVerifySynopsis,
		"Check the audit hash chain of one tenant, or of every tenant, and print one line per tenant.\nExits 1 when any chain is broken.")
	tenantRef := fs.String("tenant", "", "tenant id, Connect clientKey or Forge installation id (default: every tenant)")
	if err := cli.Parse(fs, args, stdout, stderr); err != nil {
		return err
	}
	st, err := openAuditStore(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	checked, broken := 0, 0
	report := func(v store.AuditVerification) {
		checked++
		if v.OK {
			fmt.Fprintf(stdout, "tenant %s: ok: %d events\n", v.TenantID, v.Events)
			return
		}
		broken++
		event := fmt.Sprintf("event id %d", v.BrokenEventID)
		if v.BrokenEventID == 0 {
			event = "no such event"
		}
		fmt.Fprintf(stdout, "tenant %s: BROKEN at seq %d (%s): %s; %s\n", v.TenantID, v.BrokenAtSeq, event, v.Problem, v.Detail)
	}
	if *tenantRef != "" {
		t, err := st.FindTenantByRef(ctx, *tenantRef)
		if err != nil {
			return err
		}
		v, err := st.VerifyAuditChain(ctx, t.ID)
		if err != nil {
			return err
		}
		report(v)
	} else {
		for v, err := range st.VerifyAllAuditChains(ctx) {
			if err != nil {
				return err
			}
			report(v)
		}
	}
	if broken > 0 {
		return fmt.Errorf("%d of %d audit chain(s) broken", broken, checked)
	}
	return nil
}

// runAuditExport writes a tenant's audit events to stdout as CSV or NDJSON,
// streamed, so a year of events needs no more memory than a page.
func runAuditExport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := cli.FlagSet("lapse audit export", auditExportSynopsis, "Write a tenant's audit events to standard output, oldest first, as CSV or NDJSON.")
	tenantRef := fs.String("tenant", "", "tenant id, Connect clientKey or Forge installation id")
	format := fs.String("format", "csv", "csv or ndjson")
	from := fs.String("from", "", "first instant to include (RFC 3339)")
	to := fs.String("to", "", "first instant to exclude (RFC 3339)")
	actions := fs.String("action", "", "comma-separated actions to include (default: all)")
	account := fs.String("account", "", "only events about this Atlassian account id")
	if err := cli.Parse(fs, args, stdout, stderr); err != nil {
		return err
	}
	if *tenantRef == "" {
		return cli.Refuse(fs, stderr, "audit export needs --tenant")
	}
	f := app.AuditFilter{AccountID: *account}
	var err error
	if f.From, err = parseInstant("--from", *from); err != nil {
		return err
	}
	if f.To, err = parseInstant("--to", *to); err != nil {
		return err
	}
	for a := range strings.SplitSeq(*actions, ",") {
		if a = strings.TrimSpace(a); a != "" {
			f.Actions = append(f.Actions, a)
		}
	}
	if err := f.Validate(); err != nil {
		return err
	}
	var enc audit.Encoder
	switch *format {
	case "csv":
		enc = audit.NewCSVEncoder(stdout)
	case "ndjson":
		enc = audit.NewNDJSONEncoder(stdout)
	default:
		return fmt.Errorf("--format %q: want csv or ndjson", *format)
	}
	st, err := openAuditStore(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	t, err := st.FindTenantByRef(ctx, *tenantRef)
	if err != nil {
		return err
	}
	if err := st.AuditEvents(ctx, t.ID, f, enc.Encode); err != nil {
		return err
	}
	return enc.Flush()
}

func parseInstant(flagName, v string) (*time.Time, error) {
	if v == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return nil, fmt.Errorf("%s: want an RFC 3339 time such as 2026-01-31T00:00:00Z: %w", flagName, err)
	}
	return &t, nil
}

// openAuditStore opens the store and refuses an out-of-date schema: before
// migration 00004 there is no chain to verify or export.
func openAuditStore(ctx context.Context, getenv func(string) string, stderr io.Writer) (*store.Store, error) {
	_, _, st, err := setup(ctx, getenv, stderr)
	if err != nil {
		return nil, err
	}
	current, err := st.SchemaCurrent(ctx)
	if err == nil && !current {
		err = errors.New("the database schema is out of date: run `lapse migrate` first")
	}
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	return st, nil
}
