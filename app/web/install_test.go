package web_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"net/http"
	"strings"
	"sync"
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

// syncBuffer is a log sink the server's goroutines may write concurrently.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestInstall_ReplayAndRebind (#8 item 7): a signed install token acts
// once. The same delivery again is acknowledged without effect; the same
// token with another body (new secret, baseUrl on another port) is refused.
// Sites must be https on the default port unless they are a loopback host
// listed exactly, and a baseUrl move is audited with both ends.
func TestInstall_ReplayAndRebind(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		var logs syncBuffer
		e := newEnv(t, d, envOptions{logger: slog.New(slog.NewTextHandler(&logs, nil))})
		ctx := context.Background()
		site := e.site("jira")
		post := func(event, token string, body map[string]any) response {
			return e.do(http.MethodPost, "/"+event, "JWT "+token, jsonBody(t, body))
		}
		token := func(event string) string {
			tok, err := e.host.InstallToken(e.app, http.MethodPost, "/"+event, site, "557058:installer")
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		auditCount := func(tenantID string) int {
			evs, err := e.store.ListAuditEvents(ctx, tenantID, 100)
			if err != nil {
				t.Fatal(err)
			}
			return len(evs)
		}

		install := token("installed")
		body := devsite.LifecyclePayload(e.app, site, "installed")
		if r := post("installed", install, body); r.status != http.StatusNoContent {
			t.Fatalf("install: %d %s", r.status, r.body)
		}
		tn, err := e.store.FindTenantByClientKey(ctx, site.ClientKey)
		if err != nil {
			t.Fatal(err)
		}
		audited := auditCount(tn.ID)

		// A retried delivery: identical token and body.
		if r := post("installed", install, body); r.status != http.StatusNoContent {
			t.Fatalf("retried delivery: %d %s", r.status, r.body)
		}
		if n := auditCount(tn.ID); n != audited {
			t.Fatalf("retried delivery had an effect: %d audit events, want %d", n, audited)
		}

		// The same token with a new secret and a baseUrl on another port.
		attacker := *site
		attacker.SharedSecret = "attacker-secret"
		attacker.BaseURL = strings.Replace(site.BaseURL, "127.0.0.1:", "127.0.0.1:1", 1)
		wantError(t, post("installed", install, devsite.LifecyclePayload(e.app, &attacker, "installed")), http.StatusUnauthorized, "unauthorized", "already used")
		if r := e.do(http.MethodGet, "/api/v1/tenant", "JWT "+e.contextToken(site), nil); r.status != http.StatusOK {
			t.Fatalf("the real secret stopped working after a replay: %d %s", r.status, r.body)
		}
		if r := e.do(http.MethodGet, "/api/v1/tenant", "JWT "+e.contextToken(&attacker), nil); r.status != http.StatusUnauthorized {
			t.Fatalf("the replayed secret was stored: %d", r.status)
		}
		if got, _ := e.store.FindTenantByClientKey(ctx, site.ClientKey); got.BaseURL != site.BaseURL || auditCount(tn.ID) != audited {
			t.Fatalf("replay changed the tenant: baseUrl %s", got.BaseURL)
		}

		// Non-loopback sites: https and the default port only. The refusal
		// log names the baseUrl and the setting to change.
		e.host.NowFunc = func() time.Time { return time.Now().Add(2 * time.Second) }
		for _, bad := range []string{"https://acme.atlassian.net:8443", "http://acme.atlassian.net"} {
			moved := *site
			moved.BaseURL = bad
			wantError(t, post("installed", token("installed"), devsite.LifecyclePayload(e.app, &moved, "installed")), http.StatusUnauthorized, "unauthorized", "not an allowed")
			if !strings.Contains(logs.String(), bad) || !strings.Contains(logs.String(), "LAPSE_ALLOWED_HOSTS") {
				t.Fatalf("refusal of %s not logged with the baseUrl and LAPSE_ALLOWED_HOSTS:\n%s", bad, logs.String())
			}
		}

		// A genuine move (a site rename) is audited with before and after.
		before := site.BaseURL
		site.BaseURL = "https://renamed.atlassian.net"
		e.host.NowFunc = func() time.Time { return time.Now().Add(4 * time.Second) }
		if r := post("installed", token("installed"), devsite.LifecyclePayload(e.app, site, "installed")); r.status != http.StatusNoContent {
			t.Fatalf("rename reinstall: %d %s", r.status, r.body)
		}
		evs, _ := e.store.ListAuditEvents(ctx, tn.ID, 100)
		last := evs[len(evs)-1]
		var data map[string]any
		_ = json.Unmarshal(last.Data, &data)
		if last.Action != "tenant.reinstalled" || data["baseUrlBefore"] != before || data["baseUrlAfter"] != site.BaseURL {
			t.Fatalf("rename audited as %s %v, want tenant.reinstalled with baseUrlBefore %s", last.Action, data, before)
		}

		// A captured uninstall token cannot undo a later reinstall.
		uninstall := token("uninstalled")
		unBody := devsite.LifecyclePayload(e.app, site, "uninstalled")
		if r := post("uninstalled", uninstall, unBody); r.status != http.StatusNoContent {
			t.Fatalf("uninstall: %d %s", r.status, r.body)
		}
		e.host.NowFunc = func() time.Time { return time.Now().Add(6 * time.Second) }
		if r := post("installed", token("installed"), devsite.LifecyclePayload(e.app, site, "installed")); r.status != http.StatusNoContent {
			t.Fatalf("reinstall: %d %s", r.status, r.body)
		}
		if r := post("uninstalled", uninstall, unBody); r.status != http.StatusNoContent {
			t.Fatalf("replayed uninstall: %d %s", r.status, r.body)
		}
		if got, _ := e.store.FindTenantByClientKey(ctx, site.ClientKey); !got.State.Active() {
			t.Fatalf("a replayed uninstall token uninstalled the tenant (state %s)", got.State)
		}
	})
}

// TestInstall_KeyRefusalLogged (#8 item 9): an install refused because the
// key host does not know the token's key is logged with the baseUrl and the
// setting that chooses the key host.
func TestInstall_KeyRefusalLogged(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	e := newEnv(t, store.SQLite, envOptions{logger: slog.New(slog.NewTextHandler(&logs, nil))})
	site := e.site("jira")
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": site.ClientKey, "aud": []string{e.app.BaseURL}, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
		"qsh": connect.QueryStringHash("POST", "/installed", "", ""),
	})
	tok.Header["kid"] = "rotated-away"
	signed, err := tok.SignedString(hostKey(t, e.host))
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, e.do(http.MethodPost, "/installed", "JWT "+signed, jsonBody(t, devsite.LifecyclePayload(e.app, site, "installed"))),
		http.StatusUnauthorized, "unauthorized", "unknown signing key")
	if out := logs.String(); !strings.Contains(out, site.BaseURL) || !strings.Contains(out, "LAPSE_INSTALL_KEYS_URL") {
		t.Fatalf("refusal not logged with the baseUrl and LAPSE_INSTALL_KEYS_URL:\n%s", out)
	}
}
