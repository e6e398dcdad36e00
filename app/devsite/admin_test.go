package devsite

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app/internal/testclock"
)

// adminEnv is a simulated site served over real HTTP.
type adminEnv struct {
	srv        *Server
	url        string
	orgID, key string
	dirID      string
	clock      *testclock.Clock // shared by the server and the test
}

func newAdminEnv(t *testing.T, p Params) *adminEnv {
	t.Helper()
	clock := testclock.New(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))
	srv, err := NewServer(Config{Params: p, NowFunc: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	srv.SetBaseURL(ts.URL)
	e := &adminEnv{srv: srv, url: ts.URL, clock: clock}
	srv.WithOrg(func(o *Org) { e.orgID, e.key, e.dirID = o.ID, o.APIKey, o.DirectoryID })
	return e
}

func (e *adminEnv) v1() string  { return "/admin/v1/orgs/" + e.orgID }
func (e *adminEnv) dir() string { return "/admin/v2/orgs/" + e.orgID + "/directories/-" }

// send makes an authenticated request and returns the status and body.
func (e *adminEnv) send(t *testing.T, method, path string, body any) (int, []byte) {
	t.Helper()
	return e.sendAs(t, e.key, method, path, body)
}

func (e *adminEnv) sendAs(t *testing.T, key, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// get sends and decodes the answer into out, failing unless it has status.
func (e *adminEnv) get(t *testing.T, method, path string, body any, status int, out any) {
	t.Helper()
	got, b := e.send(t, method, path, body)
	if got != status {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, got, status, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
}

// adminErr decodes an Admin API error answer.
type adminErrBody struct {
	Errors []struct {
		Status, Code, Title, Detail string
	} `json:"errors"`
}

func (e *adminEnv) wantError(t *testing.T, method, path string, body any, status int, code string) string {
	t.Helper()
	var eb adminErrBody
	e.get(t, method, path, body, status, &eb)
	if len(eb.Errors) != 1 || eb.Errors[0].Code != code {
		t.Fatalf("%s %s: errors %+v, want code %s", method, path, eb.Errors, code)
	}
	return eb.Errors[0].Detail
}

type testUserPage struct {
	Data  []testUser        `json:"data"`
	Links map[string]string `json:"links"`
}

type testUser struct {
	AccountID        string  `json:"accountId"`
	AccountType      string  `json:"accountType"`
	Status           string  `json:"status"`
	AccountStatus    string  `json:"accountStatus"`
	MembershipStatus string  `json:"membershipStatus"`
	AddedToOrg       string  `json:"addedToOrg"`
	Email            string  `json:"email"`
	ClaimStatus      string  `json:"claimStatus"`
	ManagementSource *string `json:"managementSource"`
	ProductAccess    *[]struct {
		Key                 string `json:"key"`
		ID                  string `json:"id"`
		LastActiveTimestamp string `json:"lastActiveTimestamp"`
	} `json:"productAccess"`
	Groups *[]struct {
		ID, Name, Description string
	} `json:"groups"`
	PlatformRoles *[]string `json:"platformRoles"`
	Counts        *struct {
		Resources int `json:"resources"`
	} `json:"counts"`
}

// searchAll walks users/search with body (cursor excluded) and returns
// every user and the number of pages.
func (e *adminEnv) searchAll(t *testing.T, body map[string]any) ([]testUser, int) {
	t.Helper()
	var all []testUser
	for pages := 1; ; pages++ {
		var p testUserPage
		e.get(t, "POST", e.dir()+"/users/search", body, 200, &p)
		all = append(all, p.Data...)
		next := p.Links["next"]
		if next == "" {
			return all, pages
		}
		body = cloneBody(body)
		body["cursor"] = next
	}
}

func cloneBody(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func accountIDs(users []testUser) []string {
	ids := make([]string, 0, len(users))
	for _, u := range users {
		ids = append(ids, u.AccountID)
	}
	return ids
}

// orgUsers returns the account ids of the org's users accepted by keep.
func (e *adminEnv) orgUsers(keep func(o *Org, u *User) bool) []string {
	var ids []string
	e.srv.WithOrg(func(o *Org) {
		for _, u := range o.Users {
			if keep == nil || keep(o, u) {
				ids = append(ids, u.AccountID)
			}
		}
	})
	return ids
}

func TestAdmin_Unauthorized(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t, Params{Seed: 1, Users: 50})
	for _, key := range []string{"", "wrong-key"} {
		if st, b := e.sendAs(t, key, "POST", e.dir()+"/users/search", map[string]any{}); st != 401 {
			t.Errorf("key %q: status %d, want 401: %s", key, st, b)
		}
	}
	if st, _ := e.sendAs(t, "", "GET", "/admin/v1/orgs", nil); st != 401 {
		t.Errorf("orgs without key: status %d, want 401", st)
	}
}

func TestAdmin_Orgs(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t, Params{Seed: 1, Users: 50})
	var list struct {
		Data []struct {
			ID            string
			Type          string
			Attributes    map[string]string
			Relationships map[string]map[string]map[string]string
			Links         map[string]string
		}
		Links map[string]string
	}
	e.get(t, "GET", "/admin/v1/orgs", nil, 200, &list)
	if len(list.Data) != 1 || list.Data[0].ID != e.orgID || list.Data[0].Type != "orgs" || list.Data[0].Attributes["name"] == "" {
		t.Fatalf("orgs = %+v", list.Data)
	}
	if got := list.Data[0].Relationships["domains"]["links"]["related"]; got != e.url+e.v1()+"/domains" {
		t.Errorf("domains related = %q", got)
	}
	if list.Links["next"] != "" {
		t.Errorf("one org, yet next = %q", list.Links["next"])
	}
	var one struct{ Data struct{ ID string } }
	e.get(t, "GET", e.v1(), nil, 200, &one)
	if one.Data.ID != e.orgID {
		t.Errorf("org = %+v", one)
	}
	e.wantError(t, "GET", "/admin/v1/orgs/other-org", nil, 404, "ADMIN-404-2")
	e.wantError(t, "GET", "/admin/v1/orgs?cursor=garbage", nil, 400, "ADMIN-400-1")
}

type testDomainPage struct {
	Data []struct {
		ID         string
		Type       string
		Attributes struct {
			Name  string
			Claim struct{ Type, Status string }
		}
	}
	Links map[string]string
}

func TestAdmin_Domains(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t, Params{Seed: 1, Users: 50})
	var p testDomainPage
	e.get(t, "GET", e.v1()+"/domains", nil, 200, &p)
	status := map[string]string{}
	for _, d := range p.Data {
		status[d.Attributes.Name] = d.Attributes.Claim.Status
	}
	if status["example.com"] != "verified" || status["example.org"] != "unverified" || p.Links["next"] != "" {
		t.Fatalf("domains = %+v, links %v", p.Data, p.Links)
	}

	t.Run("paging", func(t *testing.T) {
		e.srv.WithOrg(func(o *Org) {
			for i := range 25 {
				o.Domains = append(o.Domains, Domain{ID: strings.Repeat("d", 3) + string(rune('a'+i)), Name: "x.example"})
			}
		})
		var first, second testDomainPage
		e.get(t, "GET", e.v1()+"/domains", nil, 200, &first)
		if len(first.Data) != adminDomainPageSize || first.Links["next"] == "" {
			t.Fatalf("first page: %d domains, next %q", len(first.Data), first.Links["next"])
		}
		e.get(t, "GET", e.v1()+"/domains?cursor="+first.Links["next"], nil, 200, &second)
		if len(second.Data) != 27-adminDomainPageSize || second.Links["next"] != "" {
			t.Fatalf("second page: %d domains, next %q", len(second.Data), second.Links["next"])
		}
	})
	t.Run("get", func(t *testing.T) {
		var one struct{ Data struct{ ID string } }
		e.get(t, "GET", e.v1()+"/domains/"+p.Data[0].ID, nil, 200, &one)
		if one.Data.ID != p.Data[0].ID {
			t.Errorf("domain = %+v", one)
		}
		e.wantError(t, "GET", e.v1()+"/domains/nope", nil, 404, "ADMIN-404-3")
	})
}

func TestAdmin_Workspaces(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t, Params{Seed: 1, Users: 50, Sites: 2})
	path := "/admin/v2/orgs/" + e.orgID + "/workspaces"
	type page struct {
		Data []struct {
			ID, Type   string
			Attributes struct {
				Name, TypeKey, HostURL string
				Sandbox                struct{ Type string }
			}
		}
		Links map[string]string
		Meta  map[string]int
	}
	var want []string
	e.srv.WithOrg(func(o *Org) {
		for _, s := range o.Sites {
			for _, p := range s.Products {
				want = append(want, ProductARI(p, s.CloudID))
			}
		}
	})
	slices.Sort(want)

	var got []string
	var p page
	e.get(t, "POST", path, map[string]any{"limit": 4}, 200, &p)
	for {
		for _, w := range p.Data {
			got = append(got, w.ID)
			if w.Type != "workspaces" || w.Attributes.TypeKey != adminARIOwner(w.ID) || !strings.HasPrefix(w.Attributes.HostURL, e.url+"/s/") {
				t.Errorf("workspace = %+v", w)
			}
		}
		if p.Meta["total"] != len(want) || p.Meta["pageSize"] != 4 {
			t.Errorf("meta = %v", p.Meta)
		}
		if p.Links["next"] == "" {
			break
		}
		next := p.Links["next"]
		p = page{}
		e.get(t, "POST", path, map[string]any{"cursor": next}, 200, &p)
	}
	if !slices.Equal(got, want) {
		t.Errorf("workspace ids = %v, want %v", got, want)
	}
	e.wantError(t, "POST", path, map[string]any{"cursor": "x", "limit": 2}, 400, "ADMIN-400-24")
	e.wantError(t, "POST", "/admin/v2/orgs/other/workspaces", map[string]any{}, 404, "ADMIN-404-2")
}

