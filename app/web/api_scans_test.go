package web_test

import (
	"context"
	"testing"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/store"
)

func scanOf(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	s, ok := m["scan"].(map[string]any)
	if !ok {
		t.Fatalf("no scan in %v", m)
	}
	return s
}

func TestAPI_Scans(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		e := newAPIEnv(t, d)
		jira := e.installConnect(e.site1, "jira")
		auth := e.as(jira, e.admin)
		ctx := context.Background()

		if m := e.ok(e.call("GET", "/api/v1/scans", auth, nil), 200); len(m["scans"].([]any)) != 0 {
			t.Fatalf("scans before any: %v", m)
		}
		wantError(t, e.call("POST", "/api/v1/scans", auth, nil), 409, "conflict", "connect this site to its Atlassian organization first")

		e.ok(e.call("PUT", "/api/v1/org-connection", auth, map[string]any{"orgId": "org-1", "apiKey": testOrgKey}), 200)
		r := e.call("POST", "/api/v1/scans", auth, nil)
		queued := scanOf(t, e.ok(r, 202))
		id, _ := queued["id"].(string)
		if queued["status"] != string(app.ScanQueued) || queued["trigger"] != string(app.TriggerManual) || queued["tenantId"] != jira.ID || id == "" {
			t.Fatalf("queued scan: %v", queued)
		}
		if loc := r.header.Get("Location"); loc != "/api/v1/scans/"+id {
			t.Fatalf("Location = %q", loc)
		}
		evs, _ := e.store.ListAuditEvents(ctx, jira.ID, 100)
		if last := evs[len(evs)-1]; last.Action != app.AuditScanQueued || last.Actor.Type != app.ActorAdmin || last.Actor.ID != e.admin {
			t.Fatalf("audit: %+v", last)
		}

		t.Run("one_at_a_time", func(t *testing.T) {
			r := e.call("POST", "/api/v1/scans", auth, nil)
			wantError(t, r, 409, "conflict", "already queued")
			if active := scanOf(t, r.json(t)); active["id"] != id {
				t.Fatalf("the 409 names scan %v, want the active %s", active["id"], id)
			}
		})
		t.Run("show", func(t *testing.T) {
			if s := scanOf(t, e.ok(e.call("GET", "/api/v1/scans/"+id, auth, nil), 200)); s["id"] != id {
				t.Fatalf("show: %v", s)
			}
			wantError(t, e.call("GET", "/api/v1/scans/4f0e2d4c-0000-4000-8000-000000000000", auth, nil), 404, "not_found", "scan not found")
			wantError(t, e.call("GET", "/api/v1/scans/x%20y", auth, nil), 404, "not_found", "scan not found")
		})
		t.Run("only_held_scans_are_decided", func(t *testing.T) {
			wantError(t, e.call("POST", "/api/v1/scans/"+id+"/approve", auth, nil), 409, "conflict", "not held")
			wantError(t, e.call("POST", "/api/v1/scans/nope/reject", auth, nil), 404, "not_found", "scan not found")
		})

		// The queued scan runs and the brake holds it.
		pol, _ := e.store.Policy(ctx, jira.ID, nil)
		if _, err := e.store.StartScan(ctx, jira.ID, id, app.TriggerManual, pol); err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.FinishScan(ctx, jira.ID, id, app.ScanHeld, map[string]any{"removalsPlanned": 80}, ""); err != nil {
			t.Fatal(err)
		}
		approved := scanOf(t, e.ok(e.call("POST", "/api/v1/scans/"+id+"/approve", auth, nil), 200))
		if approved["status"] != string(app.ScanApproved) {
			t.Fatalf("approved: %v", approved)
		}
		wantError(t, e.call("POST", "/api/v1/scans/"+id+"/reject", auth, nil), 409, "conflict", "not held")
		evs, _ = e.store.ListAuditEvents(ctx, jira.ID, 100)
		if last := evs[len(evs)-1]; last.Action != app.AuditScanApproved || last.Actor.ID != e.admin {
			t.Fatalf("approval audit: %+v", last)
		}
		if _, err := e.store.FinishScan(ctx, jira.ID, id, app.ScanCompleted, map[string]any{}, ""); err != nil {
			t.Fatal(err)
		}

		held := e.heldScan(jira.ID, nil)
		rejected := scanOf(t, e.ok(e.call("POST", "/api/v1/scans/"+held.ID+"/reject", auth, nil), 200))
		if rejected["status"] != string(app.ScanRejected) || rejected["finishedAt"] == nil {
			t.Fatalf("rejected: %v", rejected)
		}

		t.Run("list_newest_first_with_limit", func(t *testing.T) {
			m := e.ok(e.call("GET", "/api/v1/scans", auth, nil), 200)
			scans := m["scans"].([]any)
			if len(scans) != 2 || scans[0].(map[string]any)["id"] != held.ID || scans[1].(map[string]any)["id"] != id {
				t.Fatalf("list: %v", m)
			}
			if m := e.ok(e.call("GET", "/api/v1/scans?limit=1", auth, nil), 200); len(m["scans"].([]any)) != 1 {
				t.Fatalf("limit=1: %v", m)
			}
			wantError(t, e.call("GET", "/api/v1/scans?limit=101", auth, nil), 400, "invalid", "limit must be an integer from 1 to 100")
		})
	})
}

