package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/lapsehq/lapse/app/store"
)

// adminRoutes are the /api/v1 routes behind the site-admin gate, with a
// request that would otherwise succeed or fail on its merits.
var adminRoutes = []struct {
	method, path string
	body         any
}{
	{"GET", "/api/v1/org-connection", nil},
	{"PUT", "/api/v1/org-connection", map[string]any{"orgId": "org-1", "apiKey": "k"}},
	{"GET", "/api/v1/policy", nil},
	{"PUT", "/api/v1/policy", map[string]any{"policy": map[string]any{}, "baseVersion": 0}},
	{"GET", "/api/v1/scans", nil},
	{"POST", "/api/v1/scans", nil},
	{"GET", "/api/v1/scans/00000000-0000-0000-0000-000000000000", nil},
	{"POST", "/api/v1/scans/00000000-0000-0000-0000-000000000000/approve", nil},
	{"POST", "/api/v1/scans/00000000-0000-0000-0000-000000000000/reject", nil},
	{"GET", "/api/v1/report", nil},
	{"GET", "/api/v1/audit", nil},
	{"GET", "/api/v1/audit/export", nil},
	{"GET", "/api/v1/audit/verify", nil},
	{"POST", "/api/v1/audit/1/restore", nil},
}

// TestAPI_SiteAdminGate: administration routes answer site admins only,
// as the simulated site's permission API says; GET /tenant stays open.
func TestAPI_SiteAdminGate(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, store.SQLite)
	jira := e.installConnect(e.site1, "jira")

	t.Run("admin", func(t *testing.T) {
		for _, acc := range []string{e.admin, e.orgAdmin} {
			if r := e.call("GET", "/api/v1/policy", e.as(jira, acc), nil); r.status != http.StatusOK {
				t.Fatalf("admin %s: %d %s", acc, r.status, r.body)
			}
		}
	})
	t.Run("ordinary_user_refused_everywhere", func(t *testing.T) {
		auth := e.as(jira, e.user)
		for _, rt := range adminRoutes {
			wantError(t, e.call(rt.method, rt.path, auth, rt.body), http.StatusForbidden, "forbidden", "only site administrators")
		}
	})
	t.Run("no_account_refused", func(t *testing.T) {
		before := e.checks()
		for _, rt := range adminRoutes {
			wantError(t, e.call(rt.method, rt.path, e.as(jira, ""), rt.body), http.StatusForbidden, "forbidden", "no user account")
		}
		if e.checks() != before {
			t.Fatal("a call without an account asked Atlassian")
		}
	})
	t.Run("tenant_open_to_any_user", func(t *testing.T) {
		for _, acc := range []string{e.user, ""} {
			if r := e.call("GET", "/api/v1/tenant", e.as(jira, acc), nil); r.status != http.StatusOK {
				t.Fatalf("GET /tenant as %q: %d %s", acc, r.status, r.body)
			}
		}
	})
	t.Run("unauthenticated_is_401_not_403", func(t *testing.T) {
		wantError(t, e.call("GET", "/api/v1/policy", "", nil), http.StatusUnauthorized, "unauthorized", "")
	})
	t.Run("cached", func(t *testing.T) {
		auth := e.as(jira, e.admin)
		e.ok(e.call("GET", "/api/v1/scans", auth, nil), 200)
		before := e.checks()
		for range 5 {
			e.ok(e.call("GET", "/api/v1/policy", auth, nil), 200)
			e.ok(e.call("GET", "/api/v1/audit", e.as(jira, e.admin), nil), 200)
		}
		if n := e.checks() - before; n != 0 {
			t.Fatalf("10 calls of a cached admin made %d permission checks", n)
		}
	})
	t.Run("confluence", func(t *testing.T) {
		conf := e.installConnect(e.site1, "confluence")
		e.ok(e.call("GET", "/api/v1/policy", e.as(conf, e.admin), nil), 200)
		wantError(t, e.call("GET", "/api/v1/policy", e.as(conf, e.user), nil), 403, "forbidden", "only site administrators")
	})
	t.Run("forge", func(t *testing.T) {
		ft := e.installForge(e.site2, e.cloud2, "jira")
		before := e.sim.Stats()["POST /rest/api/3/permissions/check"].Requests
		m := e.ok(e.call("GET", "/api/v1/policy", ft.as(e.admin), nil), 200)
		if m["policy"].(map[string]any)["tenantId"] != ft.tenantID {
			t.Fatalf("forge admin read another tenant's policy: %v", m)
		}
		wantError(t, e.call("GET", "/api/v1/policy", ft.as(e.user), nil), 403, "forbidden", "only site administrators")
		wantError(t, e.call("GET", "/api/v1/policy", ft.as(""), nil), 403, "forbidden", "no user account")
		if r := e.call("GET", "/api/v1/tenant", ft.as(e.user), nil); r.status != 200 {
			t.Fatalf("GET /tenant for a Forge user: %d", r.status)
		}
		if n := e.sim.Stats()["POST /rest/api/3/permissions/check"].Requests - before; n != 2 {
			t.Fatalf("Forge checks through the gateway = %d, want 2", n)
		}
	})
	t.Run("atlassian_down_is_503_never_200", func(t *testing.T) {
		b := e.installConnect(e.site2, "jira")
		e.setFaults(`{"jira":{"status503":1},"retryAfter":"1s"}`)
		defer e.setFaults(`{}`)
		r := e.call("GET", "/api/v1/policy", e.as(b, e.admin), nil)
		wantError(t, r, http.StatusServiceUnavailable, "unavailable", "try again")
		// The failure is not cached: once the site answers, so does Lapse.
		e.setFaults(`{}`)
		e.ok(e.call("GET", "/api/v1/policy", e.as(b, e.admin), nil), 200)
	})
	t.Run("forget_asks_again", func(t *testing.T) {
		// Forgetting a tenant's answers (after a reinstall) makes the next
		// call ask the site again.
		e.ok(e.call("GET", "/api/v1/policy", e.as(jira, e.orgAdmin), nil), 200)
		before := e.checks()
		e.checker.Forget(jira.ID)
		e.ok(e.call("GET", "/api/v1/policy", e.as(jira, e.orgAdmin), nil), 200)
		if e.checks() != before+1 {
			t.Fatalf("after Forget: %d checks, want 1", e.checks()-before)
		}
	})
}

