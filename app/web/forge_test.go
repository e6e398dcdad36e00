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
	req.Header.Set("X-B3-TraceId", "abc123")
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

		r := e.forgePost("/forge/events", fit, sysTok, map[string]any{"eventType": app.ForgeEventInstalled, "installerAccountId": "557058:installer", "id": fs.installationID})
		if r.status != http.StatusOK {
			t.Fatalf("installed event = %d %s", r.status, r.body)
		}
		tenantID := r.json(t)["tenantId"].(string)
		if r := e.forgePost("/forge/scheduled", fit, sysTok, map[string]any{}); r.status != http.StatusOK {
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
		if len(invs) != 2 || invs[1].EventType != app.ForgeEventInstalled || invs[0].Kind != app.InvocationScheduled || invs[0].TraceID != "abc123" {
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
		r := e.forgePost("/forge/events", fit, "", map[string]any{"eventType": app.ForgeEventInstalled})
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
	fit := e.mint(e.forgeClaims("inst-1"))
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
