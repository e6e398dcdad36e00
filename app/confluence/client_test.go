package confluence_test

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
	"github.com/lapsehq/lapse/app/confluence"
	"github.com/lapsehq/lapse/app/connect"
	"github.com/lapsehq/lapse/app/devsite"
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

func (e *env) client(t *testing.T, baseURL string, auth atlassian.Auth, pageSize int) *confluence.Client {
	t.Helper()
	tr, err := atlassian.New(atlassian.Config{
		BaseURL: baseURL, Auth: auth, Budget: e.budget,
		HTTPClient: &http.Client{Transport: e.calls, Timeout: 10 * time.Second},
		Logger:     slog.New(slog.DiscardHandler),
		SleepFunc:  func(context.Context, time.Duration) error { return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := confluence.New(confluence.Config{Transport: tr, TenantID: "t1", PageSize: pageSize})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) connectClient(t *testing.T, pageSize int, scopes ...string) *confluence.Client {
	t.Helper()
	key := appKey + "." + strings.ToLower(strings.Join(scopes, "-"))
	in, err := e.srv.RegisterConnectInstall(e.site, "confluence", key, scopes)
	if err != nil {
		t.Fatal(err)
	}
	return e.client(t, in.BaseURL, connect.TenantAuth{Signer: connect.Signer{AppKey: key}, BaseURL: in.BaseURL, Secret: []byte(in.SharedSecret)}, pageSize)
}

func (e *env) forgeClient(t *testing.T, pageSize int) *confluence.Client {
	t.Helper()
	tok := e.srv.MintSystemToken(e.site, "confluence", "inst-1", time.Hour)
	return e.client(t, confluence.ForgeBaseURL(e.ts.URL+"/ex/confluence/"+e.cloudID), atlassian.Bearer(tok), pageSize)
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

func (e *env) setMembers(t *testing.T, groupID string, n int) []string {
	t.Helper()
	var ids []string
	e.srv.WithOrg(func(o *devsite.Org) {
		for _, m := range slices.Clone(o.Group(groupID).Members()) {
			o.RemoveMember(groupID, m)
		}
		for _, u := range o.Users {
			if len(ids) < n && u.AccountType == "atlassian" {
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

func collect[T any](seq func(func(T, error) bool)) ([]T, error) {
	var out []T
	for v, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}

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
