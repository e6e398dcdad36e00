package devsite_test

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/lapsehq/lapse/app/devsite"
)

// confluenceList is the v1 list shape the tests read.
type confluenceList struct {
	Results   []json.RawMessage `json:"results"`
	Start     int               `json:"start"`
	Limit     int               `json:"limit"`
	Size      int               `json:"size"`
	TotalSize *int              `json:"totalSize"`
	Links     map[string]string `json:"_links"`
}

func TestConfluence_ConnectAndCredentials(t *testing.T) {
	t.Parallel()
	f := newSiteFixture(t)
	read := f.installConnect(t, "confluence", "READ")
	gid := f.groupNamed(t, "team-01")
	_, _, plain, _ := f.accounts(t)
	for _, tc := range []struct {
		path string
		q    url.Values
	}{
		{"/wiki/rest/api/group", nil},
		{"/wiki/rest/api/group/by-id", url.Values{"id": {gid}}},
		{"/wiki/rest/api/group/" + gid + "/membersByGroupId", nil},
		{"/wiki/rest/api/user", url.Values{"accountId": {plain}, "expand": {"operations"}}},
		{"/wiki/rest/api/user/memberof", url.Values{"accountId": {plain}}},
	} {
		wantStatus(t, f.connect(t, read, "GET", tc.path, tc.q, nil), 200)
	}
	// A Jira installation's secret does not open Confluence.
	jira := f.installConnect(t, "jira", "READ")
	in := *jira.install
	in.BaseURL = read.install.BaseURL // sign for the wiki path
	jira.install = &in
	wantStatus(t, f.connect(t, jira, "GET", "/wiki/rest/api/group", nil, nil), 401)
	// The org API key and tokens for the other product are refused.
	a := f.forge(t, f.orgKey(), "confluence", "GET", "/wiki/rest/api/group", nil, nil)
	wantStatus(t, a, 401)
	var e struct {
		StatusCode int    `json:"statusCode"`
		Message    string `json:"message"`
	}
	a.decode(t, &e)
	if e.StatusCode != 401 || e.Message == "" {
		t.Fatalf("Confluence error body %s", a.Body)
	}
	wantStatus(t, f.forge(t, f.forgeToken(t, "jira"), "confluence", "GET", "/wiki/rest/api/group", nil, nil), 401)
	wantStatus(t, f.forge(t, f.forgeToken(t, "confluence"), "confluence", "GET", "/wiki/rest/api/group", nil, nil), 200)
}

func TestConfluence_SiteAdminOperations(t *testing.T) {
	t.Parallel()
	f := newSiteFixture(t)
	tok := f.forgeToken(t, "confluence")
	orgAdmin, siteAdmin, plain, inactive := f.accounts(t)
	ops := func(t *testing.T, accountID string, expand bool) ([]string, map[string]string) {
		q := url.Values{"accountId": {accountID}}
		if expand {
			q.Set("expand", "operations")
		}
		a := f.forge(t, tok, "confluence", "GET", "/wiki/rest/api/user", q, nil)
		wantStatus(t, a, 200)
		var u struct {
			Type       string
			AccountID  string
			Operations []struct{ Operation, TargetType string }
			Expandable map[string]string `json:"_expandable"`
		}
		a.decode(t, &u)
		if u.AccountID != accountID || u.Type != "known" {
			t.Fatalf("user %s", a.Body)
		}
		var out []string
		for _, o := range u.Operations {
			out = append(out, o.Operation+"/"+o.TargetType)
		}
		return out, u.Expandable
	}
	admin := "administer/application"
	for name, tc := range map[string]struct {
		account string
		admin   bool
	}{
		"org_admin": {orgAdmin, true}, "site_admin": {siteAdmin, true}, "plain": {plain, false}, "deactivated": {inactive, false},
	} {
		t.Run(name, func(t *testing.T) {
			got, exp := ops(t, tc.account, true)
			if slices.Contains(got, admin) != tc.admin {
				t.Fatalf("operations %v, admin want %v", got, tc.admin)
			}
			if _, ok := exp["operations"]; ok {
				t.Fatal("expanded operations still listed in _expandable")
			}
		})
	}
	t.Run("not_expanded", func(t *testing.T) {
		got, exp := ops(t, orgAdmin, false)
		if len(got) != 0 {
			t.Fatalf("operations without expand: %v", got)
		}
		if _, ok := exp["operations"]; !ok {
			t.Fatal("operations missing from _expandable")
		}
	})
	wantStatus(t, f.forge(t, tok, "confluence", "GET", "/wiki/rest/api/user", url.Values{"accountId": {"nobody"}}, nil), 404)
	wantStatus(t, f.forge(t, tok, "confluence", "GET", "/wiki/rest/api/user", nil, nil), 400)
}

