package inventory_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/adminapi"
	"github.com/lapsehq/lapse/app/atlassian"
	"github.com/lapsehq/lapse/app/devsite"
	"github.com/lapsehq/lapse/app/inventory"
)

// countingTransport counts the HTTP requests a client sends.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return ownTransport.RoundTrip(r)
}

type fixture struct {
	url     string
	srv     *devsite.Server
	client  *adminapi.Client
	counter *countingTransport
	cloudID string
	orgID   string
}

func newFixture(t *testing.T, p devsite.Params, budget atlassian.Budget, perMinute int64) *fixture {
	return newFixtureWait(t, p, budget, perMinute, 0)
}

func newFixtureWait(t *testing.T, p devsite.Params, budget atlassian.Budget, perMinute int64, maxWait time.Duration) *fixture {
	t.Helper()
	srv, err := devsite.NewServer(devsite.Config{Params: p})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	srv.SetBaseURL(ts.URL)
	f := &fixture{url: ts.URL, srv: srv, counter: &countingTransport{}}
	var key string
	srv.WithOrg(func(o *devsite.Org) { f.orgID, key, f.cloudID = o.ID, o.APIKey, o.Sites[0].CloudID })
	f.client, err = adminapi.New(adminapi.Config{BaseURL: ts.URL, APIKey: key, OrgID: f.orgID, TenantID: "t1",
		Budget: budget, RequestsPerMinute: perMinute, MaxWait: maxWait, HTTPClient: &http.Client{Transport: f.counter, Timeout: 2 * time.Second},
		Retry: atlassian.RetryPolicy{MaxRetries: 6, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// control sends a JSON body to the simulated site's control API.
func (f *fixture) control(t *testing.T, method, path, body string) {
	t.Helper()
	req, _ := http.NewRequest(method, f.url+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		t.Fatalf("%s %s: %d", method, path, resp.StatusCode)
	}
}

// truth is what the simulated org says each account holds on the site.
func (f *fixture) truth() map[string]map[string]*time.Time {
	out := map[string]map[string]*time.Time{}
	f.srv.WithOrg(func(o *devsite.Org) {
		site := o.Sites[0]
		for _, u := range o.Users {
			for _, ari := range o.ProductAccess(u) {
				if !slices.ContainsFunc(site.Products, func(p string) bool { return devsite.ProductARI(p, site.CloudID) == ari }) {
					continue
				}
				if out[u.AccountID] == nil {
					out[u.AccountID] = map[string]*time.Time{}
				}
				var last *time.Time
				if t, ok := u.LastActive[ari]; ok {
					t := t.UTC()
					last = &t
				}
				out[u.AccountID][ari] = last
			}
		}
	})
	return out
}

func collect(t *testing.T, plan *inventory.Plan) map[string]inventory.Account {
	t.Helper()
	got := map[string]inventory.Account{}
	for acc, err := range plan.Accounts(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := got[acc.AccountID]; dup {
			t.Fatalf("account %s listed twice", acc.AccountID)
		}
		got[acc.AccountID] = acc
	}
	return got
}

func assertMatchesTruth(t *testing.T, f *fixture, got map[string]inventory.Account) {
	t.Helper()
	want := f.truth()
	if len(got) != len(want) {
		t.Fatalf("inventory has %d accounts, the site %d", len(got), len(want))
	}
	for id, products := range want {
		acc, ok := got[id]
		if !ok || !acc.ActivityKnown || len(acc.Access) != len(products) {
			t.Fatalf("account %s: got %+v, want products %v", id, acc, products)
		}
		for _, a := range acc.Access {
			w, ok := products[a.ResourceID]
			if !ok || len(a.Paths) == 0 {
				t.Fatalf("account %s: unexpected access %+v", id, a)
			}
			if (w == nil) != (a.LastActive == nil) || (w != nil && !w.Equal(*a.LastActive)) {
				t.Fatalf("account %s on %s: last active %v, want %v", id, a.ResourceID, a.LastActive, w)
			}
		}
	}
}

// TestInventory_BulkMatchesSiteAndCostsTheMinimum: a 10,000-account org is
// inventoried exactly, in ⌈accounts/page⌉ users/search requests plus the
// plan's group requests, and with zero Jira/Confluence points.
func TestInventory_BulkMatchesSiteAndCostsTheMinimum(t *testing.T) {
	t.Parallel()
	f := newFixture(t, devsite.Params{Seed: 7, Users: 10000}, nil, 100000)
	f.control(t, http.MethodPatch, "/_devsite/limits", `{"adminRequestsPerMinute": 100000}`)
	plan, err := inventory.Prepare(context.Background(), f.client, inventory.Options{CloudID: f.cloudID})
	if err != nil {
		t.Fatal(err)
	}
	if plan.ActivitySource != app.ActivityBulk || !plan.Detected {
		t.Fatalf("activity source %q (detected %v), want bulk", plan.ActivitySource, plan.Detected)
	}
	// The plan: one workspaces page, one group page, one role-assignment page
	// per granting group, one detection request.
	if n, want := f.counter.n.Load(), int64(3+len(plan.Grants)); n != want {
		t.Fatalf("the plan took %d requests, want %d", n, want)
	}
	before := f.counter.n.Load()
	got := collect(t, plan)
	assertMatchesTruth(t, f, got)

	want := int64((len(got) + adminapi.MaxPageSize - 1) / adminapi.MaxPageSize)
	if n := f.counter.n.Load() - before; n != want {
		t.Fatalf("account listing took %d requests, want ⌈%d/%d⌉ = %d", n, len(got), adminapi.MaxPageSize, want)
	}
	for endpoint, st := range f.srv.Stats() {
		if !strings.HasPrefix(endpoint, "GET /admin/") && !strings.HasPrefix(endpoint, "POST /admin/") || st.Points != 0 {
			t.Fatalf("the inventory called %s (%d points); it must use the Admin API only", endpoint, st.Points)
		}
	}
	// Billable paths: synced grants are flagged, every path names its group.
	var synced int
	for _, acc := range got {
		for _, a := range acc.Access {
			for _, p := range a.Paths {
				if p.GroupName == "" || p.Product == "" {
					t.Fatalf("incomplete path %+v", p)
				}
				if p.Synced {
					synced++
				}
			}
		}
	}
	if synced == 0 {
		t.Fatal("no path through an IdP-synced group; the generator makes some")
	}
}

// TestInventory_PerUserFallbackAgrees: the v1 per-user path gives the same
// accounts and dates as the bulk path, at one extra request per account.
func TestInventory_PerUserFallbackAgrees(t *testing.T) {
	t.Parallel()
	f := newFixture(t, devsite.Params{Seed: 7, Users: 300}, nil, 100000)
	// The per-user path is one request per account; lift the site's
	// per-minute limit so this test measures agreement, not pacing.
	f.control(t, http.MethodPatch, "/_devsite/limits", `{"adminRequestsPerMinute": 100000}`)
	plan, err := inventory.Prepare(context.Background(), f.client, inventory.Options{CloudID: f.cloudID, ActivitySource: app.ActivityPerUser})
	if err != nil {
		t.Fatal(err)
	}
	before := f.counter.n.Load()
	got := collect(t, plan)
	assertMatchesTruth(t, f, got)
	pages := int64((len(got) + adminapi.MaxPageSize - 1) / adminapi.MaxPageSize)
	if n := f.counter.n.Load() - before; n < pages+int64(len(got)) || n > pages+1+int64(len(got)) {
		t.Fatalf("per-user listing took %d requests, want %d pages + %d per-user", n, pages, len(got))
	}
}

// TestInventory_StopsAtBudget: when the org's minute window in the shared
// budget has less room than the work (other replicas spent the rest), the
// inventory stops, never exceeds the window, and says how far it got.
func TestInventory_StopsAtBudget(t *testing.T) {
	t.Parallel()
	const perMinute, room = 600, 12 // paced at one request per 100 ms
	budget := atlassian.NewMemoryBudget()
	f := newFixtureWait(t, devsite.Params{Seed: 3, Users: 2000}, budget, perMinute, time.Second)
	if left := time.Until(time.Now().Truncate(time.Minute).Add(time.Minute)); left < 10*time.Second {
		time.Sleep(left) // keep the whole run inside one budget window
	}
	spent := atlassian.Charge{Scope: "admin:org:" + f.orgID, Units: perMinute - room, Limit: perMinute, Window: time.Minute}
	if err := budget.Reserve(context.Background(), time.Now(), []atlassian.Charge{spent}); err != nil {
		t.Fatal(err)
	}
	plan, err := inventory.Prepare(context.Background(), f.client, inventory.Options{CloudID: f.cloudID})
	if err != nil {
		t.Fatal(err)
	}
	done := 0
	var stop error
	for _, err := range plan.Accounts(context.Background()) {
		if err != nil {
			stop = err
			break
		}
		done++
	}
	var ie *inventory.IncompleteError
	var be *atlassian.BudgetError
	if !errors.As(stop, &ie) || !errors.As(stop, &be) {
		t.Fatalf("stop = %v, want an IncompleteError wrapping a BudgetError", stop)
	}
	if ie.Done != done || done == 0 || ie.RetryAt.IsZero() || ie.Cursor == "" {
		t.Fatalf("incomplete = %+v after %d accounts", ie, done)
	}
	if n := f.counter.n.Load(); n != room {
		t.Fatalf("%d requests sent with room for %d in the window", n, room)
	}
}

// TestInventory_UnderFaults: with 20 % of Admin API requests failing (drops,
// timeouts, 429, 500, 503) the inventory is identical to the site.
func TestInventory_UnderFaults(t *testing.T) {
	t.Parallel()
	f := newFixtureWait(t, devsite.Params{Seed: 11, Users: 1500}, nil, 100000, time.Minute)
	f.control(t, http.MethodPut, "/_devsite/faults", `{"seed": 5, "timeoutHold": "300ms", "retryAfter": "1s",
		"admin": {"drop": 0.04, "timeout": 0.04, "status429": 0.04, "status500": 0.04, "status503": 0.04}}`)
	plan, err := inventory.Prepare(context.Background(), f.client, inventory.Options{CloudID: f.cloudID, ActivitySource: app.ActivityBulk})
	if err != nil {
		t.Fatal(err)
	}
	assertMatchesTruth(t, f, collect(t, plan))
	failed := 0
	for _, st := range f.srv.Stats() {
		for status, n := range st.Statuses {
			if status != "OK" {
				failed += int(n)
			}
		}
	}
	if failed == 0 {
		t.Fatal("no fault was injected; the test proves nothing")
	}
	t.Logf("%d of the requests failed and were retried", failed)
	if len(f.srv.Ledger()) != 0 {
		t.Fatal("an inventory changed the site")
	}
}

// ownTransport keeps this package's test requests out of
// http.DefaultTransport's pool: httptest.Server.Close in a parallel test
// closes that pool's idle connections, which can break a request in flight
// and turn an exact request count into a flaky one.
var ownTransport = http.DefaultTransport.(*http.Transport).Clone()
