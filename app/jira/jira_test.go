package jira_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app/atlassian"
	"github.com/lapsehq/lapse/app/connect"
	"github.com/lapsehq/lapse/app/devsite"
	"github.com/lapsehq/lapse/app/jira"
)

func TestClient_IsSiteAdmin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	orgAdmin, siteAdmin, plain := e.admins(t)
	for name, c := range map[string]*jira.Client{"connect_read": e.connectClient(t, 0, "READ"), "forge": e.forgeClient(t, 0)} {
		t.Run(name, func(t *testing.T) {
			for _, tc := range []struct {
				account string
				want    bool
			}{{orgAdmin, true}, {siteAdmin, true}, {plain, false}} {
				got, err := c.IsSiteAdmin(ctx, tc.account)
				if err != nil || got != tc.want {
					t.Fatalf("IsSiteAdmin(%s) = %v, %v; want %v", tc.account, got, err, tc.want)
				}
			}
			if _, err := c.IsSiteAdmin(ctx, ""); err == nil {
				t.Fatal("empty account id accepted")
			}
			_, err := c.IsSiteAdmin(ctx, "nobody")
			wantAPIError(t, err, 400)
		})
	}
}

func TestClient_GroupMembersPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	full, empty, fifty := e.groupNamed(t, "team-01"), e.groupNamed(t, "team-02"), e.groupNamed(t, "team-03")
	members := e.setMembers(t, full, 100)
	e.setMembers(t, empty, 0)
	e.setMembers(t, fifty, 50)
	cases := []struct {
		name     string
		pageSize int
		group    string
		want     int // members
		requests int
	}{
		{"cap_by_default", 0, full, 100, 2},          // 50 + 50, the last page exactly full
		{"over_the_cap", 100, full, 100, 2},          // asked 100, Jira gives 50
		{"short_last_page", 30, full, 100, 4},        // 30 + 30 + 30 + 10
		{"exactly_full_last_page", 25, full, 100, 4}, // no extra empty request
		{"empty_group", 0, empty, 0, 1},              // one empty last page
		{"single_full_page", 100, empty, 0, 1},       // still one request
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvSharing(t, e)
			c := e.connectClient(t, tc.pageSize, "ADMIN")
			users, err := collect(t, c.GroupMembers(ctx, tc.group, false))
			if err != nil {
				t.Fatal(err)
			}
			if len(users) != tc.want {
				t.Fatalf("%d members, want %d", len(users), tc.want)
			}
			for i, u := range users {
				if (tc.group == full && u.AccountID != members[i]) || !u.Active || u.AccountType != "atlassian" {
					t.Fatalf("member %d = %+v", i, u)
				}
			}
			if n := e.calls.count("/rest/api/3/group/member"); n != tc.requests {
				t.Fatalf("%d requests, want %d", n, tc.requests)
			}
		})
	}
	t.Run("include_inactive", func(t *testing.T) {
		e.srv.WithOrg(func(o *devsite.Org) { o.User(members[5]).AccountStatus = "inactive" })
		c := e.forgeClient(t, 0)
		active, _ := collect(t, c.GroupMembers(ctx, full, false))
		all, _ := collect(t, c.GroupMembers(ctx, full, true))
		if len(active) != 99 || len(all) != 100 {
			t.Fatalf("%d active, %d in all", len(active), len(all))
		}
	})
	t.Run("unknown_group", func(t *testing.T) {
		_, err := collect(t, e.forgeClient(t, 0).GroupMembers(ctx, "missing", false))
		wantAPIError(t, err, 404)
		if !atlassian.IsNotFound(err) {
			t.Fatal("IsNotFound false")
		}
	})
	t.Run("stop_early", func(t *testing.T) {
		e := newEnvSharing(t, e)
		c := e.connectClient(t, 10, "ADMIN")
		n := 0
		for _, err := range c.GroupMembers(ctx, full, false) {
			if err != nil {
				t.Fatal(err)
			}
			if n++; n == 15 {
				break
			}
		}
		if got := e.calls.count("/rest/api/3/group/member"); got != 2 {
			t.Fatalf("%d requests after stopping at 15 of 10-item pages", got)
		}
	})
}

