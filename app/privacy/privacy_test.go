package privacy_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app/atlassian"
	"github.com/lapsehq/lapse/app/connect"
	"github.com/lapsehq/lapse/app/devsite"
	"github.com/lapsehq/lapse/app/privacy"
)

// countingTransport counts the requests sent.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return ownTransport.RoundTrip(r)
}

type env struct {
	srv   *devsite.Server
	ts    *httptest.Server
	site  string
	calls *countingTransport
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv, err := devsite.NewServer(devsite.Config{Params: devsite.Params{Seed: 1, Users: 300}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	srv.SetBaseURL(ts.URL)
	e := &env{srv: srv, ts: ts, calls: &countingTransport{}}
	srv.WithOrg(func(o *devsite.Org) { e.site = o.Sites[0].Name })
	return e
}

func (e *env) client(t *testing.T, auth atlassian.Auth) *privacy.Client {
	t.Helper()
	tr, err := atlassian.New(atlassian.Config{
		BaseURL: e.ts.URL, Auth: auth,
		HTTPClient: &http.Client{Transport: e.calls, Timeout: 10 * time.Second},
		Logger:     slog.New(slog.DiscardHandler),
		SleepFunc:  func(context.Context, time.Duration) error { return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := privacy.New(privacy.Config{Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// accounts returns 200 accounts of the org: those at index%50 == 7 are
// closed, those at index%40 == 3 were fetched 10 days ago, the rest today.
func (e *env) accounts(t *testing.T) (all []privacy.Account, closed, updated []string) {
	t.Helper()
	now := time.Now()
	e.srv.WithOrg(func(o *devsite.Org) {
		for i, u := range o.Users[:200] {
			a := privacy.Account{AccountID: u.AccountID, UpdatedAt: now}
			switch {
			case i%50 == 7:
				u.AccountStatus = "closed"
				closed = append(closed, u.AccountID)
			case i%40 == 3:
				a.UpdatedAt = now.Add(-10 * 24 * time.Hour)
				updated = append(updated, u.AccountID)
			}
			all = append(all, a)
		}
	})
	return all, closed, updated
}

func TestClient_ReportAccounts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	all, closed, updated := e.accounts(t)
	in, err := e.srv.RegisterConnectInstall(e.site, "jira", "com.lapsehq.lapse", []string{"READ"})
	if err != nil {
		t.Fatal(err)
	}
	auths := map[string]atlassian.Auth{
		"forge":   atlassian.Bearer(e.srv.MintSystemToken(e.site, "confluence", "inst", time.Hour)),
		"connect": connect.TenantAuth{Signer: connect.Signer{AppKey: "com.lapsehq.lapse"}, BaseURL: e.ts.URL, Secret: []byte(in.SharedSecret)},
	}
	for name, auth := range auths {
		t.Run(name, func(t *testing.T) {
			e := *e
			e.calls = &countingTransport{}
			res, err := e.client(t, auth).ReportAccounts(ctx, all)
			if err != nil {
				t.Fatal(err)
			}
			if n := e.calls.n.Load(); n != 3 { // 90 + 90 + 20
				t.Fatalf("%d requests, want 3", n)
			}
			if !slices.Equal(res.Closed, closed) || !slices.Equal(res.Updated, updated) {
				t.Fatalf("closed %v updated %v; want %v and %v", res.Closed, res.Updated, closed, updated)
			}
			if res.CyclePeriod != 7*24*time.Hour {
				t.Fatalf("cycle %s", res.CyclePeriod)
			}
		})
	}
	t.Run("nothing_to_do", func(t *testing.T) {
		res, err := e.client(t, auths["forge"]).ReportAccounts(ctx, []privacy.Account{{AccountID: devsite.PrivacyTestActiveAccount, UpdatedAt: time.Now()}})
		if err != nil || len(res.Closed)+len(res.Updated) != 0 || res.CyclePeriod != privacy.DefaultCyclePeriod {
			t.Fatalf("result %+v, %v", res, err)
		}
	})
	t.Run("no_accounts", func(t *testing.T) {
		e := *e
		e.calls = &countingTransport{}
		if _, err := e.client(t, auths["forge"]).ReportAccounts(ctx, nil); err != nil || e.calls.n.Load() != 0 {
			t.Fatalf("err %v, %d requests", err, e.calls.n.Load())
		}
	})
	t.Run("failed_batch_keeps_earlier_results", func(t *testing.T) {
		broken := slices.Clone(all)
		broken[100].AccountID = "" // the site refuses the second batch
		res, err := e.client(t, auths["forge"]).ReportAccounts(ctx, broken)
		var ae *atlassian.APIError
		if !errors.As(err, &ae) || ae.Status != 400 || !strings.Contains(err.Error(), "91–180") {
			t.Fatalf("error %v", err)
		}
		if !slices.Equal(res.Closed, closed[:2]) { // indexes 7 and 57
			t.Fatalf("closed so far %v", res.Closed)
		}
	})
	t.Run("org_api_key_refused", func(t *testing.T) {
		var key string
		e.srv.WithOrg(func(o *devsite.Org) { key = o.APIKey })
		_, err := e.client(t, atlassian.Bearer(key)).ReportAccounts(ctx, all[:1])
		var ae *atlassian.APIError
		if !errors.As(err, &ae) || ae.Status != 401 {
			t.Fatalf("error %v", err)
		}
	})
}

func TestParseCyclePeriod(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"P7D", 7 * 24 * time.Hour, true},
		{"P1W", 7 * 24 * time.Hour, true},
		{"PT12H", 12 * time.Hour, true},
		{"P1DT2H3M4S", 26*time.Hour + 3*time.Minute + 4*time.Second, true},
		{"P0D", 0, false},
		{"P1M", 0, false}, // months have no fixed length
		{"", 0, false},
		{"7 days", 0, false},
	}
	for _, tc := range cases {
		if got, ok := privacy.ParseCyclePeriod(tc.in); got != tc.want || ok != tc.ok {
			t.Errorf("ParseCyclePeriod(%q) = %s, %v; want %s, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// ownTransport keeps this package's test requests out of
// http.DefaultTransport's pool: httptest.Server.Close in a parallel test
// closes that pool's idle connections, which can break a request in flight
// and turn an exact request count into a flaky one.
var ownTransport = http.DefaultTransport.(*http.Transport).Clone()
