package devsite

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lapsehq/lapse/app/forge"
	"github.com/lapsehq/lapse/app/forge/forgetest"
)

// ControlPrefix is the path prefix of the control API.
const ControlPrefix = "/_devsite/"

// forgeSystemTokenTTL is the lifetime of the Forge system tokens the site
// mints, like Atlassian's (about an hour).
const forgeSystemTokenTTL = time.Hour

// offsetClock is the site clock: the configured clock plus an offset that
// POST /_devsite/clock moves forward, so hourly quota resets and token
// expiry can be tested without waiting.
type offsetClock struct {
	base   func() time.Time
	offset atomic.Int64 // nanoseconds
}

func (c *offsetClock) now() time.Time { return c.base().Add(time.Duration(c.offset.Load())) }

// control serves the control API of one Server.
type control struct {
	s     *Server
	clock *offsetClock
}

// controlRoutes installs the offset clock and registers the loopback-only
// control API.
func (s *Server) controlRoutes() {
	ct := &control{s: s, clock: &offsetClock{base: s.now}}
	s.now = ct.clock.now
	routes := []struct {
		pattern string
		h       http.HandlerFunc
	}{
		{"POST /_devsite/reset", ct.handleReset},
		{"GET /_devsite/org", ct.handleOrg},
		{"GET /_devsite/faults", ct.handleFaultsShow},
		{"PUT /_devsite/faults", ct.handleFaultsUpdate},
		{"PATCH /_devsite/faults", ct.handleFaultsUpdate},
		{"GET /_devsite/limits", ct.handleLimitsShow},
		{"PUT /_devsite/limits", ct.handleLimitsUpdate},
		{"PATCH /_devsite/limits", ct.handleLimitsUpdate},
		{"GET /_devsite/ledger", ct.handleLedger},
		{"GET /_devsite/stats", ct.handleStats},
		{"GET /_devsite/clock", ct.handleClockShow},
		{"POST /_devsite/clock", ct.handleClockAdvance},
		{"POST /_devsite/install", ct.handleInstall},
		{"POST /_devsite/trigger", ct.handleTrigger},
		{ControlPrefix, func(w http.ResponseWriter, r *http.Request) {
			controlError(w, http.StatusNotFound, "no such control route or method; see app/devsite/README.md")
		}},
	}
	for _, rt := range routes {
		s.mux.HandleFunc(rt.pattern, func(w http.ResponseWriter, r *http.Request) {
			if why := refuseControl(r); why != "" {
				controlError(w, http.StatusForbidden, why)
				return
			}
			rt.h(w, r)
		})
	}
}

// refuseControl says why a request may not use the control API, or "".
// Only processes on this machine may drive the site: the caller must be on
// a loopback address, not behind a proxy, and name a loopback host (a web
// page that rebinds its DNS name to 127.0.0.1 sends its own name), and a
// browser must not be sending it from another site.
func refuseControl(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return "the control API answers loopback callers only"
	}
	if r.Header.Get("Forwarded") != "" || r.Header.Get("X-Forwarded-For") != "" {
		return "the control API does not answer proxied requests"
	}
	if !isLoopbackHost(hostOnly(r.Host)) {
		return "the control API answers requests to localhost or a loopback address only"
	}
	if o := r.Header.Get("Origin"); o != "" {
		if u, err := url.Parse(o); err != nil || !isLoopbackHost(u.Hostname()) {
			return "the control API refuses cross-site browser requests"
		}
	}
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return "the control API refuses cross-site browser requests"
	}
	return ""
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}

func isLoopbackHost(h string) bool {
	h = strings.ToLower(h)
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func controlError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// readControlJSON decodes an optional JSON body into v, refusing unknown
// fields so that a misspelt setting is an error rather than a no-op.
func readControlJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("invalid JSON body: %w", err)
	}
	return nil
}

