package web_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/forge"
	"github.com/lapsehq/lapse/app/forge/forgetest"
	"github.com/lapsehq/lapse/app/store"
)

const testCloudID = "11111111-2222-3333-4444-555555555555"

func (e *env) forgeSite(product string) (*forgeSite, string) {
	s := e.site(product)
	s.InstallationID = "inst-" + s.ClientKey
	tok, err := e.host.ForgeToken(s, testCloudID, "557058:admin")
	if err != nil {
		e.t.Fatal(err)
	}
	return &forgeSite{s.InstallationID, s.BaseURL}, tok
}

type forgeSite struct{ installationID, baseURL string }

func (e *env) forgeClaims(installationID string) forgetest.Claims {
	return forgetest.Claims{
		InstallationID: "ari:cloud:ecosystem::installation/" + installationID,
		APIBaseURL:     "https://api.atlassian.com/ex/jira/" + testCloudID,
		Principal:      "557058:admin",
	}
}

// eventClaims is the token Forge sends with a lifecycle event or scheduled
// tick: no principal, the invoked endpoint module.
func (e *env) eventClaims(installationID, moduleKey string) forgetest.Claims {
	c := e.forgeClaims(installationID)
	c.Principal = ""
	c.Module = forge.Module{Type: "core:endpoint", Key: moduleKey}
	return c
}

// testTraceID is a well-formed B3 trace id.
const testTraceID = "463ac35c9f6413ad48485a3953bb6124"

func (e *env) mint(c forgetest.Claims) string {
	e.t.Helper()
	tok, err := e.host.Forge.MintToken(c)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func (e *env) forgePost(path, fit, systemToken string, body any) response {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.app.BaseURL+path, jsonBody(e.t, body))
	req.Header.Set("Authorization", "Bearer "+fit)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-B3-TraceId", testTraceID)
	if systemToken != "" {
		req.Header.Set("x-forge-oauth-system", systemToken)
	}
	return e.send(req)
}

// TestForge_EndToEnd: a Forge installation arrives through its installed
// event, receives its daily trigger, and its Custom UI reads the tenant.
func TestForge_EndToEnd(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		e := newEnv(t, d)
		fs, _ := e.forgeSite("jira")
		fit := e.mint(e.forgeClaims(fs.installationID))
		sysTok := "opaque-system-token-" + fs.installationID

		r := e.forgePost("/forge/events", e.mint(e.eventClaims(fs.installationID, "lapse-lifecycle")), sysTok, map[string]any{"eventType": app.ForgeEventInstalled, "installerAccountId": "557058:installer", "id": fs.installationID})
		if r.status != http.StatusOK {
			t.Fatalf("installed event = %d %s", r.status, r.body)
		}
		tenantID := r.json(t)["tenantId"].(string)
		if r := e.forgePost("/forge/scheduled", e.mint(e.eventClaims(fs.installationID, "lapse-scheduled")), sysTok, map[string]any{}); r.status != http.StatusOK {
			t.Fatalf("scheduled trigger = %d %s", r.status, r.body)
		}
		r = e.do(http.MethodGet, "/api/v1/tenant", "Bearer "+fit, nil)
		if r.status != http.StatusOK {
			t.Fatalf("GET /api/v1/tenant with FIT = %d %s", r.status, r.body)
		}
		m := r.json(t)
		if m["id"] != tenantID || m["cloudId"] != testCloudID || m["forge"] != true || m["connect"] != false {
			t.Fatalf("tenant = %v", m)
		}
		if auth := m["auth"].(map[string]any); auth["method"] != string(app.AuthForge) || auth["accountId"] != "557058:admin" {
			t.Fatalf("auth = %v", auth)
		}

		ctx := context.Background()
		invs, _ := e.store.ListForgeInvocations(ctx, tenantID, 10)
		if len(invs) != 2 || invs[1].EventType != app.ForgeEventInstalled || invs[0].Kind != app.InvocationScheduled || invs[0].TraceID != testTraceID {
			t.Fatalf("invocations = %+v", invs)
		}
		tok, err := e.store.SystemToken(ctx, tenantID)
		if err != nil || tok == nil || tok.Token != sysTok || time.Until(tok.ExpiresAt) < 50*time.Minute {
			t.Fatalf("system token = %+v, %v", tok, err)
		}
		evs, _ := e.store.ListAuditEvents(ctx, tenantID, 10)
		if len(evs) != 2 || evs[0].Action != app.AuditTenantInstalled || evs[1].Action != app.AuditForgeInstalled || evs[1].Actor.ID != "557058:installer" {
			t.Fatalf("audit = %+v", evs)
		}
	})
}

