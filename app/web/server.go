// Package web is Lapse's HTTP surface and the one package that imports Gin:
// the Connect descriptor and lifecycle callbacks, Forge Remote endpoints,
// the admin page and the JSON API. Every route is listed in routes().
package web

import (
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lapsehq/lapse/app/connect"
	"github.com/lapsehq/lapse/app/forge"
	"github.com/lapsehq/lapse/app/store"
)

//go:embed templates/*.html
var templateFS embed.FS

// Config configures a Server. Zero values mean defaults where noted.
type Config struct {
	// BaseURL is the public URL of this deployment (LAPSE_BASE_URL). Its
	// path, if any, prefixes every route and is stripped before qsh checks.
	BaseURL string
	// AppKey is the Connect app key.
	AppKey string
	// AllowedHosts are host globs a tenant baseUrl may have ("*" matches one
	// DNS label).
	AllowedHosts []string
	// Leeway is the clock leeway for exp/nbf/iat checks.
	Leeway time.Duration
	// Store is the database.
	Store *store.Store
	// InstallKeys fetches signed-install public keys.
	InstallKeys connect.KeyFetcher
	// ForgeKeys provides Forge invocation token keys; nil refuses Forge.
	ForgeKeys forge.KeyProvider
	// ForgeAppARI is the expected FIT audience; "" refuses Forge.
	ForgeAppARI string
	// Logger; default slog.Default().
	Logger *slog.Logger
	// NowFunc is the clock; default time.Now.
	NowFunc func() time.Time
	// Version is reported by /healthz.
	Version string
	// SiteAdmins decides whether the calling account administers the site
	// (siteadmin.Checker). Every /api/v1 route except GET /tenant requires
	// it; nil answers those routes 501.
	SiteAdmins SiteAdminChecker
	// Scans queues scans and decides held ones (app/schedule); nil answers
	// POST /scans and approve/reject 501.
	Scans ScanController
	// Restorer restores removed access (app/scan); nil answers
	// POST /audit/{id}/restore 501.
	Restorer Restorer
	// DueScans queues a tenant's due scan when Forge's scheduled trigger
	// arrives (app/schedule); nil only records the trigger.
	DueScans DueScanTrigger
	// MailConfigured says whether warning e-mails can be sent (a mail relay,
	// LAPSE_SMTP_URL, is configured); without one, a policy with a warning
	// period is answered with a warning.
	MailConfigured bool
}

// Server serves Lapse's HTTP API.
type Server struct {
	cfg      Config
	basePath string
	store    *store.Store
	log      *slog.Logger
	now      func() time.Time
	hosts    hostAllowList
	tokens   connect.TokenVerifier
	installs *connect.InstallVerifier
	forge    *forge.Verifier
	pages    *template.Template
	engine   *gin.Engine
	tenants  *tenantCache
}

// New builds a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.InstallKeys == nil {
		return nil, errors.New("web: Store and InstallKeys are required")
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || u.Host == "" {
		return nil, errors.New("web: BaseURL must be an absolute URL")
	}
	s := &Server{cfg: cfg, basePath: strings.TrimSuffix(u.Path, "/"), store: cfg.Store, log: cfg.Logger, now: cfg.NowFunc}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = slog.New(requestAttrs{s.log.Handler()})
	if s.now == nil {
		s.now = time.Now
	}
	s.tenants = newTenantCache(s.store.FindTenantByClientKey, s.now)
	if s.hosts, err = newHostAllowList(cfg.AllowedHosts); err != nil {
		return nil, err
	}
	s.tokens = connect.TokenVerifier{Leeway: cfg.Leeway, NowFunc: s.now}
	s.installs = &connect.InstallVerifier{Keys: cfg.InstallKeys, Audience: cfg.BaseURL, Leeway: cfg.Leeway, NowFunc: s.now}
	forgeLeeway := cfg.Leeway
	if forgeLeeway == 0 {
		forgeLeeway = -1 // forge reads zero as "default"; Lapse's zero means none
	}
	s.forge = &forge.Verifier{Keys: cfg.ForgeKeys, Audience: cfg.ForgeAppARI, Leeway: forgeLeeway, NowFunc: s.now}
	if s.pages, err = template.ParseFS(templateFS, "templates/*.html"); err != nil {
		return nil, err
	}
	s.engine = s.routes()
	return s, nil
}

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler { return s.engine }

func init() { gin.SetMode(gin.ReleaseMode) }

// routes is the single route table. Routes that Atlassian calls directly
// (lifecycle, admin page iframe) verify the exact qsh of the request; routes
// that the app's own front end calls accept only context tokens.
func (s *Server) routes() *gin.Engine {
	e := gin.New()
	e.HandleMethodNotAllowed = true
	e.ContextWithFallback = true
	e.Use(s.requestID, s.recoverJSON, s.accessLog, securityHeaders)
	e.NoRoute(func(c *gin.Context) { s.fail(c, notFoundError()) })
	e.NoMethod(func(c *gin.Context) { s.fail(c, methodNotAllowedError()) })

	g := e.Group(s.basePath)
	g.GET("/healthz", s.handleHealth)
	g.GET("/readyz", s.handleReady)
	g.GET("/atlassian-connect.json", s.handleDescriptor)

	// Callbacks that change tenants clear the tenant cache once they have
	// succeeded, so this replica acts on the change at once.
	g.POST("/installed", s.limitBody, s.forgetTenantsAfter, s.handleInstalled)
	g.POST("/uninstalled", s.limitBody, s.forgetTenantsAfter, s.handleUninstalled)
	g.POST("/enabled", s.limitBody, s.forgetTenantsAfter, s.handleEnabled)
	g.POST("/disabled", s.limitBody, s.forgetTenantsAfter, s.handleDisabled)

	g.GET("/admin", s.connectAuth(connect.QSHExact), s.handleAdminPage)

	g.POST("/forge/events", s.limitBody, s.forgeAuth(forgeEventsRoute), s.forgetTenantsAfter, s.handleForgeEvent)
	g.POST("/forge/scheduled", s.limitBody, s.forgeAuth(forgeScheduledRoute), s.handleForgeScheduled)

	api := g.Group("/api/v1", s.apiAuth)
	api.GET("/tenant", s.handleTenantShow)

	// Administration: site administrators only (API.md documents each).
	admin := api.Group("", s.requireSiteAdmin)
	admin.GET("/org-connection", s.handleOrgConnectionShow)
	admin.PUT("/org-connection", s.handleOrgConnectionSave)
	admin.GET("/policy", s.handlePolicyShow)
	admin.PUT("/policy", s.handlePolicySave)
	admin.GET("/scans", s.handleScanList)
	admin.POST("/scans", s.handleScanCreate)
	admin.GET("/scans/:id", s.handleScanShow)
	admin.POST("/scans/:id/approve", s.handleScanApprove)
	admin.POST("/scans/:id/reject", s.handleScanReject)
	admin.POST("/scans/:id/cancel", s.handleScanCancel)
	admin.GET("/report", s.handleReportList)
	admin.GET("/report/export", s.handleReportExport)
	admin.GET("/audit", s.handleAuditList)
	admin.GET("/audit/export", s.handleAuditExport)
	admin.GET("/audit/verify", s.handleAuditVerify)
	admin.POST("/audit/:id/restore", s.handleAuditRestore)
	admin.GET("/warnings", s.handleWarningList)
	return e
}
