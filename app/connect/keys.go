package connect

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// KeyFetcher returns the RSA public key that signed an install token.
// hostBaseURL is the (unverified) baseUrl from the lifecycle payload; it may
// only be used to choose among trusted key hosts, never as a key host itself.
type KeyFetcher interface {
	FetchKey(ctx context.Context, kid, hostBaseURL string) (*rsa.PublicKey, error)
}

var _ KeyFetcher = (*HTTPKeyFetcher)(nil)

const (
	// maxKeyResponseBytes bounds a key response; a PEM RSA key is < 2 KiB.
	maxKeyResponseBytes = 64 << 10
	// minRSAKeyBits is the smallest install key accepted.
	minRSAKeyBits = 2048
	// keyCacheTTL bounds how long a key stays cached. Atlassian gives every
	// rotated key a new kid (PLATFORM §2.2), so this only limits how long a
	// withdrawn key can linger.
	keyCacheTTL = 24 * time.Hour
	// maxCachedKeys bounds the cache; only keys served by a trusted host get
	// in, so this is a safety net, not a defence.
	maxCachedKeys = 256
	// defaultKeyFetchTimeout is the timeout of the default HTTP client.
	defaultKeyFetchTimeout = 10 * time.Second
)

// kidPattern is the shape a kid must have before it is put into a URL: it
// keeps "/", "?", "#", "%" and the like out, so a kid cannot point the fetch
// at another path or host. "." and ".." match and are refused separately.
var kidPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

func validKeyID(kid string) bool {
	return kidPattern.MatchString(kid) && kid != "." && kid != ".."
}

// HTTPKeyFetcher fetches install public keys over HTTPS and caches them by
// URL (key host + kid). Failures are never cached, so a transient outage or
// a not-yet-published key does not stick. Safe for concurrent use; create it
// with NewHTTPKeyFetcher or as a zero value.
type HTTPKeyFetcher struct {
	// BaseURL, when set, is the only key host (LAPSE_INSTALL_KEYS_URL, for
	// development and tests). When "", the host is chosen from Atlassian's
	// table by the host suffix of hostBaseURL (PLATFORM §2.2), trying the
	// primary and then the fallback. "/<kid>" is appended in both cases.
	BaseURL string
	// Client is the HTTP client; nil means a client with a 10 s timeout.
	Client *http.Client

	// baseURLsFunc overrides the Atlassian table; tests only.
	baseURLsFunc func(hostBaseURL string) []string

	mu    sync.Mutex
	cache map[string]cachedKey
}

type cachedKey struct {
	key     *rsa.PublicKey
	fetched time.Time
}

// NewHTTPKeyFetcher returns a fetcher that uses baseURL ("" for Atlassian's
// hosts) and client (nil for the default).
func NewHTTPKeyFetcher(baseURL string, client *http.Client) *HTTPKeyFetcher {
	return &HTTPKeyFetcher{BaseURL: baseURL, Client: client}
}

// defaultKeyClient refuses redirects that leave HTTPS, so a compromised or
// misconfigured CDN cannot hand the fetch to a plain-HTTP origin.
var defaultKeyClient = &http.Client{
	Timeout: defaultKeyFetchTimeout,
	CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 {
			return errors.New("too many redirects")
		}
		if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
			return errors.New("redirect leaves https")
		}
		return nil
	},
}

// errKeyNotFound marks a definite "no such key" answer from a key host.
var errKeyNotFound = errors.New("key not found")