// TestForge_ConnectOnForge: a Connect install that names the Forge
// installation and the Forge invocations land in one tenant.
func TestForge_ConnectOnForge(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		e := newEnv(t, d)
		site := e.site("jira")
		site.InstallationID = "cof-" + site.ClientKey
		fit := e.mint(e.forgeClaims(site.InstallationID))
		r := e.forgePost("/forge/events", e.mint(e.eventClaims(site.InstallationID, "lapse-lifecycle")), "", map[string]any{"eventType": app.ForgeEventInstalled})
		if r.status != 200 {
			t.Fatalf("forge installed: %d %s", r.status, r.body)
		}
		forgeTenant := r.json(t)["tenantId"]
		e.install(site)
		c := e.do(http.MethodGet, "/api/v1/tenant", "JWT "+e.contextToken(site), nil).json(t)
		f := e.do(http.MethodGet, "/api/v1/tenant", "Bearer "+fit, nil).json(t)
		if c["id"] != forgeTenant || f["id"] != forgeTenant || c["connect"] != true || c["forge"] != true {
			t.Fatalf("connect view %v, forge view %v, forge tenant %v", c, f, forgeTenant)
		}
	})
}

func TestForge_AttackBattery(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		e := newEnv(t, d)
		good := e.forgeClaims("inst-attack")
		foreignKey, _ := rsa.GenerateKey(rand.Reader, 2048)
		mod := func(f func(*forgetest.Claims)) string {
			c := good
			f(&c)
			return e.mint(c)
		}
		now := time.Now()
		cases := []struct {
			name, token, reason string
		}{
			{"wrong_aud", mod(func(c *forgetest.Claims) {
				c.Audience = []string{"ari:cloud:ecosystem::app/00000000-0000-0000-0000-000000000000"}
			}), "audience"},
			{"wrong_iss", mod(func(c *forgetest.Claims) { c.Issuer = "forge/something-else" }), "issuer"},
			{"unknown_key", mod(func(c *forgetest.Claims) { c.KID = "unknown-kid"; c.SigningKey = foreignKey }), "unknown signing key"},
			{"foreign_key_known_kid", mod(func(c *forgetest.Claims) { c.SigningKey = foreignKey }), "signature"},
			{"expired", mod(func(c *forgetest.Claims) {
				c.IssuedAt, c.NotBefore, c.ExpiresAt = now.Add(-time.Hour), now.Add(-time.Hour), now.Add(-10*time.Minute)
			}), "expired"},
			{"alg_none", mod(func(c *forgetest.Claims) {
				c.Method, c.SigningKey = jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType
			}), "algorithm"},
			{"hs256_confusion", mod(func(c *forgetest.Claims) {
				c.Method, c.SigningKey = jwt.SigningMethodHS256, []byte("public-key-bytes")
			}), "algorithm"},
			{"missing_installation", mod(func(c *forgetest.Claims) { c.OmitInstallationID = true }), "installation"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				for _, path := range []string{"/forge/events", "/forge/scheduled"} {
					wantError(t, e.forgePost(path, tc.token, "", map[string]any{"eventType": app.ForgeEventInstalled}), 401, "unauthorized", tc.reason)
				}
				wantError(t, e.do(http.MethodGet, "/api/v1/tenant", "Bearer "+tc.token, nil), 401, "unauthorized", tc.reason)
			})
		}
		t.Run("connect_token_as_bearer", func(t *testing.T) {
			site := e.site("jira")
			e.install(site)
			wantError(t, e.do(http.MethodGet, "/api/v1/tenant", "Bearer "+e.contextToken(site), nil), 401, "unauthorized", "")
		})
		t.Run("no_tenant_created_by_refused_tokens", func(t *testing.T) {
			if _, err := e.store.FindTenantByInstallationID(context.Background(), "inst-attack"); app.ErrorCode(err) != app.ENOTFOUND {
				t.Fatalf("a refused token created a tenant: %v", err)
			}
		})
	})
}