func TestClient_Groups(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var want int
	e.srv.WithOrg(func(o *devsite.Org) { want = len(o.Groups) })
	groups, err := collect(t, e.connectClient(t, 5, "ADMIN").Groups(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != want || groups[0].ID == "" || groups[0].Name == "" {
		t.Fatalf("%d groups (%+v), want %d", len(groups), groups[0], want)
	}
	if n, pages := e.calls.count("/rest/api/3/group/bulk"), (want+4)/5; n != pages {
		t.Fatalf("%d requests, want %d", n, pages)
	}
}

func TestClient_Refusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	gid := e.groupNamed(t, "team-01")
	_, _, plain := e.admins(t)
	t.Run("read_scope_cannot_list_members", func(t *testing.T) {
		_, err := collect(t, e.connectClient(t, 0, "READ").GroupMembers(ctx, gid, false))
		wantAPIError(t, err, 403)
		_, err = collect(t, e.connectClient(t, 0, "READ").Groups(ctx))
		wantAPIError(t, err, 403)
	})
	t.Run("read_scope_user_groups", func(t *testing.T) {
		groups, err := e.connectClient(t, 0, "READ").UserGroups(ctx, plain)
		if err != nil || len(groups) == 0 {
			t.Fatalf("UserGroups = %v, %v", groups, err)
		}
	})
	t.Run("connect_cannot_list_users", func(t *testing.T) {
		_, err := collect(t, e.connectClient(t, 0, "ADMIN").Users(ctx))
		wantAPIError(t, err, 403)
	})
	t.Run("org_api_key", func(t *testing.T) {
		var key string
		e.srv.WithOrg(func(o *devsite.Org) { key = o.APIKey })
		c := e.client(t, e.transport(t, e.ts.URL+"/ex/jira/"+e.cloudID, atlassian.Bearer(key)), 0)
		_, err := collect(t, c.Groups(ctx))
		wantAPIError(t, err, 401)
		_, err = c.IsSiteAdmin(ctx, plain)
		wantAPIError(t, err, 401)
	})
	t.Run("wrong_secret", func(t *testing.T) {
		in, _ := e.srv.RegisterConnectInstall(e.site, "jira", appKey+".x", []string{"ADMIN"})
		c := e.client(t, e.transport(t, in.BaseURL, connect.TenantAuth{Signer: connect.Signer{AppKey: appKey + ".x"}, BaseURL: in.BaseURL, Secret: []byte("wrong")}), 0)
		_, err := c.IsSiteAdmin(ctx, plain)
		wantAPIError(t, err, 401)
	})
}

func TestClient_Forge(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	c := e.forgeClient(t, 0)
	users, err := collect(t, c.Users(ctx))
	if err != nil || len(users) != 300 {
		t.Fatalf("%d users, %v", len(users), err)
	}
	// One full page of 300 (cap 1000) and the empty page that ends the list.
	if n := e.calls.count("/rest/api/3/users/search"); n != 2 {
		t.Fatalf("%d users/search requests", n)
	}
	kinds := map[string]int{}
	for _, u := range users {
		kinds[u.AccountType]++
	}
	if kinds["app"] != 5 || kinds["customer"] != 20 {
		t.Fatalf("account types %v", kinds)
	}
	groups, err := collect(t, c.Groups(ctx))
	if err != nil || len(groups) == 0 {
		t.Fatalf("groups %d, %v", len(groups), err)
	}
	small, err := collect(t, e.forgeClient(t, 120).Users(ctx))
	if err != nil || len(small) != 300 {
		t.Fatalf("paged users %d, %v", len(small), err)
	}
}

func TestClient_Points(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	gid := e.groupNamed(t, "team-01")
	e.setMembers(t, gid, 100)
	c := e.connectClient(t, 30, "ADMIN")
	if _, err := collect(t, c.GroupMembers(ctx, gid, false)); err != nil {
		t.Fatal(err)
	}
	// Reserved 4 × (1 + 2×30); settled to 3 × 61 + (1 + 2×10).
	const want = 3*61 + 21
	now := time.Now()
	for _, scope := range []string{atlassian.ScopeAppPoints, atlassian.TenantPointsScope("t1")} {
		used, err := e.budget.Usage(ctx, now, scope, time.Hour)
		if err != nil || used != want {
			t.Fatalf("%s used %d, %v; want %d", scope, used, err, want)
		}
	}
	t.Run("budget_refuses_before_sending", func(t *testing.T) {
		e := newEnvSharing(t, e)
		tr := e.transport(t, e.ts.URL+"/ex/jira/"+e.cloudID, atlassian.Bearer(e.srv.MintSystemToken(e.site, "jira", "i", time.Hour)))
		small, _ := jira.New(jira.Config{Transport: tr, TenantID: "t2", TenantPointsPerHour: 50})
		_, err := collect(t, small.GroupMembers(ctx, gid, false)) // needs 101 points
		var be *atlassian.BudgetError
		if !errors.As(err, &be) || be.Scope != atlassian.TenantPointsScope("t2") {
			t.Fatalf("error %v, want a BudgetError on the tenant scope", err)
		}
		if n := e.calls.count("/rest/api/3/group/member"); n != 0 {
			t.Fatalf("%d requests sent over budget", n)
		}
	})
}

// newEnvSharing returns a view of e with its own request log and budget,
// for subtests that count requests.
func newEnvSharing(t *testing.T, e *env) *env {
	t.Helper()
	cp := *e
	cp.calls = &callLog{}
	cp.budget = atlassian.NewMemoryBudget()
	return &cp
}
