package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/store"
)

const testOrgKey = "ATCTT3xFfGN0-super-secret-org-api-key-0123456789"

func TestAPI_OrgConnection(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		e := newAPIEnv(t, d)
		jira := e.installConnect(e.site1, "jira")
		auth := e.as(jira, e.admin)
		ctx := context.Background()

		m := e.ok(e.call("GET", "/api/v1/org-connection", auth, nil), 200)
		if m["connected"] != false || len(m) != 1 {
			t.Fatalf("before connecting: %v", m)
		}

		t.Run("validation_lists_every_problem", func(t *testing.T) {
			r := e.call("PUT", "/api/v1/org-connection", auth, map[string]any{"orgId": "=cmd|' /C calc'!A0", "apiKey": "has a space"})
			wantError(t, r, 400, "invalid", "orgId must be the organization id")
			wantError(t, r, 400, "invalid", "apiKey must be")
			wantError(t, e.call("PUT", "/api/v1/org-connection", auth, map[string]any{}), 400, "invalid", "orgId is required; apiKey is required")
			wantError(t, e.call("PUT", "/api/v1/org-connection", auth, map[string]any{"orgId": "o", "apiKey": "k", "apikey2": "x"}), 400, "invalid", `unknown field "apikey2"`)
		})

		r := e.call("PUT", "/api/v1/org-connection", auth, map[string]any{"orgId": "4d1f7e1a-0b1c-4c5d-9e8f-0a1b2c3d4e5f", "apiKey": testOrgKey})
		m = e.ok(r, 200)
		if m["connected"] != true || m["orgId"] != "4d1f7e1a-0b1c-4c5d-9e8f-0a1b2c3d4e5f" || m["updatedAt"] == nil {
			t.Fatalf("PUT answer: %v", m)
		}
		for k := range m {
			if strings.Contains(strings.ToLower(k), "key") {
				t.Fatalf("the answer has a key field %q: %s", k, r.body)
			}
		}
		if strings.Contains(string(r.body), testOrgKey) {
			t.Fatal("the API key is in the PUT answer")
		}
		got := e.ok(e.call("GET", "/api/v1/org-connection", auth, nil), 200)
		if got["connected"] != true || got["orgId"] != m["orgId"] {
			t.Fatalf("GET after PUT: %v", got)
		}

		// Stored encrypted and readable by the scan; audited without it.
		oc, err := e.store.OrgConnection(ctx, jira.ID)
		if err != nil || oc.APIKey != testOrgKey {
			t.Fatalf("stored connection: %+v %v", oc, err)
		}
		evs, _ := e.store.ListAuditEvents(ctx, jira.ID, 100)
		last := evs[len(evs)-1]
		if last.Action != app.AuditOrgConnected || last.Actor.Type != app.ActorAdmin || last.Actor.ID != e.admin {
			t.Fatalf("audit: %+v", last)
		}

		// Replacing keeps one connection.
		e.ok(e.call("PUT", "/api/v1/org-connection", auth, map[string]any{"orgId": "other-org", "apiKey": testOrgKey + "-2"}), 200)
		if oc, _ := e.store.OrgConnection(ctx, jira.ID); oc.OrgID != "other-org" || oc.APIKey != testOrgKey+"-2" {
			t.Fatalf("replaced: %+v", oc)
		}

		t.Run("key_never_in_any_response", func(t *testing.T) {
			paths := []string{"/api/v1/tenant", "/api/v1/org-connection", "/api/v1/policy", "/api/v1/scans", "/api/v1/report",
				"/api/v1/audit", "/api/v1/audit/export?format=csv", "/api/v1/audit/export?format=ndjson", "/api/v1/audit/verify"}
			for _, p := range paths {
				r := e.call("GET", p, auth, nil)
				if r.status != http.StatusOK {
					t.Fatalf("GET %s: %d %s", p, r.status, r.body)
				}
				if strings.Contains(string(r.body), testOrgKey) || strings.Contains(string(r.body), jira.in.SharedSecret) {
					t.Fatalf("GET %s leaked a secret: %s", p, r.body)
				}
			}
		})
	})
}
