package web_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/atlassian"
	"github.com/lapsehq/lapse/app/connect"
	"github.com/lapsehq/lapse/app/devsite"
	"github.com/lapsehq/lapse/app/forge"
	"github.com/lapsehq/lapse/app/forge/forgetest"
	"github.com/lapsehq/lapse/app/siteadmin"
	"github.com/lapsehq/lapse/app/store"
	"github.com/lapsehq/lapse/app/store/storetest"
	"github.com/lapsehq/lapse/app/web"
)

// permissionsCheck is the simulated Jira endpoint the site-admin gate asks.
const permissionsCheck = "POST /rest/api/3/permissions/check"

// apiEnv is one running Lapse whose tenants live on a simulated Atlassian
// site (devsite.Server over real HTTP): installs are signed by the site's
// host, and the site-admin gate asks the site's permission API.
type apiEnv struct {
	*env
	sim     *devsite.Server
	simURL  string
	checker *siteadmin.Checker
	scans   *storeScans

	site1, site2   string // site names
	cloud1, cloud2 string
	admin          string // an account with the site-admin role
	orgAdmin       string
	user           string // an ordinary user with product access
}

type apiOptions struct {
	siteAdmins web.SiteAdminChecker // replaces the real checker
	noChecker  bool                 // SiteAdmins nil
	noScans    bool
	noRestorer bool
	// mailConfigured tells the server a mail relay is configured.
	mailConfigured bool
	logger         *slog.Logger // nil = discard
}

func newAPIEnv(t *testing.T, d store.Dialect, opts ...apiOptions) *apiEnv {
	t.Helper()
	var o apiOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	sim, err := devsite.NewServer(devsite.Config{Params: devsite.Params{Seed: 11, Users: 60, Sites: 2}})
	if err != nil {
		t.Fatal(err)
	}
	simTS := httptest.NewServer(sim.Handler())
	t.Cleanup(simTS.Close)
	sim.SetBaseURL(simTS.URL)
	st := storetest.Open(t, d)

	checker := &siteadmin.Checker{
		AppKey:      appKey,
		SystemToken: st.SystemToken,
		Budget:      atlassian.NewMemoryBudget(),
		Retry:       atlassian.RetryPolicy{MaxRetries: -1},
		Logger:      slog.New(slog.DiscardHandler),
	}
	cfg := web.Config{
		AppKey:         appKey,
		AllowedHosts:   []string{"127.0.0.1"},
		Leeway:         30 * time.Second,
		Store:          st,
		InstallKeys:    connect.NewHTTPKeyFetcher(simTS.URL+devsite.KeysPath, nil),
		ForgeKeys:      forge.NewKeySet(simTS.URL+devsite.ForgeJWKSURI, nil),
		ForgeAppARI:    sim.Host().ForgeAppID(),
		Version:        "test",
		Logger:         slog.New(slog.DiscardHandler),
		SiteAdmins:     checker,
		MailConfigured: o.mailConfigured,
	}
	scans := &storeScans{st: st}
	if !o.noScans {
		cfg.Scans = scans
	}
	if !o.noRestorer {
		cfg.Restorer = storeRestorer{st: st}
	}
	if o.logger != nil {
		cfg.Logger = o.logger
	}
	switch {
	case o.noChecker:
		cfg.SiteAdmins = nil
	case o.siteAdmins != nil:
		cfg.SiteAdmins = o.siteAdmins
	}

	lapse := httptest.NewUnstartedServer(nil)
	cfg.BaseURL = "http://" + lapse.Listener.Addr().String()
	srv, err := web.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lapse.Config.Handler = srv.Handler()
	lapse.Start()
	t.Cleanup(lapse.Close)

	e := &apiEnv{
		env:     &env{t: t, host: sim.Host(), keys: simTS, lapse: lapse, app: devsite.App{BaseURL: cfg.BaseURL, Key: appKey}, store: st},
		sim:     sim,
		simURL:  simTS.URL,
		checker: checker,
		scans:   scans,
	}
	sim.WithOrg(func(o *devsite.Org) {
		e.site1, e.cloud1 = o.Sites[0].Name, o.Sites[0].CloudID
		e.site2, e.cloud2 = o.Sites[1].Name, o.Sites[1].CloudID
		for _, u := range o.Users {
			switch {
			case u.AccountStatus != "active" || u.AccountType != "atlassian":
			case slices.Contains(u.PlatformRoles, devsite.PlatformSiteAdmin) && e.admin == "":
				e.admin = u.AccountID
			case slices.Contains(u.PlatformRoles, devsite.PlatformOrgAdmin) && e.orgAdmin == "":
				e.orgAdmin = u.AccountID
			case len(u.PlatformRoles) == 0 && !holdsAdminRole(o, u) && len(o.ProductAccess(u)) > 0 && e.user == "":
				e.user = u.AccountID
			}
		}
	})
	if e.admin == "" || e.orgAdmin == "" || e.user == "" {
		t.Fatal("the simulated org lacks a site admin, an org admin or an ordinary user")
	}
	return e
}

