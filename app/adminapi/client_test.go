package adminapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app/adminapi"
	"github.com/lapsehq/lapse/app/atlassian"
	"github.com/lapsehq/lapse/app/devsite"
	"github.com/lapsehq/lapse/app/internal/testclock"
)

// fixture is a simulated org served over real HTTP.
type fixture struct {
	srv   *devsite.Server
	url   string
	orgID string
	key   string
	// clock is shared by the simulated site and the client: when the client
	// paces itself (its minute window is full) it "sleeps" by moving the
	// clock (see sleep), so the site sees the same paced traffic.
	clock *testclock.Clock
	sent  atomic.Int64 // requests that reached the HTTP transport
	// fault, when set, may replace a request's round trip.
	fault func(req *http.Request, next http.RoundTripper) (*http.Response, error, bool)
}

func setup(t *testing.T, p devsite.Params) *fixture {
	t.Helper()
	f := &fixture{clock: testclock.New(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))}
	srv, err := devsite.NewServer(devsite.Config{Params: p, NowFunc: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	srv.SetBaseURL(ts.URL)
	f.srv, f.url = srv, ts.URL
	srv.WithOrg(func(o *devsite.Org) { f.orgID, f.key = o.ID, o.APIKey })
	return f
}

// sleep is the client's SleepFunc. Unlike testclock.Clock.Sleep it moves
// the clock even when ctx is done and then reports ctx.Err(), as this
// file's tests always have.
func (f *fixture) sleep(ctx context.Context, d time.Duration) error {
	f.clock.Advance(d)
	return ctx.Err()
}

// client returns a client of the fixture's org; mod adjusts its config.
func (f *fixture) client(t *testing.T, mod func(*adminapi.Config)) *adminapi.Client {
	t.Helper()
	cfg := adminapi.Config{
		BaseURL: f.url, APIKey: f.key, OrgID: f.orgID, TenantID: "t1",
		MaxWait:    2 * time.Minute,
		HTTPClient: &http.Client{Transport: roundTripFunc(f.roundTrip), Timeout: 10 * time.Second},
		Retry:      atlassian.RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond},
		NowFunc:    f.clock.Now, SleepFunc: f.sleep,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := adminapi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (fn roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return fn(r) }

func (f *fixture) roundTrip(req *http.Request) (*http.Response, error) {
	f.sent.Add(1)
	if f.fault != nil {
		if resp, err, ok := f.fault(req, http.DefaultTransport); ok {
			return resp, err
		}
	}
	return ownTransport.RoundTrip(req)
}

// org runs fn with the simulated org locked.
func (f *fixture) org(fn func(o *devsite.Org)) { f.srv.WithOrg(fn) }

// collect drains an iterator.
func collect[T any](t *testing.T, seq func(func(T, error) bool)) ([]T, error) {
	t.Helper()
	var out []T
	for v, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}

func TestNew_Validates(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		cfg  adminapi.Config
	}{
		{"no_key", adminapi.Config{OrgID: "o"}},
		{"no_org", adminapi.Config{APIKey: "k"}},
		{"bad_url", adminapi.Config{APIKey: "k", OrgID: "o", BaseURL: "api.atlassian.com"}},
		{"negative_rate", adminapi.Config{APIKey: "k", OrgID: "o", RequestsPerMinute: -1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := adminapi.New(tc.cfg); err == nil {
				t.Error("New accepted an invalid config")
			}
		})
	}
}

func TestClient_WrongKey(t *testing.T) {
	t.Parallel()
	f := setup(t, devsite.Params{Seed: 1, Users: 20})
	c := f.client(t, func(cfg *adminapi.Config) { cfg.APIKey = "not-the-key" })
	_, err := collect(t, c.SearchUsers(t.Context(), adminapi.UserQuery{}))
	var ae *atlassian.APIError
	var pe *adminapi.PageError
	if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized || !errors.As(err, &pe) || pe.Yielded != 0 {
		t.Fatalf("err = %v, want a 401 PageError", err)
	}
	if _, err := c.LastActiveDates(t.Context(), "x"); !errors.As(err, &ae) || ae.Status != 401 {
		t.Errorf("LastActiveDates err = %v", err)
	}
}

// TestClient_PacerStopsListing shows the client keeping its steady pace:
// at 3 requests a minute and with MaxWait 0 it sends one page, then stops
// with a BudgetError saying when the next turn comes (20 s later) instead of
// waiting, reports how far it got, and resumes from the failed page's cursor.
func TestClient_PacerStopsListing(t *testing.T) {
	t.Parallel()
	f := setup(t, devsite.Params{Seed: 1, Users: 500})
	budget := atlassian.NewMemoryBudget()
	c := f.client(t, func(cfg *adminapi.Config) {
		cfg.Budget, cfg.RequestsPerMinute, cfg.MaxWait = budget, 3, 0
	})
	now := f.clock.Now()
	got, err := collect(t, c.SearchUsers(t.Context(), adminapi.UserQuery{Limit: 100}))
	var pe *adminapi.PageError
	var be *atlassian.BudgetError
	if !errors.As(err, &pe) || !errors.As(err, &be) || be.Reason != atlassian.ReasonPaced {
		t.Fatalf("err = %v, want PageError with a pacing BudgetError", err)
	}
	if len(got) != 100 || pe.Yielded != 100 || pe.Cursor == "" || be.Scope != "admin:org:"+f.orgID || f.sent.Load() != 1 {
		t.Fatalf("yielded %d (%d), cursor %q, scope %q, sent %d", len(got), pe.Yielded, pe.Cursor, be.Scope, f.sent.Load())
	}
	if want := now.Add(20 * time.Second); !be.ResetAt.Equal(want) {
		t.Fatalf("next turn at %s, want %s (60 s / 3)", be.ResetAt, want)
	}
	for scope, window := range map[string]time.Duration{
		"admin:org:" + f.orgID: time.Minute, "admin-requests:app": time.Hour, "admin-requests:tenant:t1": time.Hour,
	} {
		if used, _ := budget.Usage(t.Context(), now, scope, window); used != 1 {
			t.Errorf("%s used %d, want 1 (the refused request reserves nothing)", scope, used)
		}
	}

	f.clock.Advance(be.ResetAt.Sub(now))
	next, err := collect(t, c.SearchUsers(t.Context(), adminapi.UserQuery{Limit: 100, Cursor: pe.Cursor}))
	if !errors.As(err, &pe) || len(next) != 100 || next[0].AccountID <= got[len(got)-1].AccountID || f.sent.Load() != 2 {
		t.Fatalf("resume: %d users, %d sent, err %v", len(next), f.sent.Load(), err)
	}
}

// TestClient_SharedBudgetStopsListing: when other replicas have spent the
// org's minute window in the shared budget, the client sends nothing and
// says when the window resets; after the reset it lists everything.
func TestClient_SharedBudgetStopsListing(t *testing.T) {
	t.Parallel()
	f := setup(t, devsite.Params{Seed: 1, Users: 500})
	budget := atlassian.NewMemoryBudget()
	now := f.clock.Now()
	spent := atlassian.Charge{Scope: "admin:org:" + f.orgID, Units: 3, Limit: 3, Window: time.Minute}
	if err := budget.Reserve(t.Context(), now, []atlassian.Charge{spent}); err != nil {
		t.Fatal(err)
	}
	c := f.client(t, func(cfg *adminapi.Config) {
		cfg.Budget, cfg.RequestsPerMinute, cfg.MaxWait = budget, 3, 0
	})
	got, err := collect(t, c.SearchUsers(t.Context(), adminapi.UserQuery{Limit: 100}))
	var be *atlassian.BudgetError
	if !errors.As(err, &be) || be.Reason != atlassian.ReasonWindowFull || be.Scope != spent.Scope || len(got) != 0 || f.sent.Load() != 0 {
		t.Fatalf("err = %v after %d users and %d requests, want a full-window BudgetError before any request", err, len(got), f.sent.Load())
	}
	if want := now.Truncate(time.Minute).Add(time.Minute); !be.ResetAt.Equal(want) {
		t.Fatalf("resets at %s, want %s", be.ResetAt, want)
	}

	f.clock.Advance(be.ResetAt.Sub(now))
	c = f.client(t, func(cfg *adminapi.Config) {
		cfg.Budget, cfg.RequestsPerMinute, cfg.MaxWait = budget, 3, 2*time.Minute
	})
	all, err := collect(t, c.SearchUsers(t.Context(), adminapi.UserQuery{Limit: 100}))
	if err != nil || len(all) != 500 {
		t.Fatalf("after the reset: %d users, err %v", len(all), err)
	}
}

// ownTransport keeps this package's test requests out of
// http.DefaultTransport's pool: httptest.Server.Close in a parallel test
// closes that pool's idle connections, which can break a request in flight
// and turn an exact request count into a flaky one.
var ownTransport = http.DefaultTransport.(*http.Transport).Clone()
