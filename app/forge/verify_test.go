package forge_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/lapsehq/lapse/app/forge"
	"github.com/lapsehq/lapse/app/forge/forgetest"
)

func TestVerify(t *testing.T) {
	t.Parallel()
	f := setup(t)
	foreign, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(f.iss.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})

	cases := []struct {
		name       string
		claims     forgetest.Claims
		raw        *string // used instead of minting when set
		wantReason string  // "" means the token must verify
	}{
		{name: "valid"},
		{name: "aud array containing app", claims: forgetest.Claims{Audience: []string{"ari:cloud:ecosystem::app/other", f.iss.AppID}}},
		{name: "installation id as ari", claims: forgetest.Claims{InstallationID: forge.InstallationARIPrefix + forgetest.DefaultInstallationID}},
		{
			name:       "alg none",
			claims:     forgetest.Claims{Method: jwt.SigningMethodNone, SigningKey: jwt.UnsafeAllowNoneSignatureType},
			wantReason: forge.ReasonAlgorithm,
		},
		{
			name:       "hs256 keyed with jwks bytes",
			claims:     forgetest.Claims{Method: jwt.SigningMethodHS256, SigningKey: f.iss.JWKS()},
			wantReason: forge.ReasonAlgorithm,
		},
		{
			name:       "hs256 keyed with public key pem",
			claims:     forgetest.Claims{Method: jwt.SigningMethodHS256, SigningKey: pubPEM},
			wantReason: forge.ReasonAlgorithm,
		},
		{
			name:       "rs512",
			claims:     forgetest.Claims{Method: jwt.SigningMethodRS512},
			wantReason: forge.ReasonAlgorithm,
		},
		{name: "foreign key under known kid", claims: forgetest.Claims{SigningKey: foreign}, wantReason: forge.ReasonSignature},
		{name: "missing kid", claims: forgetest.Claims{OmitKID: true}, wantReason: forge.ReasonNoKeyID},
		{name: "wrong aud", claims: forgetest.Claims{Audience: []string{"ari:cloud:ecosystem::app/other"}}, wantReason: forge.ReasonAudience},
		{name: "bare uuid aud", claims: forgetest.Claims{Audience: []string{strings.TrimPrefix(f.iss.AppID, forge.AppARIPrefix)}}, wantReason: forge.ReasonAudience},
		{name: "wrong iss", claims: forgetest.Claims{Issuer: "forge/other"}, wantReason: forge.ReasonIssuer},
		{name: "expired beyond leeway", claims: forgetest.Claims{IssuedAt: t0.Add(-10 * time.Minute), ExpiresAt: t0.Add(-31 * time.Second)}, wantReason: forge.ReasonExpired},
		{name: "expired within leeway", claims: forgetest.Claims{IssuedAt: t0.Add(-10 * time.Minute), ExpiresAt: t0.Add(-29 * time.Second)}},
		{name: "nbf in future", claims: forgetest.Claims{NotBefore: t0.Add(5 * time.Minute)}, wantReason: forge.ReasonNotYetValid},
		{name: "nbf within leeway", claims: forgetest.Claims{NotBefore: t0.Add(20 * time.Second)}},
		{name: "no nbf", claims: forgetest.Claims{OmitNotBefore: true}},
		{name: "iat in future", claims: forgetest.Claims{IssuedAt: t0.Add(5 * time.Minute), OmitNotBefore: true}, wantReason: forge.ReasonIssuedInFuture},
		{name: "missing exp", claims: forgetest.Claims{OmitExpiresAt: true}, wantReason: forge.ReasonMissingClaim},
		{name: "missing iat", claims: forgetest.Claims{OmitIssuedAt: true}, wantReason: forge.ReasonMissingClaim},
		{name: "missing installationId", claims: forgetest.Claims{OmitInstallationID: true}, wantReason: forge.ReasonInstallationID},
		{name: "blank installationId", claims: forgetest.Claims{InstallationID: forge.InstallationARIPrefix}, wantReason: forge.ReasonInstallationID},
		{name: "missing apiBaseUrl", claims: forgetest.Claims{OmitAPIBaseURL: true}, wantReason: forge.ReasonAPIBaseURL},
		{name: "relative apiBaseUrl", claims: forgetest.Claims{APIBaseURL: "/ex/jira/x"}, wantReason: forge.ReasonAPIBaseURL},
		{name: "app of wrong type", claims: forgetest.Claims{Extra: map[string]any{"app": "x"}}, wantReason: forge.ReasonMalformed},
		{name: "garbage", raw: ptr("not-a-jwt"), wantReason: forge.ReasonMalformed},
		{name: "empty", raw: ptr(""), wantReason: forge.ReasonMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var token string
			if tc.raw != nil {
				token = *tc.raw
			} else {
				token = f.iss.Mint(t, tc.claims)
			}
			inv, err := f.verifier.Verify(context.Background(), token)
			wantReason(t, err, tc.wantReason)
			if err == nil && inv.InstallationID() != forgetest.DefaultInstallationID {
				t.Fatalf("InstallationID = %q, want %q", inv.InstallationID(), forgetest.DefaultInstallationID)
			}
		})
	}
}