func TestAdmin_UserSearchShape(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t, Params{Seed: 1, Users: 200, NeverActiveShare: 0.3})
	users, _ := e.searchAll(t, map[string]any{"limit": 100, "expand": []string{"productAccess", "groups", "platformRoles", "counts.resources"}})
	if len(users) != 200 {
		t.Fatalf("%d users, want 200", len(users))
	}
	var neverUsed int
	e.srv.WithOrg(func(o *Org) {
		for i, got := range users {
			u := o.Users[i]
			if got.AccountID != u.AccountID || got.AccountType != u.AccountType || got.Email != u.Email {
				t.Fatalf("user %d = %+v, want %s", i, got, u.AccountID)
			}
			if got.AddedToOrg != u.AddedToOrg.UTC().Format(time.RFC3339) || got.Status != adminUserStatus(u) {
				t.Errorf("user %s: addedToOrg %q status %q", u.AccountID, got.AddedToOrg, got.Status)
			}
			access := o.ProductAccess(u)
			if got.ProductAccess == nil || len(*got.ProductAccess) != len(access) || got.Counts.Resources != len(access) {
				t.Fatalf("user %s productAccess = %v, want %v", u.AccountID, got.ProductAccess, access)
			}
			for j, pa := range *got.ProductAccess {
				want := ""
				if at, ok := u.LastActive[access[j]]; ok {
					want = at.Format(time.RFC3339)
				} else {
					neverUsed++
				}
				if pa.ID != access[j] || pa.Key != adminARIOwner(access[j]) || pa.LastActiveTimestamp != want {
					t.Errorf("user %s productAccess[%d] = %+v, want %s at %q", u.AccountID, j, pa, access[j], want)
				}
			}
			if got.Groups == nil || len(*got.Groups) != len(u.GroupIDs()) || got.PlatformRoles == nil {
				t.Fatalf("user %s groups = %v, want %v", u.AccountID, got.Groups, u.GroupIDs())
			}
			for j, g := range *got.Groups {
				if g.ID != u.GroupIDs()[j] || g.Name != o.Group(g.ID).Name {
					t.Errorf("user %s group %d = %+v", u.AccountID, j, g)
				}
			}
		}
	})
	if neverUsed == 0 {
		t.Error("no never-used product seen: lastActiveTimestamp absence untested")
	}

	t.Run("no_expand_no_expanded_fields", func(t *testing.T) {
		_, b := e.send(t, "POST", e.dir()+"/users/search", map[string]any{"limit": 1})
		for _, field := range []string{"productAccess", "groups", "platformRoles", "counts"} {
			if bytes.Contains(b, []byte(`"`+field+`"`)) {
				t.Errorf("unexpanded answer has %s: %s", field, b)
			}
		}
	})
	t.Run("product_access_narrowed_to_resource", func(t *testing.T) {
		var ari string
		e.srv.WithOrg(func(o *Org) { ari = ProductARI(ProductConfluence, o.Sites[0].CloudID) })
		got, _ := e.searchAll(t, map[string]any{"resourceIds": []string{ari}, "expand": []string{"productAccess"}})
		want := e.orgUsers(func(o *Org, u *User) bool { return slices.Contains(o.ProductAccess(u), ari) })
		if !slices.Equal(accountIDs(got), want) {
			t.Fatalf("resource filter: %d users, want %d", len(got), len(want))
		}
		for _, u := range got {
			if len(*u.ProductAccess) != 1 || (*u.ProductAccess)[0].ID != ari {
				t.Fatalf("user %s productAccess = %+v, want only %s", u.AccountID, *u.ProductAccess, ari)
			}
		}
	})
}

