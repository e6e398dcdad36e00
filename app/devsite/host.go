// Package devsite simulates the Atlassian side of Lapse for development,
// tests and benchmarks: it plays the host that installs the app (signed
// installs with its own RSA key and key server, HS256 iframe and context
// tokens, Forge invocation tokens from its own JWKS).
package devsite

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/lapsehq/lapse/app/connect"
	"github.com/lapsehq/lapse/app/forge/forgetest"
)

// Paths served by Host.Handler.
const (
	KeysPath     = "/connect-keys"               // + "/<kid>": signed-install public keys
	ForgeJWKSURI = "/forge" + forgetest.JWKSPath // Forge invocation-token key set
)

// Host signs like Atlassian: RS256 signed installs with a kid whose public
// key it serves, HS256 tokens with each site's shared secret, and Forge
// invocation tokens.
type Host struct {
	// Client sends lifecycle callbacks; default: 10 s timeout.
	Client *http.Client
	// NowFunc is the clock; default time.Now.
	NowFunc func() time.Time

	key   *rsa.PrivateKey
	kid   string
	pem   []byte
	Forge *forgetest.Issuer
}

// NewHost makes a host with fresh keys.
func NewHost() (*Host, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	iss, err := forgetest.NewStandaloneIssuer()
	if err != nil {
		return nil, err
	}
	return &Host{
		Client: &http.Client{Timeout: 10 * time.Second},
		key:    key,
		kid:    "devsite-" + randomHex(8),
		pem:    pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}),
		Forge:  iss,
	}, nil
}

// KID is the key id of the signed-install key.
func (h *Host) KID() string { return h.kid }

// PrivateKeyPEM returns the signed-install private key (PKCS#8), for
// cross-checks with other signing libraries.
func (h *Host) PrivateKeyPEM() []byte {
	der, _ := x509.MarshalPKCS8PrivateKey(h.key)
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// Handler serves the install key at KeysPath/<kid> and the Forge JWKS at
// ForgeJWKSURI. Point LAPSE_INSTALL_KEYS_URL at <host>+KeysPath and
// LAPSE_FORGE_JWKS_URL at <host>+ForgeJWKSURI.
func (h *Host) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+KeysPath+"/{kid}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("kid") != h.kid {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, _ = w.Write(h.pem)
	})
	mux.Handle("GET "+ForgeJWKSURI, http.StripPrefix("/forge", h.Forge.Handler()))
	return mux
}

func (h *Host) now() time.Time {
	if h.NowFunc != nil {
		return h.NowFunc()
	}
	return time.Now()
}

// App is the Lapse deployment a host talks to.
type App struct {
	BaseURL string // LAPSE_BASE_URL
	Key     string // LAPSE_APP_KEY
}

// Installation is one Connect installation of the app into a site, as the
// host sees it.
type Installation struct {
	ClientKey      string
	BaseURL        string
	Product        string // "jira" or "confluence"
	SharedSecret   string
	OAuthClientID  string
	InstallationID string // set for Connect on Forge
}

// NewInstallation returns an installation with a fresh clientKey and
// shared secret.
func NewInstallation(baseURL, product string) *Installation {
	return &Installation{
		ClientKey:     randomUUID(),
		BaseURL:       strings.TrimSuffix(baseURL, "/"),
		Product:       product,
		SharedSecret:  base64.RawURLEncoding.EncodeToString(randomBytes(32)),
		OAuthClientID: randomHex(16),
	}
}

// RotateSecret gives the site a new shared secret, as Atlassian does on some
// reinstalls; the next Install sends it.
func (s *Installation) RotateSecret() {
	s.SharedSecret = base64.RawURLEncoding.EncodeToString(randomBytes(32))
}

