package devsite

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app/connect"
)

// The middleware tests (limits, faults, control API) run against test-only
// routes, so they depend on nothing the API handlers do; the helpers carry
// an mw prefix to stay out of the way of the handlers' own tests.

// mwNow is the frozen base clock of the tests: half past ten, so the
// accounting hour resets in exactly 1,800 seconds. Burst buckets refill only
// when a test advances the clock.
var mwNow = time.Date(2026, 3, 2, 10, 30, 0, 0, time.UTC)

// Test-only routes.
const (
	mwRead      = "/rest/api/3/devsite-test/users"  // ?n= identity objects returned
	mwRead2     = "/rest/api/3/devsite-test/groups" // a second Jira endpoint
	mwWrite     = "/rest/api/3/devsite-test/remove" // removes one membership
	mwWiki      = "/wiki/rest/api/devsite-test/users"
	mwAdminRead = "/admin/v1/orgs/{orgId}/devsite-test"
	mwAppKey    = "com.lapsehq.lapse.mwtest"
)

var (
	mwHostOnce sync.Once
	mwHost     *Host
	mwHostErr  error
)

// mwSharedHost shares one signing host (two RSA keys) among the tests.
func mwSharedHost(t testing.TB) *Host {
	t.Helper()
	mwHostOnce.Do(func() { mwHost, mwHostErr = NewHost() })
	if mwHostErr != nil {
		t.Fatal(mwHostErr)
	}
	return mwHost
}

// mwEnv is a running site with the test routes.
type mwEnv struct {
	t      testing.TB
	s      *Server
	url    string
	client *http.Client
}

