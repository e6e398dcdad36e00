package web_test

import (
	"context"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/store"
)

// TestAPI_Warnings: site admins see their own tenant's warning e-mails and
// their delivery state; an ordinary user gets 403; bad limits are 400.
func TestAPI_Warnings(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		e := newAPIEnv(t, d)
		jira := e.installConnect(e.site1, "jira")
		other := e.installConnect(e.site2, "jira")
		auth := e.as(jira, e.admin)
		ctx := context.Background()
		if m := e.ok(e.call("GET", "/api/v1/warnings", auth, nil), 200); len(m["warnings"].([]any)) != 0 {
			t.Fatalf("warnings before any: %v", m)
		}
		due := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
		n := app.WarningNotice{AccountID: "acc-1", Product: "jira-software", RemovalDue: due, Email: "ann@example.com", DisplayName: "Ann"}
		if _, err := e.store.QueueWarnings(ctx, jira.ID, "scan-1", []app.WarningNotice{n}); err != nil {
			t.Fatal(err)
		}
		n.AccountID = "acc-other"
		if _, err := e.store.QueueWarnings(ctx, other.ID, "scan-2", []app.WarningNotice{n}); err != nil {
			t.Fatal(err)
		}
		list := e.ok(e.call("GET", "/api/v1/warnings", auth, nil), 200)["warnings"].([]any)
		if len(list) != 1 {
			t.Fatalf("tenant sees %d warnings, want only its own 1: %v", len(list), list)
		}
		w := list[0].(map[string]any)
		if w["accountId"] != "acc-1" || w["state"] != app.WarningQueued || w["email"] != "ann@example.com" || w["removalDue"] != "2026-07-01T00:00:00Z" {
			t.Fatalf("warning = %v", w)
		}
		wantError(t, e.call("GET", "/api/v1/warnings?limit=0", auth, nil), 400, "invalid", "limit must be an integer from 1 to 500")
		wantError(t, e.call("GET", "/api/v1/warnings", e.as(jira, e.user), nil), 403, "forbidden", "")
	})
}
