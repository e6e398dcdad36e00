package devsite

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// mwRateHeaders are every rate-limit header the site may send.
var mwRateHeaders = []string{
	"Retry-After", "RateLimit-Reason", "RateLimit-Policy", "RateLimit",
	"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "X-RateLimit-NearLimit",
	"Beta-Retry-After", "Beta-RateLimit-Reason", "Beta-RateLimit-Policy", "Beta-RateLimit",
}

// wantHeaders checks the rate-limit headers of a are exactly want.
func wantHeaders(t testing.TB, what string, a mwAnswer, want map[string]string) {
	t.Helper()
	if a.err != nil {
		t.Fatalf("%s: %v", what, a.err)
	}
	for _, h := range mwRateHeaders {
		if got := a.header.Get(h); got != want[h] {
			t.Errorf("%s: %s = %q, want %q", what, h, got, want[h])
		}
	}
}

func (e *mwEnv) setLimits(cfg map[string]any) {
	e.t.Helper()
	e.mustControl(http.MethodPut, "/_devsite/limits", cfg, nil)
}

// TestLimits_QuotaExhaustion: the app-wide pool serves requests until it is
// used up (the last one overshoots), then refuses every request of the app,
// on every product, until the top of the hour; other apps are unaffected.
func TestLimits_QuotaExhaustion(t *testing.T) {
	t.Parallel()
	e := newMWEnv(t, Params{})
	e.setLimits(map[string]any{"appPointsPerHour": 100})
	jira := e.connect("acme", APIJira)
	wiki := e.connect("acme", APIConfluence)
	forge := e.forge("acme", APIJira)

	a := jira.read(40) // 81 points
	wantHeaders(t, "first request", a, map[string]string{
		"RateLimit-Policy":      `"global-app-quota";q=100;w=3600`,
		"RateLimit":             `"global-app-quota";t=1800`,
		"X-RateLimit-Limit":     "100",
		"X-RateLimit-Remaining": "100",
	})
	a = jira.read(40) // past 80 %: r appears, under 20 % left: NearLimit
	if a.status != http.StatusOK {
		t.Fatalf("second request = %d", a.status)
	}
	wantHeaders(t, "second request", a, map[string]string{
		"RateLimit-Policy":      `"global-app-quota";q=100;w=3600`,
		"RateLimit":             `"global-app-quota";r=19;t=1800`,
		"X-RateLimit-Limit":     "100",
		"X-RateLimit-Remaining": "19",
		"X-RateLimit-NearLimit": "true",
	})
	// 162 points used: overshot by the request that crossed the limit.
	if st := e.stats(); st.Budget.Apps[mwAppKey].Used != 162 || st.Endpoints["GET "+mwRead].Points != 162 {
		t.Fatalf("budget = %+v, endpoint = %+v", st.Budget.Apps, st.Endpoints["GET "+mwRead])
	}

	want429 := map[string]string{
		"Retry-After":           "1800",
		"RateLimit-Reason":      "jira-quota-global-based",
		"RateLimit-Policy":      `"global-app-quota";q=100;w=3600`,
		"RateLimit":             `"global-app-quota";r=0;t=1800`,
		"X-RateLimit-Limit":     "100",
		"X-RateLimit-Remaining": "0",
		"X-RateLimit-Reset":     "2026-03-02T11:00:00Z",
		"X-RateLimit-NearLimit": "true",
	}
	for _, path := range []string{mwRead, mwRead2} {
		a := jira.do(http.MethodGet, path)
		if a.status != http.StatusTooManyRequests || !strings.Contains(a.body, "errorMessages") {
			t.Fatalf("%s when exhausted = %d %s", path, a.status, a.body)
		}
		wantHeaders(t, "exhausted "+path, a, want429)
	}
	if a := jira.do(http.MethodPost, mwWrite); a.status != http.StatusTooManyRequests {
		t.Fatalf("write when exhausted = %d", a.status)
	}
	// The same app on Confluence shares the app pool; its reason says so.
	a = wiki.do(http.MethodGet, mwWiki)
	if a.status != http.StatusTooManyRequests || a.header.Get("RateLimit-Reason") != "confluence-quota-global-based" {
		t.Fatalf("confluence when exhausted = %d %q", a.status, a.header.Get("RateLimit-Reason"))
	}
	// Another app (the Forge app) has its own pool.
	if a := forge.read(1); a.status != http.StatusOK {
		t.Fatalf("other app = %d", a.status)
	}
	// Refused requests cost nothing.
	if st := e.stats(); st.Budget.Apps[mwAppKey].Used != 162 || st.Endpoints["GET "+mwRead].Statuses["Too Many Requests"] != 1 {
		t.Fatalf("after refusals = %+v %+v", st.Budget.Apps, st.Endpoints["GET "+mwRead])
	}

	e.advance("29m59s")
	if a := jira.read(0); a.status != http.StatusTooManyRequests || a.header.Get("Retry-After") != "1" {
		t.Fatalf("a second before the hour = %d, Retry-After %q", a.status, a.header.Get("Retry-After"))
	}
	e.advance("1s")
	a = jira.read(0)
	if a.status != http.StatusOK {
		t.Fatalf("after the top of the hour = %d %s", a.status, a.body)
	}
	wantHeaders(t, "new hour", a, map[string]string{
		"RateLimit-Policy":      `"global-app-quota";q=100;w=3600`,
		"RateLimit":             `"global-app-quota";t=3600`,
		"X-RateLimit-Limit":     "100",
		"X-RateLimit-Remaining": "100",
	})
}

