package connect_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/lapsehq/lapse/app/connect"
)

const (
	testKID       = "install-key-2026-01.v1"
	testClientKey = "e7b1f0c2-1a2b-3c4d-5e6f-7a8b9c0d1e2f"
	testAppURL    = "https://app.example.com"
	testHostURL   = "https://acme.atlassian.net"
)

// keyServer is an httptest stand-in for connect-install-keys.atlassian.com:
// it serves body at /<kid> for every kid in keys and 404 elsewhere, and
// counts every request.
type keyServer struct {
	*httptest.Server
	hits atomic.Int32
}

func newKeyServer(t testing.TB, keys map[string][]byte) *keyServer {
	t.Helper()
	ks := &keyServer{}
	ks.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ks.hits.Add(1)
		body, ok := keys[strings.TrimPrefix(r.URL.Path, "/")]
		if !ok || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, _ = w.Write(body)
	}))
	t.Cleanup(ks.Close)
	return ks
}

// installSetup is the state of one signed-install test.
type installSetup struct {
	keys     *keyServer
	verifier *connect.InstallVerifier
}

func setupInstall(t testing.TB, audience string) installSetup {
	t.Helper()
	ks := newKeyServer(t, map[string][]byte{testKID: publicKeyPEM(t, &testRSAKey().PublicKey)})
	return installSetup{
		keys: ks,
		verifier: &connect.InstallVerifier{
			Keys:     connect.NewHTTPKeyFetcher(ks.URL, ks.Client()),
			Audience: audience,
			Leeway:   connect.RecommendedLeeway,
			NowFunc:  fixedClock(testNow),
		},
	}
}

// validInstallClaims are the claims of a signed install for POST
// /installed, as observed in CDAC 54066 (exp - iat = 900).
func validInstallClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"iss":     testClientKey,
		"sub":     "557058:0d7e0a0c",
		"aud":     []string{testAppURL},
		"iat":     testNow.Add(-5 * time.Second).Unix(),
		"exp":     testNow.Add(895 * time.Second).Unix(),
		"qsh":     connect.QueryStringHash(http.MethodPost, "/installed", "", ""),
		"context": map[string]any{},
	}
}

func withInstall(edit func(c jwt.MapClaims)) jwt.MapClaims {
	c := validInstallClaims()
	edit(c)
	return c
}

func rs256(t testing.TB, claims jwt.MapClaims, kid string) string {
	t.Helper()
	header := map[string]any{}
	if kid != "" {
		header["kid"] = kid
	}
	return mintToken(t, jwt.SigningMethodRS256, claims, testRSAKey(), header)
}