func TestAPI_ScansNotConfigured(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, store.SQLite, apiOptions{noScans: true})
	jira := e.installConnect(e.site1, "jira")
	auth := e.as(jira, e.admin)
	wantError(t, e.call("POST", "/api/v1/scans", auth, nil), 501, "not_implemented", "no scan scheduler")
	wantError(t, e.call("POST", "/api/v1/scans/x/approve", auth, nil), 501, "not_implemented", "no scan scheduler")
	wantError(t, e.call("POST", "/api/v1/scans/x/reject", auth, nil), 501, "not_implemented", "no scan scheduler")
	e.ok(e.call("GET", "/api/v1/scans", auth, nil), 200)
}

// TestAPI_ScanCancel: a site admin cancels a queued scan (audited with the
// admin as actor); a second cancel, or a cancel of a held scan, is a 409
// naming the scan; another tenant's scan is a 404; a user is refused.
func TestAPI_ScanCancel(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		e := newAPIEnv(t, d)
		jira := e.installConnect(e.site1, "jira")
		other := e.installConnect(e.site2, "jira")
		auth := e.as(jira, e.admin)
		ctx := context.Background()
		e.ok(e.call("PUT", "/api/v1/org-connection", auth, map[string]any{"orgId": "org-1", "apiKey": testOrgKey}), 200)
		id, _ := scanOf(t, e.ok(e.call("POST", "/api/v1/scans", auth, nil), 202))["id"].(string)

		wantError(t, e.call("POST", "/api/v1/scans/"+id+"/cancel", e.as(jira, e.user), nil), 403, "forbidden", "")
		wantError(t, e.call("POST", "/api/v1/scans/"+id+"/cancel", e.as(other, e.admin), nil), 404, "not_found", "scan not found")
		cancelled := scanOf(t, e.ok(e.call("POST", "/api/v1/scans/"+id+"/cancel", auth, nil), 200))
		if cancelled["status"] != string(app.ScanCancelled) || cancelled["id"] != id {
			t.Fatalf("cancelled: %v", cancelled)
		}
		r := e.call("POST", "/api/v1/scans/"+id+"/cancel", auth, nil)
		wantError(t, r, 409, "conflict", "cannot be cancelled")
		if s := scanOf(t, r.json(t)); s["id"] != id {
			t.Fatalf("the 409 names %v", s["id"])
		}
		evs, _ := e.store.ListAuditEvents(ctx, jira.ID, 100)
		if last := evs[len(evs)-1]; last.Action != app.AuditScanCancelled || last.Actor.Type != app.ActorAdmin || last.Actor.ID != e.admin {
			t.Fatalf("audit: %+v", last)
		}

		held := e.heldScan(jira.ID, nil)
		wantError(t, e.call("POST", "/api/v1/scans/"+held.ID+"/cancel", auth, nil), 409, "conflict", "reject a held scan instead")
	})
}