// TestLimits_BetaOnly: before enforcement nothing is refused and only the
// Beta- headers say what would have happened.
func TestLimits_BetaOnly(t *testing.T) {
	t.Parallel()
	e := newMWEnv(t, Params{})
	e.setLimits(map[string]any{"appPointsPerHour": 10, "enforced": false, "burst": map[string]int{"GET": 2}})
	jira := e.connect("acme", APIJira)
	a := jira.read(2)
	wantHeaders(t, "first", a, map[string]string{
		"Beta-RateLimit-Policy": `"global-app-quota";q=10;w=3600`,
		"Beta-RateLimit":        `"global-app-quota";t=1800`,
	})
	jira.read(2) // 10 points used
	a = jira.read(2)
	if a.status != http.StatusOK {
		t.Fatalf("over quota in beta mode = %d", a.status)
	}
	wantHeaders(t, "over quota", a, map[string]string{
		"Beta-Retry-After":      "1800",
		"Beta-RateLimit-Reason": "jira-quota-global-based",
		"Beta-RateLimit-Policy": `"global-app-quota";q=10;w=3600`,
		"Beta-RateLimit":        `"global-app-quota";r=0;t=1800`,
	})
	// The burst bucket of another endpoint, empty after two calls.
	e.setLimits(map[string]any{"enforced": false, "burst": map[string]int{"GET": 2}})
	jira.do(http.MethodGet, mwRead2)
	jira.do(http.MethodGet, mwRead2)
	a = jira.do(http.MethodGet, mwRead2)
	if a.status != http.StatusOK || a.header.Get("Beta-RateLimit-Reason") != "jira-burst-based" || a.header.Get("Beta-Retry-After") != "1" ||
		a.header.Get("Beta-RateLimit") != `"global-app-quota";t=1800, "jira-burst-based";r=0;t=1` {
		t.Fatalf("burst in beta mode = %d %v", a.status, a.header)
	}
}