func TestAdmin_UserSearchPaging(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t, Params{Seed: 1, Users: 260})
	all := e.orgUsers(nil)
	ids := func(n int) []string { return all[10 : 10+n] }
	cases := []struct {
		name      string
		body      map[string]any
		wantUsers int
		wantPages int
	}{
		{"default_limit_50", map[string]any{}, 260, 6},
		{"limit_capped_at_100", map[string]any{"limit": 500}, 260, 3},
		{"exactly_full_last_page", map[string]any{"limit": 5, "accountIds": ids(10)}, 10, 2},
		{"one_past_full", map[string]any{"limit": 5, "accountIds": ids(11)}, 11, 3},
		{"limit_equals_total", map[string]any{"limit": 7, "accountIds": ids(7)}, 7, 1},
		{"empty", map[string]any{"accountIds": []string{"no-such-account"}}, 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, pages := e.searchAll(t, tc.body)
			if len(got) != tc.wantUsers || pages != tc.wantPages {
				t.Fatalf("%d users in %d pages, want %d in %d", len(got), pages, tc.wantUsers, tc.wantPages)
			}
			if !slices.IsSorted(accountIDs(got)) {
				t.Error("users not in accountId order")
			}
		})
	}
	t.Run("empty_page_is_array", func(t *testing.T) {
		_, b := e.send(t, "POST", e.dir()+"/users/search", map[string]any{"accountIds": []string{"nobody"}})
		if !bytes.Contains(b, []byte(`"data":[]`)) || bytes.Contains(b, []byte(`"next"`)) {
			t.Errorf("empty answer = %s", b)
		}
	})
	t.Run("limit_zero", func(t *testing.T) {
		e.wantError(t, "POST", e.dir()+"/users/search", map[string]any{"limit": 0}, 400, "ADMIN-400-24")
	})
	t.Run("directory", func(t *testing.T) {
		var p testUserPage
		e.get(t, "POST", "/admin/v2/orgs/"+e.orgID+"/directories/"+e.dirID+"/users/search", map[string]any{"limit": 3}, 200, &p)
		if len(p.Data) != 3 {
			t.Errorf("own directory: %d users", len(p.Data))
		}
		e.wantError(t, "POST", "/admin/v2/orgs/"+e.orgID+"/directories/other/users/search", map[string]any{}, 404, "ADMIN-404-1")
		e.wantError(t, "POST", "/admin/v2/orgs/other/directories/-/users/search", map[string]any{}, 404, "ADMIN-404-2")
	})
}