func TestForge_NotConfigured(t *testing.T) {
	t.Parallel()
	e := newEnv(t, store.SQLite, envOptions{forgeAppID: "-"})
	fit := e.mint(e.forgeClaims("inst-1"))
	wantError(t, e.forgePost("/forge/events", fit, "", map[string]any{"eventType": app.ForgeEventInstalled}), 401, "unauthorized", "not configured")
}

func TestForge_BadEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, store.SQLite)
	fit := e.mint(e.eventClaims("inst-1", "lapse-lifecycle"))
	wantError(t, e.forgePost("/forge/events", fit, "", map[string]any{"eventType": "avi:jira:created:issue"}), 400, "invalid", "unsupported eventType")
	req, _ := http.NewRequest(http.MethodPost, e.app.BaseURL+"/forge/events", strings.NewReader("{not json"))
	req.Header.Set("Authorization", "Bearer "+fit)
	wantError(t, e.send(req), 400, "invalid", "not valid JSON")
}

// TestForge_JWKSDown: when the Forge key set cannot be fetched the
// invocation is answered 503, so Forge retries it, instead of a 401.
func TestForge_JWKSDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, store.SQLite)
	fit := e.mint(e.forgeClaims("inst-1"))
	e.keys.Close()
	wantError(t, e.forgePost("/forge/scheduled", fit, "", map[string]any{}), 503, "unavailable", "try again")
}

// TestForge_UITokenKeepsSystemToken: the system token that comes with a
// Custom UI call is stored, so a Forge-only tenant has a fresh credential.
func TestForge_UITokenKeepsSystemToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, store.SQLite)
	fit := e.mint(e.forgeClaims("inst-ui"))
	req, _ := http.NewRequest(http.MethodGet, e.app.BaseURL+"/api/v1/tenant", nil)
	req.Header.Set("Authorization", "Bearer "+fit)
	req.Header.Set("x-forge-oauth-system", "ui-system-token")
	r := e.send(req)
	if r.status != http.StatusOK {
		t.Fatalf("GET /api/v1/tenant = %d %s", r.status, r.body)
	}
	tok, err := e.store.SystemToken(context.Background(), r.json(t)["id"].(string))
	if err != nil || tok == nil || tok.Token != "ui-system-token" {
		t.Fatalf("system token = %+v, %v", tok, err)
	}
}

