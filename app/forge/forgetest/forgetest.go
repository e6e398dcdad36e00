// Package forgetest mints Forge Invocation Tokens for tests and local
// development. An Issuer holds an RSA key, serves its JWKS and signs tokens
// shaped like the ones Forge sends, with knobs to forge bad ones.
package forgetest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/lapsehq/lapse/app/forge"
)

// Defaults used by Claims fields left empty.
const (
	DefaultInstallationID = "6f1e3c1a-2b4d-4e8f-9a0b-1c2d3e4f5a6b"
	DefaultCloudID        = "0b7d6f9e-3c2a-4d1b-8e5f-6a7b8c9d0e1f"
	DefaultAPIBaseURL     = "https://api.atlassian.com/ex/jira/" + DefaultCloudID
	DefaultAppVersion     = "1.0.0"
	DefaultModuleType     = "core:endpoint"
	// DefaultModuleKey is the endpoint module the Custom UI pages invoke
	// (descriptor/manifest.yml); a token never names a remote.
	DefaultModuleKey     = "lapse-api"
	DefaultEnvironmentID = "9c8b7a6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
	// DefaultTTL is the lifetime of minted tokens when ExpiresAt is zero.
	DefaultTTL = 5 * time.Minute
	// JWKSPath is where Handler serves the key set, as on Atlassian's CDN.
	JWKSPath = "/.well-known/jwks.json"
)

const keyBits = 2048

// Claims describes a token to mint. Zero fields take realistic defaults, so
// a test sets only what it is about; the Omit* fields drop a claim entirely.
type Claims struct {
	// Audience defaults to the issuer's AppID. One value is encoded as a
	// string, several as an array, as both forms occur in JWTs.
	Audience []string
	// Issuer defaults to forge.Issuer.
	Issuer string
	// IssuedAt defaults to now; NotBefore to IssuedAt; ExpiresAt to
	// IssuedAt+DefaultTTL.
	IssuedAt, NotBefore, ExpiresAt             time.Time
	OmitIssuedAt, OmitNotBefore, OmitExpiresAt bool

	// InstallationID defaults to DefaultInstallationID.
	InstallationID     string
	OmitInstallationID bool
	// APIBaseURL defaults to DefaultAPIBaseURL.
	APIBaseURL     string
	OmitAPIBaseURL bool
	// Module defaults to core:endpoint / DefaultModuleKey.
	Module       forge.Module
	Installation *forge.Installation
	Principal    string
	// Context is encoded as the "context" claim when non-nil.
	Context any
	// Extra top-level claims, applied last so they can override anything.
	Extra map[string]any

	// KID overrides the header kid (default: the issuer's current kid);
	// OmitKID drops it.
	KID     string
	OmitKID bool
	// Method defaults to RS256.
	Method jwt.SigningMethod
	// SigningKey defaults to the issuer's current private key. Set it (with
	// Method) to simulate attacks: a foreign RSA key, an HMAC secret, or
	// jwt.UnsafeAllowNoneSignatureType with jwt.SigningMethodNone.
	SigningKey any
}

// Issuer is a fake Forge token issuer. It is safe for concurrent use.
type Issuer struct {
	// AppID is the app ARI used as default audience and app.id. It is
	// random per Issuer; set it before minting to match a fixed config.
	AppID string
	// NowFunc returns the minting time; nil means time.Now.
	NowFunc func() time.Time

	mu      sync.Mutex
	key     *rsa.PrivateKey
	kid     string
	baseURL string
	fetches atomic.Int64
}

// NewStandaloneIssuer returns an Issuer that is not tied to a test, for a
// long-running dev program: mount Handler and point a forge.KeySet at it.
func NewStandaloneIssuer() (*Issuer, error) {
	i := &Issuer{AppID: forge.AppARIPrefix + randomUUID()}
	if err := i.rotate(); err != nil {
		return nil, err
	}
	return i, nil
}

// NewIssuer returns an Issuer whose JWKS is served by an httptest server that
// closes when t ends.
func NewIssuer(t testing.TB) *Issuer {
	t.Helper()
	i, err := NewStandaloneIssuer()
	if err != nil {
		t.Fatalf("forgetest: new issuer: %v", err)
	}
	srv := httptest.NewServer(i.Handler())
	t.Cleanup(srv.Close)
	i.baseURL = srv.URL
	return i
}

// JWKSURL returns the JWKS address of an Issuer made by NewIssuer; it is ""
// for a standalone Issuer, whose address depends on where Handler is mounted.
func (i *Issuer) JWKSURL() string {
	if i.baseURL == "" {
		return ""
	}
	return i.baseURL + JWKSPath
}

// Handler serves the current JWKS at JWKSPath and counts the fetches.
func (i *Issuer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+JWKSPath, func(w http.ResponseWriter, _ *http.Request) {
		i.fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(i.JWKS())
	})
	return mux
}

// Fetches reports how many times the JWKS has been served, for cache tests.
func (i *Issuer) Fetches() int { return int(i.fetches.Load()) }

// KID returns the kid of the current signing key.
func (i *Issuer) KID() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.kid
}