// firstPage returns the first page of users/search and its next cursor.
func (e *adminEnv) firstPage(t *testing.T, body map[string]any) (testUserPage, string) {
	t.Helper()
	var p testUserPage
	e.get(t, "POST", e.dir()+"/users/search", body, 200, &p)
	if p.Links["next"] == "" {
		t.Fatal("first page has no next cursor")
	}
	return p, p.Links["next"]
}

func TestAdmin_UserSearchCursor(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t, Params{Seed: 1, Users: 120})
	search := e.dir() + "/users/search"
	_, next := e.firstPage(t, map[string]any{"limit": 10})

	cases := []struct {
		name string
		body map[string]any
	}{
		{"garbled", map[string]any{"limit": 10, "cursor": next[:len(next)-2] + "xx"}},
		{"not_base64", map[string]any{"cursor": "!!!"}},
		{"other_filter", map[string]any{"limit": 10, "cursor": next, "claimStatus": "managed"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if d := e.wantError(t, "POST", search, tc.body, 400, "ADMIN-400-1"); !strings.Contains(d, "invalid cursor") {
				t.Errorf("detail = %q", d)
			}
		})
	}
	t.Run("other_limit_and_expand_accepted", func(t *testing.T) {
		e.get(t, "POST", search, map[string]any{"limit": 20, "cursor": next, "expand": []string{"groups"}}, 200, nil)
	})
	t.Run("expired", func(t *testing.T) {
		e := newAdminEnv(t, Params{Seed: 1, Users: 30})
		_, next := e.firstPage(t, map[string]any{"limit": 10})
		e.clock.Advance(DefaultCursorTTL - time.Second)
		var p testUserPage
		e.get(t, "POST", e.dir()+"/users/search", map[string]any{"limit": 10, "cursor": next}, 200, &p)
		next = p.Links["next"] // issued now: a fresh lease
		e.clock.Advance(DefaultCursorTTL + time.Second)
		if d := e.wantError(t, "POST", e.dir()+"/users/search", map[string]any{"limit": 10, "cursor": next}, 400, "ADMIN-400-1"); !strings.Contains(d, "expired") {
			t.Errorf("detail = %q", d)
		}
	})
	t.Run("configurable_ttl", func(t *testing.T) {
		e := newAdminEnv(t, Params{Seed: 1, Users: 30})
		e.srv.SetAdminBehavior(AdminBehavior{CursorTTL: time.Minute})
		_, next := e.firstPage(t, map[string]any{"limit": 10})
		e.clock.Advance(2 * time.Minute)
		e.wantError(t, "POST", e.dir()+"/users/search", map[string]any{"limit": 10, "cursor": next}, 400, "ADMIN-400-1")
		e.srv.SetAdminBehavior(AdminBehavior{CursorTTL: -1})
		e.clock.Advance(24 * time.Hour)
		e.get(t, "POST", e.dir()+"/users/search", map[string]any{"limit": 10, "cursor": next}, 200, nil)
	})
}

