package web_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/internal/testclock"
	"github.com/lapsehq/lapse/app/store"
)

// tenantTTL is the longest a replica may act on a tenant row after another
// replica changed it (issue #8 item 10: "refused within one second").
const tenantTTL = time.Second

// TestAuthenticatedPathReadsTenantOncePerSecond: the authenticated path
// serves the tenant from memory instead of reading (and decrypting) its row
// on every request, and picks up a change made elsewhere within one second.
// The change here is a reinstall with a new display URL written straight
// into the store, as another replica would.
func TestAuthenticatedPathReadsTenantOncePerSecond(t *testing.T) {
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		clock := testclock.New(time.Now())
		e := newEnv(t, d, envOptions{now: clock.Now})
		site := e.site("jira")
		e.install(site)
		tenant := func() map[string]any {
			t.Helper()
			r := e.do(http.MethodGet, "/api/v1/tenant", "JWT "+e.contextToken(site), nil)
			if r.status != http.StatusOK {
				t.Fatalf("GET /api/v1/tenant = %d %s", r.status, r.body)
			}
			return r.json(t)
		}
		before := tenant()["displayUrl"]

		ctx := context.Background()
		_, err := e.store.InstallConnect(ctx, app.ConnectInstall{
			ClientKey: site.ClientKey, BaseURL: site.BaseURL, DisplayURL: "https://renamed.example.com",
			Product: app.ProductJira, SharedSecret: []byte(site.SharedSecret),
		})
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(tenantTTL / 2)
		if got := tenant()["displayUrl"]; got != before {
			t.Fatalf("within the TTL displayUrl = %v, want the cached %v: the tenant row was read again", got, before)
		}
		clock.Advance(tenantTTL / 2)
		if got := tenant()["displayUrl"]; got != "https://renamed.example.com" {
			t.Fatalf("after the TTL displayUrl = %v, want the stored change", got)
		}
	})
}

// TestTenantChangedElsewhereRefusedWithinOneSecond: a tenant disabled or
// uninstalled through another replica (here: straight through the store)
// is refused by this replica's cached path no later than one second after
// the change.
func TestTenantChangedElsewhereRefusedWithinOneSecond(t *testing.T) {
	changes := map[string]func(s *store.Store, tenantID, clientKey string) error{
		"disabled": func(s *store.Store, tenantID, _ string) error {
			_, err := s.SetTenantEnabled(context.Background(), tenantID, false, app.Actor{Type: app.ActorAtlassian})
			return err
		},
		"uninstalled": func(s *store.Store, _, clientKey string) error {
			_, err := s.UninstallConnect(context.Background(), clientKey, app.Actor{Type: app.ActorInstaller})
			return err
		},
	}
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			eachDialect(t, func(t *testing.T, d store.Dialect) {
				clock := testclock.New(time.Now())
				e := newEnv(t, d, envOptions{now: clock.Now})
				site := e.site("jira")
				e.install(site)
				get := func() response { return e.do(http.MethodGet, "/api/v1/tenant", "JWT "+e.contextToken(site), nil) }
				if r := get(); r.status != http.StatusOK {
					t.Fatalf("GET /api/v1/tenant = %d %s", r.status, r.body)
				}
				tn, err := e.store.FindTenantByClientKey(context.Background(), site.ClientKey)
				if err != nil {
					t.Fatal(err)
				}
				if err := change(e.store, tn.ID, site.ClientKey); err != nil {
					t.Fatal(err)
				}
				clock.Advance(tenantTTL)
				wantError(t, get(), 401, "unauthorized", "not installed and enabled")
			})
		})
	}
}
