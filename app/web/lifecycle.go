package web

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/connect"
	"github.com/lapsehq/lapse/app/forge"
	"github.com/lapsehq/lapse/app/store"
)

// lifecyclePayload is the body Atlassian posts to every Connect lifecycle
// URL (PLATFORM.md §1.2). Deprecated fields are ignored.
type lifecyclePayload struct {
	Key            string `json:"key"`
	ClientKey      string `json:"clientKey"`
	SharedSecret   string `json:"sharedSecret"`
	BaseURL        string `json:"baseUrl"`
	DisplayURL     string `json:"displayUrl"`
	ProductType    string `json:"productType"`
	Description    string `json:"description"`
	OAuthClientID  string `json:"oauthClientId"`
	EventType      string `json:"eventType"`
	InstallationID string `json:"installationId"`

	// bodyHash is the hex SHA-256 of the body as received, which tells a
	// retried delivery of a signed token from a replay with another body.
	bodyHash string
}

const maxSharedSecretLen = 512

// readLifecycle parses and sanity-checks a lifecycle body for eventType.
func (s *Server) readLifecycle(c *gin.Context, eventType string) (*lifecyclePayload, error) {
	body, err := io.ReadAll(c.Request.Body)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, app.Errorf(codeTooLarge, "request body is too large")
	} else if err != nil {
		return nil, app.Errorf(app.EINVALID, "could not read the request body")
	}
	var p lifecyclePayload
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, app.Errorf(app.EINVALID, "request body is not a JSON lifecycle payload")
	}
	p.bodyHash = sha256Hex(body)
	switch {
	case p.EventType != eventType:
		return nil, app.Errorf(app.EINVALID, "eventType must be %q on this route", eventType)
	case p.Key != s.cfg.AppKey:
		return nil, app.Errorf(app.EINVALID, "payload is for app key %q, not this app", truncate(p.Key, 100))
	case strings.TrimSpace(p.ClientKey) == "":
		return nil, app.Errorf(app.EINVALID, "clientKey is required")
	case len(p.ClientKey) > 255:
		return nil, app.Errorf(app.EINVALID, "clientKey is too long")
	}
	return &p, nil
}

// verifySignedInstall authenticates installed/uninstalled: the baseUrl must
// be allowed before its host suffix selects Atlassian's key host, then the
// RS256 token is verified in full (PLATFORM.md §2). Refusals that an
// operator can fix (allow-list, key host) are logged with the baseUrl and
// the setting to change; the client only gets a safe reason.
func (s *Server) verifySignedInstall(ctx context.Context, c *gin.Context, p *lifecyclePayload) (*connect.Claims, string, error) {
	if err := s.hosts.check(p.BaseURL); err != nil {
		s.log.WarnContext(ctx, "signed "+p.EventType+" refused: baseUrl not allowed",
			"base_url", truncate(p.BaseURL, 200), "client_key", truncate(p.ClientKey, 100), "why", err.Error())
		return nil, "", unauthorized("baseUrl is not an allowed Atlassian site")
	}
	token, err := connect.TokenFromRequest(c.Request)
	if err != nil {
		return nil, "", err
	}
	claims, err := s.installs.VerifyInstall(ctx, c.Request, token, p.ClientKey, p.BaseURL)
	if err != nil && !connect.IsAuthError(err) {
		s.log.WarnContext(ctx, "signed "+p.EventType+" refused: install key host unreachable",
			"base_url", truncate(p.BaseURL, 200), "err", err, "fix", installKeysHint)
		// Not the caller's fault, and Atlassian lets the admin retry.
		return nil, "", &app.Error{Code: app.EUNAVAILABLE, Message: "could not fetch Atlassian's install signing key; try again", Err: err}
	}
	var ae *connect.AuthError
	if errors.As(err, &ae) && ae.Reason == connect.ReasonUnknownKey {
		s.log.WarnContext(ctx, "signed "+p.EventType+" refused: the install key host does not know the token's key",
			"base_url", truncate(p.BaseURL, 200), "err", err, "fix", installKeysHint)
	}
	return claims, token, err
}

// installKeysHint names the settings behind the key host choice.
const installKeysHint = "the key host is chosen from the baseUrl's domain (PLATFORM.md §2.2); " +
	"for a site that is not on an Atlassian domain set LAPSE_INSTALL_KEYS_URL to its key server"

// readSignedLifecycle reads an installed or uninstalled callback, verifies
// its signed-install token and identifies the delivery, so the store can
// let the token act once.
func (s *Server) readSignedLifecycle(c *gin.Context, eventType string) (*lifecyclePayload, *connect.Claims, store.SignedDelivery, error) {
	p, err := s.readLifecycle(c, eventType)
	if err != nil {
		return nil, nil, store.SignedDelivery{}, err
	}
	claims, token, err := s.verifySignedInstall(c.Request.Context(), c, p)
	if err != nil {
		return nil, nil, store.SignedDelivery{}, err
	}
	d := store.SignedDelivery{
		TokenHash: sha256Hex([]byte(token)),
		BodyHash:  p.bodyHash,
		// The token verifies until exp plus leeway; after that a replay
		// fails verification and need not be remembered.
		ExpiresAt: claims.ExpiresAt.Add(s.installs.Leeway),
	}
	return p, claims, d, nil
}