// FetchKey returns the key for kid. An invalid kid is refused before any
// request. When every host answers that the key does not exist the error is
// an *AuthError ("unknown signing key"); other failures (network, 5xx, bad
// PEM) are plain errors, because they are not the client's fault.
func (f *HTTPKeyFetcher) FetchKey(ctx context.Context, kid, hostBaseURL string) (*rsa.PublicKey, error) {
	if !validKeyID(kid) {
		return nil, authError(reasonInvalidKeyID, nil)
	}
	urls := f.keyURLs(kid, hostBaseURL)
	for _, u := range urls {
		if key, ok := f.cached(u); ok {
			return key, nil
		}
	}
	var errs []error
	for _, u := range urls {
		key, err := f.fetch(ctx, u)
		if err == nil {
			f.store(u, key)
			return key, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	err := errors.Join(errs...)
	if allNotFound(errs) {
		return nil, authError(reasonUnknownKey, err)
	}
	return nil, fmt.Errorf("connect: fetch install key: %w", err)
}

func allNotFound(errs []error) bool {
	for _, err := range errs {
		if !errors.Is(err, errKeyNotFound) {
			return false
		}
	}
	return len(errs) > 0
}

// keyURLs lists the URLs to try for kid, in order.
func (f *HTTPKeyFetcher) keyURLs(kid, hostBaseURL string) []string {
	var bases []string
	switch {
	case f.BaseURL != "":
		bases = []string{f.BaseURL}
	case f.baseURLsFunc != nil:
		bases = f.baseURLsFunc(hostBaseURL)
	default:
		bases = atlassianKeyBaseURLs(hostBaseURL)
	}
	urls := make([]string, len(bases))
	for i, b := range bases {
		urls[i] = strings.TrimSuffix(b, "/") + "/" + kid
	}
	return urls
}

// fetch GETs one key URL and parses the PEM body.
func (f *HTTPKeyFetcher) fetch(ctx context.Context, keyURL string) (*rsa.PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, keyURL, nil)
	if err != nil {
		return nil, err
	}
	client := f.Client
	if client == nil {
		client = defaultKeyClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if err := keyStatusError(keyURL, resp.StatusCode); err != nil {
		return nil, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxKeyResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", keyURL, err)
	}
	if len(body) > maxKeyResponseBytes {
		return nil, fmt.Errorf("read %s: response larger than %d bytes", keyURL, maxKeyResponseBytes)
	}
	key, err := parseRSAPublicKeyPEM(body)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", keyURL, err)
	}
	return key, nil
}

// keyStatusError classifies a key host's status. A 4xx is the host's
// definite answer that the kid does not resolve (except timeouts and rate
// limits, which are transient); 5xx and anything else is an outage.
func keyStatusError(keyURL string, status int) error {
	switch {
	case status == http.StatusOK:
		return nil
	case status >= 400 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests:
		return fmt.Errorf("get %s: status %d: %w", keyURL, status, errKeyNotFound)
	default:
		return fmt.Errorf("get %s: status %d", keyURL, status)
	}
}

// parseRSAPublicKeyPEM accepts a "PUBLIC KEY" (X.509 SubjectPublicKeyInfo,
// what Atlassian serves) or "RSA PUBLIC KEY" (PKCS #1) block holding an RSA
// key of at least 2048 bits.
func parseRSAPublicKeyPEM(data []byte) (*rsa.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	var key *rsa.PublicKey
	switch block.Type {
	case "PUBLIC KEY":
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		rsaKey, ok := pub.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("public key is %T, not RSA", pub)
		}
		key = rsaKey
	case "RSA PUBLIC KEY":
		rsaKey, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		key = rsaKey
	default:
		return nil, fmt.Errorf("unexpected PEM block %q", block.Type)
	}
	if bits := key.N.BitLen(); bits < minRSAKeyBits {
		return nil, fmt.Errorf("RSA key has %d bits, need at least %d", bits, minRSAKeyBits)
	}
	return key, nil
}

func (f *HTTPKeyFetcher) cached(keyURL string) (*rsa.PublicKey, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.cache[keyURL]
	if !ok || time.Since(c.fetched) > keyCacheTTL {
		return nil, false
	}
	return c.key, true
}

func (f *HTTPKeyFetcher) store(keyURL string, key *rsa.PublicKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cache == nil || len(f.cache) >= maxCachedKeys {
		// Starting over is crude but bounded, and a refetch is cheap.
		f.cache = make(map[string]cachedKey)
	}
	f.cache[keyURL] = cachedKey{key: key, fetched: time.Now()}
}

// installKeySource is one row of ACE 11.5.3's key-host table.
type installKeySource struct {
	hostSuffixes      []string
	primary, fallback string
}

// defaultInstallKeysURL serves keys for every other host (and was the only
// host before ACE 11.5.0).
const defaultInstallKeysURL = "https://connect-install-keys.atlassian.com"

// atlassianInstallKeySources is the table of PLATFORM §2.2. Unlike ACE 11.5.3,
// which requests the bare fallback base (apparently a bug), "/<kid>" is
// appended to the fallback too.
var atlassianInstallKeySources = []installKeySource{
	{
		hostSuffixes: []string{".atlassian.net", ".jira.com"},
		primary:      "https://asap-distribution.us-west-2.prod.atl-asap.net",
		fallback:     defaultInstallKeysURL,
	},
	{
		hostSuffixes: []string{".atlassian-us-gov-mod.net"},
		primary:      "https://asap-distribution.us-west-2.prod.atl-auth-us-gov-mod.net",
		fallback:     "https://cs-migrations--fedrampcdn.us-east-1.prod.cdn.atlassian-us-gov-mod.com",
	},
	{
		hostSuffixes: []string{".jira-dev.com"},
		primary:      "https://asap-distribution.us-west-2.staging.atl-asap.net",
		fallback:     "https://cs-migrations--cdn.us-east-1.staging.public.atl-paas.net",
	},
	{
		hostSuffixes: []string{".atlassian-stg-fedm.net"},
		primary:      "https://asap-distribution.us-west-2.staging.atl-auth-us-gov-mod.net",
		fallback:     "https://cs-migrations--fedrampcdn.us-east-1.staging.cdn.atlassian-us-gov-mod.com",
	},
}

// atlassianKeyBaseURLs picks key hosts by the host suffix of hostBaseURL.
// hostBaseURL is unverified, but it can only select among these fixed
// Atlassian origins, which is why trusting it here is acceptable.
func atlassianKeyBaseURLs(hostBaseURL string) []string {
	host := ""
	if u, err := url.Parse(hostBaseURL); err == nil {
		host = strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	}
	for _, src := range atlassianInstallKeySources {
		for _, suffix := range src.hostSuffixes {
			if strings.HasSuffix(host, suffix) {
				return []string{src.primary, src.fallback}
			}
		}
	}
	return []string{defaultInstallKeysURL}
}