// TestAdmin_UserSearchStable checks that pages continue from the last
// accountId, so membership changes between pages neither skip nor repeat
// users of a filter.
func TestAdmin_UserSearchStable(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t, Params{Seed: 1, Users: 200})
	var groupID string
	e.srv.WithOrg(func(o *Org) { groupID = o.Groups[0].ID })
	members := func() []string {
		return e.orgUsers(func(o *Org, u *User) bool { return o.IsMember(groupID, u.AccountID) })
	}
	before := members()
	if len(before) < 6 {
		t.Skipf("group has %d members", len(before))
	}
	body := map[string]any{"limit": 3, "groupIds": []string{groupID}}
	first, next := e.firstPage(t, body)
	// Remove a member already returned and one not yet returned.
	e.srv.WithOrg(func(o *Org) {
		o.RemoveMember(groupID, first.Data[0].AccountID)
		o.RemoveMember(groupID, before[len(before)-1])
	})
	body["cursor"] = next
	rest, _ := e.searchAll(t, body)
	got := append(accountIDs(first.Data), accountIDs(rest)...)
	want := before[:len(before)-1]
	if !slices.Equal(got, want) {
		t.Errorf("walk across changes = %v, want %v", got, want)
	}
}

func TestAdmin_UserSearchValidation(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t, Params{Seed: 1, Users: 30})
	search := e.dir() + "/users/search"
	cases := []struct {
		name string
		body any
	}{
		{"upper_case_expand", map[string]any{"expand": []string{"PRODUCT_ACCESS"}}},
		{"unknown_expand", map[string]any{"expand": []string{"productAccess", "everything"}}},
		{"search_term_and_emails", map[string]any{"searchTerm": "user", "emails": []string{"a@example.com"}}},
		{"unknown_field", map[string]any{"accountId": "x"}},
		{"field_in_wrong_case", map[string]any{"accountIDs": []string{"x"}}},
		{"bad_claim_status", map[string]any{"claimStatus": "MANAGED"}},
		{"bad_status", map[string]any{"status": []string{"gone"}}},
		{"sort_by", map[string]any{"sortBy": []map[string]string{{"field": "nick_name", "direction": "asc"}}}},
		{"not_json", "{"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e.wantError(t, "POST", search, tc.body, 400, "ADMIN-400-24")
		})
	}
	t.Run("product_access_omitted", func(t *testing.T) {
		e := newAdminEnv(t, Params{Seed: 1, Users: 30})
		e.srv.SetAdminBehavior(AdminBehavior{ProductAccess: ProductAccessOmitted})
		_, b := e.send(t, "POST", e.dir()+"/users/search", map[string]any{"expand": []string{"productAccess", "groups"}})
		if bytes.Contains(b, []byte(`"productAccess"`)) || !bytes.Contains(b, []byte(`"groups"`)) {
			t.Errorf("answer = %.300s", b)
		}
	})
	t.Run("product_access_rejected", func(t *testing.T) {
		e := newAdminEnv(t, Params{Seed: 1, Users: 30})
		e.srv.SetAdminBehavior(AdminBehavior{ProductAccess: ProductAccessRejected})
		e.wantError(t, "POST", e.dir()+"/users/search", map[string]any{"expand": []string{"productAccess"}}, 400, "ADMIN-400-24")
		e.get(t, "POST", e.dir()+"/users/search", map[string]any{"expand": []string{"groups"}}, 200, nil)
	})
}