func TestVerifyDecodesPayload(t *testing.T) {
	t.Parallel()
	f := setup(t)
	token := f.iss.Mint(t, forgetest.Claims{
		InstallationID: forge.InstallationARIPrefix + forgetest.DefaultInstallationID,
		APIBaseURL:     "https://api.atlassian.com/ex/confluence/cloud-1",
		Module:         forge.Module{Type: "confluence:globalPage", Key: "settings"},
		Principal:      "557058:abc",
		Context:        map[string]any{"cloudId": "cloud-1", "siteUrl": "https://x.atlassian.net"},
		Installation: &forge.Installation{
			ID:       forge.InstallationARIPrefix + forgetest.DefaultInstallationID,
			Contexts: []forge.InstallationContext{{Name: "site", APIBaseURL: "https://api.atlassian.com/ex/confluence/cloud-1", CloudID: "cloud-1"}},
		},
	})

	inv, err := f.verifier.Verify(context.Background(), token)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	var ctxFields struct {
		SiteURL string `json:"siteUrl"`
	}
	if err := json.Unmarshal(inv.Context, &ctxFields); err != nil {
		t.Fatalf("decode context: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"InstallationID()", inv.InstallationID(), forgetest.DefaultInstallationID},
		{"App.InstallationID raw", inv.App.InstallationID, forge.InstallationARIPrefix + forgetest.DefaultInstallationID},
		{"App.ID", inv.App.ID, f.iss.AppID},
		{"App.Version", inv.App.Version, forgetest.DefaultAppVersion},
		{"App.Environment", inv.App.Environment, forge.Environment{Type: "DEVELOPMENT", ID: forgetest.DefaultEnvironmentID}},
		{"App.Module", inv.App.Module, forge.Module{Type: "confluence:globalPage", Key: "settings"}},
		{"installation contexts", len(inv.App.Installation.Contexts), 1},
		{"context cloudId", inv.App.Installation.Contexts[0].CloudID, "cloud-1"},
		{"Principal", inv.Principal, "557058:abc"},
		{"Context.siteUrl", ctxFields.SiteURL, "https://x.atlassian.net"},
		{"CloudID()", inv.CloudID(), "cloud-1"},
		{"Product()", inv.Product(), forge.ProductConfluence},
		{"Issuer", inv.Issuer, forge.Issuer},
		{"Audience", []string(inv.Audience), []string{f.iss.AppID}},
		{"IssuedAt", inv.IssuedAt.Time, t0},
		{"ExpiresAt", inv.ExpiresAt.Time, t0.Add(forgetest.DefaultTTL)},
		{"jti present", inv.ID != "", true},
	}
	for _, c := range checks {
		if !equal(c.got, c.want) {
			t.Errorf("%s (-want +got):\n- %#v\n+ %#v", c.name, c.want, c.got)
		}
	}
}

func ptr(s string) *string { return &s }

// equal compares via JSON so slices and times compare by value without go-cmp.
func equal(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}

func TestVerifyAudienceConfig(t *testing.T) {
	t.Parallel()
	f := setup(t)
	token := f.iss.Mint(t, forgetest.Claims{})
	cases := []struct {
		name       string
		audience   string
		wantReason string
	}{
		{name: "ari", audience: f.iss.AppID},
		{name: "bare uuid", audience: strings.TrimPrefix(f.iss.AppID, forge.AppARIPrefix)},
		{name: "empty", audience: "", wantReason: forge.ReasonNotConfigured},
		{name: "blank", audience: "  ", wantReason: forge.ReasonNotConfigured},
		{name: "not a uuid", audience: "my-app", wantReason: forge.ReasonNotConfigured},
		{name: "other app", audience: "3f2b1c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d", wantReason: forge.ReasonAudience},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := &forge.Verifier{Keys: f.keys, Audience: tc.audience, NowFunc: f.clock.Now}
			_, err := v.Verify(context.Background(), token)
			wantReason(t, err, tc.wantReason)
		})
	}
}

func TestVerifyLeewayConfig(t *testing.T) {
	t.Parallel()
	f := setup(t)
	// Expired 10 s ago: inside the default 30 s, outside a 5 s leeway or none.
	token := f.iss.Mint(t, forgetest.Claims{IssuedAt: t0.Add(-time.Minute), ExpiresAt: t0.Add(-10 * time.Second)})
	cases := []struct {
		name       string
		leeway     time.Duration
		wantReason string
	}{
		{name: "default", leeway: 0},
		{name: "explicit 5s", leeway: 5 * time.Second, wantReason: forge.ReasonExpired},
		{name: "negative means none", leeway: -1, wantReason: forge.ReasonExpired},
		{name: "explicit 1m", leeway: time.Minute},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := &forge.Verifier{Keys: f.keys, Audience: f.iss.AppID, Leeway: tc.leeway, NowFunc: f.clock.Now}
			_, err := v.Verify(context.Background(), token)
			wantReason(t, err, tc.wantReason)
		})
	}
}

func TestVerifyKeyFetchFailureIsInternal(t *testing.T) {
	t.Parallel()
	f := setup(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	v := &forge.Verifier{Keys: forge.NewKeySet(srv.URL, nil), Audience: f.iss.AppID, NowFunc: f.clock.Now}

	_, err := v.Verify(context.Background(), f.iss.Mint(t, forgetest.Claims{}))
	if err == nil || forge.IsAuthError(err) {
		t.Fatalf("err = %v, want a non-auth (internal) error", err)
	}
}
