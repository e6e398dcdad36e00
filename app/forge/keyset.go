package forge

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"
)

// DefaultJWKSURL is the production JWKS that signs Forge Invocation Tokens.
const DefaultJWKSURL = "https://forge.cdn.prod.atlassian-dev.net/.well-known/jwks.json"

// Defaults for KeySet fields left at zero.
const (
	DefaultMinRefreshInterval = time.Minute
	DefaultMaxAge             = time.Hour
)

const (
	maxJWKSBytes = 1 << 20
	fetchTimeout = 10 * time.Second
	// minRSABits rejects keys too short to be trusted (NIST SP 800-131A);
	// a JWKS offering one is broken or hostile, not something to accept.
	minRSABits = 2048
)

// ErrKeyNotFound is returned (wrapped) by KeySet.Key when the JWKS has no
// usable key with the requested kid. Verifier maps it to an AuthError; any
// other error from a KeyProvider is treated as internal.
var ErrKeyNotFound = errors.New("forge: signing key not found")

// defaultHTTPClient carries its own timeout in case a caller's context has none.
var defaultHTTPClient = &http.Client{Timeout: fetchTimeout}

// KeySet fetches and caches the RSA signing keys of a JWKS. It is safe for
// concurrent use; do not copy it after first use.
type KeySet struct {
	// URL of the JWKS document.
	URL string
	// Client fetches the JWKS; nil means a client with a 10 s timeout.
	Client *http.Client
	// MinRefreshInterval bounds refetches: an unknown kid triggers at most one
	// fetch per interval, so tokens with made-up kids cannot make us hammer
	// the CDN. Zero means DefaultMinRefreshInterval.
	MinRefreshInterval time.Duration
	// MaxAge is how long fetched keys are used before refreshing, so removed
	// keys stop being accepted. Zero means DefaultMaxAge.
	MaxAge time.Duration
	// NowFunc returns the current time; nil means time.Now.
	NowFunc func() time.Time

	once      sync.Once
	sem       chan struct{} // one holder at a time: the cache and any fetch
	keys      map[string]*rsa.PublicKey
	fetchedAt time.Time // last successful fetch
	triedAt   time.Time // last fetch attempt that counts against the throttle
}

// NewKeySet returns a KeySet for url using client (nil for the default).
func NewKeySet(url string, client *http.Client) *KeySet {
	return &KeySet{URL: url, Client: client}
}

// Key returns the RSA public key with the given kid, fetching the JWKS when
// the cache is empty, older than MaxAge, or lacks kid (throttled by
// MinRefreshInterval). Concurrent callers wait for a single fetch instead of
// each starting their own; a waiter whose ctx ends gives up with ctx.Err().
func (k *KeySet) Key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	if err := k.lock(ctx); err != nil {
		return nil, err
	}
	defer k.unlock()

	now := k.now()
	key, known := k.keys[kid]
	if known && now.Sub(k.fetchedAt) < k.maxAge() {
		return key, nil
	}
	if !k.mayFetch(now) {
		if known {
			return key, nil
		}
		return nil, ErrKeyNotFound
	}
	return k.refresh(ctx, now, kid, key)
}

// refresh fetches the JWKS and looks up kid in it. stale is the cached key
// for kid, if any.
func (k *KeySet) refresh(ctx context.Context, now time.Time, kid string, stale *rsa.PublicKey) (*rsa.PublicKey, error) {
	keys, err := k.fetch(ctx)
	// A fetch cut short by the caller's own cancellation says nothing about
	// the JWKS, so it must not use up the throttle for everyone else.
	if err == nil || ctx.Err() == nil {
		k.triedAt = now
	}
	if err != nil {
		// Keep serving a key we already trust: a CDN blip must not fail every
		// invocation. The key stops being served after the next successful
		// fetch drops it.
		if stale != nil {
			return stale, nil
		}
		return nil, err
	}
	k.keys, k.fetchedAt = keys, now
	if key, ok := keys[kid]; ok {
		return key, nil
	}
	return nil, ErrKeyNotFound
}

