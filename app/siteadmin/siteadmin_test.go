package siteadmin_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/atlassian"
	"github.com/lapsehq/lapse/app/devsite"
	"github.com/lapsehq/lapse/app/internal/testclock"
	"github.com/lapsehq/lapse/app/siteadmin"
)

const appKey = "com.lapsehq.lapse.test"

const (
	jiraCheck       = "POST /rest/api/3/permissions/check"
	confluenceCheck = "GET /wiki/rest/api/user"
)

// site is a simulated Atlassian site over real HTTP.
type site struct {
	srv      *devsite.Server
	ts       *httptest.Server
	name     string // the first site
	second   string // another site of the same org
	cloudID  string
	siteAdm  string // holds atlassian/site-admin
	orgAdm   string // holds atlassian/org-admin
	ordinary string // an active user with product access and no admin role
}

func newSite(t *testing.T) *site {
	t.Helper()
	srv, err := devsite.NewServer(devsite.Config{Params: devsite.Params{Seed: 3, Users: 80, Sites: 2}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	srv.SetBaseURL(ts.URL)
	s := &site{srv: srv, ts: ts}
	srv.WithOrg(func(o *devsite.Org) {
		s.name, s.cloudID, s.second = o.Sites[0].Name, o.Sites[0].CloudID, o.Sites[1].Name
		for _, u := range o.Users {
			switch {
			case u.AccountStatus != "active" || u.AccountType != "atlassian":
			case slices.Contains(u.PlatformRoles, devsite.PlatformSiteAdmin) && s.siteAdm == "":
				s.siteAdm = u.AccountID
			case slices.Contains(u.PlatformRoles, devsite.PlatformOrgAdmin) && s.orgAdm == "":
				s.orgAdm = u.AccountID
			case len(u.PlatformRoles) == 0 && !inAdminGroup(o, u) && len(o.ProductAccess(u)) > 0 && s.ordinary == "":
				s.ordinary = u.AccountID
			}
		}
	})
	if s.siteAdm == "" || s.orgAdm == "" || s.ordinary == "" {
		t.Fatalf("generated org lacks a site admin, org admin or ordinary user: %+v", s)
	}
	return s
}

func inAdminGroup(o *devsite.Org, u *devsite.User) bool {
	for _, gid := range u.GroupIDs() {
		for _, r := range o.Group(gid).Roles {
			if r.RoleID == devsite.RoleAdmin {
				return true
			}
		}
	}
	return false
}

// connectTenant installs the app into product of the site and returns the
// tenant as Lapse stores it.
func (s *site) connectTenant(t *testing.T, product app.Product) *app.Tenant {
	t.Helper()
	return s.connectTenantOn(t, s.name, product)
}

func (s *site) connectTenantOn(t *testing.T, siteName string, product app.Product) *app.Tenant {
	t.Helper()
	in, err := s.srv.RegisterConnectInstall(siteName, string(product), appKey, []string{"READ"})
	if err != nil {
		t.Fatal(err)
	}
	return &app.Tenant{ID: "tenant-" + string(product) + "-" + in.ClientKey[:8], ClientKey: in.ClientKey, BaseURL: in.BaseURL,
		Product: product, State: app.TenantInstalled, SharedSecret: []byte(in.SharedSecret)}
}

// forgeTenant returns a Forge-only tenant and the system token the site
// minted for it.
func (s *site) forgeTenant(t *testing.T, product app.Product) (*app.Tenant, *app.SystemToken) {
	t.Helper()
	inst := "inst-" + string(product)
	tok := s.srv.MintSystemToken(s.name, string(product), inst, time.Hour)
	if tok == "" {
		t.Fatal("no system token")
	}
	return &app.Tenant{ID: "forge-" + string(product), InstallationID: inst, CloudID: s.cloudID, Product: product, State: app.TenantInstalled,
			APIBaseURL: s.ts.URL + "/ex/" + string(product) + "/" + s.cloudID},
		&app.SystemToken{Token: tok, ExpiresAt: time.Now().Add(time.Hour)}
}

func (s *site) requests(endpoint string) int64 { return s.srv.Stats()[endpoint].Requests }

func (s *site) setFaults(t *testing.T, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, s.ts.URL+"/_devsite/faults", strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("set faults: %d", resp.StatusCode)
	}
}

func newChecker(clk *testclock.Clock) *siteadmin.Checker {
	return &siteadmin.Checker{
		AppKey:  appKey,
		NowFunc: clk.Now,
		Budget:  atlassian.NewMemoryBudget(),
		Retry:   atlassian.RetryPolicy{MaxRetries: -1},
		Logger:  slog.New(slog.DiscardHandler),
	}
}

func TestChecker_Connect(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	cases := []struct {
		name     string
		product  app.Product
		endpoint string
	}{
		{"jira", app.ProductJira, jiraCheck},
		{"confluence", app.ProductConfluence, confluenceCheck},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tn := s.connectTenant(t, tc.product)
			c := newChecker(testclock.New(time.Now()))
			ctx := context.Background()
			for _, acc := range []struct {
				id   string
				want bool
			}{{s.siteAdm, true}, {s.orgAdm, true}, {s.ordinary, false}, {"557058:nobody-knows-me", false}} {
				got, err := c.IsSiteAdmin(ctx, tn, acc.id)
				if err != nil || got != acc.want {
					t.Errorf("IsSiteAdmin(%s) = %v, %v; want %v", acc.id, got, err, acc.want)
				}
			}
			if n := s.requests(tc.endpoint); n < 4 {
				t.Fatalf("%s requests = %d, want at least 4 (real calls)", tc.endpoint, n)
			}
		})
	}
}

