package devsite

import (
	"encoding/json"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/lapsehq/lapse/app/connect"
)

// The APIs the simulated site serves.
const (
	APIAdmin      = "admin"      // organization Admin API (org API key)
	APIJira       = "jira"       // Jira platform REST, per site
	APIConfluence = "confluence" // Confluence REST, per site
	APIPrivacy    = "privacy"    // personal data reporting (app credentials)
)

// Caller kinds: who authenticated a request.
const (
	CallerOrgKey  = "org-api-key"
	CallerConnect = "connect"
	CallerForge   = "forge-system"
)

// Connect scopes an endpoint needs, from the x-atlassian-connect-scope of
// Atlassian's published spec. Inaccessible endpoints refuse every Connect
// token, whatever its scopes.
const (
	ScopeRead         = "READ"
	ScopeAdmin        = "ADMIN"
	ScopeInaccessible = "INACCESSIBLE"
)

// Config configures a simulated site.
type Config struct {
	Params  Params           // the generated population
	Host    *Host            // the signing host; NewServer makes one when nil
	NowFunc func() time.Time // default time.Now
	Logger  *slog.Logger     // default: discard
}

// Server serves the simulated Atlassian site: the Admin API, Jira and
// Confluence REST for every site of the org, the personal-data reporting
// API, the install-key and Forge JWKS hosts, and a loopback-only control API.
type Server struct {
	mu      sync.Mutex // guards everything below, and the Org
	org     *Org
	params  Params
	baseURL string
	rng     *rand.Rand
	faults  FaultConfig
	limits  LimitConfig
	limiter *limiterState
	ledger  []LedgerEntry
	stats   map[string]*EndpointStats
	// adminBehavior plays Atlassian's unpublished or disputed Admin API
	// behaviours (cursor lifetime, productAccess support).
	adminBehavior AdminBehavior
	// installs are the Connect installations of apps into sites, by
	// installKey; forgeTokens the system tokens the site minted.
	installs    map[string]*siteInstall
	forgeTokens map[string]*forgeInstall

	host *Host
	now  func() time.Time
	log  *slog.Logger
	mux  *http.ServeMux
}

// siteInstall is an app installed into one product of one site.
type siteInstall struct {
	Site     *Site
	Product  string // "jira" or "confluence"
	AppKey   string
	Scopes   []string // Connect scopes from the app's descriptor
	Install  *Installation
	LapseURL string
}

// forgeInstall is what a Forge system token stands for.
type forgeInstall struct {
	Site           *Site
	Product        string
	InstallationID string
	Expires        time.Time
}

func installKey(site, product, appKey string) string { return site + "|" + product + "|" + appKey }

// EndpointStats counts requests and points of one endpoint.
type EndpointStats struct {
	Requests int64            `json:"requests"`
	Points   int64            `json:"points"`
	Statuses map[string]int64 `json:"statuses"`
}

// NewServer generates the org from cfg.Params and builds the handler.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Host == nil {
		h, err := NewHost()
		if err != nil {
			return nil, err
		}
		cfg.Host = h
	}
	s := &Server{host: cfg.Host, now: cfg.NowFunc, log: cfg.Logger}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.reset(cfg.Params)
	s.mux = http.NewServeMux()
	s.routes()
	return s, nil
}

// reset regenerates the population and clears ledger, counters, faults and
// limits state. Installations survive a reset: Lapse stays installed.
func (s *Server) reset(p Params) {
	p = p.withDefaults(s.now())
	s.params = p
	s.org = Generate(p)
	s.rng = rand.New(rand.NewPCG(uint64(p.Seed), 0x1a95e))
	s.ledger = nil
	s.stats = map[string]*EndpointStats{}
	s.limiter = newLimiterState()
	if s.installs == nil {
		s.installs = map[string]*siteInstall{}
		s.forgeTokens = map[string]*forgeInstall{}
	}
}

// SetBaseURL tells the server the URL it is reachable at (the product base
// URLs it hands out are built from it).
func (s *Server) SetBaseURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.baseURL = strings.TrimSuffix(u, "/")
}

// BaseURL is the URL the server is reachable at.
func (s *Server) BaseURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.baseURL
}

// Host returns the signing host of the site.
func (s *Server) Host() *Host { return s.host }

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler { return s.mux }

// WithOrg runs fn with the org locked, for tests and tools that inspect or
// change the population directly.
func (s *Server) WithOrg(fn func(*Org)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s.org)
}

// SiteURL returns the base URL of a product on a site, as Connect installs
// report it: /s/<site> for Jira, /s/<site>/wiki for Confluence.
func (s *Server) SiteURL(site, product string) string {
	u := s.BaseURL() + "/s/" + site
	if product == "confluence" {
		u += "/wiki"
	}
	return u
}

