package web

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/connect"
	"github.com/lapsehq/lapse/app/forge"
)

const reasonTenantInactive = "the app is not installed and enabled on this site"

// connectAuth authenticates a Connect HS256 token. mode decides the qsh
// rule: QSHExact for URLs Atlassian signs (iframes, webhooks), QSHContext for
// calls from the app's own front end, which must carry "context-qsh".
func (s *Server) connectAuth(mode connect.QSHMode) gin.HandlerFunc {
	return func(c *gin.Context) {
		caller, err := s.authenticateConnect(c.Request.Context(), c, mode)
		if err != nil {
			s.fail(c, err)
			return
		}
		withCaller(c, caller)
		c.Next()
	}
}

func (s *Server) authenticateConnect(ctx context.Context, c *gin.Context, mode connect.QSHMode) (*app.Caller, error) {
	token, err := connect.TokenFromRequest(c.Request)
	if err != nil {
		return nil, err
	}
	iss, err := connect.PeekIssuer(token)
	if err != nil {
		return nil, err
	}
	tenant, err := s.tenants.get(ctx, iss)
	if app.ErrorCode(err) == app.ENOTFOUND {
		return nil, unauthorized("unknown issuer")
	} else if err != nil {
		return nil, err
	}
	claims, err := s.tokens.VerifyHS256(token, tenant.SharedSecret, c.Request, s.basePath, mode)
	if err != nil {
		return nil, err
	}
	// The tenant was found by an unverified peek at iss; the verified claims
	// must name the same issuer.
	if claims.Issuer != tenant.ClientKey {
		return nil, unauthorized("issuer does not match clientKey")
	}
	// State is checked only after the signature, so an unauthenticated
	// caller learns nothing about an installation's state.
	if !tenant.State.Active() {
		return nil, unauthorized(reasonTenantInactive)
	}
	method := app.AuthConnectPage
	if mode == connect.QSHContext {
		method = app.AuthConnectContext
	}
	return &app.Caller{Tenant: tenant, AccountID: claims.AccountID(), Method: method}, nil
}

// forgeAuth authenticates a Forge invocation token for one of the routes
// Forge calls by itself, admits only the invocations route serves, and
// resolves (or creates) the tenant of the installation. It does not check
// the tenant's state: the installed event must reach a tenant that Connect
// marked uninstalled. Handlers check state themselves.
func (s *Server) forgeAuth(route forgeRoute) gin.HandlerFunc {
	return func(c *gin.Context) {
		caller, inv, err := s.authenticateForge(c.Request.Context(), c, route.admit)
		if err != nil {
			s.fail(c, err)
			return
		}
		c.Set("forge_invocation", inv)
		withCaller(c, caller)
		c.Next()
	}
}

// authenticateForge verifies the token, then lets admit (nil for none)
// refuse the invocation before any tenant is looked up or created.
func (s *Server) authenticateForge(ctx context.Context, c *gin.Context, admit func(*forge.Invocation) error) (*app.Caller, *forge.Invocation, error) {
	token, err := forge.BearerToken(c.Request)
	if err != nil {
		return nil, nil, err
	}
	inv, err := s.forge.Verify(ctx, token)
	if err != nil && !forge.IsAuthError(err) {
		// The JWKS could not be fetched: not the caller's fault, and Forge
		// retries events and triggers that fail with a 5xx.
		return nil, nil, &app.Error{Code: app.EUNAVAILABLE, Message: "could not fetch Forge signing keys; try again", Err: err}
	}
	if err != nil {
		return nil, nil, err
	}
	if admit != nil {
		if err := admit(inv); err != nil {
			return nil, nil, err
		}
	}
	tenant, err := s.store.ResolveForgeTenant(ctx, app.ForgeInstallation{
		InstallationID: inv.InstallationID(),
		CloudID:        inv.CloudID(),
		APIBaseURL:     inv.App.APIBaseURL,
		SiteURL:        siteURL(inv.Context),
		Product:        app.Product(inv.Product()),
	})
	if err != nil {
		return nil, nil, err
	}
	return &app.Caller{Tenant: tenant, AccountID: inv.Principal, Method: app.AuthForge}, inv, nil
}

// siteURL reads context.siteUrl of a UI invocation, when present and
// well-formed.
func siteURL(raw json.RawMessage) string {
	var ctx struct {
		SiteURL string `json:"siteUrl"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &ctx) != nil || !strings.HasPrefix(ctx.SiteURL, "https://") {
		return ""
	}
	return strings.TrimSuffix(ctx.SiteURL, "/")
}

func invocationOf(c *gin.Context) *forge.Invocation {
	inv, _ := c.Get("forge_invocation")
	v, _ := inv.(*forge.Invocation)
	return v
}

// apiAuth authenticates the JSON API: a Forge invocation token (Custom UI
// invokeRemote) when the request carries a Bearer token, otherwise a
// Connect context token. Either way the tenant must be active.
func (s *Server) apiAuth(c *gin.Context) {
	var caller *app.Caller
	var err error
	if isBearer(c.GetHeader("Authorization")) {
		caller, _, err = s.authenticateForge(c.Request.Context(), c, nil)
		if err == nil && !caller.Tenant.State.Active() {
			err = unauthorized(reasonTenantInactive)
		}
		if err == nil {
			err = s.keepSystemToken(c, caller.Tenant.ID)
		}
	} else {
		caller, err = s.authenticateConnect(c.Request.Context(), c, connect.QSHContext)
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	withCaller(c, caller)
	c.Next()
}

func isBearer(h string) bool {
	return len(h) > 7 && strings.EqualFold(h[:7], "bearer ")
}

// keepSystemToken stores the Forge system token a verified UI invocation
// carries, the freshest credential Lapse gets for a Forge-only tenant.
func (s *Server) keepSystemToken(c *gin.Context, tenantID string) error {
	st, ok := forge.SystemTokenFromRequest(c.Request, s.now())
	if !ok {
		return nil
	}
	return s.store.SaveSystemToken(c.Request.Context(), tenantID, &app.SystemToken{Token: st.Token, ExpiresAt: st.ExpiresAt})
}
