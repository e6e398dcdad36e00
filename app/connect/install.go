package connect

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// InstallVerifier verifies the RS256 signed-install token that Atlassian
// sends with the installed and uninstalled callbacks when the descriptor has
// apiMigrations."signed-install": true (PLATFORM §2).
type InstallVerifier struct {
	// Keys fetches the install public key by kid.
	Keys KeyFetcher
	// Audience is the app's descriptor baseUrl. The token's aud must name it;
	// its path is the base path stripped before the qsh is computed.
	Audience string
	// Leeway is the clock skew allowed on exp, nbf and iat; zero allows none.
	Leeway time.Duration
	// NowFunc returns the current time; nil means time.Now.
	NowFunc func() time.Time
}

// VerifyInstall verifies token for the lifecycle request r whose JSON body
// carried clientKey and baseUrl hostBaseURL.
//
// In order: the header alg must be exactly RS256 and carry a well-formed kid
// (checked before any fetch); the key for kid is fetched; the signature,
// exp and iat (both required, with Leeway) are checked; iss must equal
// clientKey; aud (a string or an array) must contain Audience, both compared
// after stripping one trailing "/"; qsh must equal RequestQSH(r, path of
// Audience). Only when all of this holds may the caller overwrite the stored
// tenant with the body (PLATFORM §2.4).
//
// Authentication failures are *AuthError. Misconfiguration and key-host
// outages are plain errors, so the caller answers 5xx and Atlassian retries.
func (v *InstallVerifier) VerifyInstall(ctx context.Context, r *http.Request, token, clientKey, hostBaseURL string) (*Claims, error) {
	if v.Keys == nil || v.Audience == "" || r == nil {
		return nil, errors.New("connect: verify install: needs Keys, Audience and the request")
	}
	basePath, err := audiencePath(v.Audience)
	if err != nil {
		return nil, err
	}
	h, err := requireAlg(token, jwt.SigningMethodRS256.Alg())
	if err != nil {
		return nil, err
	}
	if err := checkKeyID(h.kid); err != nil {
		return nil, err
	}
	key, err := v.Keys.FetchKey(ctx, h.kid, hostBaseURL)
	if err != nil {
		if IsAuthError(err) {
			return nil, err
		}
		return nil, fmt.Errorf("connect: verify install: %w", err)
	}
	claims, err := parseVerified(token, jwt.SigningMethodRS256, key, v.Leeway, v.NowFunc)
	if err != nil {
		return nil, err
	}
	if err := checkInstallClaims(claims, clientKey, v.Audience); err != nil {
		return nil, err
	}
	if err := checkQSH(claims.QSH, r, basePath, QSHExact); err != nil {
		return nil, err
	}
	return claims, nil
}

// checkKeyID requires a kid that is safe to put in a URL path.
func checkKeyID(kid string) error {
	if kid == "" {
		return authError(reasonMissingKeyID, nil)
	}
	if !validKeyID(kid) {
		return authError(reasonInvalidKeyID, nil)
	}
	return nil
}

// checkInstallClaims binds the token to the payload (iss = clientKey) and to
// this app (aud). Without the iss check a token minted for one tenant could
// carry another tenant's body and overwrite its shared secret.
func checkInstallClaims(c *Claims, clientKey, audience string) error {
	if clientKey == "" {
		return authError(reasonMissingClientKey, nil)
	}
	if subtle.ConstantTimeCompare([]byte(c.Issuer), []byte(clientKey)) != 1 {
		return authError(reasonIssuerMismatch, nil)
	}
	if !audienceContains(c.Audience, audience) {
		return authError(reasonAudienceMismatch, nil)
	}
	return nil
}

// audienceContains reports whether aud names want, ignoring one trailing
// "/" on either side as ACE does (descriptor baseUrls are written both ways).
// ACE only looks at aud[0]; Atlassian sends a single audience, and RFC 7519
// §4.1.3 asks for "contains", which is what is checked here.
func audienceContains(aud jwt.ClaimStrings, want string) bool {
	want = strings.TrimSuffix(want, "/")
	for _, a := range aud {
		if strings.TrimSuffix(a, "/") == want {
			return true
		}
	}
	return false
}

// audiencePath returns the path of the app base URL, the prefix Atlassian
// does not include in the qsh of callbacks.
func audiencePath(audience string) (string, error) {
	u, err := url.Parse(audience)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "", fmt.Errorf("connect: verify install: audience %q is not an absolute URL", audience)
	}
	return u.Path, nil
}
