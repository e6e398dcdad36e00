package forge

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Issuer is the iss claim of every Forge Invocation Token.
const Issuer = "forge/invocation-token"

// DefaultLeeway is the clock skew allowed on exp, nbf and iat when
// Verifier.Leeway is zero. 30 s matches Atlassian's Java JWT library
// (PLATFORM.md §3.4).
const DefaultLeeway = 30 * time.Second

// Reasons carried by the AuthErrors that Verify returns. They are stable so
// callers and tests can compare them.
const (
	ReasonNotConfigured  = "forge app id not configured"
	ReasonMalformed      = "malformed token"
	ReasonAlgorithm      = "unsupported token algorithm"
	ReasonNoKeyID        = "token has no key id"
	ReasonUnknownKey     = "unknown signing key"
	ReasonSignature      = "invalid token signature"
	ReasonUnverifiable   = "token cannot be verified"
	ReasonMissingClaim   = "token missing required claim"
	ReasonAudience       = "invalid token audience"
	ReasonIssuer         = "invalid token issuer"
	ReasonExpired        = "token expired"
	ReasonNotYetValid    = "token not yet valid"
	ReasonIssuedInFuture = "token issued in the future"
	ReasonInstallationID = "token missing installation id"
	ReasonAPIBaseURL     = "token missing api base url"
	ReasonInvalid        = "invalid token"
)

// KeyProvider returns the RSA key for a JWT kid. Implementations return an
// error wrapping ErrKeyNotFound when the kid is unknown; any other error is
// treated as an internal failure (the caller should answer 5xx, not 401).
type KeyProvider interface {
	Key(ctx context.Context, kid string) (*rsa.PublicKey, error)
}

// defaultKeys is shared by every Verifier without Keys so that they all use
// one cache of the production JWKS.
var defaultKeys = sync.OnceValue(func() *KeySet { return NewKeySet(DefaultJWKSURL, nil) })

// Verifier checks Forge Invocation Tokens. The zero value is not usable:
// Audience must be set. It is safe for concurrent use.
type Verifier struct {
	// Keys provides signing keys; nil means a shared KeySet for DefaultJWKSURL.
	Keys KeyProvider
	// Audience is the app id, as a bare UUID or app ARI. Empty refuses every
	// token, so a deployment with missing config fails closed.
	Audience string
	// Leeway is the allowed clock skew; zero means DefaultLeeway and a
	// negative value means none.
	Leeway time.Duration
	// NowFunc returns the current time; nil means time.Now.
	NowFunc func() time.Time
}

// Verify checks token and returns its payload. It requires alg RS256 with a
// kid, a valid signature by that key, iss == Issuer, aud containing the app
// ARI, exp and iat present and in range (nbf honoured when present, all with
// Leeway), and app.installationId and app.apiBaseUrl present.
//
// Token problems come back as *AuthError (answer 401). A failure to obtain
// keys, such as the JWKS being unreachable, comes back as a plain error so
// the caller can answer 5xx and let Forge retry.
func (v *Verifier) Verify(ctx context.Context, token string) (*Invocation, error) {
	aud, err := v.audience()
	if err != nil {
		return nil, err
	}
	var keyErr error
	inv := &Invocation{}
	parsed, err := v.parser(aud).ParseWithClaims(token, inv, v.keyfunc(ctx, &keyErr))
	if keyErr != nil {
		return nil, fmt.Errorf("forge: verify token: %w", keyErr)
	}
	if err != nil {
		return nil, classify(parsed, err)
	}
	if err := checkPayload(inv); err != nil {
		return nil, err
	}
	return inv, nil
}

// audience resolves the configured app id to its ARI.
func (v *Verifier) audience() (string, error) {
	if strings.TrimSpace(v.Audience) == "" {
		return "", authError(ReasonNotConfigured, nil)
	}
	aud, err := AppARI(v.Audience)
	if err != nil {
		return "", authError(ReasonNotConfigured, err)
	}
	return aud, nil
}

func (v *Verifier) parser(aud string) *jwt.Parser {
	return jwt.NewParser(
		// The allow-list is what stops alg "none" and HS256-with-the-public-key
		// confusion: the key type alone is not trusted to decide.
		jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
		jwt.WithIssuer(Issuer),
		jwt.WithAudience(aud),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(v.leeway()),
		jwt.WithTimeFunc(v.now),
	)
}

// keyfunc looks the key up by kid. Provider failures other than an unknown
// kid are stored in *internal so Verify can report them as internal errors
// instead of letting the jwt error chain turn them into a 401.
func (v *Verifier) keyfunc(ctx context.Context, internal *error) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		// Repeats the parser's method allow-list on purpose: the key we return
		// must only ever be used for RS256.
		if t.Method == nil || t.Method.Alg() != jwt.SigningMethodRS256.Alg() {
			return nil, authError(ReasonAlgorithm, nil)
		}
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, authError(ReasonNoKeyID, nil)
		}
		key, err := v.keys().Key(ctx, kid)
		switch {
		case err == nil:
			return key, nil
		case errors.Is(err, ErrKeyNotFound):
			return nil, authError(ReasonUnknownKey, err)
		default:
			*internal = err
			return nil, err
		}
	}
}

// claimReasons maps jwt sentinel errors to reasons, most specific first:
// claim validation can report several failures at once.
var claimReasons = []struct {
	err    error
	reason string
}{
	{jwt.ErrTokenMalformed, ReasonMalformed},
	{jwt.ErrTokenSignatureInvalid, ReasonSignature},
	{jwt.ErrTokenUnverifiable, ReasonUnverifiable},
	{jwt.ErrTokenRequiredClaimMissing, ReasonMissingClaim},
	{jwt.ErrTokenInvalidIssuer, ReasonIssuer},
	{jwt.ErrTokenInvalidAudience, ReasonAudience},
	{jwt.ErrTokenExpired, ReasonExpired},
	{jwt.ErrTokenNotValidYet, ReasonNotYetValid},
	{jwt.ErrTokenUsedBeforeIssued, ReasonIssuedInFuture},
}

// classify turns a parse error into an *AuthError with a safe reason.
func classify(tok *jwt.Token, err error) error {
	var ae *AuthError
	if errors.As(err, &ae) {
		return ae
	}
	if tok != nil && tok.Method != nil && tok.Method.Alg() != jwt.SigningMethodRS256.Alg() {
		return authError(ReasonAlgorithm, err)
	}
	for _, c := range claimReasons {
		if errors.Is(err, c.err) {
			return authError(c.reason, err)
		}
	}
	return authError(ReasonInvalid, err)
}

// checkPayload enforces what the jwt library cannot: iat must exist (the
// library only checks it when present) and the fields every handler keys on.
func checkPayload(inv *Invocation) error {
	if inv.IssuedAt == nil {
		return authError(ReasonMissingClaim, errors.New("iat claim is required"))
	}
	if NormalizeInstallationID(inv.App.InstallationID) == "" {
		return authError(ReasonInstallationID, nil)
	}
	if u, err := url.Parse(inv.App.APIBaseURL); err != nil || u.Scheme == "" || u.Host == "" {
		return authError(ReasonAPIBaseURL, err)
	}
	return nil
}

func (v *Verifier) keys() KeyProvider {
	if v.Keys != nil {
		return v.Keys
	}
	return defaultKeys()
}

func (v *Verifier) leeway() time.Duration {
	switch {
	case v.Leeway < 0:
		return 0
	case v.Leeway == 0:
		return DefaultLeeway
	}
	return v.Leeway
}

func (v *Verifier) now() time.Time {
	if v.NowFunc != nil {
		return v.NowFunc()
	}
	return time.Now()
}