// errInstallTokenReused is the client's answer to a signed token replayed
// with another body: an authentication failure, so 401, not 409 (which
// Atlassian treats as "retry later").
var errInstallTokenReused = unauthorized("this signed lifecycle token was already used")

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func (s *Server) handleInstalled(c *gin.Context) {
	ctx := c.Request.Context()
	p, claims, delivery, err := s.readSignedLifecycle(c, "installed")
	if err != nil {
		s.fail(c, err)
		return
	}
	in, err := s.connectInstall(p, claims)
	if err != nil {
		s.fail(c, err)
		return
	}
	t, replayed, err := s.store.InstallConnectSigned(ctx, in, delivery)
	if errors.Is(err, store.ErrInstallTokenReused) {
		s.log.WarnContext(ctx, "signed installed refused: token replayed with another body", "client_key", p.ClientKey, "base_url", truncate(p.BaseURL, 200))
		s.fail(c, errInstallTokenReused)
		return
	} else if err != nil {
		s.fail(c, err)
		return
	}
	if replayed {
		// A retried delivery: it was acted on the first time.
		s.log.InfoContext(ctx, "connect installed: repeated delivery, no effect", "client_key", p.ClientKey)
		c.Status(http.StatusNoContent)
		return
	}
	s.log.InfoContext(ctx, "connect installed", "tenant_id", t.ID, "product", t.Product, "base_url", t.BaseURL)
	c.Status(http.StatusNoContent)
}

func (s *Server) connectInstall(p *lifecyclePayload, claims *connect.Claims) (app.ConnectInstall, error) {
	product := app.Product(p.ProductType)
	switch {
	case !product.Valid():
		return app.ConnectInstall{}, app.Errorf(app.EINVALID, "productType must be jira or confluence")
	case p.SharedSecret == "":
		return app.ConnectInstall{}, app.Errorf(app.EINVALID, "sharedSecret is required")
	case len(p.SharedSecret) > maxSharedSecretLen:
		return app.ConnectInstall{}, app.Errorf(app.EINVALID, "sharedSecret is too long")
	case p.DisplayURL != "" && !strings.HasPrefix(p.DisplayURL, "https://") && !strings.HasPrefix(p.DisplayURL, "http://"):
		return app.ConnectInstall{}, app.Errorf(app.EINVALID, "displayUrl must be an http(s) URL")
	}
	return app.ConnectInstall{
		ClientKey:      p.ClientKey,
		BaseURL:        strings.TrimSuffix(p.BaseURL, "/"),
		DisplayURL:     strings.TrimSuffix(p.DisplayURL, "/"),
		Product:        product,
		SharedSecret:   []byte(p.SharedSecret),
		OAuthClientID:  p.OAuthClientID,
		InstallationID: forge.NormalizeInstallationID(p.InstallationID),
		Description:    truncate(p.Description, 1000),
		ActorAccountID: claims.Subject,
	}, nil
}

func (s *Server) handleUninstalled(c *gin.Context) {
	ctx := c.Request.Context()
	p, claims, delivery, err := s.readSignedLifecycle(c, "uninstalled")
	if err != nil {
		s.fail(c, err)
		return
	}
	_, err = s.store.UninstallConnectSigned(ctx, p.ClientKey, app.Actor{Type: app.ActorInstaller, ID: claims.Subject}, delivery)
	if errors.Is(err, store.ErrInstallTokenReused) {
		s.log.WarnContext(ctx, "signed uninstalled refused: token replayed with another body", "client_key", p.ClientKey)
		s.fail(c, errInstallTokenReused)
		return
	}
	if err != nil && app.ErrorCode(err) != app.ENOTFOUND {
		s.fail(c, err)
		return
	}
	// An uninstall of a site Lapse never knew is answered like any other:
	// there is nothing to keep, and Atlassian must not retry it. A repeated
	// delivery is answered the same way, without effect.
	c.Status(http.StatusNoContent)
}

func (s *Server) handleEnabled(c *gin.Context)  { s.handleEnableState(c, "enabled", true) }
func (s *Server) handleDisabled(c *gin.Context) { s.handleEnableState(c, "disabled", false) }

// handleEnableState handles the enabled and disabled callbacks, which are
// HS256-signed with the tenant's shared secret and carry a real qsh.
func (s *Server) handleEnableState(c *gin.Context, eventType string, enabled bool) {
	ctx := c.Request.Context()
	p, err := s.readLifecycle(c, eventType)
	if err != nil {
		s.fail(c, err)
		return
	}
	tenant, err := s.store.FindTenantByClientKey(ctx, p.ClientKey)
	if app.ErrorCode(err) == app.ENOTFOUND {
		s.fail(c, unauthorized("unknown clientKey"))
		return
	} else if err != nil {
		s.fail(c, err)
		return
	}
	// Atlassian may send disabled after uninstalled, sometimes without a JWT
	// (AC-2561). Nothing about an uninstalled tenant can change, so it is
	// acknowledged without authentication and without effect.
	if tenant.State == app.TenantUninstalled {
		c.Status(http.StatusNoContent)
		return
	}
	claims, err := s.verifyLifecycleToken(c, tenant)
	if err != nil {
		s.fail(c, err)
		return
	}
	if _, err := s.store.SetTenantEnabled(ctx, tenant.ID, enabled, app.Actor{Type: app.ActorAtlassian, ID: claims.AccountID()}); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (s *Server) verifyLifecycleToken(c *gin.Context, tenant *app.Tenant) (*connect.Claims, error) {
	token, err := connect.TokenFromRequest(c.Request)
	if err != nil {
		return nil, err
	}
	claims, err := s.tokens.VerifyHS256(token, tenant.SharedSecret, c.Request, s.basePath, connect.QSHExact)
	if err != nil {
		return nil, err
	}
	if claims.Issuer != tenant.ClientKey {
		return nil, unauthorized("issuer does not match clientKey")
	}
	return claims, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