func (k *KeySet) mayFetch(now time.Time) bool {
	return k.triedAt.IsZero() || now.Sub(k.triedAt) >= k.minRefresh()
}

// lock uses a one-slot channel rather than a sync.Mutex so that callers
// queued behind a slow fetch can still honour their context.
func (k *KeySet) lock(ctx context.Context) error {
	k.once.Do(func() { k.sem = make(chan struct{}, 1) })
	select {
	case k.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (k *KeySet) unlock() { <-k.sem }

func (k *KeySet) now() time.Time {
	if k.NowFunc != nil {
		return k.NowFunc()
	}
	return time.Now()
}

func (k *KeySet) minRefresh() time.Duration {
	if k.MinRefreshInterval > 0 {
		return k.MinRefreshInterval
	}
	return DefaultMinRefreshInterval
}

func (k *KeySet) maxAge() time.Duration {
	if k.MaxAge > 0 {
		return k.MaxAge
	}
	return DefaultMaxAge
}

func (k *KeySet) client() *http.Client {
	if k.Client != nil {
		return k.Client
	}
	return defaultHTTPClient
}

// fetch downloads and parses the JWKS.
func (k *KeySet) fetch(ctx context.Context) (map[string]*rsa.PublicKey, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.URL, nil)
	if err != nil {
		return nil, fmt.Errorf("forge: fetch jwks: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("forge: fetch jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("forge: fetch jwks: unexpected status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("forge: read jwks: %w", err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("forge: read jwks: body exceeds %d bytes", maxJWKSBytes)
	}
	return parseJWKS(body)
}

// jwk is the subset of RFC 7517 fields needed for RSA signature keys.
type jwk struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// parseJWKS keeps the usable RSA signing keys by kid. An empty result is an
// error so that a broken document never replaces a working cache.
func parseJWKS(body []byte) (map[string]*rsa.PublicKey, error) {
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("forge: decode jwks: %w", err)
	}
	keys := make(map[string]*rsa.PublicKey, len(doc.Keys))
	for _, j := range doc.Keys {
		if _, dup := keys[j.Kid]; dup || !j.usable() {
			continue
		}
		// Skip a malformed entry rather than failing the set: one odd key
		// published next to good ones must not take authentication down.
		if pub, err := j.rsaPublicKey(); err == nil {
			keys[j.Kid] = pub
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("forge: jwks has no usable RSA signing keys")
	}
	return keys, nil
}

// usable reports whether j can verify RS256 signatures. Keys for encryption
// or other algorithms may share the document and are ignored.
func (j jwk) usable() bool {
	return j.Kid != "" && j.Kty == "RSA" &&
		(j.Use == "" || j.Use == "sig") &&
		(j.Alg == "" || j.Alg == "RS256")
}

// rsaPublicKey converts the base64url modulus and exponent (RFC 7518 §6.3.1).
func (j jwk) rsaPublicKey() (*rsa.PublicKey, error) {
	n, err := decodeBigInt(j.N)
	if err != nil {
		return nil, fmt.Errorf("jwk n: %w", err)
	}
	e, err := decodeBigInt(j.E)
	if err != nil {
		return nil, fmt.Errorf("jwk e: %w", err)
	}
	if n.BitLen() < minRSABits {
		return nil, fmt.Errorf("jwk n: %d bits is too short", n.BitLen())
	}
	// Exponents are small odd numbers in practice (65537); bounding to 32
	// bits also keeps the int conversion exact on every platform.
	if e.BitLen() > 31 || e.Int64() < 3 || e.Bit(0) == 0 {
		return nil, errors.New("jwk e: invalid exponent")
	}
	return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
}

// decodeBigInt decodes unpadded base64url, tolerating stray padding.
func decodeBigInt(s string) (*big.Int, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, errors.New("empty")
	}
	return new(big.Int).SetBytes(b), nil
}