// TestChecker_Cache: positive and negative answers are served from the
// cache until TTL passes; the simulated site counts the requests.
func TestChecker_Cache(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	tn := s.connectTenant(t, app.ProductJira)
	clk := testclock.New(time.Now())
	c := newChecker(clk)
	c.TTL = time.Minute
	ctx := context.Background()

	ask := func(acc string, want bool) {
		t.Helper()
		got, err := c.IsSiteAdmin(ctx, tn, acc)
		if err != nil || got != want {
			t.Fatalf("IsSiteAdmin(%s) = %v, %v; want %v", acc, got, err, want)
		}
	}
	ask(s.siteAdm, true)
	ask(s.ordinary, false)
	base := s.requests(jiraCheck)
	if base != 2 {
		t.Fatalf("first answers made %d requests, want 2", base)
	}
	for range 5 {
		ask(s.siteAdm, true)
		ask(s.ordinary, false)
	}
	if n := s.requests(jiraCheck); n != base {
		t.Fatalf("cache hits made %d more requests", n-base)
	}
	// Another tenant with the same account is another question.
	other := s.connectTenantOn(t, s.second, app.ProductJira)
	if got, err := c.IsSiteAdmin(ctx, other, s.siteAdm); err != nil || !got {
		t.Fatalf("other tenant: %v %v", got, err)
	}
	if n := s.requests(jiraCheck); n != base+1 {
		t.Fatalf("another tenant was served from the first one's cache (%d requests)", n-base)
	}

	// A demotion shows once the answer expires, not before.
	s.srv.WithOrg(func(o *devsite.Org) {
		u := o.User(s.siteAdm)
		u.PlatformRoles = nil
		for _, gid := range slices.Clone(u.GroupIDs()) {
			o.RemoveMember(gid, u.AccountID)
		}
	})
	clk.Advance(59 * time.Second)
	ask(s.siteAdm, true)
	clk.Advance(2 * time.Second)
	ask(s.siteAdm, false)
	if n := s.requests(jiraCheck); n != base+2 {
		t.Fatalf("expired answer: %d requests, want %d", n, base+2)
	}
}

func TestChecker_CacheDisabled(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	tn := s.connectTenant(t, app.ProductJira)
	c := newChecker(testclock.New(time.Now()))
	c.TTL = -1
	for range 3 {
		if ok, err := c.IsSiteAdmin(context.Background(), tn, s.siteAdm); err != nil || !ok {
			t.Fatal(ok, err)
		}
	}
	if n := s.requests(jiraCheck); n != 3 {
		t.Fatalf("requests = %d, want 3 with the cache off", n)
	}
}

func TestChecker_CacheBounded(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	tn := s.connectTenant(t, app.ProductJira)
	c := newChecker(testclock.New(time.Now()))
	c.MaxEntries = 2
	ctx := context.Background()
	for _, acc := range []string{s.siteAdm, s.orgAdm, s.ordinary} {
		if _, err := c.IsSiteAdmin(ctx, tn, acc); err != nil {
			t.Fatal(err)
		}
	}
	if c.Len() != 2 {
		t.Fatalf("cache holds %d answers, want 2", c.Len())
	}
	// The oldest (siteAdm) was pushed out; the newest two are still cached.
	before := s.requests(jiraCheck)
	_, _ = c.IsSiteAdmin(ctx, tn, s.ordinary)
	_, _ = c.IsSiteAdmin(ctx, tn, s.orgAdm)
	if n := s.requests(jiraCheck); n != before {
		t.Fatalf("the newest answers were evicted (%d requests)", n-before)
	}
	_, _ = c.IsSiteAdmin(ctx, tn, s.siteAdm)
	if n := s.requests(jiraCheck); n != before+1 {
		t.Fatalf("the oldest answer was not evicted")
	}
	c.Forget(tn.ID)
	if c.Len() != 0 {
		t.Fatalf("Forget left %d answers", c.Len())
	}
}

