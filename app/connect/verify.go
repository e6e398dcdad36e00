package connect

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// RecommendedLeeway is the clock skew allowance of Atlassian's Java
// atlassian-jwt library (30 s on exp and nbf, PLATFORM §3.4). The verifiers'
// zero Leeway means no allowance at all, as in ACE.
const RecommendedLeeway = 30 * time.Second

// QSHMode says how VerifyHS256 checks the qsh claim.
type QSHMode int

const (
	// QSHExact requires a qsh equal to the hash of the request being served.
	// Use it for every endpoint the product calls: iframes, webhooks and the
	// enabled/disabled lifecycle callbacks.
	QSHExact QSHMode = iota
	// QSHContext requires qsh to be the literal ContextQSH. Use it for
	// endpoints called by the app's own front end with AP.context.getToken();
	// a token with a real hash is refused there so that an iframe token cannot
	// be replayed against the API (the GH4J rule, stricter than ACE).
	QSHContext
)

// TokenVerifier verifies HS256 Connect JWTs signed with a tenant's shared
// secret. The zero value is usable: no leeway and the real clock.
type TokenVerifier struct {
	// Leeway is the clock skew allowed on exp, nbf and iat. Zero allows none;
	// RecommendedLeeway matches Atlassian's Java library.
	Leeway time.Duration
	// NowFunc returns the current time; nil means time.Now.
	NowFunc func() time.Time
}

// VerifyHS256 verifies token against secret and the request it came with.
//
// The header alg must be exactly HS256 (none, RS256, HS384 … are refused);
// the signature is checked by golang-jwt in constant time; iss, exp and iat
// are required, exp/nbf/iat are checked with Leeway. Then the qsh claim is
// checked according to mode: QSHExact needs RequestQSH(r, basePath) (or the
// Java library's parameter order of it, see canonicalQueries), where
// basePath is the path of the app's descriptor baseUrl ("" if none); QSHContext
// needs the literal ContextQSH and ignores r and basePath (r may be nil).
//
// Authentication failures are *AuthError. An empty secret is a caller bug
// (an HMAC with an empty key is forgeable by anyone) and is reported as a
// plain error.
func (v TokenVerifier) VerifyHS256(token string, secret []byte, r *http.Request, basePath string, mode QSHMode) (*Claims, error) {
	if len(secret) == 0 {
		return nil, errors.New("connect: verify token: empty shared secret")
	}
	if mode == QSHExact && r == nil {
		return nil, errors.New("connect: verify token: exact qsh needs the request")
	}
	if _, err := requireAlg(token, jwt.SigningMethodHS256.Alg()); err != nil {
		return nil, err
	}
	claims, err := parseVerified(token, jwt.SigningMethodHS256, secret, v.Leeway, v.NowFunc)
	if err != nil {
		return nil, err
	}
	if err := checkQSH(claims.QSH, r, basePath, mode); err != nil {
		return nil, err
	}
	return claims, nil
}

// parseVerified checks signature and time claims with golang-jwt and then
// the claims every Connect token must carry. The library is told the only
// acceptable method too, so a bug in the header pre-check cannot open an
// alg-confusion hole.
func parseVerified(token string, method jwt.SigningMethod, key any, leeway time.Duration, now func() time.Time) (*Claims, error) {
	if now == nil {
		now = time.Now
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{method.Alg()}),
		jwt.WithLeeway(max(leeway, 0)),
		jwt.WithTimeFunc(now),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithStrictDecoding(),
	)
	claims := &Claims{}
	keyFunc := func(*jwt.Token) (any, error) { return key, nil }
	if _, err := parser.ParseWithClaims(token, claims, keyFunc); err != nil {
		return nil, jwtAuthError(err, claims)
	}
	if err := checkRequiredClaims(claims); err != nil {
		return nil, err
	}
	return claims, nil
}

// checkRequiredClaims enforces what golang-jwt leaves optional: iss and iat
// ("Atlassian JWT does not allow JWTs with unlimited lifetimes"), and nbf
// before exp when nbf is present (the Java/Scala readers' rule).
func checkRequiredClaims(c *Claims) error {
	switch {
	case c.Issuer == "":
		return authError(reasonMissingIssuer, nil)
	case c.IssuedAt == nil:
		return authError(reasonMissingIat, nil)
	case c.NotBefore != nil && !c.NotBefore.Before(c.ExpiresAt.Time):
		return authError(reasonInvalidLifetime, nil)
	}
	return nil
}

// jwtAuthError translates a golang-jwt error into an AuthError with a
// client-safe reason. claims is whatever the library decoded before failing,
// used only to name a missing claim.
func jwtAuthError(err error, claims *Claims) error {
	reason := reasonInvalidToken
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		reason = reasonMalformedToken
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		reason = reasonInvalidSignature
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && claims.ExpiresAt == nil:
		reason = reasonMissingExp
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		reason = reasonMissingClaim
	case errors.Is(err, jwt.ErrTokenExpired):
		reason = reasonExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		reason = reasonNotYetValid
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		reason = reasonIssuedInFuture
	}
	return authError(reason, err)
}

// checkQSH compares the qsh claim according to mode. The exact comparison is
// constant-time out of habit; the hash is not secret, but it costs nothing.
func checkQSH(qsh string, r *http.Request, basePath string, mode QSHMode) error {
	if mode == QSHContext {
		if qsh != ContextQSH {
			return authError(reasonContextQSHRequired, nil)
		}
		return nil
	}
	switch qsh {
	case "":
		return authError(reasonMissingQSH, nil)
	case ContextQSH:
		// A context JWT is valid for any URL; accepting it here would let a
		// front-end token be replayed against descriptor endpoints.
		return authError(reasonContextQSHRefused, nil)
	}
	for _, want := range acceptedQSHs(r, basePath) {
		if subtle.ConstantTimeCompare([]byte(qsh), []byte(want)) == 1 {
			return nil
		}
	}
	return authError(reasonQSHMismatch, nil)
}
