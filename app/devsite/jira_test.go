package devsite_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app/connect"
	"github.com/lapsehq/lapse/app/devsite"
)

// testAppKey is the Connect app key the product tests install under; each
// scope set gets its own key (an installation is per site, product and key).
const testAppKey = "com.lapsehq.lapse.test"

// siteFixture is a running simulated site with one org of 300 users.
type siteFixture struct {
	srv     *devsite.Server
	ts      *httptest.Server
	site    string // URL name of the first site
	cloudID string
}

func newSiteFixture(t testing.TB) *siteFixture {
	t.Helper()
	srv, err := devsite.NewServer(devsite.Config{Params: devsite.Params{Seed: 1, Users: 300}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	srv.SetBaseURL(ts.URL)
	f := &siteFixture{srv: srv, ts: ts}
	srv.WithOrg(func(o *devsite.Org) { f.site, f.cloudID = o.Sites[0].Name, o.Sites[0].CloudID })
	return f
}

// connectApp is a Connect installation of a test app with some scopes.
type connectApp struct {
	key     string
	product string
	install *devsite.Installation
}

// installConnect installs a test app into product with scopes.
func (f *siteFixture) installConnect(t testing.TB, product string, scopes ...string) connectApp {
	t.Helper()
	key := testAppKey + "." + product + "." + strings.ToLower(strings.Join(scopes, "-"))
	in, err := f.srv.RegisterConnectInstall(f.site, product, key, scopes)
	if err != nil {
		t.Fatal(err)
	}
	return connectApp{key: key, product: product, install: in}
}

// forgeToken mints a Forge system token for product on the first site.
func (f *siteFixture) forgeToken(t testing.TB, product string) string {
	t.Helper()
	tok := f.srv.MintSystemToken(f.site, product, "inst-"+product, time.Hour)
	if tok == "" {
		t.Fatal("MintSystemToken returned no token")
	}
	return tok
}

// answer is a response read in full.
type answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// decode unmarshals the body into v.
func (a answer) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(a.Body, v); err != nil {
		t.Fatalf("decode %s: %v", a.Body, err)
	}
}

// send builds a request to target with an optional JSON body, lets auth set
// credentials and returns the answer.
func send(t testing.TB, method, target string, body any, auth func(*http.Request)) answer {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != nil {
		auth(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// connect sends a Connect-signed request to the site URL of app's product;
// path is the product path ("/rest/api/3/…" or "/wiki/rest/api/…").
func (f *siteFixture) connect(t testing.TB, app connectApp, method, path string, q url.Values, body any) answer {
	t.Helper()
	target := f.ts.URL + "/s/" + f.site + path
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	return send(t, method, target, body, func(r *http.Request) {
		err := connect.Signer{AppKey: app.key}.Sign(r, app.install.BaseURL, []byte(app.install.SharedSecret))
		if err != nil {
			t.Fatal(err)
		}
	})
}

// forge sends a request through the Forge gateway URL of product with a
// Bearer token.
func (f *siteFixture) forge(t testing.TB, token, product, method, path string, q url.Values, body any) answer {
	t.Helper()
	target := f.ts.URL + "/ex/" + product + "/" + f.cloudID + path
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	return send(t, method, target, body, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) })
}

// orgKey returns the org admin API key.
func (f *siteFixture) orgKey() string {
	var key string
	f.srv.WithOrg(func(o *devsite.Org) { key = o.APIKey })
	return key
}

// groupNamed returns the id of the group with name.
func (f *siteFixture) groupNamed(t testing.TB, name string) string {
	t.Helper()
	var id string
	f.srv.WithOrg(func(o *devsite.Org) {
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

// setMembers makes the group hold exactly n active human members.
func (f *siteFixture) setMembers(t testing.TB, groupID string, n int) []string {
	t.Helper()
	var ids []string
	f.srv.WithOrg(func(o *devsite.Org) {
		for _, m := range slices.Clone(o.Group(groupID).Members()) {
			o.RemoveMember(groupID, m)
		}
		for _, u := range o.Users {
			if len(ids) == n {
				break
			}
			if u.AccountType == "atlassian" && u.AccountStatus == "active" && u.Status == "active" {
				o.AddMember(groupID, u.AccountID)
				ids = append(ids, u.AccountID)
			}
		}
	})
	if len(ids) != n {
		t.Fatalf("only %d eligible users for %d members", len(ids), n)
	}
	slices.Sort(ids)
	return ids
}

// accounts returns one account id per kind: an org admin, a site admin, a
// plain Jira user with no admin role, and a deactivated user.
func (f *siteFixture) accounts(t testing.TB) (orgAdmin, siteAdmin, plain, inactive string) {
	t.Helper()
	f.srv.WithOrg(func(o *devsite.Org) {
		for _, u := range o.Users {
			switch {
			case slices.Contains(u.PlatformRoles, devsite.PlatformOrgAdmin) && orgAdmin == "":
				orgAdmin = u.AccountID
			case slices.Contains(u.PlatformRoles, devsite.PlatformSiteAdmin) && siteAdmin == "":
				siteAdmin = u.AccountID
			case len(u.PlatformRoles) == 0 && u.AccountType == "atlassian" && u.AccountStatus == "active" &&
				plain == "" && len(o.ProductAccess(u)) > 0 && !memberOfPrefix(o, u, "site-admins-"):
				plain = u.AccountID
			case u.AccountStatus == "inactive" && inactive == "":
				inactive = u.AccountID
			}
		}
	})
	if orgAdmin == "" || siteAdmin == "" || plain == "" || inactive == "" {
		t.Fatal("population lacks an account kind")
	}
	return orgAdmin, siteAdmin, plain, inactive
}

func memberOfPrefix(o *devsite.Org, u *devsite.User, prefix string) bool {
	for _, gid := range u.GroupIDs() {
		if strings.HasPrefix(o.Group(gid).Name, prefix) {
			return true
		}
	}
	return false
}

func wantStatus(t testing.TB, a answer, status int) {
	t.Helper()
	if a.Status != status {
		t.Fatalf("status = %d, want %d; body %s", a.Status, status, a.Body)
	}
}

// jiraPage is the PageBean shape the tests read.
type jiraPage struct {
	Self       string            `json:"self"`
	NextPage   string            `json:"nextPage"`
	MaxResults int               `json:"maxResults"`
	StartAt    int               `json:"startAt"`
	Total      int               `json:"total"`
	IsLast     bool              `json:"isLast"`
	Values     []json.RawMessage `json:"values"`
}

func TestJira_ConnectScopes(t *testing.T) {
	t.Parallel()
	f := newSiteFixture(t)
	read := f.installConnect(t, "jira", "READ")
	admin := f.installConnect(t, "jira", "READ", "ADMIN")
	gid := f.groupNamed(t, "team-01")
	_, _, plain, _ := f.accounts(t)
	cases := []struct {
		name   string
		app    connectApp
		method string
		path   string
		q      url.Values
		body   any
		want   int
	}{
		{"read_permissions_check", read, "POST", "/rest/api/3/permissions/check", nil, map[string]any{"accountId": plain, "globalPermissions": []string{"ADMINISTER"}}, 200},
		{"read_user_groups", read, "GET", "/rest/api/3/user/groups", url.Values{"accountId": {plain}}, nil, 200},
		{"read_group_bulk_refused", read, "GET", "/rest/api/3/group/bulk", nil, nil, 403},
		{"read_group_member_refused", read, "GET", "/rest/api/3/group/member", url.Values{"groupId": {gid}}, nil, 403},
		{"admin_group_bulk", admin, "GET", "/rest/api/3/group/bulk", nil, nil, 200},
		{"admin_group_member", admin, "GET", "/rest/api/3/group/member", url.Values{"groupId": {gid}}, nil, 200},
		{"users_search_inaccessible", admin, "GET", "/rest/api/3/users/search", nil, nil, 403},
		{"applicationrole_inaccessible", admin, "GET", "/rest/api/3/applicationrole", nil, nil, 403},
		{"group_user_add_inaccessible", admin, "POST", "/rest/api/3/group/user", url.Values{"groupId": {gid}}, map[string]string{"accountId": plain}, 403},
		{"group_user_remove_inaccessible", admin, "DELETE", "/rest/api/3/group/user", url.Values{"groupId": {gid}, "accountId": {plain}}, nil, 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := f.connect(t, tc.app, tc.method, tc.path, tc.q, tc.body)
			wantStatus(t, a, tc.want)
			if tc.want == 403 {
				var ec struct {
					ErrorMessages []string          `json:"errorMessages"`
					Errors        map[string]string `json:"errors"`
				}
				a.decode(t, &ec)
				if len(ec.ErrorMessages) == 0 {
					t.Fatalf("403 without errorMessages: %s", a.Body)
				}
			}
		})
	}
}

func TestJira_Credentials(t *testing.T) {
	t.Parallel()
	f := newSiteFixture(t)
	confToken := f.forgeToken(t, "confluence")
	t.Run("org_key_refused", func(t *testing.T) {
		a := f.forge(t, f.orgKey(), "jira", "GET", "/rest/api/3/group/bulk", nil, nil)
		wantStatus(t, a, 401)
	})
	t.Run("confluence_token_refused_by_jira", func(t *testing.T) {
		a := f.forge(t, confToken, "jira", "GET", "/rest/api/3/group/bulk", nil, nil)
		wantStatus(t, a, 401)
	})
	t.Run("no_credentials", func(t *testing.T) {
		a := send(t, "GET", f.ts.URL+"/s/"+f.site+"/rest/api/3/group/bulk", nil, nil)
		wantStatus(t, a, 401)
	})
	t.Run("expired_token", func(t *testing.T) {
		tok := f.srv.MintSystemToken(f.site, "jira", "inst", -time.Second)
		wantStatus(t, f.forge(t, tok, "jira", "GET", "/rest/api/3/group/bulk", nil, nil), 401)
	})
	t.Run("unknown_site", func(t *testing.T) {
		if tok := f.srv.MintSystemToken("nosuchsite", "jira", "inst", time.Hour); tok != "" {
			t.Fatal("token minted for an unknown site")
		}
	})
}

func TestJira_ForgeEndpoints(t *testing.T) {
	t.Parallel()
	f := newSiteFixture(t)
	tok := f.forgeToken(t, "jira")
	gid := f.groupNamed(t, "team-01")
	_, _, plain, _ := f.accounts(t)
	for _, path := range []string{"/rest/api/3/group/bulk", "/rest/api/3/users/search", "/rest/api/3/applicationrole"} {
		wantStatus(t, f.forge(t, tok, "jira", "GET", path, nil, nil), 200)
	}
	wantStatus(t, f.forge(t, tok, "jira", "GET", "/rest/api/3/group/member", url.Values{"groupId": {gid}}, nil), 200)

	// The app user is no site admin: membership writes are refused and leave
	// the org and the ledger untouched.
	before := f.srv.Ledger()
	add := f.forge(t, tok, "jira", "POST", "/rest/api/3/group/user", url.Values{"groupId": {gid}}, map[string]string{"accountId": plain})
	wantStatus(t, add, 403)
	if !strings.Contains(string(add.Body), "user does not have the relevant permissions") {
		t.Fatalf("unexpected 403 body %s", add.Body)
	}
	wantStatus(t, f.forge(t, tok, "jira", "DELETE", "/rest/api/3/group/user", url.Values{"groupId": {gid}, "accountId": {plain}}, nil), 403)
	if got := f.srv.Ledger(); len(got) != len(before) {
		t.Fatalf("ledger grew from %d to %d", len(before), len(got))
	}
}

func TestJira_PermissionsCheck(t *testing.T) {
	t.Parallel()
	f := newSiteFixture(t)
	app := f.installConnect(t, "jira", "READ")
	orgAdmin, siteAdmin, plain, inactive := f.accounts(t)
	check := func(t *testing.T, body any) (answer, []string) {
		a := f.connect(t, app, "POST", "/rest/api/3/permissions/check", nil, body)
		var out struct {
			GlobalPermissions  []string `json:"globalPermissions"`
			ProjectPermissions []any    `json:"projectPermissions"`
		}
		if a.Status == 200 {
			a.decode(t, &out)
			if out.ProjectPermissions == nil {
				t.Fatal("projectPermissions missing")
			}
		}
		return a, out.GlobalPermissions
	}
	cases := []struct {
		name    string
		account string
		want    []string
	}{
		{"org_admin", orgAdmin, []string{"ADMINISTER", "USER_PICKER"}},
		{"site_admin", siteAdmin, []string{"ADMINISTER", "USER_PICKER"}},
		{"plain_user", plain, []string{"USER_PICKER"}},
		{"deactivated", inactive, []string{}},
		{"app_user", "", []string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, got := check(t, map[string]any{"accountId": tc.account, "globalPermissions": []string{"ADMINISTER", "USER_PICKER", "ADMINISTER"}})
			wantStatus(t, a, 200)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("granted %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("admin_role_group", func(t *testing.T) {
		// A plain user put into the site-admins group (admin role on the
		// site's products) administers Jira.
		admins := f.groupNamed(t, "site-admins-"+f.site)
		f.srv.WithOrg(func(o *devsite.Org) { o.AddMember(admins, plain) })
		_, got := check(t, map[string]any{"accountId": plain, "globalPermissions": []string{"ADMINISTER"}})
		if !slices.Equal(got, []string{"ADMINISTER"}) {
			t.Fatalf("granted %v", got)
		}
	})
	t.Run("unknown_permission", func(t *testing.T) {
		a, _ := check(t, map[string]any{"accountId": plain, "globalPermissions": []string{"PERMISSION_123"}})
		wantStatus(t, a, 400)
		if !strings.Contains(string(a.Body), "Unrecognized permission") {
			t.Fatalf("body %s", a.Body)
		}
	})
	t.Run("unknown_account", func(t *testing.T) {
		a, _ := check(t, map[string]any{"accountId": "nobody", "globalPermissions": []string{"ADMINISTER"}})
		wantStatus(t, a, 400)
	})
	t.Run("unknown_field", func(t *testing.T) {
		a, _ := check(t, map[string]any{"accountIds": []string{plain}})
		wantStatus(t, a, 400)
	})
}

func TestJira_GroupMemberPaging(t *testing.T) {
	t.Parallel()
	f := newSiteFixture(t)
	app := f.installConnect(t, "jira", "ADMIN")
	full := f.groupNamed(t, "team-01")
	empty := f.groupNamed(t, "team-02")
	members := f.setMembers(t, full, 100)
	f.setMembers(t, empty, 0)
	get := func(t *testing.T, q url.Values) (answer, jiraPage) {
		a := f.connect(t, app, "GET", "/rest/api/3/group/member", q, nil)
		var p jiraPage
		if a.Status == 200 {
			a.decode(t, &p)
		}
		return a, p
	}
	t.Run("cap_50_and_exactly_full_last_page", func(t *testing.T) {
		var got []string
		start := 0
		for pages := 1; ; pages++ {
			a, p := get(t, url.Values{"groupId": {full}, "startAt": {fmt.Sprint(start)}, "maxResults": {"200"}})
			wantStatus(t, a, 200)
			if p.MaxResults != 50 || p.Total != 100 || p.StartAt != start || len(p.Values) != 50 {
				t.Fatalf("page %d: maxResults %d total %d startAt %d values %d", pages, p.MaxResults, p.Total, p.StartAt, len(p.Values))
			}
			for _, v := range p.Values {
				var u struct{ AccountID string }
				_ = json.Unmarshal(v, &u)
				got = append(got, u.AccountID)
			}
			if p.IsLast {
				if pages != 2 || p.NextPage != "" {
					t.Fatalf("last page %d with nextPage %q", pages, p.NextPage)
				}
				break
			}
			if !strings.Contains(p.NextPage, "startAt=50") || !strings.Contains(p.NextPage, "maxResults=50") {
				t.Fatalf("nextPage %q", p.NextPage)
			}
			start += len(p.Values)
		}
		if !slices.Equal(got, members) {
			t.Fatal("members differ from the group's")
		}
	})
	t.Run("empty_group", func(t *testing.T) {
		a, p := get(t, url.Values{"groupId": {empty}})
		wantStatus(t, a, 200)
		if !p.IsLast || p.Total != 0 || p.Values == nil || len(p.Values) != 0 {
			t.Fatalf("empty page %s", a.Body)
		}
	})
	t.Run("past_the_end", func(t *testing.T) {
		_, p := get(t, url.Values{"groupId": {full}, "startAt": {"500"}})
		if !p.IsLast || len(p.Values) != 0 {
			t.Fatalf("page past the end: isLast %v values %d", p.IsLast, len(p.Values))
		}
	})
	t.Run("by_name", func(t *testing.T) {
		_, p := get(t, url.Values{"groupname": {"team-01"}, "maxResults": {"10"}})
		if p.Total != 100 || len(p.Values) != 10 || p.IsLast {
			t.Fatalf("by name: total %d values %d", p.Total, len(p.Values))
		}
	})
	t.Run("inactive_users", func(t *testing.T) {
		f.srv.WithOrg(func(o *devsite.Org) { o.User(members[0]).AccountStatus = "inactive" })
		_, p := get(t, url.Values{"groupId": {full}})
		_, pi := get(t, url.Values{"groupId": {full}, "includeInactiveUsers": {"true"}})
		if p.Total != 99 || pi.Total != 100 {
			t.Fatalf("totals %d and %d, want 99 and 100", p.Total, pi.Total)
		}
	})
	for name, q := range map[string]url.Values{
		"negative_start": {"groupId": {full}, "startAt": {"-1"}},
		"zero_size":      {"groupId": {full}, "maxResults": {"0"}},
		"not_a_number":   {"groupId": {full}, "maxResults": {"ten"}},
		"no_group":       {},
		"id_and_name":    {"groupId": {full}, "groupname": {"team-01"}},
	} {
		t.Run(name, func(t *testing.T) {
			a, _ := get(t, q)
			wantStatus(t, a, 400)
		})
	}
	t.Run("unknown_group", func(t *testing.T) {
		a, _ := get(t, url.Values{"groupId": {"00000000-0000-4000-8000-000000000000"}})
		wantStatus(t, a, 404)
	})
}

func TestJira_GroupBulk(t *testing.T) {
	t.Parallel()
	f := newSiteFixture(t)
	tok := f.forgeToken(t, "jira")
	var want []string
	f.srv.WithOrg(func(o *devsite.Org) {
		for _, g := range o.Groups {
			want = append(want, g.Name) // one site: every group belongs to it
		}
	})
	slices.Sort(want)
	var names []string
	for start := 0; ; {
		a := f.forge(t, tok, "jira", "GET", "/rest/api/3/group/bulk", url.Values{"startAt": {fmt.Sprint(start)}, "maxResults": {"5"}}, nil)
		wantStatus(t, a, 200)
		var p jiraPage
		a.decode(t, &p)
		if p.Total != len(want) {
			t.Fatalf("total %d, want %d", p.Total, len(want))
		}
		for _, v := range p.Values {
			var g struct{ Name, GroupID string }
			_ = json.Unmarshal(v, &g)
			names = append(names, g.Name)
		}
		if p.IsLast {
			break
		}
		start += len(p.Values)
	}
	if !slices.Equal(names, want) {
		t.Fatalf("groups %v, want %v", names, want)
	}
	t.Run("filters", func(t *testing.T) {
		id := f.groupNamed(t, "team-01")
		a := f.forge(t, tok, "jira", "GET", "/rest/api/3/group/bulk", url.Values{"groupId": {id}, "groupName": {"team-02"}}, nil)
		var p jiraPage
		a.decode(t, &p)
		if p.Total != 2 {
			t.Fatalf("filtered total %d: %s", p.Total, a.Body)
		}
		a = f.forge(t, tok, "jira", "GET", "/rest/api/3/group/bulk", url.Values{"applicationKey": {devsite.ProductJiraSoftware}}, nil)
		a.decode(t, &p)
		// the default group, the synced group, site admins and app accounts
		if p.Total != 4 {
			t.Fatalf("jira-software groups: %d: %s", p.Total, a.Body)
		}
	})
	t.Run("cap_50", func(t *testing.T) {
		a := f.forge(t, tok, "jira", "GET", "/rest/api/3/group/bulk", url.Values{"maxResults": {"1000"}}, nil)
		var p jiraPage
		a.decode(t, &p)
		if p.MaxResults != 50 {
			t.Fatalf("maxResults %d", p.MaxResults)
		}
	})
}

func TestJira_MultiSiteGroups(t *testing.T) {
	t.Parallel()
	srv, err := devsite.NewServer(devsite.Config{Params: devsite.Params{Seed: 2, Users: 100, Sites: 2}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	srv.SetBaseURL(ts.URL)
	f := &siteFixture{srv: srv, ts: ts}
	srv.WithOrg(func(o *devsite.Org) { f.site, f.cloudID = o.Sites[1].Name, o.Sites[1].CloudID })
	a := f.forge(t, srv.MintSystemToken(f.site, "jira", "i", time.Hour), "jira", "GET", "/rest/api/3/group/bulk", nil, nil)
	if strings.Contains(string(a.Body), "-users-acme\"") {
		t.Fatalf("second site lists the first site's groups: %s", a.Body)
	}
	if !strings.Contains(string(a.Body), "team-01") || !strings.Contains(string(a.Body), "-users-"+f.site) {
		t.Fatalf("second site misses its own or ordinary groups: %s", a.Body)
	}
}

func TestJira_UsersSearch(t *testing.T) {
	t.Parallel()
	f := newSiteFixture(t)
	tok := f.forgeToken(t, "jira")
	get := func(q url.Values) []map[string]any {
		a := f.forge(t, tok, "jira", "GET", "/rest/api/3/users/search", q, nil)
		wantStatus(t, a, 200)
		var users []map[string]any
		a.decode(t, &users)
		return users
	}
	if n := len(get(nil)); n != 50 {
		t.Fatalf("default page %d users, want 50", n)
	}
	all := get(url.Values{"maxResults": {"5000"}})
	if len(all) != 300 {
		t.Fatalf("capped page %d users, want all 300 (cap 1000)", len(all))
	}
	kinds := map[any]bool{}
	for _, u := range all {
		kinds[u["accountType"]] = true
	}
	if !kinds["atlassian"] || !kinds["app"] || !kinds["customer"] {
		t.Fatalf("account types %v", kinds)
	}
	if n := len(get(url.Values{"startAt": {"300"}})); n != 0 {
		t.Fatalf("page past the end has %d users", n)
	}
	wantStatus(t, f.forge(t, tok, "jira", "GET", "/rest/api/3/users/search", url.Values{"startAt": {"x"}}, nil), 400)
}

func TestJira_UserGroupsAndRoles(t *testing.T) {
	t.Parallel()
	f := newSiteFixture(t)
	tok := f.forgeToken(t, "jira")
	_, siteAdmin, _, _ := f.accounts(t)
	a := f.forge(t, tok, "jira", "GET", "/rest/api/3/user/groups", url.Values{"accountId": {siteAdmin}}, nil)
	wantStatus(t, a, 200)
	var groups []struct{ Name, GroupID, Self string }
	a.decode(t, &groups)
	if !slices.ContainsFunc(groups, func(g struct{ Name, GroupID, Self string }) bool { return g.Name == "site-admins-"+f.site }) {
		t.Fatalf("site admin's groups %s", a.Body)
	}
	wantStatus(t, f.forge(t, tok, "jira", "GET", "/rest/api/3/user/groups", url.Values{"accountId": {"nobody"}}, nil), 404)
	wantStatus(t, f.forge(t, tok, "jira", "GET", "/rest/api/3/user/groups", nil, nil), 400)

	a = f.forge(t, tok, "jira", "GET", "/rest/api/3/applicationrole", nil, nil)
	wantStatus(t, a, 200)
	var roles []struct {
		Key           string
		Groups        []string
		DefaultGroups []string
		UserCount     int
	}
	a.decode(t, &roles)
	if len(roles) != 2 || roles[0].Key != devsite.ProductJSM || roles[1].Key != devsite.ProductJiraSoftware {
		t.Fatalf("roles %s", a.Body)
	}
	sw := roles[1]
	if !slices.Equal(sw.DefaultGroups, []string{"jira-software-users-" + f.site}) || len(sw.Groups) != 4 || sw.UserCount == 0 {
		t.Fatalf("jira-software role %+v", sw)
	}
}
