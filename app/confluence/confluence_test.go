package confluence_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app/atlassian"
	"github.com/lapsehq/lapse/app/confluence"
	"github.com/lapsehq/lapse/app/devsite"
)

func TestClient_IsSiteAdmin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	var orgAdmin, siteAdmin, plain string
	e.srv.WithOrg(func(o *devsite.Org) {
		for _, u := range o.Users {
			switch {
			case slices.Contains(u.PlatformRoles, devsite.PlatformOrgAdmin) && orgAdmin == "":
				orgAdmin = u.AccountID
			case slices.Contains(u.PlatformRoles, devsite.PlatformSiteAdmin) && siteAdmin == "":
				siteAdmin = u.AccountID
			case len(u.PlatformRoles) == 0 && u.AccountType == "atlassian" && u.AccountStatus == "active" && plain == "":
				plain = u.AccountID
			}
		}
	})
	for name, c := range map[string]*confluence.Client{"connect_read": e.connectClient(t, 0, "READ"), "forge": e.forgeClient(t, 0)} {
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
			_, err := c.IsSiteAdmin(ctx, "nobody")
			wantAPIError(t, err, 404)
		})
	}
	t.Run("admin_role_group", func(t *testing.T) {
		// Membership in a group with the admin role on Confluence is enough.
		admins := e.groupNamed(t, "site-admins-"+e.site)
		e.srv.WithOrg(func(o *devsite.Org) { o.AddMember(admins, plain) })
		if ok, err := e.forgeClient(t, 0).IsSiteAdmin(ctx, plain); !ok || err != nil {
			t.Fatalf("IsSiteAdmin = %v, %v", ok, err)
		}
	})
}

func TestClient_MembersPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	big, empty, exact := e.groupNamed(t, "team-01"), e.groupNamed(t, "team-02"), e.groupNamed(t, "team-03")
	members := e.setMembers(t, big, 250)
	e.setMembers(t, empty, 0)
	e.setMembers(t, exact, 200)
	cases := []struct {
		name     string
		pageSize int
		group    string
		want     int
		requests int
	}{
		{"cap_200_by_default", 0, big, 250, 2},
		{"over_the_cap", 500, big, 250, 2},
		{"small_pages", 100, big, 250, 3},
		{"exactly_full_last_page", 50, big, 250, 5},
		{"one_exactly_full_page", 0, exact, 200, 1},
		{"empty_group", 0, empty, 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := *e
			e.calls = &callLog{}
			users, err := collect(e.connectClient(t, tc.pageSize, "READ").GroupMembers(ctx, tc.group))
			if err != nil {
				t.Fatal(err)
			}
			if len(users) != tc.want {
				t.Fatalf("%d members, want %d", len(users), tc.want)
			}
			if tc.group == big {
				for i, u := range users {
					if u.AccountID != members[i] || u.DisplayName == "" {
						t.Fatalf("member %d = %+v", i, u)
					}
				}
			}
			if n := e.calls.count("/membersByGroupId"); n != tc.requests {
				t.Fatalf("%d requests, want %d", n, tc.requests)
			}
		})
	}
	t.Run("unknown_group", func(t *testing.T) {
		_, err := collect(e.forgeClient(t, 0).GroupMembers(ctx, "missing"))
		wantAPIError(t, err, 404)
	})
}

func TestClient_GroupsAndUserGroups(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	var want []string
	var siteAdmin string
	e.srv.WithOrg(func(o *devsite.Org) {
		for _, g := range o.Groups {
			want = append(want, g.Name)
		}
		for _, u := range o.Users {
			if slices.Contains(u.PlatformRoles, devsite.PlatformSiteAdmin) {
				siteAdmin = u.AccountID
			}
		}
	})
	slices.Sort(want)
	for name, c := range map[string]*confluence.Client{"connect": e.connectClient(t, 4, "READ"), "forge": e.forgeClient(t, 4)} {
		t.Run(name, func(t *testing.T) {
			groups, err := collect(c.Groups(ctx))
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, g := range groups {
				names = append(names, g.Name)
			}
			if !slices.Equal(names, want) {
				t.Fatalf("groups %v, want %v", names, want)
			}
			mine, err := collect(c.UserGroups(ctx, siteAdmin))
			if err != nil || !slices.ContainsFunc(mine, func(g confluence.Group) bool { return g.Name == "site-admins-"+e.site }) {
				t.Fatalf("user groups %v, %v", mine, err)
			}
		})
	}
}

func TestClient_RefusalsAndPoints(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	t.Run("org_api_key", func(t *testing.T) {
		var key string
		e.srv.WithOrg(func(o *devsite.Org) { key = o.APIKey })
		c := e.client(t, confluence.ForgeBaseURL(e.ts.URL+"/ex/confluence/"+e.cloudID), atlassian.Bearer(key), 0)
		_, err := collect(c.Groups(ctx))
		wantAPIError(t, err, 401)
	})
	t.Run("jira_token", func(t *testing.T) {
		tok := e.srv.MintSystemToken(e.site, "jira", "i", time.Hour)
		c := e.client(t, confluence.ForgeBaseURL(e.ts.URL+"/ex/confluence/"+e.cloudID), atlassian.Bearer(tok), 0)
		_, err := c.IsSiteAdmin(ctx, "x")
		wantAPIError(t, err, 401)
	})
	t.Run("points_settled", func(t *testing.T) {
		e := *e
		e.budget = atlassian.NewMemoryBudget()
		gid := e.groupNamed(t, "team-04")
		e.setMembers(t, gid, 130)
		if _, err := collect(e.forgeClient(t, 100).GroupMembers(ctx, gid)); err != nil {
			t.Fatal(err)
		}
		const want = (1 + 2*100) + (1 + 2*30)
		for _, scope := range []string{atlassian.ScopeAppPoints, atlassian.TenantPointsScope("t1")} {
			if used, _ := e.budget.Usage(ctx, time.Now(), scope, time.Hour); used != want {
				t.Fatalf("%s used %d, want %d", scope, used, want)
			}
		}
	})
}
