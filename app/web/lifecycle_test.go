package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/devsite"
	"github.com/lapsehq/lapse/app/store"
)

// TestConnect_EndToEnd walks one Connect tenant through its whole life over
// real HTTP: signed install, admin page with a real qsh, API with a context
// token, disable, enable, uninstall and reinstall.
func TestConnect_EndToEnd(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		e := newEnv(t, d)
		site := e.site("jira")
		e.install(site)

		// The admin page with arbitrary context parameters, as Atlassian
		// loads it, signed over the exact URL.
		q := url.Values{"xdm_e": {site.BaseURL}, "cp": {""}, "lic": {"none"}, "tz": {"Australia/Sydney"}, "loc": {"en-US"}, "odd": {"a b+c*~'()!"}}
		page, err := e.host.PageURL(e.app, site, "/admin", q, "557058:admin")
		if err != nil {
			t.Fatal(err)
		}
		r := e.get(page)
		if r.status != http.StatusOK || !strings.Contains(string(r.body), site.BaseURL) || !strings.Contains(r.header.Get("Content-Security-Policy"), "frame-ancestors") {
			t.Fatalf("admin page: %d %s", r.status, r.body)
		}

		r = e.do(http.MethodGet, "/api/v1/tenant", "JWT "+e.contextToken(site), nil)
		if r.status != http.StatusOK {
			t.Fatalf("GET /api/v1/tenant = %d %s", r.status, r.body)
		}
		m := r.json(t)
		if m["baseUrl"] != site.BaseURL || m["product"] != "jira" || m["state"] != "installed" || m["connect"] != true {
			t.Fatalf("tenant = %v", m)
		}
		if auth := m["auth"].(map[string]any); auth["method"] != string(app.AuthConnectContext) || auth["accountId"] != "557058:admin" {
			t.Fatalf("auth = %v", auth)
		}
		if strings.Contains(string(r.body), site.SharedSecret) {
			t.Fatal("the shared secret leaked into a response")
		}

		ctx := context.Background()
		if err := e.host.SetEnabled(ctx, e.app, site, true); err != nil {
			t.Fatal(err)
		}
		if err := e.host.SetEnabled(ctx, e.app, site, false); err != nil {
			t.Fatal(err)
		}
		wantError(t, e.do(http.MethodGet, "/api/v1/tenant", "JWT "+e.contextToken(site), nil), 401, "unauthorized", "not installed and enabled")
		if err := e.host.SetEnabled(ctx, e.app, site, true); err != nil {
			t.Fatal(err)
		}
		if r := e.do(http.MethodGet, "/api/v1/tenant", "JWT "+e.contextToken(site), nil); r.status != 200 {
			t.Fatalf("after re-enable: %d %s", r.status, r.body)
		}

		if err := e.host.Uninstall(ctx, e.app, site, "557058:installer"); err != nil {
			t.Fatal(err)
		}
		wantError(t, e.do(http.MethodGet, "/api/v1/tenant", "JWT "+e.contextToken(site), nil), 401, "unauthorized", "not installed and enabled")
		// A disabled that follows uninstalled, without any JWT, is harmless.
		if r := e.do(http.MethodPost, "/disabled", "", jsonBody(t, devsite.LifecyclePayload(e.app, site, "disabled"))); r.status != http.StatusNoContent {
			t.Fatalf("disabled after uninstall = %d %s", r.status, r.body)
		}

		// The reinstall comes later than the install. Signing is
		// deterministic, so a token minted in the same second for the same
		// site and route would be the install token itself, which Lapse
		// refuses to take with another body.
		e.host.NowFunc = func() time.Time { return time.Now().Add(2 * time.Second) }
		site.RotateSecret()
		e.install(site)
		if r := e.do(http.MethodGet, "/api/v1/tenant", "JWT "+e.contextToken(site), nil); r.status != 200 {
			t.Fatalf("after reinstall: %d %s", r.status, r.body)
		}

		tn, err := e.store.FindTenantByClientKey(ctx, site.ClientKey)
		if err != nil {
			t.Fatal(err)
		}
		evs, _ := e.store.ListAuditEvents(ctx, tn.ID, 100)
		var got []string
		for _, ev := range evs {
			got = append(got, ev.Action)
		}
		want := []string{"tenant.installed", "tenant.enabled", "tenant.disabled", "tenant.enabled", "tenant.uninstalled", "tenant.reinstalled"}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("audit = %v, want %v", got, want)
		}
		if evs[0].Actor.ID != "557058:installer" {
			t.Fatalf("install audited with actor %+v", evs[0].Actor)
		}
	})
}