// TestForge_RouteBinding (#8 item 6): /forge/events and /forge/scheduled
// serve only their own endpoint modules and act for no user. A token from
// the admin page (a user principal, module lapse-api), or from the other
// route's module, is refused before any tenant is touched; body facts that
// the token signs must agree with it, and a body account id must be one.
func TestForge_RouteBinding(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		e := newEnv(t, d)
		ctx := context.Background()
		const inst = "inst-binding"
		installed := map[string]any{"eventType": app.ForgeEventInstalled, "installerAccountId": "557058:installer"}
		adminPage := e.mint(e.forgeClaims(inst)) // principal 557058:admin, module lapse-api
		module := func(key string) string { return e.mint(e.eventClaims(inst, key)) }
		userOnEndpoint := e.eventClaims(inst, "lapse-lifecycle")
		userOnEndpoint.Principal = "557058:admin"

		refusals := []struct {
			name, path, token, reason string
		}{
			{"admin_page_to_events", "/forge/events", adminPage, "act for no user"},
			{"admin_page_to_scheduled", "/forge/scheduled", adminPage, "act for no user"},
			{"user_principal_on_lifecycle_module", "/forge/events", e.mint(userOnEndpoint), "act for no user"},
			{"api_module_without_user_to_events", "/forge/events", module("lapse-api"), "does not serve the invoking module"},
			{"api_module_without_user_to_scheduled", "/forge/scheduled", module("lapse-api"), "does not serve the invoking module"},
			{"admin_page_module_to_events", "/forge/events", module("lapse-jira-admin"), "does not serve the invoking module"},
			{"scheduled_module_to_events", "/forge/events", module("lapse-scheduled"), "does not serve the invoking module"},
			{"lifecycle_module_to_scheduled", "/forge/scheduled", module("lapse-lifecycle"), "does not serve the invoking module"},
		}
		for _, tc := range refusals {
			t.Run(tc.name, func(t *testing.T) {
				wantError(t, e.forgePost(tc.path, tc.token, "", installed), http.StatusUnauthorized, "unauthorized", tc.reason)
			})
		}
		if _, err := e.store.FindTenantByInstallationID(ctx, inst); app.ErrorCode(err) != app.ENOTFOUND {
			t.Fatalf("a refused invocation resolved a tenant: %v", err)
		}

		// Body facts are checked against the token and the account id
		// format before anything is recorded.
		lifecycle := module("lapse-lifecycle")
		for _, bad := range []struct {
			name   string
			body   map[string]any
			reason string
		}{
			{"html_installer", map[string]any{"eventType": app.ForgeEventInstalled, "installerAccountId": "<script>alert(1)</script>"}, "installerAccountId is not an Atlassian account id"},
			{"other_installation", map[string]any{"eventType": app.ForgeEventInstalled, "id": "ari:cloud:ecosystem::installation/someone-else"}, "not the installation"},
			{"other_app", map[string]any{"eventType": app.ForgeEventInstalled, "app": map[string]any{"id": "ari:cloud:ecosystem::app/00000000-0000-0000-0000-000000000001"}}, "not the app"},
		} {
			t.Run(bad.name, func(t *testing.T) {
				wantError(t, e.forgePost("/forge/events", lifecycle, "", bad.body), http.StatusBadRequest, "invalid", bad.reason)
			})
		}
		if tn, err := e.store.FindTenantByInstallationID(ctx, inst); err == nil {
			if invs, _ := e.store.ListForgeInvocations(ctx, tn.ID, 10); len(invs) != 0 {
				t.Fatalf("a refused event was recorded: %+v", invs)
			}
		}

		// The endpoint's own invocations, naming the endpoint or the
		// trigger module, are served. An unsigned trace header that is not a
		// B3 id is not recorded.
		req, _ := http.NewRequest(http.MethodPost, e.app.BaseURL+"/forge/events", jsonBody(t, map[string]any{"eventType": app.ForgeEventInstalled, "installerAccountId": "557058:installer", "id": inst}))
		req.Header.Set("Authorization", "Bearer "+module("lapse-lifecycle-trigger"))
		req.Header.Set("X-B3-TraceId", "<b>not-a-trace</b>")
		r := e.send(req)
		if r.status != http.StatusOK {
			t.Fatalf("event from the trigger module: %d %s", r.status, r.body)
		}
		tenantID := r.json(t)["tenantId"].(string)
		if r := e.forgePost("/forge/scheduled", module("lapse-daily-scan"), "", map[string]any{}); r.status != http.StatusOK {
			t.Fatalf("tick from the scheduledTrigger module: %d %s", r.status, r.body)
		}
		invs, _ := e.store.ListForgeInvocations(ctx, tenantID, 10)
		if len(invs) != 2 || invs[1].TraceID != "" || invs[1].ModuleKey != "lapse-lifecycle-trigger" {
			t.Fatalf("invocations = %+v", invs)
		}
		evs, _ := e.store.ListAuditEvents(ctx, tenantID, 10)
		for _, ev := range evs {
			if strings.Contains(string(ev.Data), "<") || strings.Contains(ev.Actor.ID, "<") {
				t.Fatalf("markup reached the audit trail: %+v", ev)
			}
		}
	})
}
