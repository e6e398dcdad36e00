package connect

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// SignerTTLDefault is the lifetime of outgoing tokens when Signer.TTL is
// zero: 3 minutes, the default of ACE and ACSB (PLATFORM §5.1).
const SignerTTLDefault = 180 * time.Second

// Signer signs app → product REST requests with the tenant's shared secret
// (PLATFORM §5.1).
type Signer struct {
	// AppKey is the descriptor key, sent as iss.
	AppKey string
	// TTL is the token lifetime; zero or negative means SignerTTLDefault.
	TTL time.Duration
	// NowFunc returns the current time; nil means time.Now.
	NowFunc func() time.Time
}

// Sign sets "Authorization: JWT <token>" on req: an HS256 token with iss =
// AppKey, iat = now, exp = now + TTL and the qsh of req's method, path and
// query, the path taken relative to the path of tenantBaseURL (for
// Confluence, "/wiki/rest/api/content" is hashed as "/rest/api/content").
//
// It refuses, without touching req, a request whose scheme, host or port
// differs from tenantBaseURL's or whose path is not below its path: the
// token would otherwise be handed to a host that is not the tenant (ACE only
// signs same-origin requests for the same reason).
func (s Signer) Sign(req *http.Request, tenantBaseURL string, secret []byte) error {
	if s.AppKey == "" || len(secret) == 0 {
		return errors.New("connect: sign: needs an app key and a shared secret")
	}
	if req == nil || req.URL == nil {
		return errors.New("connect: sign: nil request")
	}
	basePath, err := checkSignTarget(req.URL, tenantBaseURL)
	if err != nil {
		return err
	}
	token, err := s.token(req, basePath, secret)
	if err != nil {
		return err
	}
	if req.Header == nil {
		req.Header = make(http.Header)
	}
	req.Header.Set("Authorization", "JWT "+token)
	return nil
}

// token builds and signs the claims. No aud and no user sub are set: ACSB
// sets neither, and JWT user impersonation no longer exists.
func (s Signer) token(req *http.Request, basePath string, secret []byte) (string, error) {
	now := time.Now
	if s.NowFunc != nil {
		now = s.NowFunc
	}
	ttl := s.TTL
	if ttl <= 0 {
		ttl = SignerTTLDefault
	}
	t := now()
	claims := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.AppKey,
			IssuedAt:  jwt.NewNumericDate(t),
			ExpiresAt: jwt.NewNumericDate(t.Add(ttl)),
		},
		QSH: QueryStringHash(req.Method, req.URL.Path, req.URL.RawQuery, basePath),
	}
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(secret)
	if err != nil {
		return "", fmt.Errorf("connect: sign: %w", err)
	}
	return token, nil
}

// checkSignTarget verifies that target lies under tenantBaseURL and returns
// the tenant base path (without trailing "/"). Dot segments are refused
// because the product resolves them after the prefix check would have passed
// ("/wiki/../admin").
func checkSignTarget(target *url.URL, tenantBaseURL string) (string, error) {
	base, err := url.Parse(tenantBaseURL)
	if err != nil || base.Scheme == "" || base.Host == "" {
		return "", errors.New("connect: sign: tenant base URL is not an absolute URL")
	}
	if target.Opaque != "" || origin(target) != origin(base) {
		return "", errors.New("connect: sign: request is not for the tenant's origin")
	}
	basePath := strings.TrimSuffix(base.Path, "/")
	p := target.Path
	if basePath != "" && p != basePath && !strings.HasPrefix(p, basePath+"/") {
		return "", errors.New("connect: sign: request path is not under the tenant base path")
	}
	if hasDotSegment(p) {
		return "", errors.New("connect: sign: request path has dot segments")
	}
	return basePath, nil
}

// origin returns scheme://host:port with defaults filled in, so that
// "https://x" and "https://X:443" compare equal.
func origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		switch scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	return scheme + "://" + net.JoinHostPort(host, port)
}

func hasDotSegment(p string) bool {
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// TenantAuth signs every outgoing request to one tenant's product as the
// app. Its Authorize method makes it usable wherever an HTTP client asks for
// an authorizer (app/atlassian's Auth), so every product client shares this
// one adapter.
type TenantAuth struct {
	Signer  Signer
	BaseURL string // the tenant's baseUrl (Confluence's includes /wiki)
	Secret  []byte
}

// Authorize signs req; it refuses any origin other than the tenant's.
func (a TenantAuth) Authorize(req *http.Request) error {
	return a.Signer.Sign(req, a.BaseURL, a.Secret)
}