func TestInstallVerifier_VerifyInstall(t *testing.T) {
	t.Parallel()
	publicPEM := publicKeyPEM(t, &testRSAKey().PublicKey)
	cases := []struct {
		name       string
		audience   string // "" means testAppURL
		target     string // "" means testAppURL + "/installed"
		clientKey  string // "" means testClientKey
		token      func(t *testing.T) string
		wantReason string // "" means success
		wantHits   int32  // requests the key server must have seen
	}{
		{name: "ok", wantHits: 1, token: func(t *testing.T) string { return rs256(t, validInstallClaims(), testKID) }},
		{
			name:     "ok_aud_string_with_trailing_slash",
			audience: testAppURL + "/",
			wantHits: 1,
			token: func(t *testing.T) string {
				return rs256(t, withInstall(func(c jwt.MapClaims) { c["aud"] = testAppURL }), testKID)
			},
		},
		{
			name:     "ok_app_base_url_with_path",
			audience: testAppURL + "/base/",
			target:   testAppURL + "/base/installed",
			wantHits: 1,
			token: func(t *testing.T) string {
				return rs256(t, withInstall(func(c jwt.MapClaims) { c["aud"] = []string{testAppURL + "/base"} }), testKID)
			},
		},
		{
			name:       "unknown_kid_404",
			wantReason: "unknown signing key",
			wantHits:   1,
			token:      func(t *testing.T) string { return rs256(t, validInstallClaims(), "rotated-away") },
		},
		{
			name:       "missing_kid",
			wantReason: "missing key id",
			token:      func(t *testing.T) string { return rs256(t, validInstallClaims(), "") },
		},
		{
			name:       "kid_path_traversal",
			wantReason: "invalid key id",
			token:      func(t *testing.T) string { return rs256(t, validInstallClaims(), "../../admin") },
		},
		{
			name:       "kid_dot_dot",
			wantReason: "invalid key id",
			token:      func(t *testing.T) string { return rs256(t, validInstallClaims(), "..") },
		},
		{
			name:       "kid_url",
			wantReason: "invalid key id",
			token:      func(t *testing.T) string { return rs256(t, validInstallClaims(), "https://evil.example/k") },
		},
		{
			name:       "kid_too_long",
			wantReason: "invalid key id",
			token:      func(t *testing.T) string { return rs256(t, validInstallClaims(), strings.Repeat("a", 129)) },
		},
		{
			// Alg confusion against an RS256 verifier: an HMAC keyed with the
			// public key PEM, which anybody can download.
			name:       "hs256_with_public_key_as_secret",
			wantReason: "unexpected signing algorithm",
			token: func(t *testing.T) string {
				return rawToken(t, map[string]any{"alg": "HS256", "kid": testKID}, validInstallClaims(), hmacSHA256(publicPEM))
			},
		},
		{
			name:       "hs256_with_shared_secret",
			wantReason: "unexpected signing algorithm",
			token: func(t *testing.T) string {
				return mintToken(t, jwt.SigningMethodHS256, validInstallClaims(), []byte(testSecret), map[string]any{"kid": testKID})
			},
		},
		{
			name:       "alg_none",
			wantReason: "unexpected signing algorithm",
			token: func(t *testing.T) string {
				return rawToken(t, map[string]any{"alg": "none", "kid": testKID}, validInstallClaims(), func(string) []byte { return nil })
			},
		},
		{
			name:       "signed_by_other_key",
			wantReason: "invalid token signature",
			wantHits:   1,
			token: func(t *testing.T) string {
				return mintToken(t, jwt.SigningMethodRS256, validInstallClaims(), otherRSAKey(), map[string]any{"kid": testKID})
			},
		},
		{
			name:       "wrong_aud",
			wantReason: "audience does not match",
			wantHits:   1,
			token: func(t *testing.T) string {
				return rs256(t, withInstall(func(c jwt.MapClaims) { c["aud"] = []string{"https://other-app.example.com"} }), testKID)
			},
		},
		{
			name:       "missing_aud",
			wantReason: "audience does not match",
			wantHits:   1,
			token: func(t *testing.T) string {
				return rs256(t, withInstall(func(c jwt.MapClaims) { delete(c, "aud") }), testKID)
			},
		},
		{
			name:       "iss_is_other_tenant",
			clientKey:  "victim-client-key",
			wantReason: "issuer does not match clientKey",
			wantHits:   1,
			token:      func(t *testing.T) string { return rs256(t, validInstallClaims(), testKID) },
		},
		{
			name:       "missing_iss",
			wantReason: "missing iss claim",
			wantHits:   1,
			token: func(t *testing.T) string {
				return rs256(t, withInstall(func(c jwt.MapClaims) { delete(c, "iss") }), testKID)
			},
		},
		{
			name:       "expired",
			wantReason: "token expired",
			wantHits:   1,
			token: func(t *testing.T) string {
				return rs256(t, withInstall(func(c jwt.MapClaims) { c["exp"] = testNow.Add(-time.Minute).Unix() }), testKID)
			},
		},
		{
			name:       "missing_exp",
			wantReason: "missing exp claim",
			wantHits:   1,
			token: func(t *testing.T) string {
				return rs256(t, withInstall(func(c jwt.MapClaims) { delete(c, "exp") }), testKID)
			},
		},
		{
			name:       "missing_iat",
			wantReason: "missing iat claim",
			wantHits:   1,
			token: func(t *testing.T) string {
				return rs256(t, withInstall(func(c jwt.MapClaims) { delete(c, "iat") }), testKID)
			},
		},
		{
			name:       "qsh_of_uninstalled",
			wantReason: "query string hash does not match",
			wantHits:   1,
			token: func(t *testing.T) string {
				return rs256(t, withInstall(func(c jwt.MapClaims) {
					c["qsh"] = connect.QueryStringHash(http.MethodPost, "/uninstalled", "", "")
				}), testKID)
			},
		},
		{
			name:       "missing_qsh",
			wantReason: "missing qsh claim",
			wantHits:   1,
			token: func(t *testing.T) string {
				return rs256(t, withInstall(func(c jwt.MapClaims) { delete(c, "qsh") }), testKID)
			},
		},
		{
			name:       "context_qsh",
			wantReason: "context token not accepted here",
			wantHits:   1,
			token: func(t *testing.T) string {
				return rs256(t, withInstall(func(c jwt.MapClaims) { c["qsh"] = connect.ContextQSH }), testKID)
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := setupInstall(t, cmpOr(tc.audience, testAppURL))
			r := newRequest(http.MethodPost, cmpOr(tc.target, testAppURL+"/installed"))
			claims, err := s.verifier.VerifyInstall(context.Background(), r, tc.token(t), cmpOr(tc.clientKey, testClientKey), testHostURL)
			if hits := s.keys.hits.Load(); hits != tc.wantHits {
				t.Errorf("key server hits = %d, want %d", hits, tc.wantHits)
			}
			if tc.wantReason != "" {
				wantAuthReason(t, err, tc.wantReason)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if claims.Issuer != testClientKey || claims.AccountID() != "557058:0d7e0a0c" {
				t.Errorf("claims: iss %q accountId %q", claims.Issuer, claims.AccountID())
			}
		})
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func TestInstallVerifier_VerifyInstall_CachesKey(t *testing.T) {
	t.Parallel()
	s := setupInstall(t, testAppURL)
	for i := range 2 {
		r := newRequest(http.MethodPost, testAppURL+"/installed")
		if _, err := s.verifier.VerifyInstall(context.Background(), r, rs256(t, validInstallClaims(), testKID), testClientKey, testHostURL); err != nil {
			t.Fatalf("verification %d: %v", i+1, err)
		}
	}
	if hits := s.keys.hits.Load(); hits != 1 {
		t.Errorf("key server hits = %d, want 1 (second verification must use the cache)", hits)
	}
}

// TestInstallVerifier_VerifyInstall_KeyHostDown pins that an outage of the
// key host is a server error (the caller answers 5xx, Atlassian retries), not
// a client authentication failure.
func TestInstallVerifier_VerifyInstall_KeyHostDown(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "boom", http.StatusBadGateway)
	}))
	t.Cleanup(srv.Close)
	v := &connect.InstallVerifier{
		Keys:     connect.NewHTTPKeyFetcher(srv.URL, srv.Client()),
		Audience: testAppURL,
		NowFunc:  fixedClock(testNow),
	}
	r := newRequest(http.MethodPost, testAppURL+"/installed")
	_, err := v.VerifyInstall(context.Background(), r, rs256(t, validInstallClaims(), testKID), testClientKey, testHostURL)
	if err == nil || connect.IsAuthError(err) {
		t.Fatalf("error = %v, want a non-auth error", err)
	}
}