func TestAdmin_UserSearchFilters(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t, Params{Seed: 1, Users: 300})
	var group, resource, email string
	e.srv.WithOrg(func(o *Org) {
		group = o.Groups[1].ID
		resource = ProductARI(ProductJSM, o.Sites[0].CloudID)
		email = o.Users[5].Email
	})
	cases := []struct {
		name string
		body map[string]any
		keep func(o *Org, u *User) bool
	}{
		{"group_ids", map[string]any{"groupIds": []string{group}},
			func(o *Org, u *User) bool { return o.IsMember(group, u.AccountID) }},
		{"resource_ids", map[string]any{"resourceIds": []string{resource}},
			func(o *Org, u *User) bool { return slices.Contains(o.ProductAccess(u), resource) }},
		{"claim_status", map[string]any{"claimStatus": "unmanaged"},
			func(o *Org, u *User) bool { return u.ClaimStatus == "unmanaged" }},
		{"account_status", map[string]any{"accountStatus": []string{"inactive"}},
			func(o *Org, u *User) bool { return u.AccountStatus == "inactive" }},
		{"status_deactivated", map[string]any{"status": []string{"deactivated"}},
			func(o *Org, u *User) bool { return u.AccountStatus != "active" }},
		{"email_domains", map[string]any{"emailDomains": []string{"@example.com"}},
			func(o *Org, u *User) bool { return strings.HasSuffix(u.Email, "@example.com") }},
		{"emails", map[string]any{"emails": []string{strings.ToUpper(email)}},
			func(o *Org, u *User) bool { return u.Email == email }},
		{"search_term", map[string]any{"searchTerm": "user 0001"},
			func(o *Org, u *User) bool { return strings.Contains(strings.ToLower(u.Name), "user 0001") }},
		{"role_admin", map[string]any{"roleIds": []string{RoleAdmin}},
			func(o *Org, u *User) bool { return slices.Contains(adminUserRoles(o, u), RoleAdmin) }},
		{"app_accounts_by_type_only", map[string]any{"groupIds": []string{"no-such-group"}},
			func(o *Org, u *User) bool { return false }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := e.searchAll(t, tc.body)
			want := e.orgUsers(tc.keep)
			if !slices.Equal(accountIDs(got), want) {
				t.Errorf("%d users, want %d", len(got), len(want))
			}
			if tc.name != "app_accounts_by_type_only" && len(want) == 0 {
				t.Error("filter selects nobody: the case proves nothing")
			}
		})
	}
}

func TestAdmin_LastActiveDates(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t, Params{Seed: 1, Users: 60, Sites: 12})
	type page struct {
		Data struct {
			ProductAccess []struct {
				ID                  string `json:"id"`
				Key                 string `json:"key"`
				LastActive          string `json:"last_active"`
				LastActiveTimestamp string `json:"last_active_timestamp"`
			} `json:"product_access"`
			AddedToOrg string `json:"added_to_org"`
		} `json:"data"`
		Links map[string]*string `json:"links"`
	}
	var busy, idle *User
	e.srv.WithOrg(func(o *Org) {
		for _, u := range o.Users {
			switch {
			case busy == nil && len(u.LastActive) > adminLastActivePageSize:
				busy = u
			case idle == nil && len(u.LastActive) == 0:
				idle = u
			}
		}
	})
	if busy == nil || idle == nil {
		t.Fatal("no user with many products, or none without")
	}
	path := e.v1() + "/directory/users/" + busy.AccountID + "/last-active-dates"
	got := map[string]string{}
	var p page
	e.get(t, "GET", path, nil, 200, &p)
	pages := 1
	for {
		for _, pa := range p.Data.ProductAccess {
			got[pa.ID] = pa.LastActiveTimestamp
			if pa.LastActive != pa.LastActiveTimestamp[:10] || strings.Contains(pa.Key, "servicedesk") {
				t.Errorf("entry = %+v", pa)
			}
		}
		if p.Data.AddedToOrg != busy.AddedToOrg.Format(time.DateOnly) {
			t.Errorf("added_to_org = %q", p.Data.AddedToOrg)
		}
		if p.Links["next"] == nil {
			break
		}
		next := *p.Links["next"]
		p = page{}
		e.get(t, "GET", path+"?cursor="+next, nil, 200, &p)
		pages++
	}
	if pages != 2 || len(got) != len(busy.LastActive) {
		t.Errorf("%d entries in %d pages, want %d in 2", len(got), pages, len(busy.LastActive))
	}
	for ari, at := range busy.LastActive {
		if got[ari] != at.Format(time.RFC3339) {
			t.Errorf("%s: %q, want %s", ari, got[ari], at.Format(time.RFC3339))
		}
	}

	_, b := e.send(t, "GET", e.v1()+"/directory/users/"+idle.AccountID+"/last-active-dates", nil)
	if !bytes.Contains(b, []byte(`"product_access":[]`)) || !bytes.Contains(b, []byte(`"next":null`)) {
		t.Errorf("never-active user: %s", b)
	}
	e.wantError(t, "GET", e.v1()+"/directory/users/nobody/last-active-dates", nil, 404, "ADMIN-404-8")
	e.wantError(t, "GET", e.v1()+"/directory/users/"+busy.AccountID+"/last-active-dates?cursor=x.y", nil, 400, "ADMIN-400-1")
}