func holdsAdminRole(o *devsite.Org, u *devsite.User) bool {
	for _, gid := range u.GroupIDs() {
		for _, r := range o.Group(gid).Roles {
			if r.RoleID == devsite.RoleAdmin {
				return true
			}
		}
	}
	return false
}

// connectTenant installs Lapse into a product of a simulated site: the site
// registers the installation (so Lapse's JWTs are accepted there) and its
// host sends the signed installed callback.
type connectTenant struct {
	in *devsite.Installation
	*app.Tenant
}

func (e *apiEnv) installConnect(siteName, product string) *connectTenant {
	e.t.Helper()
	in, err := e.sim.RegisterConnectInstall(siteName, product, appKey, []string{"READ"})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.host.Install(context.Background(), e.app, in, e.admin); err != nil {
		e.t.Fatalf("install: %v", err)
	}
	tn, err := e.store.FindTenantByClientKey(context.Background(), in.ClientKey)
	if err != nil {
		e.t.Fatal(err)
	}
	return &connectTenant{in: in, Tenant: tn}
}

// as returns the Authorization header of a context token of the tenant
// for accountID ("" = no account).
func (e *apiEnv) as(ct *connectTenant, accountID string) string {
	e.t.Helper()
	tok, err := e.host.ContextToken(ct.in, accountID, 3*time.Minute)
	if err != nil {
		e.t.Fatal(err)
	}
	return "JWT " + tok
}

// forgeTenant is a Forge-only installation on a simulated site.
type forgeTenant struct {
	e              *apiEnv
	installationID string
	siteName       string
	product        string
	cloudID        string
	tenantID       string
}

// installForge delivers the Forge installed event with a system token the
// site minted, as the Forge platform does.
func (e *apiEnv) installForge(siteName, cloudID, product string) *forgeTenant {
	e.t.Helper()
	ft := &forgeTenant{e: e, installationID: "inst-" + siteName + "-" + product, siteName: siteName, product: product, cloudID: cloudID}
	sys := e.sim.MintSystemToken(siteName, product, ft.installationID, time.Hour)
	req, _ := http.NewRequest(http.MethodPost, e.app.BaseURL+"/forge/events", jsonBody(e.t, map[string]any{"eventType": app.ForgeEventInstalled, "installerAccountId": e.admin}))
	req.Header.Set("Authorization", ft.event())
	req.Header.Set("x-forge-oauth-system", sys)
	r := e.send(req)
	if r.status != http.StatusOK {
		e.t.Fatalf("forge installed: %d %s", r.status, r.body)
	}
	ft.tenantID = r.json(e.t)["tenantId"].(string)
	return ft
}

// event returns the Authorization header of the token Forge sends with a
// lifecycle event: no principal, the lifecycle endpoint module.
func (ft *forgeTenant) event() string {
	ft.e.t.Helper()
	tok, err := ft.e.host.Forge.MintToken(forgetest.Claims{
		InstallationID: "ari:cloud:ecosystem::installation/" + ft.installationID,
		APIBaseURL:     ft.e.simURL + "/ex/" + ft.product + "/" + ft.cloudID,
		Module:         forge.Module{Type: "core:endpoint", Key: "lapse-lifecycle"},
	})
	if err != nil {
		ft.e.t.Fatal(err)
	}
	return "Bearer " + tok
}

