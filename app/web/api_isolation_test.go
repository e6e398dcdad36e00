package web_test

import (
	"bytes"
	"context"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/store"
)

// TestAPI_TenantIsolation: tenant B's site admin, with a valid token of
// B, can never read or act on tenant A's data, by listing or by naming
// A's ids.
func TestAPI_TenantIsolation(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		e := newAPIEnv(t, d)
		a := e.installConnect(e.site1, "jira")
		b := e.installConnect(e.site2, "jira")
		authA, authB := e.as(a, e.admin), e.as(b, e.admin)

		// A has an org connection, a saved policy, scans with a snapshot,
		// a held scan and a removal in its audit trail.
		e.ok(e.call("PUT", "/api/v1/org-connection", authA, map[string]any{"orgId": "org-a", "apiKey": testOrgKey}), 200)
		p, _ := policyOf(t, e.call("GET", "/api/v1/policy", authA, nil))
		p.GraceDays = 3
		e.ok(e.call("PUT", "/api/v1/policy", authA, map[string]any{"policy": p, "baseVersion": 0}), 200)
		removal := e.removal(a.ID, "557058:a-user")
		done := e.finishedScan(a.ID, app.ScanCompleted, snapshot(4, "a-"))
		held := e.heldScan(a.ID, snapshot(2, "ah-"))
		pageA := e.report(authA, url.Values{"limit": {"1"}, "scanId": {done.ID}})
		if pageA.Next == nil {
			t.Fatal("A's report has one page only")
		}
		evsA, _ := e.store.ListAuditEvents(context.Background(), a.ID, 1000)

		t.Run("lists_show_only_b", func(t *testing.T) {
			if m := e.ok(e.call("GET", "/api/v1/scans", authB, nil), 200); len(m["scans"].([]any)) != 0 {
				t.Fatalf("B lists scans: %v", m)
			}
			if p := e.report(authB, nil); p.Scan != nil || len(p.Rows) != 0 {
				t.Fatalf("B's report shows %+v", p)
			}
			got := e.auditPage(authB, url.Values{"limit": {"1000"}})
			for _, ev := range got.Events {
				if ev.TenantID != b.ID {
					t.Fatalf("B's audit holds an event of %s", ev.TenantID)
				}
			}
			if m := e.ok(e.call("GET", "/api/v1/audit/verify", authB, nil), 200); m["events"] != float64(len(got.Events)) {
				t.Fatalf("B's verification counts %v events, B has %d", m["events"], len(got.Events))
			}
			bp, _ := policyOf(t, e.call("GET", "/api/v1/policy", authB, nil))
			if bp.Version != 0 || bp.TenantID != b.ID || bp.GraceDays == 3 {
				t.Fatalf("B's policy: %+v", bp)
			}
			if m := e.ok(e.call("GET", "/api/v1/org-connection", authB, nil), 200); m["connected"] != false {
				t.Fatalf("B sees A's org connection: %v", m)
			}
		})
		t.Run("export_holds_nothing_of_a", func(t *testing.T) {
			for _, f := range []string{"csv", "ndjson"} {
				r := e.call("GET", "/api/v1/audit/export?format="+f, authB, nil)
				e.ok2(r)
				for _, ev := range evsA {
					if bytes.Contains(r.body, []byte(ev.Hash)) {
						t.Fatalf("B's %s export holds A's event %d", f, ev.Seq)
					}
				}
				if strings.Contains(string(r.body), a.ID) {
					t.Fatalf("B's %s export names tenant A", f)
				}
			}
		})
		t.Run("a_ids_are_not_found_for_b", func(t *testing.T) {
			for _, id := range []string{done.ID, held.ID} {
				wantError(t, e.call("GET", "/api/v1/scans/"+id, authB, nil), 404, "not_found", "scan not found")
				wantError(t, e.call("GET", "/api/v1/report?scanId="+id, authB, nil), 404, "not_found", "scan not found")
			}
			wantError(t, e.call("POST", "/api/v1/scans/"+held.ID+"/approve", authB, nil), 404, "not_found", "scan not found")
			wantError(t, e.call("POST", "/api/v1/scans/"+held.ID+"/reject", authB, nil), 404, "not_found", "scan not found")
			wantError(t, e.call("GET", "/api/v1/report?after="+url.QueryEscape(*pageA.Next), authB, nil), 404, "not_found", "scan not found")
			wantError(t, e.call("POST", "/api/v1/audit/"+strconv.FormatInt(removal, 10)+"/restore", authB, nil), 404, "not_found", "not found")
		})
		t.Run("a_is_untouched", func(t *testing.T) {
			s, err := e.store.Scan(context.Background(), a.ID, held.ID)
			if err != nil || s.Status != app.ScanHeld {
				t.Fatalf("A's held scan: %+v %v", s, err)
			}
			evs, _ := e.store.ListAuditEvents(context.Background(), a.ID, 1000)
			if len(evs) != len(evsA) {
				t.Fatalf("A's audit trail changed: %d → %d events", len(evsA), len(evs))
			}
			if pa := e.report(authA, url.Values{"after": {*pageA.Next}}); pa.Scan.ID != done.ID || len(pa.Rows) == 0 {
				t.Fatalf("A's own cursor: %+v", pa)
			}
		})
	})
}
