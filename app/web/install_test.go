package web_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/lapsehq/lapse/app/connect"
	"github.com/lapsehq/lapse/app/devsite"
	"github.com/lapsehq/lapse/app/store"
)

func hostKey(t *testing.T, h *devsite.Host) *rsa.PrivateKey {
	t.Helper()
	block, _ := pem.Decode(h.PrivateKeyPEM())
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PrivateKey)
}

// TestInstall_AttackBattery: every forged or altered install is refused
// with 401 and a reason, and an existing tenant's secret survives it.
func TestInstall_AttackBattery(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		e := newEnv(t, d)
		victim := e.site("jira")
		e.install(victim)
		key := hostKey(t, e.host)
		otherKey, _ := rsa.GenerateKey(rand.Reader, 2048)
		now := time.Now()
		installQSH := connect.QueryStringHash("POST", "/installed", "", "")
		claims := func(mut func(jwt.MapClaims)) jwt.MapClaims {
			c := jwt.MapClaims{"iss": victim.ClientKey, "aud": []string{e.app.BaseURL}, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "qsh": installQSH, "sub": "attacker"}
			if mut != nil {
				mut(c)
			}
			return c
		}
		rs := func(c jwt.MapClaims, kid string, k *rsa.PrivateKey) string {
			tok := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
			if kid != "" {
				tok.Header["kid"] = kid
			}
			s, err := tok.SignedString(k)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		legacyHS, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(nil)).SignedString([]byte(victim.SharedSecret))
		attacker := *victim
		attacker.SharedSecret = "attacker-secret"
		payload := devsite.LifecyclePayload(e.app, &attacker, "installed")
		foreign := devsite.LifecyclePayload(e.app, &attacker, "installed")
		foreign["baseUrl"] = "https://evil.example.com"

		cases := []struct {
			name   string
			token  string
			body   map[string]any
			reason string
		}{
			{"unsigned_reinstall", "", payload, "missing token"},
			{"legacy_hs256_with_old_secret", legacyHS, payload, "algorithm"},
			{"context_token", e.contextToken(victim), payload, "algorithm"},
			{"wrong_kid", rs(claims(nil), "no-such-kid", key), payload, "unknown signing key"},
			{"missing_kid", rs(claims(nil), "", key), payload, "key id"},
			{"kid_path_traversal", rs(claims(nil), "../../etc/passwd", key), payload, "key id"},
			{"signed_by_other_key", rs(claims(nil), e.host.KID(), otherKey), payload, "signature"},
			{"wrong_aud", rs(claims(func(c jwt.MapClaims) { c["aud"] = []string{"https://other-app.example.com"} }), e.host.KID(), key), payload, "audience"},
			{"missing_aud", rs(claims(func(c jwt.MapClaims) { delete(c, "aud") }), e.host.KID(), key), payload, "audience"},
			{"iss_not_body_client_key", rs(claims(func(c jwt.MapClaims) { c["iss"] = "someone-else" }), e.host.KID(), key), payload, "issuer"},
			{"expired", rs(claims(func(c jwt.MapClaims) {
				c["exp"] = now.Add(-time.Hour).Unix()
				c["iat"] = now.Add(-2 * time.Hour).Unix()
			}), e.host.KID(), key), payload, "expired"},
			{"missing_exp", rs(claims(func(c jwt.MapClaims) { delete(c, "exp") }), e.host.KID(), key), payload, "exp"},
			{"qsh_of_other_route", rs(claims(func(c jwt.MapClaims) { c["qsh"] = connect.QueryStringHash("POST", "/uninstalled", "", "") }), e.host.KID(), key), payload, "query string hash"},
			{"missing_qsh", rs(claims(func(c jwt.MapClaims) { delete(c, "qsh") }), e.host.KID(), key), payload, "qsh"},
			{"base_url_not_allowed", rs(claims(nil), e.host.KID(), key), foreign, "not an allowed"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				auth := ""
				if tc.token != "" {
					auth = "JWT " + tc.token
				}
				wantError(t, e.do(http.MethodPost, "/installed", auth, jsonBody(t, tc.body)), http.StatusUnauthorized, "unauthorized", tc.reason)
			})
		}
		// The victim's real secret still authenticates; the attacker's does not.
		if r := e.do(http.MethodGet, "/api/v1/tenant", "JWT "+e.contextToken(victim), nil); r.status != http.StatusOK {
			t.Fatalf("victim locked out after attacks: %d %s", r.status, r.body)
		}
		if r := e.do(http.MethodGet, "/api/v1/tenant", "JWT "+e.contextToken(&attacker), nil); r.status != http.StatusUnauthorized {
			t.Fatalf("attacker secret accepted: %d", r.status)
		}
		// Uninstall needs the same signature.
		wantError(t, e.do(http.MethodPost, "/uninstalled", "", jsonBody(t, devsite.LifecyclePayload(e.app, victim, "uninstalled"))), 401, "unauthorized", "missing token")
		tn, _ := e.store.FindTenantByClientKey(context.Background(), victim.ClientKey)
		if !tn.State.Active() {
			t.Fatal("an unsigned uninstall changed the tenant")
		}
	})
}