func TestConfluence_MembersPaging(t *testing.T) {
	t.Parallel()
	f := newSiteFixture(t)
	app := f.installConnect(t, "confluence", "READ")
	gid := f.groupNamed(t, "team-01")
	empty := f.groupNamed(t, "team-02")
	members := f.setMembers(t, gid, 250)
	f.setMembers(t, empty, 0)
	path := "/wiki/rest/api/group/" + gid + "/membersByGroupId"
	get := func(t *testing.T, path string, q url.Values) confluenceList {
		a := f.connect(t, app, "GET", path, q, nil)
		wantStatus(t, a, 200)
		var l confluenceList
		a.decode(t, &l)
		return l
	}
	t.Run("cap_200_and_next", func(t *testing.T) {
		var got []string
		q := url.Values{"limit": {"1000"}}
		for pages := 1; ; pages++ {
			l := get(t, path, q)
			if l.Limit != 200 || l.Size != len(l.Results) {
				t.Fatalf("limit %d size %d results %d", l.Limit, l.Size, len(l.Results))
			}
			if l.Links["base"] != f.ts.URL+"/s/"+f.site+"/wiki" || l.Links["context"] != "/wiki" {
				t.Fatalf("links %v", l.Links)
			}
			for _, r := range l.Results {
				var u struct{ AccountID string }
				_ = json.Unmarshal(r, &u)
				got = append(got, u.AccountID)
			}
			next, ok := l.Links["next"]
			if !ok {
				if pages != 2 {
					t.Fatalf("%d pages", pages)
				}
				break
			}
			// next is relative to _links.base.
			u, err := url.Parse(next)
			if err != nil || !strings.HasPrefix(next, "/rest/api/group/") {
				t.Fatalf("next %q", next)
			}
			q = u.Query()
		}
		if !slices.Equal(got, members) {
			t.Fatal("members differ")
		}
	})
	t.Run("last_page_exactly_full", func(t *testing.T) {
		l := get(t, path, url.Values{"start": {"200"}, "limit": {"50"}})
		if l.Size != 50 {
			t.Fatalf("size %d", l.Size)
		}
		if _, ok := l.Links["next"]; ok {
			t.Fatalf("next on the exactly full last page: %v", l.Links)
		}
	})
	t.Run("empty_group", func(t *testing.T) {
		l := get(t, "/wiki/rest/api/group/"+empty+"/membersByGroupId", url.Values{"shouldReturnTotalSize": {"true"}})
		if l.Size != 0 || l.Results == nil || l.TotalSize == nil || *l.TotalSize != 0 {
			t.Fatalf("empty list %+v", l)
		}
	})
	t.Run("total_size", func(t *testing.T) {
		l := get(t, path, url.Values{"shouldReturnTotalSize": {"true"}, "limit": {"1"}})
		if l.TotalSize == nil || *l.TotalSize != 250 {
			t.Fatalf("totalSize %v", l.TotalSize)
		}
	})
	t.Run("errors", func(t *testing.T) {
		wantStatus(t, f.connect(t, app, "GET", path, url.Values{"start": {"-1"}}, nil), 400)
		wantStatus(t, f.connect(t, app, "GET", path, url.Values{"limit": {"0"}}, nil), 400)
		wantStatus(t, f.connect(t, app, "GET", "/wiki/rest/api/group/nope/membersByGroupId", nil, nil), 404)
		wantStatus(t, f.connect(t, app, "GET", "/wiki/rest/api/group/by-id", url.Values{"id": {"nope"}}, nil), 404)
		wantStatus(t, f.connect(t, app, "GET", "/wiki/rest/api/group/by-id", nil, nil), 400)
	})
}

func TestConfluence_GroupsAndMemberOf(t *testing.T) {
	t.Parallel()
	f := newSiteFixture(t)
	tok := f.forgeToken(t, "confluence")
	var names []string
	q := url.Values{"limit": {"7"}}
	for {
		a := f.forge(t, tok, "confluence", "GET", "/wiki/rest/api/group", q, nil)
		wantStatus(t, a, 200)
		var l confluenceList
		a.decode(t, &l)
		// Through the Forge gateway, links lead back through the gateway.
		if want := f.ts.URL + "/ex/confluence/" + f.cloudID + "/wiki"; l.Links["base"] != want {
			t.Fatalf("base %q, want %q", l.Links["base"], want)
		}
		for _, r := range l.Results {
			var g struct{ Type, Name, ID string }
			_ = json.Unmarshal(r, &g)
			if g.Type != "group" || g.ID == "" {
				t.Fatalf("group %s", r)
			}
			names = append(names, g.Name)
		}
		next, ok := l.Links["next"]
		if !ok {
			break
		}
		u, _ := url.Parse(next)
		q = u.Query()
	}
	var want []string
	f.srv.WithOrg(func(o *devsite.Org) {
		for _, g := range o.Groups {
			want = append(want, g.Name)
		}
	})
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("groups %v, want %v", names, want)
	}

	_, siteAdmin, _, _ := f.accounts(t)
	a := f.forge(t, tok, "confluence", "GET", "/wiki/rest/api/user/memberof", url.Values{"accountId": {siteAdmin}}, nil)
	wantStatus(t, a, 200)
	if !strings.Contains(string(a.Body), `"site-admins-`+f.site+`"`) {
		t.Fatalf("memberof %s", a.Body)
	}
	wantStatus(t, f.forge(t, tok, "confluence", "GET", "/wiki/rest/api/user/memberof", url.Values{"accountId": {"nobody"}}, nil), 404)
}