func newMWEnv(t testing.TB, p Params) *mwEnv {
	t.Helper()
	if p.Users == 0 {
		p.Users = 60
	}
	p.Seed = max(p.Seed, 1)
	s, err := NewServer(Config{Params: p, Host: mwSharedHost(t), NowFunc: func() time.Time { return mwNow }})
	if err != nil {
		t.Fatal(err)
	}
	read := func(w http.ResponseWriter, r *http.Request, c *call) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		c.Objects = n
		writeJSON(w, http.StatusOK, map[string]int{"objects": n})
	}
	remove := func(w http.ResponseWriter, r *http.Request, c *call) {
		s.mu.Lock()
		for _, g := range s.org.Groups {
			if m := g.Members(); len(m) > 0 {
				acct := m[0]
				s.org.RemoveMember(g.ID, acct)
				s.recordWrite(c, r, LedgerRemove, acct, g)
				break
			}
		}
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}
	s.productRoute(APIJira, http.MethodGet, mwRead, ScopeRead, read)
	s.productRoute(APIJira, http.MethodGet, mwRead2, ScopeRead, read)
	s.productRoute(APIJira, http.MethodPost, mwWrite, ScopeRead, remove)
	s.productRoute(APIConfluence, http.MethodGet, mwWiki, ScopeRead, read)
	s.adminRoute("GET "+mwAdminRead, read)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	s.SetBaseURL(ts.URL)
	// No keep-alive: Go's transport silently retries an idempotent request
	// whose reused connection was dropped, which would hide drop faults.
	tr := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &mwEnv{t: t, s: s, url: ts.URL, client: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// mwAnswer is a response read in full, or the transport error.
type mwAnswer struct {
	status  int
	header  http.Header
	body    string
	err     error
	elapsed time.Duration
}

func (e *mwEnv) send(req *http.Request) mwAnswer {
	e.t.Helper()
	start := time.Now()
	resp, err := e.client.Do(req)
	if err != nil {
		return mwAnswer{err: err, elapsed: time.Since(start)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return mwAnswer{status: resp.StatusCode, header: resp.Header, body: string(b), err: err, elapsed: time.Since(start)}
}

// mwCaller calls product routes with one credential.
type mwCaller struct {
	e    *mwEnv
	base string // the URL the product paths hang off
	sign func(*http.Request)
}

// connect installs a Connect app (mwAppKey unless key is given) into
// product on site and returns a caller that signs its requests.
func (e *mwEnv) connect(site, product string, key ...string) mwCaller {
	e.t.Helper()
	appKey := mwAppKey
	if len(key) > 0 {
		appKey = key[0]
	}
	in, err := e.s.RegisterConnectInstall(site, product, appKey, []string{"READ", "WRITE"})
	if err != nil {
		e.t.Fatal(err)
	}
	signer := connect.Signer{AppKey: appKey}
	return mwCaller{e: e, base: e.url + "/s/" + site, sign: func(r *http.Request) {
		if err := signer.Sign(r, in.BaseURL, []byte(in.SharedSecret)); err != nil {
			e.t.Fatal(err)
		}
	}}
}

// forge mints a Forge system token for product on site and returns a
// caller that uses it through the Forge gateway.
func (e *mwEnv) forge(site, product string) mwCaller {
	e.t.Helper()
	tok := e.s.MintSystemToken(site, product, "inst-"+site+"-"+product, time.Hour)
	var cloudID string
	e.s.WithOrg(func(o *Org) { cloudID = o.SiteByName(site).CloudID })
	return mwCaller{e: e, base: e.url + "/ex/" + product + "/" + cloudID, sign: func(r *http.Request) {
		r.Header.Set("Authorization", "Bearer "+tok)
	}}
}

func (c mwCaller) do(method, path string) mwAnswer {
	c.e.t.Helper()
	req, err := http.NewRequest(method, c.base+path, nil)
	if err != nil {
		c.e.t.Fatal(err)
	}
	c.sign(req)
	return c.e.send(req)
}

// read fetches mwRead returning n identity objects (cost 1 + 2n).
func (c mwCaller) read(n int) mwAnswer {
	c.e.t.Helper()
	return c.do(http.MethodGet, mwRead+"?n="+strconv.Itoa(n))
}

// admin calls an Admin API path with the org API key.
func (e *mwEnv) admin(method, path string) mwAnswer {
	e.t.Helper()
	var orgID, key string
	e.s.WithOrg(func(o *Org) { orgID, key = o.ID, o.APIKey })
	req, _ := http.NewRequest(method, e.url+strings.ReplaceAll(path, "{orgId}", orgID), nil)
	req.Header.Set("Authorization", "Bearer "+key)
	return e.send(req)
}

// control calls the control API and decodes its JSON answer into out.
func (e *mwEnv) control(method, path string, body any, out any) int {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.url+path, rd)
	req.Header.Set("Content-Type", "application/json")
	a := e.send(req)
	if a.err != nil {
		e.t.Fatalf("%s %s: %v", method, path, a.err)
	}
	if out != nil && a.status < 300 {
		if err := json.Unmarshal([]byte(a.body), out); err != nil {
			e.t.Fatalf("%s %s: %v in %s", method, path, err, a.body)
		}
	}
	if a.status >= 300 && out == nil {
		e.t.Logf("%s %s = %d %s", method, path, a.status, a.body)
	}
	return a.status
}

// mustControl is control that fails the test unless the answer is 200.
func (e *mwEnv) mustControl(method, path string, body any, out any) {
	e.t.Helper()
	if st := e.control(method, path, body, out); st != http.StatusOK {
		e.t.Fatalf("%s %s = %d", method, path, st)
	}
}

func (e *mwEnv) stats() statsView {
	e.t.Helper()
	var v statsView
	e.mustControl(http.MethodGet, "/_devsite/stats", nil, &v)
	return v
}

func (e *mwEnv) advance(d string) {
	e.t.Helper()
	e.mustControl(http.MethodPost, "/_devsite/clock", map[string]string{"advance": d}, nil)
}

func TestControl_LoopbackOnly(t *testing.T) {
	t.Parallel()
	e := newMWEnv(t, Params{})
	cases := []struct {
		name   string
		remote string
		host   string
		header map[string]string
		want   int
	}{
		{"loopback_v4", "127.0.0.1:40000", "127.0.0.1:8090", nil, http.StatusOK},
		{"loopback_v6", "[::1]:40000", "localhost:8090", nil, http.StatusOK},
		{"remote_caller", "192.0.2.10:40000", "127.0.0.1:8090", nil, http.StatusForbidden},
		{"private_network", "10.0.0.5:40000", "127.0.0.1:8090", nil, http.StatusForbidden},
		{"dns_rebinding", "127.0.0.1:40000", "attacker.example:8090", nil, http.StatusForbidden},
		{"proxied", "127.0.0.1:40000", "127.0.0.1:8090", map[string]string{"X-Forwarded-For": "198.51.100.7"}, http.StatusForbidden},
		{"cross_site_origin", "127.0.0.1:40000", "127.0.0.1:8090", map[string]string{"Origin": "https://attacker.example"}, http.StatusForbidden},
		{"cross_site_fetch", "127.0.0.1:40000", "127.0.0.1:8090", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"same_origin_page", "127.0.0.1:40000", "127.0.0.1:8090", map[string]string{"Origin": "http://127.0.0.1:8090"}, http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, path := range []string{"/_devsite/org", "/_devsite/stats"} {
				req := httptest.NewRequest(http.MethodGet, "http://"+tc.host+path, nil)
				req.RemoteAddr = tc.remote
				for k, v := range tc.header {
					req.Header.Set(k, v)
				}
				rec := httptest.NewRecorder()
				e.s.Handler().ServeHTTP(rec, req)
				if rec.Code != tc.want {
					t.Fatalf("%s = %d %s, want %d", path, rec.Code, rec.Body, tc.want)
				}
				if tc.want == http.StatusForbidden && strings.Contains(rec.Body.String(), "apiKey") {
					t.Fatal("a refused caller saw the org summary")
				}
			}
		})
	}
}

func TestControl_OrgAndReset(t *testing.T) {
	t.Parallel()
	e := newMWEnv(t, Params{Users: 40, Sites: 2, Seed: 3})
	var org orgSummary
	e.mustControl(http.MethodGet, "/_devsite/org", nil, &org)
	if org.Users != 40 || len(org.Sites) != 2 || org.APIKey == "" || org.OrgID == "" || org.DirectoryID == "" || org.AdminAPIURL != e.url {
		t.Fatalf("org = %+v", org)
	}
	acme := org.Sites[0]
	if acme.Name != "acme" || acme.JiraURL != e.url+"/s/acme" || acme.ConfluenceURL != e.url+"/s/acme/wiki" || len(acme.Products) != 3 ||
		acme.Products[0].ARI != ProductARI(acme.Products[0].Key, acme.CloudID) {
		t.Fatalf("site = %+v", acme)
	}

	// Some traffic, a ledger entry, then a reset to another population.
	jira := e.connect("acme", APIJira)
	if a := jira.do(http.MethodPost, mwWrite); a.status != http.StatusNoContent {
		t.Fatalf("write = %d %s", a.status, a.body)
	}
	var reset orgSummary
	e.mustControl(http.MethodPost, "/_devsite/reset", Params{Users: 25, Seed: 9}, &reset)
	if reset.Users != 25 || len(reset.Sites) != 1 || reset.OrgID == org.OrgID || reset.Params.Seed != 9 {
		t.Fatalf("after reset = %+v", reset)
	}
	var ledger struct {
		Entries []LedgerEntry `json:"entries"`
	}
	e.mustControl(http.MethodGet, "/_devsite/ledger", nil, &ledger)
	if st := e.stats(); len(ledger.Entries) != 0 || len(st.Endpoints) != 0 || len(st.Budget.Apps) != 0 {
		t.Fatalf("reset kept ledger %v or stats %+v", ledger.Entries, st)
	}
	// The installation survived: the same credentials still work.
	if a := jira.read(1); a.status != http.StatusOK {
		t.Fatalf("read after reset = %d %s", a.status, a.body)
	}
	if len(reset.Installs) != 1 || reset.Installs[0].AppKey != mwAppKey || reset.Installs[0].Site != "acme" {
		t.Fatalf("installs = %+v", reset.Installs)
	}
	// An empty body regenerates with the current parameters.
	var again orgSummary
	e.mustControl(http.MethodPost, "/_devsite/reset", nil, &again)
	if again.Users != 25 || again.OrgID != reset.OrgID {
		t.Fatalf("empty reset = %+v, want the same org as %+v", again, reset)
	}
	if st := e.control(http.MethodPost, "/_devsite/reset", map[string]any{"userz": 3}, nil); st != http.StatusBadRequest {
		t.Fatalf("misspelt parameter = %d", st)
	}
}

func TestControl_Ledger(t *testing.T) {
	t.Parallel()
	e := newMWEnv(t, Params{})
	jira := e.connect("acme", APIJira)
	for range 3 {
		jira.do(http.MethodPost, mwWrite)
	}
	var out struct {
		Entries []LedgerEntry `json:"entries"`
		Last    int64         `json:"last"`
	}
	e.mustControl(http.MethodGet, "/_devsite/ledger?since=1", nil, &out)
	if len(out.Entries) != 2 || out.Entries[0].Seq != 2 || out.Last != 3 || out.Entries[0].Op != LedgerRemove || out.Entries[0].Caller != CallerConnect+":"+mwAppKey {
		t.Fatalf("ledger = %+v", out)
	}
	if st := e.control(http.MethodGet, "/_devsite/ledger?since=x", nil, nil); st != http.StatusBadRequest {
		t.Fatalf("bad since = %d", st)
	}
}

func TestControl_Clock(t *testing.T) {
	t.Parallel()
	e := newMWEnv(t, Params{})
	var c struct {
		Now    time.Time `json:"now"`
		Offset string    `json:"offset"`
	}
	e.mustControl(http.MethodPost, "/_devsite/clock", map[string]string{"advance": "1h30m"}, &c)
	if !c.Now.Equal(mwNow.Add(90*time.Minute)) || c.Offset != "1h30m0s" {
		t.Fatalf("clock = %+v", c)
	}
	for _, bad := range []any{map[string]string{"advance": "-1h"}, map[string]string{"advance": "soon"}, map[string]int{"advance": 5}, map[string]string{}} {
		if st := e.control(http.MethodPost, "/_devsite/clock", bad, nil); st != http.StatusBadRequest {
			t.Fatalf("advance %v = %d", bad, st)
		}
	}
	// Forge system tokens expire on the site clock.
	f := e.forge("acme", APIJira)
	e.advance("61m")
	if a := f.read(0); a.status != http.StatusUnauthorized {
		t.Fatalf("expired system token = %d", a.status)
	}
}

func TestControl_SettingsValidation(t *testing.T) {
	t.Parallel()
	e := newMWEnv(t, Params{})
	var lim LimitConfig
	e.mustControl(http.MethodGet, "/_devsite/limits", nil, &lim)
	if lim.AppPointsPerHour != 65000 || lim.TenantPointsPerHour != 0 || lim.AdminRequestsPerMinute != 200 || !*lim.Enforced ||
		lim.Burst["GET"] != 100 || lim.Burst["DELETE"] != 50 || lim.BurstOverrides["GET /rest/api/3/user"] != 150 {
		t.Fatalf("default limits = %+v", lim)
	}
	e.mustControl(http.MethodPut, "/_devsite/limits", map[string]any{"appPointsPerHour": 500, "burst": map[string]int{"get": 7}}, &lim)
	e.mustControl(http.MethodPatch, "/_devsite/limits", map[string]any{"enforced": false}, &lim)
	if lim.AppPointsPerHour != 500 || lim.Burst["GET"] != 7 || lim.Burst["POST"] != 100 || *lim.Enforced {
		t.Fatalf("patched limits = %+v", lim)
	}
	e.mustControl(http.MethodPut, "/_devsite/limits", map[string]any{}, &lim)
	if lim.AppPointsPerHour != 65000 || !*lim.Enforced {
		t.Fatalf("PUT {} did not restore defaults: %+v", lim)
	}

	var f FaultConfig
	e.mustControl(http.MethodPut, "/_devsite/faults", map[string]any{"jira": map[string]float64{"drop": 0.25}, "slowDelay": "150ms"}, &f)
	e.mustControl(http.MethodPatch, "/_devsite/faults", map[string]any{"admin": map[string]float64{"status500": 0.5}}, &f)
	if f.Jira == nil || f.Jira.Drop != 0.25 || f.Admin == nil || f.Admin.Status500 != 0.5 || time.Duration(f.SlowDelay) != 150*time.Millisecond ||
		time.Duration(f.TimeoutHold) != DefaultTimeoutHold {
		t.Fatalf("faults = %+v", f)
	}

	bad := []struct {
		path string
		body any
	}{
		{"/_devsite/limits", map[string]any{"appPointsPerHuor": 5}},
		{"/_devsite/limits", map[string]any{"burst": map[string]int{"TRACE": 5}}},
		{"/_devsite/limits", map[string]any{"burstOverrides": map[string]int{"/rest/api/3/user": 5}}},
		{"/_devsite/faults", map[string]any{"jira": map[string]float64{"drop": 1.5}}},
		{"/_devsite/faults", map[string]any{"all": map[string]float64{"drop": 0.6, "status500": 0.6}}},
		{"/_devsite/faults", map[string]any{"slowDelay": 5}},
		{"/_devsite/faults", map[string]any{"timeoutHold": "-1s"}},
	}
	for _, b := range bad {
		if st := e.control(http.MethodPut, b.path, b.body, nil); st != http.StatusBadRequest {
			t.Fatalf("PUT %s %v = %d, want 400", b.path, b.body, st)
		}
	}
	if st := e.control(http.MethodDelete, "/_devsite/faults", nil, nil); st != http.StatusNotFound {
		t.Fatalf("unknown method = %d", st)
	}
}

// TestControl_Install drives POST /_devsite/install against a stand-in for
// Lapse that checks what it is sent, then uses the credentials Lapse would
// have received against the site.
func TestControl_Install(t *testing.T) {
	t.Parallel()
	e := newMWEnv(t, Params{})
	var mu sync.Mutex
	var installed map[string]any
	var systemToken, fitAuth string
	lapse := http.NewServeMux()
	var lapseURL string
	lapse.HandleFunc("GET /atlassian-connect.json", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"key": "com.example.app", "baseUrl": lapseURL, "scopes": []string{"READ"}})
	})
	lapse.HandleFunc("POST /installed", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		_ = json.NewDecoder(r.Body).Decode(&installed)
		if !strings.HasPrefix(r.Header.Get("Authorization"), "JWT ") {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	lapse.HandleFunc("POST /forge/scheduled", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("x-forge-oauth-system") == "" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		writeJSON(w, 200, map[string]any{"kind": "scheduled"})
	})
	lapse.HandleFunc("POST /forge/events", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		systemToken, fitAuth = r.Header.Get("x-forge-oauth-system"), r.Header.Get("Authorization")
		writeJSON(w, 200, map[string]any{"tenantId": "t1"})
	})
	lapse.HandleFunc("GET /api/v1/tenant", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		writeJSON(w, 200, map[string]any{"id": "t1", "baseUrl": installed["baseUrl"]})
	})
	ls := httptest.NewServer(lapse)
	defer ls.Close()
	lapseURL = ls.URL

	var res installResult
	e.mustControl(http.MethodPost, "/_devsite/install", map[string]any{"lapseUrl": ls.URL, "product": "confluence", "forge": true}, &res)
	var tenant map[string]any
	_ = json.Unmarshal(res.Tenant, &tenant)
	if res.AppKey != "com.example.app" || res.BaseURL != e.url+"/s/acme/wiki" || res.ClientKey == "" || res.InstallationID == "" ||
		tenant["baseUrl"] != res.BaseURL || installed["clientKey"] != res.ClientKey || installed["sharedSecret"] == "" {
		t.Fatalf("install = %+v, tenant %v, payload %v", res, tenant, installed)
	}
	if !strings.HasPrefix(fitAuth, "Bearer ") || systemToken == "" {
		t.Fatalf("forge event auth %q, system token %q", fitAuth, systemToken)
	}
	// The app's Connect JWT and its Forge system token both work.
	signer := connect.Signer{AppKey: "com.example.app"}
	req, _ := http.NewRequest(http.MethodGet, res.BaseURL+"/rest/api/devsite-test/users?n=1", nil)
	_ = signer.Sign(req, res.BaseURL, []byte(installed["sharedSecret"].(string)))
	if a := e.send(req); a.status != http.StatusOK {
		t.Fatalf("Connect call after install = %d %s", a.status, a.body)
	}
	req, _ = http.NewRequest(http.MethodGet, e.url+"/ex/confluence/"+res.CloudID+mwWiki, nil)
	req.Header.Set("Authorization", "Bearer "+systemToken)
	if a := e.send(req); a.status != http.StatusOK {
		t.Fatalf("Forge call after install = %d %s", a.status, a.body)
	}
	// A reinstall keeps the clientKey and installation id.
	var again installResult
	e.mustControl(http.MethodPost, "/_devsite/install", map[string]any{"lapseUrl": ls.URL, "product": "confluence", "forge": true}, &again)
	if again.ClientKey != res.ClientKey || again.InstallationID != res.InstallationID {
		t.Fatalf("reinstall = %+v, first %+v", again, res)
	}
	var trig map[string]any
	e.mustControl(http.MethodPost, "/_devsite/trigger", map[string]any{"lapseUrl": ls.URL, "product": "confluence"}, &trig)
	if trig["installationId"] != res.InstallationID {
		t.Fatalf("trigger = %v", trig)
	}

	for _, bad := range []map[string]any{
		{"lapseUrl": "not a url"},
		{"lapseUrl": ls.URL, "product": "bitbucket"},
		{"lapseUrl": ls.URL, "site": "nowhere"},
	} {
		if st := e.control(http.MethodPost, "/_devsite/install", bad, nil); st != http.StatusBadRequest {
			t.Fatalf("install %v = %d", bad, st)
		}
	}
	if st := e.control(http.MethodPost, "/_devsite/install", map[string]any{"lapseUrl": "http://127.0.0.1:1"}, nil); st != http.StatusBadGateway {
		t.Fatalf("install into nothing = %d", st)
	}
}