// InstallToken signs an RS256 lifecycle token for a request to path (under
// the app base URL), as Atlassian does with signed-install.
func (h *Host) InstallToken(app App, method, path string, site *Installation, accountID string) (string, error) {
	now := h.now()
	claims := jwt.MapClaims{
		"iss": site.ClientKey,
		"aud": []string{app.BaseURL},
		"iat": now.Unix(),
		"exp": now.Add(3 * time.Minute).Unix(),
		"qsh": connect.QueryStringHash(method, basePath(app.BaseURL)+path, "", basePath(app.BaseURL)),
	}
	if accountID != "" {
		claims["sub"] = accountID
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = h.kid
	return tok.SignedString(h.key)
}

// LifecyclePayload is the body of a lifecycle callback.
func LifecyclePayload(app App, site *Installation, event string) map[string]any {
	p := map[string]any{
		"key": app.Key, "clientKey": site.ClientKey, "baseUrl": site.BaseURL,
		"displayUrl": site.BaseURL, "productType": site.Product, "description": "Simulated " + site.Product + " site",
		"eventType": event, "oauthClientId": site.OAuthClientID,
	}
	if event == "installed" {
		p["sharedSecret"] = site.SharedSecret
	}
	if site.InstallationID != "" {
		p["installationId"] = "ari:cloud:ecosystem::installation/" + site.InstallationID
	}
	return p
}

// Install performs a signed install of site into app.
func (h *Host) Install(ctx context.Context, app App, site *Installation, accountID string) error {
	return h.signedLifecycle(ctx, app, site, "installed", accountID)
}

// Uninstall performs a signed uninstall.
func (h *Host) Uninstall(ctx context.Context, app App, site *Installation, accountID string) error {
	return h.signedLifecycle(ctx, app, site, "uninstalled", accountID)
}

func (h *Host) signedLifecycle(ctx context.Context, app App, site *Installation, event, accountID string) error {
	tok, err := h.InstallToken(app, http.MethodPost, "/"+event, site, accountID)
	if err != nil {
		return err
	}
	return h.post(ctx, app.BaseURL+"/"+event, "JWT "+tok, LifecyclePayload(app, site, event))
}

// SetEnabled sends the enabled or disabled callback, HS256-signed with the
// site's shared secret.
func (h *Host) SetEnabled(ctx context.Context, app App, site *Installation, enabled bool) error {
	event := "disabled"
	if enabled {
		event = "enabled"
	}
	tok, err := h.PageToken(app, site, http.MethodPost, "/"+event, nil, "")
	if err != nil {
		return err
	}
	return h.post(ctx, app.BaseURL+"/"+event, "JWT "+tok, LifecyclePayload(app, site, event))
}

func (h *Host) post(ctx context.Context, target, auth string, body any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", auth)
	resp, err := h.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("%s answered %d: %s", target, resp.StatusCode, bytes.TrimSpace(msg))
	}
	return nil
}

// PageToken signs an HS256 token for a request to path?query under the app
// base URL, with the exact qsh, as Atlassian signs iframe URLs.
func (h *Host) PageToken(app App, site *Installation, method, path string, query url.Values, accountID string) (string, error) {
	bp := basePath(app.BaseURL)
	qsh := connect.QueryStringHash(method, bp+path, query.Encode(), bp)
	return h.hs256(site, qsh, accountID, 3*time.Minute)
}

// PageURL returns the full URL Atlassian would load in the admin-page
// iframe: the page with its context parameters and a jwt parameter.
func (h *Host) PageURL(app App, site *Installation, path string, query url.Values, accountID string) (string, error) {
	tok, err := h.PageToken(app, site, http.MethodGet, path, query, accountID)
	if err != nil {
		return "", err
	}
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	q.Set("jwt", tok)
	return app.BaseURL + path + "?" + q.Encode(), nil
}

// ContextToken returns what AP.context.getToken() gives the app's front
// end: an HS256 token whose qsh is the literal "context-qsh".
func (h *Host) ContextToken(site *Installation, accountID string, ttl time.Duration) (string, error) {
	return h.hs256(site, connect.ContextQSH, accountID, ttl)
}

func (h *Host) hs256(site *Installation, qsh, accountID string, ttl time.Duration) (string, error) {
	now := h.now()
	claims := jwt.MapClaims{"iss": site.ClientKey, "iat": now.Unix(), "exp": now.Add(ttl).Unix(), "qsh": qsh}
	if accountID != "" {
		claims["sub"] = accountID
		claims["context"] = map[string]any{"user": map[string]any{"accountId": accountID}}
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(site.SharedSecret))
}

// ForgeToken mints a Forge invocation token for the site's installation,
// with the host's Forge app id as audience.
func (h *Host) ForgeToken(site *Installation, cloudID, principal string) (string, error) {
	return h.Forge.MintToken(forgetest.Claims{
		InstallationID: "ari:cloud:ecosystem::installation/" + site.InstallationID,
		APIBaseURL:     "https://api.atlassian.com/ex/" + site.Product + "/" + cloudID,
		Principal:      principal,
		Context:        map[string]any{"cloudId": cloudID, "siteUrl": site.BaseURL},
	})
}

// ForgeAppID is the app ARI Lapse must expect (LAPSE_FORGE_APP_ID).
func (h *Host) ForgeAppID() string { return h.Forge.AppID }

func basePath(baseURL string) string {
	u, err := url.Parse(baseURL)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(u.Path, "/")
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func randomHex(n int) string { return hex.EncodeToString(randomBytes(n)) }

func randomUUID() string {
	b := randomBytes(16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
