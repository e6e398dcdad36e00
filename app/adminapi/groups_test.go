package adminapi_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/lapsehq/lapse/app/adminapi"
	"github.com/lapsehq/lapse/app/devsite"
)

func TestGroups(t *testing.T) {
	t.Parallel()
	f := setup(t, devsite.Params{Seed: 1, Users: 80, Sites: 3})
	c := f.client(t, nil)
	groups, err := collect(t, c.SearchGroups(t.Context(), adminapi.GroupQuery{Limit: 10, Counts: true}))
	if err != nil {
		t.Fatal(err)
	}
	f.org(func(o *devsite.Org) {
		if len(groups) != len(o.Groups) {
			t.Fatalf("%d groups, want %d", len(groups), len(o.Groups))
		}
		for i, g := range groups {
			want := o.Groups[i]
			if g.ID != want.ID || g.Name != want.Name || g.Synced != want.Synced || g.Counts == nil ||
				g.Counts.Users != len(want.Members()) || g.Modifiable == want.Synced {
				t.Errorf("group %d = %+v, want %s", i, g, want.Name)
			}
		}
	})

	t.Run("search_by_name", func(t *testing.T) {
		got, err := collect(t, c.SearchGroups(t.Context(), adminapi.GroupQuery{GroupNames: []string{"team-02"}}))
		if err != nil || len(got) != 1 || got[0].Name != "team-02" || got[0].Counts != nil {
			t.Fatalf("groups = %+v, %v", got, err)
		}
	})
	t.Run("group", func(t *testing.T) {
		g, err := c.Group(t.Context(), groups[0].ID)
		if err != nil || g.ID != groups[0].ID || g.Counts == nil {
			t.Fatalf("group = %+v, %v", g, err)
		}
		if _, err := c.Group(t.Context(), "no-such-group"); !errors.Is(err, adminapi.ErrGroupNotFound) {
			t.Errorf("unknown group err = %v", err)
		}
	})
}

func TestGroupRoleAssignments(t *testing.T) {
	t.Parallel()
	f := setup(t, devsite.Params{Seed: 1, Users: 30, Sites: 2})
	c := f.client(t, nil)
	var def, admins *devsite.Group
	f.org(func(o *devsite.Org) {
		for _, g := range o.Groups {
			switch {
			case def == nil && len(g.DefaultFor) > 0:
				def = g
			case admins == nil && strings.HasPrefix(g.Name, "site-admins-"):
				admins = g
			}
		}
	})
	got, err := collect(t, c.GroupRoleAssignments(t.Context(), def.ID))
	if err != nil || len(got) != 1 || got[0].ResourceID != def.DefaultFor[0] || got[0].DefaultRole != devsite.RoleUser ||
		got[0].ResourceOwner != adminapi.ResourceProduct(got[0].ResourceID) {
		t.Fatalf("default group assignments = %+v, %v", got, err)
	}
	got, err = collect(t, c.GroupRoleAssignments(t.Context(), admins.ID))
	if err != nil || len(got) != len(admins.Roles) {
		t.Fatalf("admin group assignments = %+v, %v", got, err)
	}
	for _, ra := range got {
		if ra.DefaultRole != "" || len(ra.Roles) != 1 || ra.Roles[0] != devsite.RoleAdmin {
			t.Errorf("assignment = %+v", ra)
		}
	}
	if _, err := collect(t, c.GroupRoleAssignments(t.Context(), "no-such-group")); !errors.Is(err, adminapi.ErrGroupNotFound) {
		t.Errorf("unknown group err = %v", err)
	}
}
