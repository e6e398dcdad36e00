package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/audit"
	"github.com/lapsehq/lapse/app/secret"
	"github.com/lapsehq/lapse/app/store"
)

// auditSetup migrates a temporary SQLite database through the CLI and
// installs two Connect tenants with a few audited changes each.
func auditSetup(t *testing.T) (vars map[string]string, st *store.Store, ids []string) {
	t.Helper()
	dbPath := filepath.Join(t.TempDir(), "lapse.db")
	vars = map[string]string{"LAPSE_DATABASE_URL": dbPath, "LAPSE_ENCRYPTION_KEY": testKey, "LAPSE_LOG_LEVEL": "error"}
	ctx := context.Background()
	var out, errOut bytes.Buffer
	if err := runMigrate(ctx, env(vars), &out, &errOut); err != nil {
		t.Fatalf("migrate: %v\n%s", err, errOut.String())
	}
	keys, _ := secret.ParseKeys(testKey)
	box, _ := secret.NewBox(keys...)
	st, err := store.Open(ctx, store.Config{URL: dbPath, Box: box})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	for i := range 2 {
		tn, err := st.InstallConnect(ctx, app.ConnectInstall{ClientKey: fmt.Sprintf("ck-%d", i), BaseURL: "https://acme.atlassian.net",
			Product: app.ProductJira, SharedSecret: []byte("s"), ActorAccountID: "=557058:admin"})
		if err != nil {
			t.Fatal(err)
		}
		for _, on := range []bool{true, false, true} {
			if _, err := st.SetTenantEnabled(ctx, tn.ID, on, app.Actor{Type: app.ActorAtlassian}); err != nil {
				t.Fatal(err)
			}
		}
		ids = append(ids, tn.ID)
	}
	return vars, st, ids
}

func TestAudit_VerifyAndTamper(t *testing.T) {
	t.Parallel()
	vars, st, ids := auditSetup(t)
	ctx := context.Background()
	var out, errOut bytes.Buffer
	if err := run(ctx, []string{"audit", "verify"}, env(vars), &out, &errOut); err != nil {
		t.Fatalf("verify a clean trail: %v\n%s%s", err, out.String(), errOut.String())
	}
	for _, id := range ids {
		if !strings.Contains(out.String(), "tenant "+id+": ok: 4 events\n") {
			t.Fatalf("verify output:\n%s", out.String())
		}
	}

	// Someone with database access rewrites history for the first tenant.
	db, _ := st.SQLDB()
	var eventID int64
	if err := db.QueryRow("SELECT id FROM audit_events WHERE tenant_id = $1 AND seq = 3", ids[0]).Scan(&eventID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("UPDATE audit_events SET action = 'tenant.enabled' WHERE id = $1", eventID); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err := run(ctx, []string{"audit", "verify"}, env(vars), &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "1 of 2 audit chain(s) broken") {
		t.Fatalf("verify after tampering: err %v", err)
	}
	want := fmt.Sprintf("tenant %s: BROKEN at seq 3 (event id %d): %s", ids[0], eventID, store.AuditRowEdited)
	if !strings.Contains(out.String(), want) || !strings.Contains(out.String(), "tenant "+ids[1]+": ok: 4 events") {
		t.Fatalf("verify output:\n%s\nwant a line with %q", out.String(), want)
	}

	// One tenant at a time, by any of its references.
	out.Reset()
	if err := run(ctx, []string{"audit", "verify", "--tenant", "ck-1"}, env(vars), &out, &errOut); err != nil || out.String() != "tenant "+ids[1]+": ok: 4 events\n" {
		t.Fatalf("verify ck-1: %v %q", err, out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"audit", "verify", "--tenant", ids[0]}, env(vars), &out, &errOut); err == nil || !strings.Contains(out.String(), "BROKEN at seq 3") {
		t.Fatalf("verify the broken tenant: %v %q", err, out.String())
	}
	// Truncation shows through the head.
	if _, err := db.Exec("DELETE FROM audit_events WHERE tenant_id = $1 AND seq = 4", ids[1]); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(ctx, []string{"audit", "verify", "--tenant", "ck-1"}, env(vars), &out, &errOut); err == nil ||
		!strings.Contains(out.String(), "BROKEN at seq 4 (no such event): "+store.AuditTruncated) {
		t.Fatalf("verify a truncated chain: %v %q", err, out.String())
	}
}

func TestAudit_Export(t *testing.T) {
	t.Parallel()
	vars, _, ids := auditSetup(t)
	ctx := context.Background()
	export := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := run(ctx, append([]string{"audit", "export"}, args...), env(vars), &out, &errOut); err != nil {
			t.Fatalf("export %v: %v\n%s", args, err, errOut.String())
		}
		return out.String()
	}

	rows, err := csv.NewReader(strings.NewReader(export("--tenant", "ck-0"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 5 || strings.Join(rows[0], ",") != strings.Join(audit.CSVHeader, ",") {
		t.Fatalf("csv export: %q", rows)
	}
	if rows[1][0] != "1" || rows[1][3] != "'=557058:admin" || rows[1][4] != app.AuditTenantInstalled || rows[4][0] != "4" || rows[4][7] != rows[3][8] {
		t.Fatalf("csv rows: %q", rows[1:])
	}

	lines := strings.Split(strings.TrimSpace(export("--tenant", ids[1], "--format", "ndjson", "--action", "tenant.enabled, tenant.disabled")), "\n")
	var seqs []int64
	for _, l := range lines {
		var e app.AuditEvent
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatal(err)
		}
		if e.TenantID != ids[1] {
			t.Fatalf("exported tenant %s's event", e.TenantID)
		}
		seqs = append(seqs, e.Seq)
	}
	if fmt.Sprint(seqs) != "[2 3 4]" {
		t.Fatalf("ndjson filtered by action: seqs %v", seqs)
	}
	if got := export("--tenant", "ck-0", "--from", "2999-01-01T00:00:00Z"); got != strings.Join(audit.CSVHeader, ",")+"\n" {
		t.Fatalf("export of an empty period: %q", got)
	}
	if got := export("--tenant", "ck-0", "--account", "nobody", "--format", "ndjson"); got != "" {
		t.Fatalf("export for an unknown account: %q", got)
	}
}

func TestAudit_Errors(t *testing.T) {
	t.Parallel()
	vars, _, _ := auditSetup(t)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no_subcommand", []string{"audit"}, "needs a subcommand"},
		{"unknown_subcommand", []string{"audit", "rewrite"}, "unknown audit subcommand"},
		{"export_without_tenant", []string{"audit", "export"}, "needs --tenant"},
		{"bad_format", []string{"audit", "export", "--tenant", "ck-0", "--format", "xlsx"}, "want csv or ndjson"},
		{"bad_from", []string{"audit", "export", "--tenant", "ck-0", "--from", "yesterday"}, "--from: want an RFC 3339 time"},
		{"empty_period", []string{"audit", "export", "--tenant", "ck-0", "--from", "2026-01-02T00:00:00Z", "--to", "2026-01-01T00:00:00Z"}, "end of the period"},
		{"unknown_tenant", []string{"audit", "verify", "--tenant", "nobody"}, "no tenant has"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var out, errOut bytes.Buffer
			err := run(context.Background(), c.args, env(vars), &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to mention %q", err, c.want)
			}
		})
	}
}
