package connect_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/lapsehq/lapse/app/connect"
)

// goldenToken is testdata/atlassian_jwt_golden.json (STACK.md §8.1).
type goldenToken struct {
	Method  string `json:"method"`
	URL     string `json:"url"`
	BaseURL string `json:"baseUrl"`
	Secret  string `json:"secret"`
	Issuer  string `json:"issuer"`
	IAT     int64  `json:"iat"`
	EXP     int64  `json:"exp"`
	QSH     string `json:"qsh"`
	Token   string `json:"token"`
}

func loadGolden(t testing.TB) goldenToken {
	t.Helper()
	var g goldenToken
	loadJSON(t, "atlassian_jwt_golden.json", &g)
	return g
}

// TestTokenVerifier_VerifyHS256_Golden checks interoperability with a token
// minted by Atlassian's own atlassian-jwt library.
func TestTokenVerifier_VerifyHS256_Golden(t *testing.T) {
	t.Parallel()
	g := loadGolden(t)
	r := newRequest(g.Method, g.URL)

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		v := connect.TokenVerifier{NowFunc: fixedClock(time.Unix(g.IAT+90, 0))}
		claims, err := v.VerifyHS256(g.Token, []byte(g.Secret), r, "", connect.QSHExact)
		if err != nil {
			t.Fatal(err)
		}
		if claims.Issuer != g.Issuer || claims.QSH != g.QSH || claims.ExpiresAt.Unix() != g.EXP {
			t.Errorf("claims = iss %q qsh %q exp %v", claims.Issuer, claims.QSH, claims.ExpiresAt)
		}
		if got := connect.RequestQSH(r, ""); got != g.QSH {
			t.Errorf("RequestQSH() = %s, want %s", got, g.QSH)
		}
	})
	t.Run("ErrExpired", func(t *testing.T) {
		t.Parallel()
		v := connect.TokenVerifier{NowFunc: fixedClock(time.Unix(g.EXP, 0))}
		_, err := v.VerifyHS256(g.Token, []byte(g.Secret), r, "", connect.QSHExact)
		wantAuthReason(t, err, "token expired")
	})
	t.Run("ErrOtherRequest", func(t *testing.T) {
		t.Parallel()
		v := connect.TokenVerifier{NowFunc: fixedClock(time.Unix(g.IAT+90, 0))}
		other := newRequest(g.Method, strings.Replace(g.URL, "TEST-1", "TEST-2", 1))
		_, err := v.VerifyHS256(g.Token, []byte(g.Secret), other, "", connect.QSHExact)
		wantAuthReason(t, err, "query string hash does not match")
	})
}

// hs256Target is the request every attack-battery token is presented with.
const hs256Target = "https://app.example.com/base/issue-glance?issueKey=TEST-1&lic=active"

// validHS256Claims are claims that verify against hs256Target with base
// path "/base" at testNow.
func validHS256Claims() jwt.MapClaims {
	r := newRequest(http.MethodGet, hs256Target)
	return jwt.MapClaims{
		"iss":     testIssuer,
		"sub":     "557058:0d7e0a0c",
		"iat":     testNow.Add(-10 * time.Second).Unix(),
		"exp":     testNow.Add(170 * time.Second).Unix(),
		"qsh":     connect.RequestQSH(r, "/base"),
		"context": map[string]any{"user": map[string]any{"accountId": "557058:0d7e0a0c"}},
	}
}

// with returns validHS256Claims changed by edit.
func with(edit func(c jwt.MapClaims)) jwt.MapClaims {
	c := validHS256Claims()
	edit(c)
	return c
}

func hs256(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	return mintToken(t, jwt.SigningMethodHS256, claims, []byte(testSecret), nil)
}