// call is what the middleware knows about one API request.
type call struct {
	API      string
	Endpoint string // the route pattern, e.g. "GET /rest/api/3/group/member"
	Site     *Site  // product APIs only
	Product  string // "jira" or "confluence" for product APIs
	Caller   caller
	Write    bool
	// Objects is set by the handler: the identity objects (users, groups,
	// permissions) the response carries, for the points model.
	Objects int
	// Applied is set by a write handler when it changed state, so a fault
	// that drops the answer afterwards still leaves the change in place.
	Applied bool
}

type caller struct {
	Kind   string // CallerOrgKey, CallerConnect, CallerForge
	ID     string // app key, or key id
	Tenant string // the app tenant the points are charged to (site|product|app)
	Scopes []string
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, c *call)

// routes registers every endpoint. Each API's file adds its own routes.
func (s *Server) routes() {
	s.mux.Handle("GET "+KeysPath+"/{kid}", s.host.Handler())
	s.mux.Handle("GET "+ForgeJWKSURI, s.host.Handler())
	s.adminRoutes()
	s.jiraRoutes()
	s.confluenceRoutes()
	s.privacyRoutes()
	s.controlRoutes()
}

// adminRoute registers an Admin API endpoint (org API key only).
func (s *Server) adminRoute(pattern string, h handlerFunc) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		c := &call{API: APIAdmin, Endpoint: pattern, Write: isWrite(r.Method)}
		s.serve(w, r, c, h)
	})
}

// productRoute registers a Jira or Confluence endpoint twice: under the
// site URL (/s/{site}, Connect) and under the Forge API gateway
// (/ex/<product>/{cloudId}). path is the product path, e.g.
// "/rest/api/3/group/member" or "/wiki/rest/api/group"; scope is the Connect
// scope the endpoint needs.
func (s *Server) productRoute(product, method, path, scope string, h handlerFunc) {
	endpoint := method + " " + path
	serve := func(w http.ResponseWriter, r *http.Request, site *Site) {
		c := &call{API: product, Endpoint: endpoint, Site: site, Product: product, Write: isWrite(method)}
		if site == nil {
			writeProductError(w, product, http.StatusNotFound, "Site not found.")
			return
		}
		if !s.authProduct(w, r, c, scope) {
			return
		}
		s.serve(w, r, c, h)
	}
	s.mux.HandleFunc(method+" /s/{site}"+path, func(w http.ResponseWriter, r *http.Request) {
		serve(w, r, s.lockedSite(func(o *Org) *Site { return o.SiteByName(r.PathValue("site")) }))
	})
	s.mux.HandleFunc(method+" /ex/"+product+"/{cloudId}"+path, func(w http.ResponseWriter, r *http.Request) {
		serve(w, r, s.lockedSite(func(o *Org) *Site { return o.SiteByCloudID(r.PathValue("cloudId")) }))
	})
}

func (s *Server) lockedSite(fn func(*Org) *Site) *Site {
	s.mu.Lock()
	defer s.mu.Unlock()
	return fn(s.org)
}

// serve runs the shared pipeline of an API request: admin authentication,
// rate limits and budgets, fault injection around the handler, accounting.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, c *call, h handlerFunc) {
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	defer func() { s.count(c, rec.status) }()
	if c.API == APIAdmin && !s.authAdmin(rec, r, c) {
		return
	}
	if !s.admit(rec, r, c) {
		return
	}
	s.withFaults(rec, r, c, func(w http.ResponseWriter) {
		h(w, r, c)
	})
	s.account(c, rec.status)
}

func isWrite(method string) bool {
	return method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch || method == http.MethodDelete
}

func (s *Server) count(c *call, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats[c.Endpoint]
	if st == nil {
		st = &EndpointStats{Statuses: map[string]int64{}}
		s.stats[c.Endpoint] = st
	}
	st.Requests++
	st.Statuses[http.StatusText(status)]++
}

// authAdmin accepts only the org API key as a Bearer token. Connect and
// Forge credentials do not reach the Admin API.
func (s *Server) authAdmin(w http.ResponseWriter, r *http.Request, c *call) bool {
	tok, ok := bearer(r)
	s.mu.Lock()
	valid := ok && tok == s.org.APIKey
	s.mu.Unlock()
	if !valid {
		writeAdminError(w, http.StatusUnauthorized, "unauthorized", "The API key is missing, invalid or expired.")
		return false
	}
	c.Caller = caller{Kind: CallerOrgKey, ID: "org-key:" + s.org.ID}
	return true
}

// authProduct authenticates a Jira/Confluence request: a Connect JWT signed
// with the installation's shared secret over the exact qsh, or a Forge
// system token the site minted. The org API key is refused: it reaches only
// the Admin API.
func (s *Server) authProduct(w http.ResponseWriter, r *http.Request, c *call, scope string) bool {
	h := r.Header.Get("Authorization")
	switch {
	case strings.HasPrefix(h, "JWT "):
		return s.authConnect(w, r, c, strings.TrimPrefix(h, "JWT "), scope)
	case strings.HasPrefix(h, "Bearer "):
		return s.authForge(w, c, strings.TrimPrefix(h, "Bearer "))
	}
	writeProductError(w, c.Product, http.StatusUnauthorized, "Client must be authenticated to access this resource.")
	return false
}