// PublicKey returns the current public key.
func (i *Issuer) PublicKey() *rsa.PublicKey {
	i.mu.Lock()
	defer i.mu.Unlock()
	return &i.key.PublicKey
}

// JWKS returns the JSON document Handler serves: the current key only.
func (i *Issuer) JWKS() []byte {
	i.mu.Lock()
	defer i.mu.Unlock()
	doc := map[string]any{"keys": []map[string]string{{
		"kty": "RSA",
		"use": "sig",
		"alg": "RS256",
		"kid": i.kid,
		"n":   base64.RawURLEncoding.EncodeToString(i.key.N.Bytes()),
		"e":   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(i.key.E)).Bytes()),
	}}}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(fmt.Sprintf("forgetest: marshal jwks: %v", err)) // strings only; cannot fail
	}
	return b
}

// Rotate replaces the signing key and kid. The old key leaves the JWKS at
// once, so tokens it signed stop verifying after the next refetch.
func (i *Issuer) Rotate() {
	if err := i.rotate(); err != nil {
		// rsa.GenerateKey only fails for invalid sizes, and crypto/rand
		// does not fail; a panic here means a broken runtime.
		panic(fmt.Sprintf("forgetest: rotate: %v", err))
	}
}

func (i *Issuer) rotate() error {
	key, err := rsa.GenerateKey(rand.Reader, keyBits)
	if err != nil {
		return fmt.Errorf("generate rsa key: %w", err)
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.key, i.kid = key, "forgetest-"+randomHex(8)
	return nil
}

// Mint returns a signed token for c, failing t on error.
func (i *Issuer) Mint(t testing.TB, c Claims) string {
	t.Helper()
	token, err := i.MintToken(c)
	if err != nil {
		t.Fatalf("forgetest: mint: %v", err)
	}
	return token
}

// MintToken returns a signed token for c.
func (i *Issuer) MintToken(c Claims) (string, error) {
	i.mu.Lock()
	key, kid := i.key, i.kid
	i.mu.Unlock()

	tok := jwt.NewWithClaims(orMethod(c.Method), i.payload(c))
	if c.OmitKID {
		delete(tok.Header, "kid")
	} else {
		tok.Header["kid"] = or(c.KID, kid)
	}
	var signWith any = key
	if c.SigningKey != nil {
		signWith = c.SigningKey
	}
	s, err := tok.SignedString(signWith)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return s, nil
}

// payload builds the FIT claims; maps rather than forge.Invocation so that
// Omit* can drop fields the real type would always encode.
func (i *Issuer) payload(c Claims) jwt.MapClaims {
	iat := c.IssuedAt
	if iat.IsZero() {
		iat = i.now()
	}
	claims := jwt.MapClaims{
		"iss": or(c.Issuer, forge.Issuer),
		"aud": audience(c.Audience, i.AppID),
		"jti": randomUUID(),
		"app": i.app(c),
	}
	setTime(claims, "iat", iat, c.OmitIssuedAt)
	setTime(claims, "nbf", orTime(c.NotBefore, iat), c.OmitNotBefore)
	setTime(claims, "exp", orTime(c.ExpiresAt, iat.Add(DefaultTTL)), c.OmitExpiresAt)
	if c.Principal != "" {
		claims["principal"] = c.Principal
	}
	if c.Context != nil {
		claims["context"] = c.Context
	}
	for k, v := range c.Extra {
		claims[k] = v
	}
	return claims
}

func (i *Issuer) app(c Claims) map[string]any {
	app := map[string]any{
		"id":          i.AppID,
		"appVersion":  DefaultAppVersion,
		"environment": forge.Environment{Type: "DEVELOPMENT", ID: DefaultEnvironmentID},
		"module": forge.Module{
			Type: or(c.Module.Type, DefaultModuleType),
			Key:  or(c.Module.Key, DefaultModuleKey),
		},
	}
	if !c.OmitInstallationID {
		app["installationId"] = or(c.InstallationID, DefaultInstallationID)
	}
	if !c.OmitAPIBaseURL {
		app["apiBaseUrl"] = or(c.APIBaseURL, DefaultAPIBaseURL)
	}
	if c.Installation != nil {
		app["installation"] = c.Installation
	}
	return app
}

func (i *Issuer) now() time.Time {
	if i.NowFunc != nil {
		return i.NowFunc()
	}
	return time.Now()
}

// audience encodes one value as a string and several as an array.
func audience(aud []string, def string) any {
	switch len(aud) {
	case 0:
		return def
	case 1:
		return aud[0]
	}
	return aud
}

func setTime(claims jwt.MapClaims, name string, t time.Time, omit bool) {
	if !omit {
		claims[name] = t.Unix()
	}
}

func or(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

func orTime(t, def time.Time) time.Time {
	if !t.IsZero() {
		return t
	}
	return def
}

func orMethod(m jwt.SigningMethod) jwt.SigningMethod {
	if m != nil {
		return m
	}
	return jwt.SigningMethodRS256
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error
	return hex.EncodeToString(b)
}

// randomUUID returns a version-4 UUID without pulling in a uuid module.
func randomUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