// recordingFetcher fails the test if it is ever asked for a key.
type recordingFetcher struct{ t testing.TB }

func (f recordingFetcher) FetchKey(context.Context, string, string) (*rsa.PublicKey, error) {
	f.t.Error("FetchKey called")
	return nil, nil
}

func TestInstallVerifier_VerifyInstall_BadKidNeverFetched(t *testing.T) {
	t.Parallel()
	v := &connect.InstallVerifier{Keys: recordingFetcher{t}, Audience: testAppURL, NowFunc: fixedClock(testNow)}
	for _, kid := range []string{"../keys/x", "a/b", "a?b", "a%2Fb", "..", "."} {
		r := newRequest(http.MethodPost, testAppURL+"/installed")
		_, err := v.VerifyInstall(context.Background(), r, rs256(t, validInstallClaims(), kid), testClientKey, testHostURL)
		wantAuthReason(t, err, "invalid key id")
	}
}

func TestHTTPKeyFetcher_FetchKey(t *testing.T) {
	t.Parallel()
	pub := &testRSAKey().PublicKey
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(pub)})
	weak := mustRSAKey(1024)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKIXPublicKey(&ecKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	huge := append(publicKeyPEM(t, pub), []byte(strings.Repeat("#", 70<<10))...)

	cases := []struct {
		name    string
		body    []byte
		wantErr bool
	}{
		{name: "pkix", body: publicKeyPEM(t, pub)},
		{name: "pkcs1", body: pkcs1},
		{name: "weak_1024_bit_key", body: publicKeyPEM(t, &weak.PublicKey), wantErr: true},
		{name: "ecdsa_key", body: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecDER}), wantErr: true},
		{name: "certificate_block", body: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), wantErr: true},
		{name: "not_pem", body: []byte("<html>hello</html>"), wantErr: true},
		{name: "oversized_body", body: huge, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ks := newKeyServer(t, map[string][]byte{testKID: tc.body})
			f := connect.NewHTTPKeyFetcher(ks.URL+"/", ks.Client())
			key, err := f.FetchKey(context.Background(), testKID, testHostURL)
			if tc.wantErr {
				if err == nil {
					t.Fatal("want error")
				}
				t.Logf("error: %v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !key.Equal(pub) {
				t.Error("wrong key")
			}
		})
	}
}

func TestHTTPKeyFetcher_FetchKey_InvalidKidNoRequest(t *testing.T) {
	t.Parallel()
	ks := newKeyServer(t, nil)
	f := connect.NewHTTPKeyFetcher(ks.URL, ks.Client())
	for _, kid := range []string{"", "../x", "..", "a b", "k#frag", strings.Repeat("k", 129)} {
		_, err := f.FetchKey(context.Background(), kid, testHostURL)
		wantAuthReason(t, err, "invalid key id")
	}
	if hits := ks.hits.Load(); hits != 0 {
		t.Errorf("key server hits = %d, want 0", hits)
	}
}