// as returns the Authorization header of a Forge invocation token whose
// principal is accountID ("" = a system call without a user).
func (ft *forgeTenant) as(accountID string) string {
	ft.e.t.Helper()
	tok, err := ft.e.host.Forge.MintToken(forgetest.Claims{
		InstallationID: "ari:cloud:ecosystem::installation/" + ft.installationID,
		APIBaseURL:     ft.e.simURL + "/ex/" + ft.product + "/" + ft.cloudID,
		Principal:      accountID,
		Context:        map[string]any{"cloudId": ft.cloudID},
	})
	if err != nil {
		ft.e.t.Fatal(err)
	}
	return "Bearer " + tok
}

// call sends a JSON request; body nil sends none, a string is sent as is.
func (e *apiEnv) call(method, path, auth string, body any, header ...string) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		rd = jsonBody(e.t, b)
	}
	req, err := http.NewRequest(method, e.app.BaseURL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", auth)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return e.send(req)
}

// ok asserts a 2xx status and decodes the JSON body.
func (e *apiEnv) ok(r response, status int) map[string]any {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	return r.json(e.t)
}

func (e *apiEnv) checks() int64 { return e.sim.Stats()[permissionsCheck].Requests }

func (e *apiEnv) setFaults(body string) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPut, e.simURL+"/_devsite/faults", strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("set faults: %d", resp.StatusCode)
	}
}

// storeScans is the test's scan controller: it queues and decides through
// the real store, with no job queue behind it.
type storeScans struct {
	st *store.Store
}

func (s *storeScans) RunNow(ctx context.Context, tenantID string, actor app.Actor) (*app.ScanRun, error) {
	return s.st.QueueScan(ctx, tenantID, app.TriggerManual, actor, nil)
}

func (s *storeScans) Decide(ctx context.Context, tenantID, scanID string, approve bool, actor app.Actor) (*app.ScanRun, error) {
	return s.st.DecideHeldScan(ctx, tenantID, scanID, approve, actor, nil)
}

// storeRestorer records the restore through the real store without
// calling Atlassian.
type storeRestorer struct {
	st *store.Store
}

func (r storeRestorer) Restore(ctx context.Context, tenantID string, eventID int64, actor app.Actor) (*app.AuditEvent, error) {
	ev, err := r.st.AuditEventByID(ctx, tenantID, eventID)
	if err != nil {
		return nil, err
	}
	var removal app.RemovalEvidence
	_ = json.Unmarshal(ev.Data, &removal)
	return r.st.RecordRestore(ctx, tenantID, app.RestoreEvidence{AccountID: removal.AccountID, GroupID: removal.GroupID, RestoredEventID: eventID}, actor)
}

// yesAdmins says every account is a site admin; for tests about what
// admins can do with odd account ids.
type yesAdmins struct{}

func (yesAdmins) IsSiteAdmin(context.Context, *app.Tenant, string) (bool, error) { return true, nil }

// heldScan makes a scan that the safety brake held, with a snapshot.
func (e *apiEnv) heldScan(tenantID string, accounts []app.ScanAccount) *app.ScanRun {
	return e.finishedScan(tenantID, app.ScanHeld, accounts)
}

// finishedScan runs a scan through the store: started, snapshot saved,
// finished with status.
func (e *apiEnv) finishedScan(tenantID string, status app.ScanStatus, accounts []app.ScanAccount) *app.ScanRun {
	e.t.Helper()
	ctx := context.Background()
	pol, err := e.store.Policy(ctx, tenantID, []string{"jira-software"})
	if err != nil {
		e.t.Fatal(err)
	}
	run, err := e.store.StartScan(ctx, tenantID, "", app.TriggerManual, pol)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.SaveScanAccounts(ctx, tenantID, run.ID, accounts); err != nil {
		e.t.Fatal(err)
	}
	run, err = e.store.FinishScan(ctx, tenantID, run.ID, status, map[string]any{"accounts": len(accounts)}, "")
	if err != nil {
		e.t.Fatal(err)
	}
	return run
}