// TestInstall_BadInput: malformed payloads get 4xx JSON errors, never 5xx.
func TestInstall_BadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, store.SQLite)
	site := e.site("jira")
	tok, _ := e.host.InstallToken(e.app, "POST", "/installed", site, "acc")
	good := devsite.LifecyclePayload(e.app, site, "installed")
	mut := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range good {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name   string
		body   string
		status int
		code   string
		reason string
	}{
		{"not_json", "{nope", 400, "invalid", "not a JSON"},
		{"empty", "", 400, "invalid", "not a JSON"},
		{"wrong_event_type", string(mustJSON(t, mut("eventType", "uninstalled"))), 400, "invalid", "eventType"},
		{"other_app_key", string(mustJSON(t, mut("key", "com.other"))), 400, "invalid", "app key"},
		{"missing_client_key", string(mustJSON(t, mut("clientKey", nil))), 400, "invalid", "clientKey"},
		{"missing_secret", string(mustJSON(t, mut("sharedSecret", nil))), 400, "invalid", "sharedSecret"},
		{"bad_product", string(mustJSON(t, mut("productType", "bitbucket"))), 400, "invalid", "productType"},
		{"too_large", `{"pad":"` + strings.Repeat("x", 300<<10) + `"}`, 413, "payload_too_large", "too large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wantError(t, e.do(http.MethodPost, "/installed", "JWT "+tok, strings.NewReader(tc.body)), tc.status, tc.code, tc.reason)
		})
	}
	t.Run("unknown_route", func(t *testing.T) {
		t.Parallel()
		wantError(t, e.do(http.MethodGet, "/nope", "", nil), 404, "not_found", "no such route")
	})
	t.Run("wrong_method", func(t *testing.T) {
		t.Parallel()
		wantError(t, e.do(http.MethodGet, "/installed", "", nil), 405, "method_not_allowed", "not allowed")
	})
}

// TestInstall_KeyServerDown: when Atlassian's key host cannot be reached,
// the install is answered 503 (retryable), not 401.
func TestInstall_KeyServerDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, store.SQLite)
	site := e.site("jira")
	e.keys.CloseClientConnections()
	tok, _ := e.host.InstallToken(e.app, "POST", "/installed", site, "acc")
	e.keys.Close()
	wantError(t, e.do(http.MethodPost, "/installed", "JWT "+tok, jsonBody(t, devsite.LifecyclePayload(e.app, site, "installed"))), 503, "unavailable", "try again")
}

func TestEnableDisable_Auth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, store.SQLite)
	site := e.site("jira")
	e.install(site)
	body := func() *strings.Reader {
		return strings.NewReader(string(mustJSON(t, devsite.LifecyclePayload(e.app, site, "disabled"))))
	}
	wantError(t, e.do(http.MethodPost, "/disabled", "", body()), 401, "unauthorized", "missing token")
	ctxTok := e.contextToken(site)
	wantError(t, e.do(http.MethodPost, "/disabled", "JWT "+ctxTok, body()), 401, "unauthorized", "context token not accepted")
	other := e.site("jira")
	e.install(other)
	// Another tenant's valid token for the same route cannot disable this one.
	otherTok, _ := e.host.PageToken(e.app, other, "POST", "/disabled", nil, "")
	wantError(t, e.do(http.MethodPost, "/disabled", "JWT "+otherTok, body()), 401, "unauthorized", "")
	tn, _ := e.store.FindTenantByClientKey(context.Background(), site.ClientKey)
	if !tn.State.Active() {
		t.Fatal("a refused disabled changed the tenant")
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := jsonMarshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
