package audit_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/audit"
)

func event(actorID, action, account, data string) *app.AuditEvent {
	return &app.AuditEvent{ID: 9, TenantID: "t-1", Seq: 7, OccurredAt: time.Date(2026, 3, 4, 5, 6, 7, 120000000, time.FixedZone("x", 3600)),
		Actor: app.Actor{Type: app.ActorAdmin, ID: actorID}, Action: action, TargetAccountID: account, Data: json.RawMessage(data),
		PrevHash: "aa", Hash: "bb"}
}

func TestCSVEncoder(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		ev   *app.AuditEvent
		want []string // the row after the header
	}{
		{"plain", event("557058:abc", "access.removed", "acc-1", `{"accountId":"acc-1"}`),
			[]string{"7", "2026-03-04T04:06:07.12Z", "admin", "557058:abc", "access.removed", "acc-1", `{"accountId":"acc-1"}`, "aa", "bb"}},
		{"formula_equals", event("=HYPERLINK(\"http://x\")", "a", "", `{}`),
			[]string{"7", "2026-03-04T04:06:07.12Z", "admin", "'=HYPERLINK(\"http://x\")", "a", "", `{}`, "aa", "bb"}},
		{"formula_plus", event("+1+1", "a", "", `{}`), []string{"7", "2026-03-04T04:06:07.12Z", "admin", "'+1+1", "a", "", `{}`, "aa", "bb"}},
		{"formula_minus", event("x", "-2+3", "", `{}`), []string{"7", "2026-03-04T04:06:07.12Z", "admin", "x", "'-2+3", "", `{}`, "aa", "bb"}},
		{"formula_at", event("x", "a", "@SUM(A1)", `{}`), []string{"7", "2026-03-04T04:06:07.12Z", "admin", "x", "a", "'@SUM(A1)", `{}`, "aa", "bb"}},
		{"formula_tab", event("\t=1", "a", "", `{}`), []string{"7", "2026-03-04T04:06:07.12Z", "admin", "'\t=1", "a", "", `{}`, "aa", "bb"}},
		{"formula_carriage_return", event("\r=1", "a", "", `{}`), []string{"7", "2026-03-04T04:06:07.12Z", "admin", "'\r=1", "a", "", `{}`, "aa", "bb"}},
		{"leading_quote_kept_reversible", event("'=1", "a", "", `{}`), []string{"7", "2026-03-04T04:06:07.12Z", "admin", "''=1", "a", "", `{}`, "aa", "bb"}},
		{"formula_inside_json_untouched", event("x", "a", "", `{"name":"=cmd|' /C calc'!A0"}`),
			[]string{"7", "2026-03-04T04:06:07.12Z", "admin", "x", "a", "", `{"name":"=cmd|' /C calc'!A0"}`, "aa", "bb"}},
		{"formula_not_at_start", event("a=1", "a-b", "x@y", `{}`), []string{"7", "2026-03-04T04:06:07.12Z", "admin", "a=1", "a-b", "x@y", `{}`, "aa", "bb"}},
		{"scalar_negative_data", event("x", "a", "", `-5`), []string{"7", "2026-03-04T04:06:07.12Z", "admin", "x", "a", "", `'-5`, "aa", "bb"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var b bytes.Buffer
			enc := audit.NewCSVEncoder(&b)
			if err := enc.Encode(c.ev); err != nil {
				t.Fatal(err)
			}
			if err := enc.Flush(); err != nil {
				t.Fatal(err)
			}
			rows, err := csv.NewReader(&b).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 2 || !slices.Equal(rows[0], audit.CSVHeader) {
				t.Fatalf("rows %q", rows)
			}
			if !slices.Equal(rows[1], c.want) {
				t.Fatalf("(-want +got)\n- %q\n+ %q", c.want, rows[1])
			}
		})
	}
}

func TestCSVEncoder_EmptyExportHasHeader(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := audit.NewCSVEncoder(&b).Flush(); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != strings.Join(audit.CSVHeader, ",")+"\n" {
		t.Fatalf("empty export = %q", got)
	}
}

func TestNDJSONEncoder(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	enc := audit.NewNDJSONEncoder(&b)
	in := []*app.AuditEvent{event("x", "a", "acc-1", `{"accountId":"acc-1","s":"<&>"}`), event("=y", "b", "", `null`)}
	for _, ev := range in {
		if err := enc.Encode(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines: %q", len(lines), b.String())
	}
	// The data stays the exact bytes the hash covers: no HTML escaping.
	if !strings.Contains(lines[0], `"data":{"accountId":"acc-1","s":"<&>"}`) {
		t.Fatalf("data not kept byte for byte: %s", lines[0])
	}
	for i, l := range lines {
		var got app.AuditEvent
		if err := json.Unmarshal([]byte(l), &got); err != nil {
			t.Fatal(err)
		}
		if got.Seq != 7 || got.Hash != "bb" || got.PrevHash != "aa" || got.Actor != in[i].Actor || !got.OccurredAt.Equal(in[i].OccurredAt) || string(got.Data) != string(in[i].Data) {
			t.Fatalf("line %d round trip: %+v", i, got)
		}
	}
}

// TestReportCSVEncoder: one row per decision with paths spelled out, times
// in UTC, empty cells for no time, and hostile cells neutralised.
func TestReportCSVEncoder(t *testing.T) {
	var buf bytes.Buffer
	e := audit.NewReportCSVEncoder(&buf)
	last := time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	acc := &app.AccountFacts{AccountID: "a1", Name: "@admin", Email: "-x@example.com", AccountType: "atlassian", ClaimStatus: "managed"}
	d := app.Decision{Product: "confluence", Outcome: app.OutcomeHandoff, Rule: "+rule", PolicyVersion: 4, LastActive: &last, DaysInactive: 300,
		BillablePath:  []app.GrantPath{{GroupID: "g1", GroupName: "conf-users", Product: "confluence"}, {GroupID: "g2", GroupName: "=okta", Synced: true, Product: "confluence"}},
		HandoffGroups: []app.GrantPath{{GroupID: "g2", GroupName: "=okta", Synced: true, Product: "confluence"}}}
	if err := e.Encode(acc, d); err != nil {
		t.Fatal(err)
	}
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(recs) != 2 {
		t.Fatalf("records %v, %v", recs, err)
	}
	got := map[string]string{}
	for i, h := range audit.ReportCSVHeader {
		got[h] = recs[1][i]
	}
	want := map[string]string{
		"account_id": "a1", "name": "'@admin", "email": "'-x@example.com", "rule": "'+rule", "policy_version": "4",
		"last_active": "2025-01-02T02:04:05Z", "days_inactive": "300", "removal_due": "",
		"billable_path":  "conf-users (g1) → confluence; =okta (g2) → confluence [synced]",
		"handoff_groups": "'=okta (g2) → confluence [synced]",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}