type testGroup struct {
	ID, Name, DirectoryID string
	ExternalSynced        bool
	ManagedBy             string
	ManagementAccess      map[string]bool
	Counts                *struct{ Users, Resources *int }
}

func TestAdmin_Groups(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t, Params{Seed: 1, Users: 100, Sites: 2})
	search := e.dir() + "/groups/search"
	var all []testGroup
	body := map[string]any{"expand": []string{"counts.users"}}
	for pages := 1; ; pages++ {
		var p struct {
			Data  []testGroup
			Links map[string]string
		}
		e.get(t, "POST", search, body, 200, &p)
		if pages == 1 && len(p.Data) != adminGroupLimitDefault {
			t.Errorf("first page: %d groups, want the default %d", len(p.Data), adminGroupLimitDefault)
		}
		all = append(all, p.Data...)
		if p.Links["next"] == "" {
			break
		}
		body = map[string]any{"expand": []string{"counts.users"}, "cursor": p.Links["next"]}
	}
	e.srv.WithOrg(func(o *Org) {
		if len(all) != len(o.Groups) {
			t.Fatalf("%d groups, want %d", len(all), len(o.Groups))
		}
		for i, g := range all {
			want := o.Groups[i]
			if g.ID != want.ID || g.ExternalSynced != want.Synced || g.DirectoryID != o.DirectoryID ||
				g.Counts == nil || g.Counts.Users == nil || *g.Counts.Users != len(want.Members()) || g.Counts.Resources != nil {
				t.Errorf("group %d = %+v, want %s", i, g, want.Name)
			}
			if want.Synced && (g.ManagedBy != "external" || g.ManagementAccess["modifiable"]) {
				t.Errorf("synced group %s = %+v", want.Name, g)
			}
			if len(want.DefaultFor) > 0 && g.ManagementAccess["deletable"] {
				t.Errorf("default group %s is deletable", want.Name)
			}
		}
	})

	t.Run("group_names", func(t *testing.T) {
		var p struct{ Data []testGroup }
		e.get(t, "POST", search, map[string]any{"groupNames": []string{"TEAM-01"}}, 200, &p)
		if len(p.Data) != 1 || p.Data[0].Name != "team-01" {
			t.Errorf("groupNames = %+v", p.Data)
		}
		e.wantError(t, "POST", search, map[string]any{"groupNames": []string{"a"}, "searchTerm": "a"}, 400, "ADMIN-400-24")
		e.wantError(t, "POST", search, map[string]any{"expand": []string{"counts.everything"}}, 400, "ADMIN-400-24")
	})
	t.Run("get", func(t *testing.T) {
		var one struct{ Data testGroup }
		e.get(t, "GET", e.dir()+"/groups/"+all[0].ID, nil, 200, &one)
		if one.Data.ID != all[0].ID || one.Data.Counts == nil || one.Data.Counts.Resources == nil {
			t.Errorf("group = %+v", one.Data)
		}
		e.wantError(t, "GET", e.dir()+"/groups/nope", nil, 404, "ADMIN-404-10")
	})
}

func TestAdmin_GroupRoleAssignments(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t, Params{Seed: 1, Users: 30})
	var def, synced, admins *Group
	e.srv.WithOrg(func(o *Org) {
		for _, g := range o.Groups {
			switch {
			case def == nil && len(g.DefaultFor) > 0:
				def = g
			case synced == nil && g.Synced:
				synced = g
			case strings.HasPrefix(g.Name, "site-admins-"):
				admins = g
			}
		}
	})
	type page struct {
		Data []struct {
			ResourceID, ResourceOwner string
			DefaultRole               *string
			Roles                     []string
		}
		Links map[string]string
	}
	roles := func(g *Group) string { return e.dir() + "/groups/" + g.ID + "/role-assignments" }

	var p page
	e.get(t, "GET", roles(def), nil, 200, &p)
	if len(p.Data) != 1 || p.Data[0].DefaultRole == nil || *p.Data[0].DefaultRole != RoleUser || p.Data[0].ResourceID != def.DefaultFor[0] {
		t.Errorf("default group assignments = %+v", p.Data)
	}
	p = page{}
	e.get(t, "GET", roles(synced), nil, 200, &p)
	if len(p.Data) != 1 || p.Data[0].DefaultRole != nil {
		t.Errorf("synced group assignments = %+v", p.Data)
	}

	t.Run("paging_cursor_carries_filter", func(t *testing.T) {
		var seen []string
		url := roles(admins) + "?limit=1&roleIds=" + RoleAdmin
		for {
			var p page
			e.get(t, "GET", url, nil, 200, &p)
			for _, d := range p.Data {
				seen = append(seen, d.ResourceID)
				if !slices.Equal(d.Roles, []string{RoleAdmin}) {
					t.Errorf("roles = %v", d.Roles)
				}
			}
			if p.Links["next"] == "" {
				break
			}
			url = roles(admins) + "?cursor=" + p.Links["next"]
		}
		if len(seen) != len(admins.Roles) || !slices.IsSorted(seen) {
			t.Errorf("resources = %v, want %d", seen, len(admins.Roles))
		}
	})
	t.Run("filter_and_errors", func(t *testing.T) {
		var p page
		e.get(t, "GET", roles(admins)+"?resourceIds="+admins.Roles[0].ResourceID, nil, 200, &p)
		if len(p.Data) != 1 {
			t.Errorf("filtered = %+v", p.Data)
		}
		e.wantError(t, "GET", e.dir()+"/groups/nope/role-assignments", nil, 404, "ADMIN-404-10")
		e.wantError(t, "GET", roles(admins)+"?cursor=abc", nil, 400, "ADMIN-400-1")
	})
}