func TestAPI_SiteAdminGateNotConfigured(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, store.SQLite, apiOptions{noChecker: true})
	jira := e.installConnect(e.site1, "jira")
	wantError(t, e.call("GET", "/api/v1/policy", e.as(jira, e.admin), nil), http.StatusNotImplemented, "not_implemented", "not configured")
	if r := e.call("GET", "/api/v1/tenant", e.as(jira, e.admin), nil); r.status != 200 {
		t.Fatalf("GET /tenant without a checker: %d", r.status)
	}
}

// TestAPI_NoServerErrorsForClientMistakes sends malformed requests to
// every route as an admin: each is a 4xx with a JSON code and message.
func TestAPI_NoServerErrorsForClientMistakes(t *testing.T) {
	t.Parallel()
	e := newAPIEnv(t, store.SQLite)
	jira := e.installConnect(e.site1, "jira")
	auth := e.as(jira, e.admin)
	cases := []struct {
		name, method, path string
		body               any
		status             int
		reason             string
	}{
		{"org_not_json", "PUT", "/api/v1/org-connection", "{nope", 400, "not valid JSON"},
		{"org_array", "PUT", "/api/v1/org-connection", "[1,2]", 400, "JSON object"},
		{"org_empty", "PUT", "/api/v1/org-connection", "", 400, "body is required"},
		{"org_wrong_type", "PUT", "/api/v1/org-connection", `{"orgId":5,"apiKey":"k"}`, 400, "orgId must be a string"},
		{"org_trailing", "PUT", "/api/v1/org-connection", `{"orgId":"o","apiKey":"k"} {}`, 400, "nothing after it"},
		{"org_too_large", "PUT", "/api/v1/org-connection", `{"orgId":"` + strings.Repeat("a", 300<<10) + `"}`, 413, "too large"},
		{"policy_not_json", "PUT", "/api/v1/policy", "{", 400, "not valid JSON"},
		{"policy_null", "PUT", "/api/v1/policy", `{"baseVersion":0}`, 400, "policy is required"},
		{"scans_limit_zero", "GET", "/api/v1/scans?limit=0", nil, 400, "limit must be"},
		{"scans_limit_text", "GET", "/api/v1/scans?limit=ten", nil, 400, "limit must be"},
		{"scans_limit_huge", "GET", "/api/v1/scans?limit=99999999999999999999", nil, 400, "limit must be"},
		{"scan_unknown", "GET", "/api/v1/scans/nope", nil, 404, "scan not found"},
		{"report_limit", "GET", "/api/v1/report?limit=-1", nil, 400, "limit must be"},
		{"report_outcome", "GET", "/api/v1/report?outcome=gone", nil, 400, "outcome must be one of"},
		{"report_product", "GET", "/api/v1/report?product=Jira%20Software", nil, 400, "product must be"},
		{"report_after", "GET", "/api/v1/report?after=!!!", nil, 400, "cursor"},
		{"report_after_garbage", "GET", "/api/v1/report?after=bm90LWpzb24", nil, 400, "cursor"},
		{"report_scan_unknown", "GET", "/api/v1/report?scanId=nope", nil, 404, "scan not found"},
		{"audit_from", "GET", "/api/v1/audit?from=yesterday", nil, 400, "from must be an RFC 3339 time"},
		{"audit_to_before_from", "GET", "/api/v1/audit?from=2026-03-02&to=2026-03-01", nil, 400, "after its start"},
		{"audit_after", "GET", "/api/v1/audit?after=-4", nil, 400, "after must be the seq"},
		{"audit_limit", "GET", "/api/v1/audit?limit=1001", nil, 400, "limit must be"},
		{"audit_action", "GET", "/api/v1/audit?action=a%20b", nil, 400, "action must be"},
		{"export_format", "GET", "/api/v1/audit/export?format=xlsx", nil, 400, "format must be"},
		{"export_limit", "GET", "/api/v1/audit/export?limit=5", nil, 400, "no limit"},
		{"export_time", "GET", "/api/v1/audit/export?to=soon", nil, 400, "to must be"},
		{"restore_id", "POST", "/api/v1/audit/abc/restore", nil, 400, "positive integer"},
		{"restore_zero", "POST", "/api/v1/audit/0/restore", nil, 400, "positive integer"},
		{"restore_unknown", "POST", "/api/v1/audit/999999/restore", nil, 404, "not found"},
		{"wrong_method", "DELETE", "/api/v1/policy", nil, 405, "method not allowed"},
		{"unknown_route", "GET", "/api/v1/policies", nil, 404, "no such route"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.call(tc.method, tc.path, auth, tc.body)
			code := map[int]string{400: "invalid", 404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}[tc.status]
			wantError(t, r, tc.status, code, tc.reason)
		})
	}
}
