package web_test

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/audit"
	"github.com/lapsehq/lapse/app/store"
)

// TestAPI_ReportExport: the whole report streams as CSV (more rows than one
// store page) or NDJSON with the paged report's filters; outcome=handoff is
// the hand-off list with the synced groups; hostile names are neutralised;
// another tenant's scan is a 404 and a user a 403.
func TestAPI_ReportExport(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		e := newAPIEnv(t, d)
		jira := e.installConnect(e.site1, "jira")
		other := e.installConnect(e.site2, "jira")
		auth := e.as(jira, e.admin)

		wantError(t, e.call("GET", "/api/v1/report/export", auth, nil), 404, "not_found", "no scan has finished evaluating")

		accounts := snapshot(1100, "acc-") // 2,200 rows: three store pages
		accounts[1].Facts.Name = "=HYPERLINK(\"http://evil\")"
		due := time.Date(2026, 12, 20, 0, 0, 0, 0, time.UTC)
		synced := app.GrantPath{GroupID: "g-okta", GroupName: "okta-jira", Synced: true, Product: "jira-software"}
		accounts[3].Decisions[0] = app.Decision{AccountID: "acc-003", Product: "jira-software", Outcome: app.OutcomeHandoff,
			Reason: "inactive", BillablePath: []app.GrantPath{synced}, HandoffGroups: []app.GrantPath{synced}, DaysInactive: 200}
		accounts[5].Decisions[0].Outcome, accounts[5].Decisions[0].RemovalDue = app.OutcomePending, &due
		run := e.finishedScan(jira.ID, app.ScanCompleted, accounts)

		r := e.call("GET", "/api/v1/report/export", auth, nil)
		e.ok2(r)
		if cd := r.header.Get("Content-Disposition"); !strings.Contains(cd, `filename="lapse-report-`+run.ID[:8]+`.csv"`) {
			t.Fatalf("Content-Disposition %q", cd)
		}
		recs, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(recs[0], audit.ReportCSVHeader) || len(recs) != 2200+1 {
			t.Fatalf("csv: %d records, header %v", len(recs), recs[0])
		}
		col := func(name string) int { return slices.Index(audit.ReportCSVHeader, name) }
		byAccount := map[string][]string{}
		for _, rec := range recs[1:] {
			if rec[col("product")] == "jira-software" {
				byAccount[rec[col("account_id")]] = rec
			}
		}
		if got := byAccount["acc-001"][col("name")]; got != `'=HYPERLINK("http://evil")` {
			t.Fatalf("hostile name exported as %q", got)
		}
		if got := byAccount["acc-005"][col("removal_due")]; got != "2026-12-20T00:00:00Z" {
			t.Fatalf("removal_due = %q", got)
		}
		if got := byAccount["acc-000"][col("billable_path")]; got != "jira-software-users (g-jsw) → jira-software" {
			t.Fatalf("billable_path = %q", got)
		}

		handoff := e.call("GET", "/api/v1/report/export?outcome=handoff", auth, nil)
		e.ok2(handoff)
		recs, _ = csv.NewReader(bytes.NewReader(handoff.body)).ReadAll()
		if len(recs) != 2 || recs[1][col("account_id")] != "acc-003" || recs[1][col("handoff_groups")] != "okta-jira (g-okta) → jira-software [synced]" {
			t.Fatalf("hand-off list: %v", recs)
		}
		if cd := handoff.header.Get("Content-Disposition"); !strings.Contains(cd, "-handoff.csv") {
			t.Fatalf("Content-Disposition %q", cd)
		}

		nd := e.call("GET", "/api/v1/report/export?format=ndjson&product=jira-servicedesk&outcome=exempt", auth, nil)
		e.ok2(nd)
		lines := 0
		sc := bufio.NewScanner(bytes.NewReader(nd.body))
		for sc.Scan() {
			var row map[string]any
			if err := json.Unmarshal(sc.Bytes(), &row); err != nil || row["outcome"] != app.OutcomeExempt || row["product"] != "jira-servicedesk" {
				t.Fatalf("ndjson line %q: %v", sc.Text(), err)
			}
			lines++
		}
		if want := (1100 + 2) / 3; lines != want {
			t.Fatalf("ndjson rows = %d, want %d exempt service desk rows", lines, want)
		}

		wantError(t, e.call("GET", "/api/v1/report/export?format=xlsx", auth, nil), 400, "invalid", `format must be "csv" or "ndjson"`)
		wantError(t, e.call("GET", "/api/v1/report/export?outcome=gone", auth, nil), 400, "invalid", "outcome must be one of")
		wantError(t, e.call("GET", "/api/v1/report/export?limit=10", auth, nil), 400, "invalid", "an export has no limit")
		wantError(t, e.call("GET", "/api/v1/report/export?scanId="+run.ID, e.as(other, e.admin), nil), 404, "not_found", "scan not found")
		wantError(t, e.call("GET", "/api/v1/report/export", e.as(jira, e.user), nil), 403, "forbidden", "")
	})
}