// TestConnect_AppBaseURLWithPath serves Lapse under a path prefix: qsh is
// computed without it, as Atlassian's libraries do.
func TestConnect_AppBaseURLWithPath(t *testing.T) {
	t.Parallel()
	e := newEnv(t, store.SQLite, envOptions{basePath: "/lapse"})
	site := e.site("confluence")
	e.install(site)
	page, err := e.host.PageURL(e.app, site, "/admin", url.Values{"x": {"1"}}, "acc")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page, "/lapse/admin?") {
		t.Fatalf("page URL %s", page)
	}
	if r := e.get(page); r.status != http.StatusOK {
		t.Fatalf("admin page under a base path: %d %s", r.status, r.body)
	}
	if r := e.do(http.MethodGet, "/atlassian-connect.json", "", nil); r.status != 200 || !strings.Contains(string(r.body), e.app.BaseURL) {
		t.Fatalf("descriptor: %d %s", r.status, r.body)
	}
}

func TestDescriptor(t *testing.T) {
	t.Parallel()
	e := newEnv(t, store.SQLite)
	r := e.do(http.MethodGet, "/atlassian-connect.json", "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("status %d", r.status)
	}
	m := r.json(t)
	if m["baseUrl"] != e.app.BaseURL || m["key"] != appKey {
		t.Fatalf("descriptor baseUrl/key = %v/%v", m["baseUrl"], m["key"])
	}
	// Every URL the descriptor declares is a route that answers (with an
	// auth error, not 404).
	lc := m["lifecycle"].(map[string]any)
	for _, ev := range []string{"installed", "uninstalled", "enabled", "disabled"} {
		path := lc[ev].(string)
		if r := e.do(http.MethodPost, path, "", strings.NewReader("{}")); r.status == http.StatusNotFound {
			t.Errorf("lifecycle %s URL %s is not routed", ev, path)
		}
	}
	pages := m["modules"].(map[string]any)["adminPages"].([]any)
	for _, p := range pages {
		path := p.(map[string]any)["url"].(string)
		if r := e.do(http.MethodGet, path, "", nil); r.status != http.StatusUnauthorized {
			t.Errorf("admin page %s without a token = %d, want 401", path, r.status)
		}
	}
}