// handleReset regenerates the org from the Params in the body (omitted
// fields take their defaults); an empty body regenerates it with the
// current Params. Ledger, statistics and limiter state start afresh;
// installations, fault and limit settings and the clock are kept.
func (ct *control) handleReset(w http.ResponseWriter, r *http.Request) {
	s := ct.s
	var p *Params // nil when the body is empty
	if err := readControlJSON(r, &p); err != nil {
		controlError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	if p == nil {
		cur := s.params
		cur.Now = time.Time{}
		p = &cur
	}
	s.reset(*p)
	// Installations outlive the org they were made in: point them at the
	// new org's site of the same name (nil when it has none).
	for _, in := range s.installs {
		if in.Site != nil {
			in.Site = s.org.SiteByName(in.Site.Name)
		}
	}
	for _, fi := range s.forgeTokens {
		if fi.Site != nil {
			fi.Site = s.org.SiteByName(fi.Site.Name)
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, ct.summary())
}

// orgSummary is what GET /_devsite/org returns.
type orgSummary struct {
	OrgID       string           `json:"orgId"`
	OrgName     string           `json:"orgName"`
	APIKey      string           `json:"apiKey"`
	DirectoryID string           `json:"directoryId"`
	AdminAPIURL string           `json:"adminApiUrl"`
	Sites       []siteSummary    `json:"sites"`
	Users       int              `json:"users"`
	Groups      int              `json:"groups"`
	Params      Params           `json:"params"`
	Installs    []installSummary `json:"installs"`
}

type siteSummary struct {
	Name          string           `json:"name"`
	CloudID       string           `json:"cloudId"`
	JiraURL       string           `json:"jiraUrl,omitempty"`
	ConfluenceURL string           `json:"confluenceUrl,omitempty"`
	Products      []productSummary `json:"products"`
}

type productSummary struct {
	Key string `json:"key"`
	ARI string `json:"ari"`
}

type installSummary struct {
	Site           string   `json:"site"`
	Product        string   `json:"product"`
	AppKey         string   `json:"appKey"`
	ClientKey      string   `json:"clientKey"`
	BaseURL        string   `json:"baseUrl"`
	InstallationID string   `json:"installationId,omitempty"`
	LapseURL       string   `json:"lapseUrl"`
	Scopes         []string `json:"scopes"`
}

func (ct *control) handleOrg(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, ct.summary())
}

func (ct *control) summary() orgSummary {
	s := ct.s
	s.mu.Lock()
	o := s.org
	sum := orgSummary{
		OrgID: o.ID, OrgName: o.Name, APIKey: o.APIKey, DirectoryID: o.DirectoryID, AdminAPIURL: s.baseURL,
		Users: len(o.Users), Groups: len(o.Groups), Params: s.params,
	}
	for _, site := range o.Sites {
		ss := siteSummary{Name: site.Name, CloudID: site.CloudID}
		for _, p := range site.Products {
			ss.Products = append(ss.Products, productSummary{Key: p, ARI: ProductARI(p, site.CloudID)})
		}
		sum.Sites = append(sum.Sites, ss)
	}
	for _, in := range s.installs {
		name := "(removed by a reset)"
		if in.Site != nil {
			name = in.Site.Name
		}
		sum.Installs = append(sum.Installs, installSummary{
			Site: name, Product: in.Product, AppKey: in.AppKey, ClientKey: in.Install.ClientKey, BaseURL: in.Install.BaseURL,
			InstallationID: in.Install.InstallationID, LapseURL: in.LapseURL, Scopes: in.Scopes,
		})
	}
	sites := o.Sites
	s.mu.Unlock()
	slices.SortFunc(sum.Installs, func(a, b installSummary) int { return compare(a.BaseURL+a.AppKey, b.BaseURL+b.AppKey) })
	for i, site := range sites {
		if site.HasProduct(ProductJiraSoftware) || site.HasProduct(ProductJSM) {
			sum.Sites[i].JiraURL = s.SiteURL(site.Name, APIJira)
		}
		if site.HasProduct(ProductConfluence) {
			sum.Sites[i].ConfluenceURL = s.SiteURL(site.Name, APIConfluence)
		}
	}
	return sum
}

func (ct *control) handleFaultsShow(w http.ResponseWriter, r *http.Request) {
	ct.s.mu.Lock()
	cfg := ct.s.faults.withDefaults()
	ct.s.mu.Unlock()
	writeJSON(w, http.StatusOK, cfg)
}

// handleFaultsUpdate replaces (PUT: omitted fields take defaults) or
// merges into (PATCH) the fault settings.
func (ct *control) handleFaultsUpdate(w http.ResponseWriter, r *http.Request) {
	s := ct.s
	var cfg FaultConfig
	if r.Method == http.MethodPatch {
		s.mu.Lock()
		cur := s.faults
		s.mu.Unlock()
		cur.Seed = nil // a patch reseeds only when it names a seed
		if err := deepCopy(cur, &cfg); err != nil {
			controlError(w, http.StatusInternalServerError, err.Error())
			return
		}
	}
	if err := readControlJSON(r, &cfg); err != nil {
		controlError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := cfg.validate(); err != nil {
		controlError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	s.setFaults(cfg)
	out := s.faults.withDefaults()
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (ct *control) handleLimitsShow(w http.ResponseWriter, r *http.Request) {
	ct.s.mu.Lock()
	cfg := ct.s.limits.withDefaults()
	ct.s.mu.Unlock()
	writeJSON(w, http.StatusOK, cfg)
}

// handleLimitsUpdate replaces (PUT: omitted fields take defaults) or
// merges into (PATCH) the limits. Points already used this hour stay used.
func (ct *control) handleLimitsUpdate(w http.ResponseWriter, r *http.Request) {
	s := ct.s
	var cfg LimitConfig
	if r.Method == http.MethodPatch {
		s.mu.Lock()
		cur := s.limits
		s.mu.Unlock()
		if err := deepCopy(cur, &cfg); err != nil {
			controlError(w, http.StatusInternalServerError, err.Error())
			return
		}
	}
	if err := readControlJSON(r, &cfg); err != nil {
		controlError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := cfg.validate(); err != nil {
		controlError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	s.limits = cfg
	out := cfg.withDefaults()
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// deepCopy copies a settings struct through JSON, so that a patch decoded
// onto the copy cannot reach the live settings' maps and pointers.
func deepCopy(from, to any) error {
	b, err := json.Marshal(from)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, to)
}

// handleLedger returns the membership changes with a sequence number above
// ?since (default 0: all of them).
func (ct *control) handleLedger(w http.ResponseWriter, r *http.Request) {
	var since int64
	if v := r.URL.Query().Get("since"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			controlError(w, http.StatusBadRequest, "since must be a sequence number >= 0")
			return
		}
		since = n
	}
	entries := []LedgerEntry{}
	last := since
	for _, e := range ct.s.Ledger() {
		if e.Seq > since {
			entries = append(entries, e)
			last = e.Seq
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": entries, "last": last})
}

// statsView is what GET /_devsite/stats returns.
type statsView struct {
	Now       time.Time                `json:"now"`
	Endpoints map[string]EndpointStats `json:"endpoints"`
	Budget    budgetView               `json:"budget"`
	Admin     adminView                `json:"admin"`
	Faults    map[string]int64         `json:"faults"`
}

type budgetView struct {
	Hour     time.Time            `json:"hour"` // start of the accounting hour
	Reset    time.Time            `json:"reset"`
	Tier     int                  `json:"tier"` // 1: app-wide pool; 2: per-tenant pool
	Enforced bool                 `json:"enforced"`
	Apps     map[string]usageView `json:"apps"`
	Tenants  map[string]usageView `json:"tenants"`
}

type usageView struct {
	Used      int64 `json:"used"`
	Limit     int64 `json:"limit,omitempty"` // 0 when no pool of this kind applies
	Remaining int64 `json:"remaining,omitempty"`
}

type adminView struct {
	Minute time.Time            `json:"minute"`
	Orgs   map[string]usageView `json:"orgs"`
}

// noAnswer names the status of requests that got no answer (dropped or
// timed out) in the statistics.
const noAnswer = "No Answer"

func (ct *control) handleStats(w http.ResponseWriter, r *http.Request) {
	s := ct.s
	s.mu.Lock()
	defer s.mu.Unlock()
	cfg := s.limits.withDefaults()
	now := s.now().UTC()
	l := s.limiter
	l.roll(now)
	v := statsView{
		Now: now, Endpoints: map[string]EndpointStats{}, Faults: maps.Clone(l.faults),
		Budget: budgetView{Hour: l.hour, Reset: l.hour.Add(time.Hour), Tier: 1, Enforced: *cfg.Enforced,
			Apps: map[string]usageView{}, Tenants: map[string]usageView{}},
		Admin: adminView{Minute: l.minute, Orgs: map[string]usageView{}},
	}
	for k, st := range s.stats {
		c := EndpointStats{Requests: st.Requests, Points: st.Points, Statuses: map[string]int64{}}
		for status, n := range st.Statuses {
			if status == "" {
				status = noAnswer
			}
			c.Statuses[status] += n
		}
		v.Endpoints[k] = c
	}
	appLimit, tenantLimit := max(cfg.AppPointsPerHour, 0), cfg.TenantPointsPerHour
	if tenantLimit > 0 {
		v.Budget.Tier, appLimit = 2, 0
	}
	for k, used := range l.app {
		v.Budget.Apps[k] = usage(used, appLimit)
	}
	for k, used := range l.tenant {
		v.Budget.Tenants[k] = usage(used, tenantLimit)
	}
	for k, used := range l.admin {
		v.Admin.Orgs[k] = usage(used, max(cfg.AdminRequestsPerMinute, 0))
	}
	since := now.Add(-time.Minute)
	for k, times := range l.recent { // sliding count: requests of the last 60 s
		used := int64(len(times) - sort.Search(len(times), func(i int) bool { return times[i].After(since) }))
		v.Admin.Orgs[k] = usage(used, max(cfg.AdminRequestsPerMinute, 0))
	}
	writeJSON(w, http.StatusOK, v)
}

func usage(used, limit int64) usageView {
	u := usageView{Used: used, Limit: limit}
	if limit > 0 {
		u.Remaining = max(limit-used, 0)
	}
	return u
}

func (ct *control) handleClockShow(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, ct.clockView())
}

func (ct *control) clockView() map[string]any {
	return map[string]any{"now": ct.s.now().UTC(), "offset": time.Duration(ct.clock.offset.Load()).String()}
}

// handleClockAdvance moves the site clock forward by {"advance": "1h"}.
// The clock never goes back: hourly windows and token expiry only move on.
func (ct *control) handleClockAdvance(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Advance Duration `json:"advance"`
	}
	if err := readControlJSON(r, &body); err != nil {
		controlError(w, http.StatusBadRequest, err.Error())
		return
	}
	d := time.Duration(body.Advance)
	if d <= 0 || d > 400*24*time.Hour {
		controlError(w, http.StatusBadRequest, `advance must be a positive duration up to 400 days, e.g. {"advance":"1h"}`)
		return
	}
	ct.clock.offset.Add(int64(d))
	writeJSON(w, http.StatusOK, ct.clockView())
}

// installRequest is the body of POST /_devsite/install and /trigger.
type installRequest struct {
	LapseURL  string `json:"lapseUrl"`
	Site      string `json:"site"`      // default: the first site
	Product   string `json:"product"`   // "jira" (default) or "confluence"
	Forge     bool   `json:"forge"`     // also install as Forge (Connect on Forge)
	AccountID string `json:"accountId"` // the installing admin; default: the first org admin
}

// installResult is what POST /_devsite/install returns.
type installResult struct {
	AppKey         string          `json:"appKey"`
	ClientKey      string          `json:"clientKey"`
	BaseURL        string          `json:"baseUrl"`
	CloudID        string          `json:"cloudId"`
	InstallationID string          `json:"installationId,omitempty"`
	Tenant         json.RawMessage `json:"tenant"`
}

// descriptor is the part of atlassian-connect.json the site reads.
type descriptor struct {
	Key     string   `json:"key"`
	BaseURL string   `json:"baseUrl"`
	Scopes  []string `json:"scopes"`
}

// handleInstall installs the Lapse at lapseUrl into a product of a site, as
// Atlassian does: it reads the app descriptor, registers the installation
// (so the app's JWTs are accepted), sends the signed "installed" callback
// and, for forge, the Forge installed event with a system token. It
// returns the tenant as Lapse reports it.
func (ct *control) handleInstall(w http.ResponseWriter, r *http.Request) {
	s := ct.s
	req, site, err := ct.readInstallRequest(r)
	if err != nil {
		controlError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx := r.Context()
	desc, err := s.fetchDescriptor(ctx, req.LapseURL)
	if err != nil {
		controlError(w, http.StatusBadGateway, err.Error())
		return
	}
	app := App{BaseURL: desc.BaseURL, Key: desc.Key}
	in, undo, err := s.registerInstall(site, req.Product, desc.Key, desc.Scopes, req.LapseURL, req.Forge)
	if err != nil {
		controlError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := s.host.Install(ctx, app, &in, req.AccountID); err != nil {
		undo()
		controlError(w, http.StatusBadGateway, "signed install: "+err.Error())
		return
	}
	if req.Forge {
		if _, err := s.sendForgeInvocation(ctx, app, in, site, "lapse-lifecycle", "/forge/events", map[string]any{
			"eventType": "avi:forge:installed:app", "id": in.InstallationID, "installerAccountId": req.AccountID,
			"context": map[string]any{"cloudId": site.CloudID},
		}); err != nil {
			controlError(w, http.StatusBadGateway, "forge installed event: "+err.Error())
			return
		}
	}
	tenant, err := s.readTenant(ctx, app, in, req.AccountID)
	if err != nil {
		controlError(w, http.StatusBadGateway, "read tenant: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, installResult{
		AppKey: desc.Key, ClientKey: in.ClientKey, BaseURL: in.BaseURL, CloudID: site.CloudID,
		InstallationID: in.InstallationID, Tenant: tenant,
	})
}

// handleTrigger sends the daily Forge scheduled trigger of an existing
// Forge installation, with a fresh system token, and returns Lapse's answer.
func (ct *control) handleTrigger(w http.ResponseWriter, r *http.Request) {
	s := ct.s
	req, site, err := ct.readInstallRequest(r)
	if err != nil {
		controlError(w, http.StatusBadRequest, err.Error())
		return
	}
	desc, err := s.fetchDescriptor(r.Context(), req.LapseURL)
	if err != nil {
		controlError(w, http.StatusBadGateway, err.Error())
		return
	}
	s.mu.Lock()
	si := s.installs[installKey(site.Name, req.Product, desc.Key)]
	var in Installation
	if si != nil {
		in = *si.Install
	}
	s.mu.Unlock()
	if in.InstallationID == "" {
		controlError(w, http.StatusNotFound, "no Forge installation of "+desc.Key+" on this site and product; install it with forge:true first")
		return
	}
	app := App{BaseURL: desc.BaseURL, Key: desc.Key}
	answer, err := s.sendForgeInvocation(r.Context(), app, in, site, "lapse-scheduled", "/forge/scheduled", map[string]any{
		"context": map[string]any{"cloudId": site.CloudID, "moduleKey": "lapse-daily"},
	})
	if err != nil {
		controlError(w, http.StatusBadGateway, "forge scheduled trigger: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"installationId": in.InstallationID, "answer": answer})
}

func (ct *control) readInstallRequest(r *http.Request) (installRequest, *Site, error) {
	var req installRequest
	if err := readControlJSON(r, &req); err != nil {
		return req, nil, err
	}
	u, err := url.Parse(req.LapseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return req, nil, errors.New(`lapseUrl must be the absolute URL of a running Lapse, e.g. "http://127.0.0.1:8080"`)
	}
	req.LapseURL = strings.TrimSuffix(req.LapseURL, "/")
	if req.Product == "" {
		req.Product = APIJira
	}
	if req.Product != APIJira && req.Product != APIConfluence {
		return req, nil, errors.New(`product must be "jira" or "confluence"`)
	}
	s := ct.s
	s.mu.Lock()
	defer s.mu.Unlock()
	site := s.org.Sites[0]
	if req.Site != "" {
		if site = s.org.SiteByName(req.Site); site == nil {
			return req, nil, fmt.Errorf("no site named %q", req.Site)
		}
	}
	if req.AccountID == "" {
		req.AccountID = firstOrgAdmin(s.org)
	}
	return req, site, nil
}

func firstOrgAdmin(o *Org) string {
	for _, u := range o.Users {
		if slices.Contains(u.PlatformRoles, PlatformOrgAdmin) {
			return u.AccountID
		}
	}
	return ""
}

// fetchDescriptor reads <lapseURL>/atlassian-connect.json, as Atlassian
// does when an admin installs an app from its descriptor URL.
func (s *Server) fetchDescriptor(ctx context.Context, lapseURL string) (descriptor, error) {
	var d descriptor
	status, body, err := s.callLapse(ctx, http.MethodGet, lapseURL+"/atlassian-connect.json", nil, nil)
	if err != nil {
		return d, fmt.Errorf("fetch app descriptor: %w", err)
	}
	if status != http.StatusOK {
		return d, fmt.Errorf("fetch app descriptor: %s/atlassian-connect.json answered %d", lapseURL, status)
	}
	if err := json.Unmarshal(body, &d); err != nil || d.Key == "" {
		return d, fmt.Errorf("fetch app descriptor: %s/atlassian-connect.json is not a Connect descriptor with a key", lapseURL)
	}
	d.BaseURL = strings.TrimSuffix(cmp.Or(d.BaseURL, lapseURL), "/")
	return d, nil
}

// registerInstall records that appKey is installed into product on site,
// so the site accepts the app's JWTs, through RegisterConnectInstall (which
// gives the installation a fresh shared secret). A reinstall keeps the
// clientKey and Forge installation id, as Atlassian does; with forge, a
// first install gets an installation id. It returns a copy of the
// installation and a func that restores the previous state.
func (s *Server) registerInstall(site *Site, product, appKey string, scopes []string, lapseURL string, forge bool) (Installation, func(), error) {
	key := installKey(site.Name, product, appKey)
	s.mu.Lock()
	prev := s.installs[key]
	s.mu.Unlock()
	in, err := s.RegisterConnectInstall(site.Name, product, appKey, scopes)
	if err != nil {
		return Installation{}, nil, err
	}
	s.mu.Lock()
	if prev != nil {
		in.ClientKey, in.InstallationID = prev.Install.ClientKey, prev.Install.InstallationID
	}
	if forge && in.InstallationID == "" {
		in.InstallationID = randomUUID()
	}
	if si := s.installs[key]; si != nil {
		si.LapseURL = lapseURL
	}
	out := *in
	s.mu.Unlock()
	undo := func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if prev == nil {
			delete(s.installs, key)
		} else {
			s.installs[key] = prev
		}
	}
	return out, undo, nil
}

// sendForgeInvocation POSTs body to a Forge remote path of the app with a
// Forge invocation token whose apiBaseUrl is this site's Forge gateway,
// and a fresh system token in x-forge-oauth-system. It returns the app's
// JSON answer.
//
// Events and scheduled triggers act for no user: their tokens carry no
// principal (principal is for UI invocations, PLATFORM.md §7.2) and name the
// invoked endpoint module.
func (s *Server) sendForgeInvocation(ctx context.Context, app App, in Installation, site *Site, endpointKey, path string, body any) (json.RawMessage, error) {
	fit, err := s.host.Forge.MintToken(forgetest.Claims{
		InstallationID: "ari:cloud:ecosystem::installation/" + in.InstallationID,
		APIBaseURL:     s.BaseURL() + "/ex/" + in.Product + "/" + site.CloudID,
		Module:         forge.Module{Type: "core:endpoint", Key: endpointKey},
		Context:        map[string]any{"cloudId": site.CloudID, "siteUrl": in.BaseURL},
	})
	if err != nil {
		return nil, err
	}
	sys := s.MintSystemToken(site.Name, in.Product, in.InstallationID, forgeSystemTokenTTL)
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	status, answer, err := s.callLapse(ctx, http.MethodPost, app.BaseURL+path,
		http.Header{"Authorization": {"Bearer " + fit}, "X-Forge-Oauth-System": {sys}, "Content-Type": {"application/json"}}, raw)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("%s answered %d: %s", path, status, bytes.TrimSpace(answer))
	}
	return answer, nil
}

// readTenant asks Lapse for the tenant of an installation, with the
// context token its admin page would get.
func (s *Server) readTenant(ctx context.Context, app App, in Installation, accountID string) (json.RawMessage, error) {
	tok, err := s.host.ContextToken(&in, accountID, time.Minute)
	if err != nil {
		return nil, err
	}
	status, body, err := s.callLapse(ctx, http.MethodGet, app.BaseURL+"/api/v1/tenant", http.Header{"Authorization": {"JWT " + tok}}, nil)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("GET /api/v1/tenant answered %d: %s", status, bytes.TrimSpace(body))
	}
	return body, nil
}

func (s *Server) callLapse(ctx context.Context, method, target string, h http.Header, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := s.host.Client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, err
}
