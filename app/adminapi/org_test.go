package adminapi_test

import (
	"slices"
	"testing"

	"github.com/lapsehq/lapse/app/adminapi"
	"github.com/lapsehq/lapse/app/devsite"
)

func TestOrgsWorkspacesDomains(t *testing.T) {
	t.Parallel()
	f := setup(t, devsite.Params{Seed: 1, Users: 20, Sites: 2})
	c := f.client(t, nil)

	orgs, err := collect(t, c.Orgs(t.Context()))
	if err != nil || len(orgs) != 1 || orgs[0].ID != f.orgID || orgs[0].Name == "" {
		t.Fatalf("orgs = %+v, %v", orgs, err)
	}

	ws, err := collect(t, c.Workspaces(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	f.org(func(o *devsite.Org) {
		for _, s := range o.Sites {
			for _, p := range s.Products {
				want = append(want, devsite.ProductARI(p, s.CloudID))
			}
		}
	})
	var got []string
	for _, w := range ws {
		got = append(got, w.ID)
		if w.Product() != w.TypeKey || w.CloudID() == "" || w.Sandbox || w.HostURL == "" {
			t.Errorf("workspace = %+v", w)
		}
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("workspaces = %v, want %v", got, want)
	}

	domains, err := collect(t, c.Domains(t.Context()))
	if err != nil {
		t.Fatal(err)
	}
	verified := map[string]bool{}
	for _, d := range domains {
		verified[d.Name] = d.Verified()
	}
	if !verified["example.com"] || verified["example.org"] || len(domains) != 2 {
		t.Errorf("domains = %+v", domains)
	}
}

func TestResourceProduct(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"ari:cloud:jira-software::site/abc", "jira-software"},
		{"ari:cloud:confluence::site/abc", "confluence"},
		{"not-an-ari", ""},
	}
	for _, tc := range cases {
		if got := adminapi.ResourceProduct(tc.in); got != tc.want {
			t.Errorf("ResourceProduct(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