// TestChecker_ErrorsNotCached: a failed check is an EUNAVAILABLE error and
// is asked again next time.
func TestChecker_ErrorsNotCached(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	tn := s.connectTenant(t, app.ProductJira)
	c := newChecker(testclock.New(time.Now()))
	ctx := context.Background()
	s.setFaults(t, `{"jira":{"status500":1}}`)
	_, err := c.IsSiteAdmin(ctx, tn, s.siteAdm)
	if app.ErrorCode(err) != app.EUNAVAILABLE || !strings.Contains(app.ErrorMessage(err), "try again") {
		t.Fatalf("err = %v, want unavailable", err)
	}
	s.setFaults(t, `{}`)
	if ok, err := c.IsSiteAdmin(ctx, tn, s.siteAdm); err != nil || !ok {
		t.Fatalf("after the fault: %v %v", ok, err)
	}
	if n := s.requests(jiraCheck); n != 2 {
		t.Fatalf("requests = %d, want 2", n)
	}

	// A wrong shared secret is refused by the site: unavailable, not "no".
	bad := *tn
	bad.ID, bad.SharedSecret = "bad-secret", []byte("not-the-secret")
	if _, err := c.IsSiteAdmin(ctx, &bad, s.siteAdm); app.ErrorCode(err) != app.EUNAVAILABLE {
		t.Fatalf("wrong secret: err = %v", err)
	}
}

func TestChecker_Forge(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	for _, tc := range []struct {
		product  app.Product
		endpoint string
	}{{app.ProductJira, jiraCheck}, {app.ProductConfluence, confluenceCheck}} {
		t.Run(string(tc.product), func(t *testing.T) {
			tn, tok := s.forgeTenant(t, tc.product)
			var lookups atomic.Int32
			c := newChecker(testclock.New(time.Now()))
			c.SystemToken = func(_ context.Context, tenantID string) (*app.SystemToken, error) {
				lookups.Add(1)
				if tenantID != tn.ID {
					return nil, errors.New("wrong tenant")
				}
				return tok, nil
			}
			ctx := context.Background()
			before := s.requests(tc.endpoint)
			if ok, err := c.IsSiteAdmin(ctx, tn, s.siteAdm); err != nil || !ok {
				t.Fatalf("site admin: %v %v", ok, err)
			}
			if ok, err := c.IsSiteAdmin(ctx, tn, s.ordinary); err != nil || ok {
				t.Fatalf("ordinary: %v %v", ok, err)
			}
			if n := s.requests(tc.endpoint) - before; n != 2 {
				t.Fatalf("requests through the Forge gateway = %d, want 2", n)
			}
			if lookups.Load() != 2 {
				t.Fatalf("system token lookups = %d", lookups.Load())
			}
		})
	}
	t.Run("no_token", func(t *testing.T) {
		tn, _ := s.forgeTenant(t, app.ProductJira)
		tn.ID = "forge-no-token"
		c := newChecker(testclock.New(time.Now()))
		c.SystemToken = func(context.Context, string) (*app.SystemToken, error) { return nil, nil }
		_, err := c.IsSiteAdmin(context.Background(), tn, s.siteAdm)
		if app.ErrorCode(err) != app.EUNAVAILABLE || !strings.Contains(app.ErrorMessage(err), "system token") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("expired_token", func(t *testing.T) {
		tn, tok := s.forgeTenant(t, app.ProductJira)
		tn.ID = "forge-expired"
		tok.ExpiresAt = time.Now().Add(-time.Minute)
		c := newChecker(testclock.New(time.Now()))
		c.SystemToken = func(context.Context, string) (*app.SystemToken, error) { return tok, nil }
		if _, err := c.IsSiteAdmin(context.Background(), tn, s.siteAdm); app.ErrorCode(err) != app.EUNAVAILABLE {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("not_configured", func(t *testing.T) {
		tn, _ := s.forgeTenant(t, app.ProductJira)
		tn.ID = "forge-unconfigured"
		if _, err := newChecker(testclock.New(time.Now())).IsSiteAdmin(context.Background(), tn, s.siteAdm); app.ErrorCode(err) != app.EUNAVAILABLE {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestChecker_ConcurrentMisses: callers that miss the cache at once share
// one request.
func TestChecker_ConcurrentMisses(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	tn := s.connectTenant(t, app.ProductJira)
	s.setFaults(t, `{"fixedLatency":"100ms"}`)
	c := newChecker(testclock.New(time.Now()))
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 10 {
		wg.Go(func() {
			ok, err := c.IsSiteAdmin(context.Background(), tn, s.siteAdm)
			if err == nil && !ok {
				err = errors.New("not admin")
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := s.requests(jiraCheck); n != 1 {
		t.Fatalf("10 concurrent misses made %d requests, want 1", n)
	}
}

func TestChecker_NoAccount(t *testing.T) {
	t.Parallel()
	c := newChecker(testclock.New(time.Now()))
	ok, err := c.IsSiteAdmin(context.Background(), &app.Tenant{ID: "t", Product: app.ProductJira}, "")
	if ok || err != nil {
		t.Fatalf("empty account = %v, %v; want false, nil", ok, err)
	}
	if _, err := c.IsSiteAdmin(context.Background(), nil, "acc"); err == nil {
		t.Fatal("nil tenant accepted")
	}
	_, err = c.IsSiteAdmin(context.Background(), &app.Tenant{ID: "t", Product: app.ProductJira, BaseURL: "https://x.atlassian.net"}, "acc")
	if app.ErrorCode(err) != app.EUNAVAILABLE {
		t.Fatalf("tenant without credentials: %v", err)
	}
}