// TestLimits_TenantPool: with a per-tenant pool (Tier 2) one exhausted
// installation does not stop the app's others.
func TestLimits_TenantPool(t *testing.T) {
	t.Parallel()
	e := newMWEnv(t, Params{Sites: 2})
	e.setLimits(map[string]any{"tenantPointsPerHour": 10, "appPointsPerHour": 12})
	acme := e.connect("acme", APIJira)
	acme2 := e.connect("acme2", APIJira)
	if a := acme.read(5); a.status != http.StatusOK || a.header.Get("RateLimit-Policy") != `"tenant-app-quota";q=10;w=3600` {
		t.Fatalf("first = %d %q", a.status, a.header.Get("RateLimit-Policy"))
	}
	a := acme.read(0)
	if a.status != http.StatusTooManyRequests {
		t.Fatalf("exhausted tenant = %d", a.status)
	}
	wantHeaders(t, "tenant 429", a, map[string]string{
		"Retry-After":           "1800",
		"RateLimit-Reason":      "jira-quota-tenant-based",
		"RateLimit-Policy":      `"tenant-app-quota";q=10;w=3600`,
		"RateLimit":             `"tenant-app-quota";r=0;t=1800`,
		"X-RateLimit-Limit":     "10",
		"X-RateLimit-Remaining": "0",
		"X-RateLimit-Reset":     "2026-03-02T11:00:00Z",
		"X-RateLimit-NearLimit": "true",
	})
	// Tier 2 replaces the app-wide pool: 11 points app-wide is over the
	// (ignored) 12-point app setting once acme2 spends more.
	for range 3 {
		if a := acme2.read(1); a.status != http.StatusOK {
			t.Fatalf("other tenant = %d", a.status)
		}
	}
	st := e.stats()
	if st.Budget.Tier != 2 || st.Budget.Tenants["acme|jira|"+mwAppKey].Used != 11 || st.Budget.Tenants["acme|jira|"+mwAppKey].Limit != 10 ||
		st.Budget.Apps[mwAppKey].Used != 20 {
		t.Fatalf("budget = %+v", st.Budget)
	}
}

// TestLimits_Burst: an empty bucket refuses only its endpoint, for its
// tenant, and refills at its size per second.
func TestLimits_Burst(t *testing.T) {
	t.Parallel()
	e := newMWEnv(t, Params{})
	e.setLimits(map[string]any{"burst": map[string]int{"GET": 3}})
	jira := e.connect("acme", APIJira)
	forge := e.forge("acme", APIJira)
	for i := range 3 {
		if a := jira.read(0); a.status != http.StatusOK {
			t.Fatalf("request %d = %d", i, a.status)
		}
	}
	a := jira.read(0)
	if a.status != http.StatusTooManyRequests {
		t.Fatalf("fourth request = %d", a.status)
	}
	wantHeaders(t, "burst 429", a, map[string]string{
		"Retry-After":           "1",
		"RateLimit-Reason":      "jira-burst-based",
		"RateLimit-Policy":      `"global-app-quota";q=65000;w=3600, "jira-burst-based";q=3;w=1`,
		"RateLimit":             `"global-app-quota";t=1800, "jira-burst-based";r=0;t=1`,
		"X-RateLimit-Limit":     "3",
		"X-RateLimit-Remaining": "0",
		"X-RateLimit-Reset":     "2026-03-02T10:30:01Z",
	})
	if a := jira.do(http.MethodGet, mwRead2); a.status != http.StatusOK {
		t.Fatalf("another endpoint = %d", a.status)
	}
	if a := forge.read(0); a.status != http.StatusOK {
		t.Fatalf("another tenant on the same endpoint = %d", a.status)
	}
	e.advance("400ms") // 1.2 tokens back
	if a := jira.read(0); a.status != http.StatusOK {
		t.Fatalf("after refill = %d", a.status)
	}
	if a := jira.read(0); a.status != http.StatusTooManyRequests {
		t.Fatalf("bucket should be empty again = %d", a.status)
	}
	// Confluence has no simulated burst limit.
	wiki := e.connect("acme", APIConfluence)
	for range 5 {
		if a := wiki.do(http.MethodGet, mwWiki); a.status != http.StatusOK {
			t.Fatalf("confluence = %d", a.status)
		}
	}
}

// TestLimits_BurstOverride: an endpoint override replaces the method size.
func TestLimits_BurstOverride(t *testing.T) {
	t.Parallel()
	e := newMWEnv(t, Params{})
	e.setLimits(map[string]any{"burst": map[string]int{"GET": 1}, "burstOverrides": map[string]int{"GET " + mwRead2: 3}})
	jira := e.connect("acme", APIJira)
	var got []int
	for range 4 {
		got = append(got, jira.do(http.MethodGet, mwRead2).status)
	}
	if want := []int{200, 200, 200, 429}; !slices.Equal(got, want) {
		t.Fatalf("statuses = %v, want %v", got, want)
	}
}