func TestTokenVerifier_VerifyHS256(t *testing.T) {
	t.Parallel()
	rsaPEM := publicKeyPEM(t, &testRSAKey().PublicKey)
	cases := []struct {
		name       string
		token      func(t *testing.T) string
		secret     []byte // nil means testSecret
		mode       connect.QSHMode
		leeway     time.Duration
		target     string // "" means hs256Target
		wantReason string // "" means success
	}{
		{name: "ok_exact", token: func(t *testing.T) string { return hs256(t, validHS256Claims()) }},
		{
			name: "ok_context",
			mode: connect.QSHContext,
			token: func(t *testing.T) string {
				return hs256(t, with(func(c jwt.MapClaims) { c["qsh"] = connect.ContextQSH }))
			},
		},
		{
			name:   "ok_expired_within_leeway",
			leeway: 30 * time.Second,
			token: func(t *testing.T) string {
				return hs256(t, with(func(c jwt.MapClaims) { c["exp"] = testNow.Add(-29 * time.Second).Unix() }))
			},
		},
		{
			name:       "expired_beyond_leeway",
			leeway:     30 * time.Second,
			wantReason: "token expired",
			token: func(t *testing.T) string {
				return hs256(t, with(func(c jwt.MapClaims) { c["exp"] = testNow.Add(-31 * time.Second).Unix() }))
			},
		},
		{
			name:       "expired_no_leeway",
			wantReason: "token expired",
			token: func(t *testing.T) string {
				return hs256(t, with(func(c jwt.MapClaims) { c["exp"] = testNow.Unix() }))
			},
		},
		{
			name:       "issued_in_the_future",
			leeway:     30 * time.Second,
			wantReason: "token issued in the future",
			token: func(t *testing.T) string {
				return hs256(t, with(func(c jwt.MapClaims) { c["iat"] = testNow.Add(time.Minute).Unix() }))
			},
		},
		{
			name:       "not_yet_valid",
			wantReason: "token not yet valid",
			token: func(t *testing.T) string {
				return hs256(t, with(func(c jwt.MapClaims) { c["nbf"] = testNow.Add(time.Minute).Unix() }))
			},
		},
		{
			name:       "nbf_not_before_exp",
			leeway:     30 * time.Second,
			wantReason: "invalid token lifetime",
			token: func(t *testing.T) string {
				return hs256(t, with(func(c jwt.MapClaims) {
					c["nbf"] = testNow.Add(20 * time.Second).Unix()
					c["exp"] = testNow.Add(10 * time.Second).Unix()
				}))
			},
		},
		{
			name:       "alg_none",
			wantReason: "unexpected signing algorithm",
			token: func(t *testing.T) string {
				return rawToken(t, map[string]any{"alg": "none", "typ": "JWT"}, validHS256Claims(),
					func(string) []byte { return nil })
			},
		},
		{
			// The classic alg confusion: the "secret" handed to the verifier is
			// the RSA public key PEM, and the token claims RS256 but is an HMAC
			// over that PEM. Only HS256 headers may pass.
			name:       "rs256_header_hmac_with_public_key",
			secret:     rsaPEM,
			wantReason: "unexpected signing algorithm",
			token: func(t *testing.T) string {
				return rawToken(t, map[string]any{"alg": "RS256", "typ": "JWT"}, validHS256Claims(), hmacSHA256(rsaPEM))
			},
		},
		{
			name:       "real_rs256",
			wantReason: "unexpected signing algorithm",
			token: func(t *testing.T) string {
				return mintToken(t, jwt.SigningMethodRS256, validHS256Claims(), testRSAKey(), nil)
			},
		},
		{
			name:       "hs384",
			wantReason: "unexpected signing algorithm",
			token: func(t *testing.T) string {
				return mintToken(t, jwt.SigningMethodHS384, validHS256Claims(), []byte(testSecret), nil)
			},
		},
		{
			name:       "alg_lower_case",
			wantReason: "unexpected signing algorithm",
			token: func(t *testing.T) string {
				return rawToken(t, map[string]any{"alg": "hs256"}, validHS256Claims(), hmacSHA256([]byte(testSecret)))
			},
		},
		{
			name:       "alg_missing",
			wantReason: "unexpected signing algorithm",
			token: func(t *testing.T) string {
				return rawToken(t, map[string]any{"typ": "JWT"}, validHS256Claims(), hmacSHA256([]byte(testSecret)))
			},
		},
		{
			name:       "wrong_secret",
			wantReason: "invalid token signature",
			token: func(t *testing.T) string {
				return mintToken(t, jwt.SigningMethodHS256, validHS256Claims(), []byte("another-tenant-secret"), nil)
			},
		},
		{
			name:       "tampered_payload",
			wantReason: "invalid token signature",
			token: func(t *testing.T) string {
				good := strings.Split(hs256(t, validHS256Claims()), ".")
				forged := strings.Split(hs256(t, with(func(c jwt.MapClaims) { c["sub"] = "admin" })), ".")
				return good[0] + "." + forged[1] + "." + good[2]
			},
		},
		{
			name:       "signature_stripped",
			wantReason: "invalid token signature",
			token: func(t *testing.T) string {
				parts := strings.Split(hs256(t, validHS256Claims()), ".")
				return parts[0] + "." + parts[1] + "."
			},
		},
		{
			name:       "missing_exp",
			wantReason: "missing exp claim",
			token: func(t *testing.T) string {
				return hs256(t, with(func(c jwt.MapClaims) { delete(c, "exp") }))
			},
		},
		{
			name:       "missing_iat",
			wantReason: "missing iat claim",
			token: func(t *testing.T) string {
				return hs256(t, with(func(c jwt.MapClaims) { delete(c, "iat") }))
			},
		},
		{
			name:       "missing_iss",
			wantReason: "missing iss claim",
			token: func(t *testing.T) string {
				return hs256(t, with(func(c jwt.MapClaims) { delete(c, "iss") }))
			},
		},
		{
			name:       "iat_not_a_number",
			wantReason: "malformed token",
			token: func(t *testing.T) string {
				return hs256(t, with(func(c jwt.MapClaims) { c["iat"] = "yesterday" }))
			},
		},
		{
			name:       "missing_qsh_exact",
			wantReason: "missing qsh claim",
			token: func(t *testing.T) string {
				return hs256(t, with(func(c jwt.MapClaims) { delete(c, "qsh") }))
			},
		},
		{
			name:       "wrong_qsh",
			wantReason: "query string hash does not match",
			token: func(t *testing.T) string {
				return hs256(t, with(func(c jwt.MapClaims) { c["qsh"] = strings.Repeat("0", 64) }))
			},
		},
		{
			name:       "qsh_of_other_request",
			target:     "https://app.example.com/base/admin?issueKey=TEST-1&lic=active",
			wantReason: "query string hash does not match",
			token:      func(t *testing.T) string { return hs256(t, validHS256Claims()) },
		},
		{
			name:       "qsh_of_other_query",
			target:     "https://app.example.com/base/issue-glance?issueKey=TEST-2&lic=active",
			wantReason: "query string hash does not match",
			token:      func(t *testing.T) string { return hs256(t, validHS256Claims()) },
		},
		{
			name:       "context_qsh_in_exact_mode",
			wantReason: "context token not accepted here",
			token: func(t *testing.T) string {
				return hs256(t, with(func(c jwt.MapClaims) { c["qsh"] = connect.ContextQSH }))
			},
		},
		{
			name:       "real_hash_in_context_mode",
			mode:       connect.QSHContext,
			wantReason: "context token required",
			token:      func(t *testing.T) string { return hs256(t, validHS256Claims()) },
		},
		{
			name:       "missing_qsh_in_context_mode",
			mode:       connect.QSHContext,
			wantReason: "context token required",
			token: func(t *testing.T) string {
				return hs256(t, with(func(c jwt.MapClaims) { delete(c, "qsh") }))
			},
		},
		{
			name:       "garbage",
			wantReason: "malformed token",
			token:      func(*testing.T) string { return "definitely.not.a-jwt" },
		},
		{
			name:       "two_segments",
			wantReason: "malformed token",
			token: func(t *testing.T) string {
				parts := strings.Split(hs256(t, validHS256Claims()), ".")
				return parts[0] + "." + parts[1]
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			secret := tc.secret
			if secret == nil {
				secret = []byte(testSecret)
			}
			target := tc.target
			if target == "" {
				target = hs256Target
			}
			v := connect.TokenVerifier{Leeway: tc.leeway, NowFunc: fixedClock(testNow)}
			claims, err := v.VerifyHS256(tc.token(t), secret, newRequest(http.MethodGet, target), "/base", tc.mode)
			if tc.wantReason != "" {
				wantAuthReason(t, err, tc.wantReason)
				if claims != nil {
					t.Error("claims returned with an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if claims.Issuer != testIssuer || claims.AccountID() != "557058:0d7e0a0c" {
				t.Errorf("claims: iss %q accountId %q", claims.Issuer, claims.AccountID())
			}
		})
	}
}

// TestTokenVerifier_VerifyHS256_CallerErrors pins that misuse is reported as
// a server error, not as the client's authentication failure.
func TestTokenVerifier_VerifyHS256_CallerErrors(t *testing.T) {
	t.Parallel()
	v := connect.TokenVerifier{NowFunc: fixedClock(testNow)}
	tok := hs256(t, validHS256Claims())
	r := newRequest(http.MethodGet, hs256Target)

	// An empty key would accept any token whose HMAC was computed with an
	// empty key, i.e. anybody's.
	emptyKeyToken := mintToken(t, jwt.SigningMethodHS256, validHS256Claims(), []byte{}, nil)
	if _, err := v.VerifyHS256(emptyKeyToken, nil, r, "/base", connect.QSHExact); err == nil || connect.IsAuthError(err) {
		t.Errorf("empty secret: error = %v, want a non-auth error", err)
	}
	if _, err := v.VerifyHS256(tok, []byte(testSecret), nil, "/base", connect.QSHExact); err == nil || connect.IsAuthError(err) {
		t.Errorf("nil request in exact mode: error = %v, want a non-auth error", err)
	}
	ctxTok := hs256(t, with(func(c jwt.MapClaims) { c["qsh"] = connect.ContextQSH }))
	if _, err := v.VerifyHS256(ctxTok, []byte(testSecret), nil, "", connect.QSHContext); err != nil {
		t.Errorf("nil request in context mode: %v", err)
	}
}

// TestAuthError_NoSecrets checks that no failure message leaks the token or
// the secret, since callers may log Error() and show Reason.
func TestAuthError_NoSecrets(t *testing.T) {
	t.Parallel()
	v := connect.TokenVerifier{NowFunc: fixedClock(testNow)}
	tok := mintToken(t, jwt.SigningMethodHS256, validHS256Claims(), []byte("another-tenant-secret"), nil)
	_, err := v.VerifyHS256(tok, []byte(testSecret), newRequest(http.MethodGet, hs256Target), "/base", connect.QSHExact)
	if err == nil {
		t.Fatal("want error")
	}
	sig := strings.Split(tok, ".")[2]
	for _, secret := range []string{testSecret, tok, sig} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q contains a secret or the token", err)
		}
	}
}