func (s *Server) authConnect(w http.ResponseWriter, r *http.Request, c *call, token, scope string) bool {
	fail := func(status int, msg string) bool {
		writeProductError(w, c.Product, status, msg)
		return false
	}
	iss, err := connect.PeekIssuer(token)
	if err != nil {
		return fail(http.StatusUnauthorized, "Invalid JWT.")
	}
	s.mu.Lock()
	in := s.installs[installKey(c.Site.Name, c.Product, iss)]
	s.mu.Unlock()
	if in == nil {
		return fail(http.StatusUnauthorized, "No app installed with this key on this site.")
	}
	basePath := "/s/" + c.Site.Name
	if c.Product == APIConfluence {
		basePath += "/wiki"
	}
	if strings.HasPrefix(r.URL.Path, "/ex/") {
		return fail(http.StatusUnauthorized, "Connect JWTs are accepted on the site URL only.")
	}
	claims := jwt.MapClaims{}
	_, err = jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithIssuedAt()).
		ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return []byte(in.Install.SharedSecret), nil })
	if err != nil {
		return fail(http.StatusUnauthorized, "JWT signature or claims are invalid.")
	}
	if qsh, _ := claims["qsh"].(string); qsh != connect.RequestQSH(r, basePath) {
		return fail(http.StatusUnauthorized, "JWT query string hash does not match the request.")
	}
	switch {
	case scope == ScopeInaccessible:
		return fail(http.StatusForbidden, "This resource is not available to Connect apps.")
	case !hasScope(in.Scopes, scope):
		return fail(http.StatusForbidden, "The app's scopes do not allow this request; it needs "+scope+".")
	}
	c.Caller = caller{Kind: CallerConnect, ID: iss, Tenant: installKey(c.Site.Name, c.Product, iss), Scopes: in.Scopes}
	return true
}

// scopeOrder ranks Connect scopes: each implies those below it.
var scopeOrder = map[string]int{"READ": 1, "WRITE": 2, "DELETE": 3, "PROJECT_ADMIN": 4, "SPACE_ADMIN": 4, "ADMIN": 5}

func hasScope(granted []string, need string) bool {
	for _, g := range granted {
		if scopeOrder[strings.ToUpper(g)] >= scopeOrder[need] {
			return true
		}
	}
	return false
}

func (s *Server) authForge(w http.ResponseWriter, c *call, token string) bool {
	s.mu.Lock()
	fi := s.forgeTokens[token]
	orgKey := s.org.APIKey
	s.mu.Unlock()
	switch {
	case token == orgKey:
		writeProductError(w, c.Product, http.StatusUnauthorized, "Organization API keys are accepted by the Admin API only.")
		return false
	case fi == nil || fi.Site != c.Site || fi.Product != c.Product:
		writeProductError(w, c.Product, http.StatusUnauthorized, "The token is not valid for this site.")
		return false
	case s.now().After(fi.Expires):
		writeProductError(w, c.Product, http.StatusUnauthorized, "The token has expired.")
		return false
	}
	c.Caller = caller{Kind: CallerForge, ID: fi.InstallationID, Tenant: c.Site.Name + "|" + c.Product + "|forge:" + fi.InstallationID}
	return true
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return h[7:], true
	}
	return "", false
}

// writeJSON writes v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeAdminError writes the Admin API error shape.
func writeAdminError(w http.ResponseWriter, status int, code, detail string) {
	writeJSON(w, status, map[string]any{"errors": []map[string]any{{
		"id": randomHex(8), "status": http.StatusText(status), "code": code, "title": http.StatusText(status), "detail": detail,
	}}})
}

// writeProductError writes Jira's ErrorCollection, or Confluence's v1 error.
func writeProductError(w http.ResponseWriter, product string, status int, msg string) {
	if product == APIConfluence {
		writeJSON(w, status, map[string]any{"statusCode": status, "message": msg, "data": map[string]any{"authorized": status != 401 && status != 403, "valid": false, "errors": []any{}}})
		return
	}
	writeJSON(w, status, map[string]any{"errorMessages": []string{msg}, "errors": map[string]any{}})
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (fault
// injection hijacks it to drop answers).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Stats returns a copy of the per-endpoint request, status and points
// counters.
func (s *Server) Stats() map[string]EndpointStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]EndpointStats, len(s.stats))
	for k, v := range s.stats {
		st := *v
		st.Statuses = maps.Clone(v.Statuses)
		out[k] = st
	}
	return out
}