// TestConnect_AttackBattery sends forged and altered tokens; each is refused
// with 401 and a reason, and none reaches a 5xx.
func TestConnect_AttackBattery(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		e := newEnv(t, d)
		a, b := e.site("jira"), e.site("jira")
		e.install(a)
		e.install(b)
		now := time.Now()
		hs := func(secret string, claims jwt.MapClaims) string {
			tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		base := func(iss string) jwt.MapClaims {
			return jwt.MapClaims{"iss": iss, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "qsh": "context-qsh"}
		}
		with := func(c jwt.MapClaims, k string, v any) jwt.MapClaims {
			if v == nil {
				delete(c, k)
			} else {
				c[k] = v
			}
			return c
		}
		realQSH, _ := e.host.PageToken(e.app, a, http.MethodGet, "/api/v1/tenant", nil, "")
		pubPEM := string(mustGet(t, e.keys.URL+devsite.KeysPath+"/"+e.host.KID()))
		rsaConfused, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, base(a.ClientKey)).SignedString([]byte(pubPEM))
		noneTok, _ := jwt.NewWithClaims(jwt.SigningMethodNone, base(a.ClientKey)).SignedString(jwt.UnsafeAllowNoneSignatureType)
		pageWithContext, _ := url.Parse(e.app.BaseURL + "/admin")
		pageWithContext.RawQuery = url.Values{"jwt": {e.contextToken(a)}}.Encode()
		tamperedParts := strings.Split(e.contextToken(a), ".")
		tamperedParts[1] = strings.TrimRight(tamperedParts[1], "=") + "x"

		cases := []struct {
			name, method, path, token, reason string
		}{
			{"no_token", "GET", "/api/v1/tenant", "", "missing token"},
			{"alg_none", "GET", "/api/v1/tenant", noneTok, "algorithm"},
			{"hs256_with_rsa_public_key", "GET", "/api/v1/tenant", rsaConfused, "signature"},
			{"wrong_secret", "GET", "/api/v1/tenant", hs("not-the-secret", base(a.ClientKey)), "signature"},
			{"unknown_iss", "GET", "/api/v1/tenant", hs(a.SharedSecret, base("nobody")), "unknown issuer"},
			{"expired", "GET", "/api/v1/tenant", hs(a.SharedSecret, with(with(base(a.ClientKey), "exp", now.Add(-5*time.Minute).Unix()), "iat", now.Add(-10*time.Minute).Unix())), "expired"},
			{"missing_exp", "GET", "/api/v1/tenant", hs(a.SharedSecret, with(base(a.ClientKey), "exp", nil)), "exp"},
			{"missing_iat", "GET", "/api/v1/tenant", hs(a.SharedSecret, with(base(a.ClientKey), "iat", nil)), "iat"},
			{"missing_qsh_on_api", "GET", "/api/v1/tenant", hs(a.SharedSecret, with(base(a.ClientKey), "qsh", nil)), "context token required"},
			{"real_qsh_on_context_route", "GET", "/api/v1/tenant", realQSH, "context token required"},
			{"context_token_on_iframe_route", "GET", "/admin", e.contextToken(a), "context token not accepted"},
			{"wrong_qsh_on_iframe_route", "GET", "/admin", hs(a.SharedSecret, with(base(a.ClientKey), "qsh", strings.Repeat("ab", 32))), "query string hash"},
			{"missing_qsh_on_iframe_route", "GET", "/admin", hs(a.SharedSecret, with(base(a.ClientKey), "qsh", nil)), "qsh"},
			{"tenant_b_signs_as_a", "GET", "/api/v1/tenant", hs(b.SharedSecret, base(a.ClientKey)), "signature"},
			{"tampered_payload", "GET", "/api/v1/tenant", strings.Join(tamperedParts, "."), ""},
			{"garbage", "GET", "/api/v1/tenant", "not.a.jwt", ""},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				auth := ""
				if tc.token != "" {
					auth = "JWT " + tc.token
				}
				r := e.do(tc.method, tc.path, auth, nil)
				wantError(t, r, http.StatusUnauthorized, "unauthorized", tc.reason)
				if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "JWT") {
					t.Errorf("401 without WWW-Authenticate")
				}
			})
		}
		t.Run("context_token_in_iframe_jwt_param", func(t *testing.T) {
			wantError(t, e.get(pageWithContext.String()), 401, "unauthorized", "context token not accepted")
		})
		t.Run("iframe_url_with_altered_query", func(t *testing.T) {
			page, _ := e.host.PageURL(e.app, a, "/admin", url.Values{"lic": {"none"}}, "acc")
			wantError(t, e.get(strings.Replace(page, "lic=none", "lic=active", 1)), 401, "unauthorized", "query string hash")
		})
		t.Run("tenant_b_reads_only_b", func(t *testing.T) {
			r := e.do(http.MethodGet, "/api/v1/tenant", "JWT "+e.contextToken(b), nil)
			if r.status != 200 || r.json(t)["baseUrl"] != b.BaseURL {
				t.Fatalf("B's token: %d %s", r.status, r.body)
			}
			tb, _ := e.store.FindTenantByClientKey(context.Background(), b.ClientKey)
			if r.json(t)["id"] != tb.ID {
				t.Fatal("B's token returned another tenant")
			}
		})
	})
}

func mustGet(t *testing.T, u string) []byte {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b := make([]byte, 8192)
	n, _ := resp.Body.Read(b)
	return b[:n]
}