func TestAdmin_Memberships(t *testing.T) {
	t.Parallel()
	e := newAdminEnv(t, Params{Seed: 1, Users: 100})
	var plain, synced *Group
	var member, outsider string
	e.srv.WithOrg(func(o *Org) {
		for _, g := range o.Groups {
			switch {
			case plain == nil && !g.Synced && len(g.DefaultFor) > 0 && len(g.Members()) > 0:
				plain = g
			case synced == nil && g.Synced && len(g.Members()) > 0:
				synced = g
			}
		}
		member = plain.Members()[0]
		for _, u := range o.Users {
			if !o.IsMember(plain.ID, u.AccountID) {
				outsider = u.AccountID
				break
			}
		}
	})
	memberships := func(g string) string { return e.dir() + "/groups/" + g + "/memberships" }
	ledger := func() int { return len(e.srv.Ledger()) }

	if st, b := e.send(t, "DELETE", memberships(plain.ID)+"/"+member, nil); st != 204 {
		t.Fatalf("remove: %d %s", st, b)
	}
	l := e.srv.Ledger()
	if len(l) != 1 || l[0].Op != LedgerRemove || l[0].AccountID != member || l[0].GroupID != plain.ID ||
		l[0].API != APIAdmin || !slices.Equal(l[0].Products, plain.DefaultFor) {
		t.Fatalf("ledger = %+v", l)
	}
	e.srv.WithOrg(func(o *Org) {
		if o.IsMember(plain.ID, member) {
			t.Error("still a member after removal")
		}
	})
	e.wantError(t, "DELETE", memberships(plain.ID)+"/"+member, nil, 404, "ADMIN-404-1")
	if ledger() != 1 {
		t.Errorf("removing a non-member wrote the ledger: %+v", e.srv.Ledger())
	}

	e.get(t, "POST", memberships(plain.ID), map[string]string{"accountId": outsider}, 204, nil)
	e.get(t, "POST", memberships(plain.ID), map[string]string{"account_id": outsider}, 204, nil) // already a member: no-op
	if l := e.srv.Ledger(); len(l) != 2 || l[1].Op != LedgerAdd || l[1].AccountID != outsider {
		t.Errorf("ledger after add = %+v", l)
	}

	for _, tc := range []struct{ method, path string }{
		{"DELETE", memberships(synced.ID) + "/" + synced.Members()[0]},
		{"POST", memberships(synced.ID)},
	} {
		d := e.wantError(t, tc.method, tc.path, map[string]string{"accountId": outsider}, 403, "ADMIN-403-5")
		if !strings.Contains(d, "synced from an identity provider") {
			t.Errorf("%s synced: detail %q", tc.method, d)
		}
	}
	e.wantError(t, "DELETE", memberships("nope")+"/"+member, nil, 404, "ADMIN-404-10")
	e.wantError(t, "DELETE", memberships(plain.ID)+"/nobody", nil, 404, "ADMIN-404-8")
	e.wantError(t, "POST", memberships(plain.ID), map[string]string{"accountId": "nobody"}, 404, "ADMIN-404-8")
	e.wantError(t, "POST", memberships(plain.ID), map[string]string{}, 400, "ADMIN-400-24")
	e.wantError(t, "DELETE", "/admin/v2/orgs/"+e.orgID+"/directories/other/groups/"+plain.ID+"/memberships/"+outsider, nil, 404, "ADMIN-404-1")
	if ledger() != 2 {
		t.Errorf("refused writes wrote the ledger: %+v", e.srv.Ledger())
	}
}
