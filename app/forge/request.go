package forge

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Headers Forge adds to remote invocations (PLATFORM.md §7.1).
const (
	HeaderSystemToken = "x-forge-oauth-system"
	HeaderUserToken   = "x-forge-oauth-user"
)

// Reasons carried by the AuthErrors that BearerToken returns.
const (
	ReasonNoAuthorization = "missing authorization header"
	ReasonNotBearer       = "authorization is not a bearer token"
	ReasonMalformedBearer = "malformed bearer token"
)

// SystemTokenTTL is assumed when a system token's expiry cannot be read:
// Forge documents it as "valid for at least 55 minutes" (PLATFORM.md §7.3).
const SystemTokenTTL = 55 * time.Minute

// BearerToken returns the token from "Authorization: Bearer <token>". The
// scheme is matched case-insensitively (RFC 9110 §11.1). Anything else is an
// *AuthError.
func BearerToken(r *http.Request) (string, error) {
	values := r.Header.Values("Authorization")
	if len(values) == 0 || strings.TrimSpace(values[0]) == "" {
		return "", authError(ReasonNoAuthorization, nil)
	}
	// Two Authorization headers are ambiguous; proxies may pick either one.
	if len(values) > 1 {
		return "", authError(ReasonMalformedBearer, nil)
	}
	scheme, token, _ := strings.Cut(strings.TrimSpace(values[0]), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", authError(ReasonNotBearer, nil)
	}
	token = strings.TrimSpace(token)
	if token == "" || strings.ContainsAny(token, " \t") {
		return "", authError(ReasonMalformedBearer, nil)
	}
	return token, nil
}

// SystemToken is the app system token Forge sends in x-forge-oauth-system,
// used as "Authorization: Bearer <Token>" against app.apiBaseUrl.
type SystemToken struct {
	// Token is opaque: Atlassian verifies it, the app only forwards it.
	Token string
	// ExpiresAt is the token's exp when readable, else receipt time plus
	// SystemTokenTTL. It is a caching hint, not a security decision.
	ExpiresAt time.Time
}

// SystemTokenFromRequest returns the system token of r, or false when the
// header is absent (the endpoint does not enable appSystemToken). now is the
// receipt time used for the fallback expiry.
func SystemTokenFromRequest(r *http.Request, now time.Time) (*SystemToken, bool) {
	token := strings.TrimSpace(r.Header.Get(HeaderSystemToken))
	if token == "" {
		return nil, false
	}
	exp, ok := unverifiedExpiry(token)
	if !ok {
		exp = now.Add(SystemTokenTTL)
	}
	return &SystemToken{Token: token, ExpiresAt: exp}, true
}

// unverifiedExpiry reads exp from a JWS-shaped token without checking its
// signature. That is safe here because the value only decides when to stop
// reusing the token; Atlassian still verifies it on every call.
func unverifiedExpiry(token string) (time.Time, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp *jwt.NumericDate `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Exp == nil || claims.Exp.Unix() <= 0 {
		return time.Time{}, false
	}
	return claims.Exp.Time, true
}
