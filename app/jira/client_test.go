package jira_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app/atlassian"
	"github.com/lapsehq/lapse/app/connect"
	"github.com/lapsehq/lapse/app/devsite"
	"github.com/lapsehq/lapse/app/jira"
)

const appKey = "com.lapsehq.lapse.test"

// env is a simulated site and what the tests need to call it.
type env struct {
	srv     *devsite.Server
	ts      *httptest.Server
	site    string
	cloudID string
	budget  *atlassian.MemoryBudget
	calls   *callLog
}

// callLog records the paths of the requests sent.
type callLog struct {
	mu    sync.Mutex
	paths []string
}

func (l *callLog) RoundTrip(r *http.Request) (*http.Response, error) {
	l.mu.Lock()
	l.paths = append(l.paths, r.URL.Path)
	l.mu.Unlock()
	return ownTransport.RoundTrip(r)
}

// count returns how many requests went to a path ending in suffix.
func (l *callLog) count(suffix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, p := range l.paths {
		if strings.HasSuffix(p, suffix) {
			n++
		}
	}
	return n
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
	e := &env{srv: srv, ts: ts, budget: atlassian.NewMemoryBudget(), calls: &callLog{}}
	srv.WithOrg(func(o *devsite.Org) { e.site, e.cloudID = o.Sites[0].Name, o.Sites[0].CloudID })
	return e
}

// transport returns the shared transport for baseURL with auth; retries
// do not sleep.
func (e *env) transport(t *testing.T, baseURL string, auth atlassian.Auth) *atlassian.Client {
	t.Helper()
	c, err := atlassian.New(atlassian.Config{
		BaseURL: baseURL, Auth: auth, Budget: e.budget,
		HTTPClient: &http.Client{Transport: e.calls, Timeout: 10 * time.Second},
		Logger:     slog.New(slog.DiscardHandler),
		SleepFunc:  func(context.Context, time.Duration) error { return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) client(t *testing.T, tr *atlassian.Client, pageSize int) *jira.Client {
	t.Helper()
	c, err := jira.New(jira.Config{Transport: tr, TenantID: "t1", PageSize: pageSize})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// connectClient installs a Connect app with scopes and returns its client.
func (e *env) connectClient(t *testing.T, pageSize int, scopes ...string) *jira.Client {
	t.Helper()
	key := appKey + "." + strings.ToLower(strings.Join(scopes, "-"))
	in, err := e.srv.RegisterConnectInstall(e.site, "jira", key, scopes)
	if err != nil {
		t.Fatal(err)
	}
	return e.client(t, e.transport(t, in.BaseURL, connect.TenantAuth{Signer: connect.Signer{AppKey: key}, BaseURL: in.BaseURL, Secret: []byte(in.SharedSecret)}), pageSize)
}

// forgeClient returns a client on the Forge gateway with a system token.
func (e *env) forgeClient(t *testing.T, pageSize int) *jira.Client {
	t.Helper()
	tok := e.srv.MintSystemToken(e.site, "jira", "inst-1", time.Hour)
	return e.client(t, e.transport(t, e.ts.URL+"/ex/jira/"+e.cloudID, atlassian.Bearer(tok)), pageSize)
}

func (e *env) groupNamed(t *testing.T, name string) string {
	t.Helper()
	var id string
	e.srv.WithOrg(func(o *devsite.Org) {
		for _, g := range o.Groups {
			if g.Name == name {
				id = g.ID
			}
		}
	})
	if id == "" {
		t.Fatalf("no group %q", name)
	}
	return id
}

// setMembers gives a group exactly n active human members.
func (e *env) setMembers(t *testing.T, groupID string, n int) []string {
	t.Helper()
	var ids []string
	e.srv.WithOrg(func(o *devsite.Org) {
		for _, m := range slices.Clone(o.Group(groupID).Members()) {
			o.RemoveMember(groupID, m)
		}
		for _, u := range o.Users {
			if len(ids) < n && u.AccountType == "atlassian" && u.AccountStatus == "active" && u.Status == "active" {
				o.AddMember(groupID, u.AccountID)
				ids = append(ids, u.AccountID)
			}
		}
	})
	if len(ids) != n {
		t.Fatalf("only %d users for %d members", len(ids), n)
	}
	slices.Sort(ids)
	return ids
}

// admins returns an org admin, a site admin and a plain user.
func (e *env) admins(t *testing.T) (orgAdmin, siteAdmin, plain string) {
	t.Helper()
	e.srv.WithOrg(func(o *devsite.Org) {
		for _, u := range o.Users {
			switch {
			case slices.Contains(u.PlatformRoles, devsite.PlatformOrgAdmin) && orgAdmin == "":
				orgAdmin = u.AccountID
			case slices.Contains(u.PlatformRoles, devsite.PlatformSiteAdmin) && siteAdmin == "":
				siteAdmin = u.AccountID
			case len(u.PlatformRoles) == 0 && u.AccountType == "atlassian" && u.AccountStatus == "active" &&
				len(o.ProductAccess(u)) > 0 && plain == "":
				plain = u.AccountID
			}
		}
	})
	return orgAdmin, siteAdmin, plain
}

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

// wantAPIError checks err is an *atlassian.APIError with status.
func wantAPIError(t *testing.T, err error, status int) {
	t.Helper()
	var ae *atlassian.APIError
	if !errors.As(err, &ae) || ae.Status != status {
		t.Fatalf("error %v (%T), want *atlassian.APIError %d", err, err, status)
	}
}

// ownTransport keeps this package's test requests out of
// http.DefaultTransport's pool: httptest.Server.Close in a parallel test
// closes that pool's idle connections, which can break a request in flight
// and turn an exact request count into a flaky one.
var ownTransport = http.DefaultTransport.(*http.Transport).Clone()