// TestLimits_Admin: the Admin API counts requests per org per minute and
// answers 429 with the X-RateLimit set and Retry-After, no reason.
func TestLimits_Admin(t *testing.T) {
	t.Parallel()
	e := newMWEnv(t, Params{})
	e.setLimits(map[string]any{"adminRequestsPerMinute": 2})
	a := e.admin(http.MethodGet, mwAdminRead+"?n=5")
	wantHeaders(t, "first", a, map[string]string{
		"X-RateLimit-Limit": "2", "X-RateLimit-Remaining": "1", "X-RateLimit-Reset": "2026-03-02T10:31:00Z",
	})
	e.admin(http.MethodGet, mwAdminRead)
	a = e.admin(http.MethodGet, mwAdminRead)
	if a.status != http.StatusTooManyRequests || !strings.Contains(a.body, `"errors"`) {
		t.Fatalf("third = %d %s", a.status, a.body)
	}
	wantHeaders(t, "admin 429", a, map[string]string{
		"Retry-After": "60", "X-RateLimit-Limit": "2", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2026-03-02T10:31:00Z",
	})
	// Admin traffic is outside the points model.
	st := e.stats()
	if st.Endpoints["GET "+mwAdminRead].Points != 0 || len(st.Budget.Apps) != 0 || st.Admin.Orgs[orgKeyID(e)].Used != 2 {
		t.Fatalf("stats = %+v", st)
	}
	e.advance("1m")
	if a := e.admin(http.MethodGet, mwAdminRead); a.status != http.StatusOK || a.header.Get("X-RateLimit-Remaining") != "1" {
		t.Fatalf("next minute = %d %q", a.status, a.header.Get("X-RateLimit-Remaining"))
	}
}

func orgKeyID(e *mwEnv) string {
	var id string
	e.s.WithOrg(func(o *Org) { id = "org-key:" + o.ID })
	return id
}

func TestLimits_Points(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		c    call
		want int64
	}{
		{"read_no_objects", call{}, 1},
		{"read_8_users", call{Objects: 8}, 17}, // DOMAIN §4.2: group/member with 8 users
		{"write", call{Write: true, Objects: 3}, 1},
	}
	for _, tc := range cases {
		if got := pointsOf(&tc.c); got != tc.want {
			t.Errorf("%s: %d points, want %d", tc.name, got, tc.want)
		}
	}
}

// TestLimits_AdminSliding: with adminWindow "sliding" the Admin API counts
// the requests of the last 60 seconds, so a new UTC minute brings no fresh
// allowance; a slot frees up 60 s after the request that took it, which
// X-RateLimit-Reset and Retry-After name.
func TestLimits_AdminSliding(t *testing.T) {
	t.Parallel()
	e := newMWEnv(t, Params{})
	e.setLimits(map[string]any{"adminRequestsPerMinute": 2, "adminWindow": "sliding"})
	e.advance("40s") // 10:30:40
	if a := e.admin(http.MethodGet, mwAdminRead); a.status != http.StatusOK {
		t.Fatalf("first = %d", a.status)
	}
	e.advance("10s") // 10:30:50
	e.admin(http.MethodGet, mwAdminRead)
	e.advance("15s") // 10:31:05: a fixed window would have reset
	a := e.admin(http.MethodGet, mwAdminRead)
	if a.status != http.StatusTooManyRequests {
		t.Fatalf("third, in a new UTC minute but within 60 s of two = %d", a.status)
	}
	wantHeaders(t, "sliding 429", a, map[string]string{
		"Retry-After": "35", "X-RateLimit-Limit": "2", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2026-03-02T10:31:40Z",
	})
	if st := e.stats(); st.Admin.Orgs[orgKeyID(e)].Used != 2 {
		t.Fatalf("stats used = %d, want 2", st.Admin.Orgs[orgKeyID(e)].Used)
	}
	e.advance("35s") // 10:31:40: the first request has left the window
	if a := e.admin(http.MethodGet, mwAdminRead); a.status != http.StatusOK || a.header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("after a slot freed = %d remaining %q", a.status, a.header.Get("X-RateLimit-Remaining"))
	}
}

func TestLimits_AdminWindowValidated(t *testing.T) {
	t.Parallel()
	if err := (LimitConfig{AdminWindow: "rolling"}).validate(); err == nil || !strings.Contains(err.Error(), "adminWindow") {
		t.Fatalf("err = %v, want an adminWindow error", err)
	}
}
