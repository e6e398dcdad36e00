package devsite

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"
)

// Params shape a generated organization. Zero values take the defaults
// noted; the same Params and Seed always give the same org.
type Params struct {
	Seed  int64 `json:"seed"`
	Users int   `json:"users"` // default 1,000
	Sites int   `json:"sites"` // default 1
	// Products enabled on every site (default jira-software,
	// jira-servicedesk, confluence).
	Products []string `json:"products,omitempty"`
	// OrdinaryGroups grant no product (default 10).
	OrdinaryGroups int `json:"ordinaryGroups"`
	// MeanDaysSinceActive is the mean of the exponential distribution of
	// days since a user last used a product (default 40).
	MeanDaysSinceActive float64 `json:"meanDaysSinceActive"`
	// NeverActiveShare of users with access never used a product (default 0.08).
	NeverActiveShare float64 `json:"neverActiveShare"`
	// UnmanagedShare of human accounts are external (default 0.15).
	UnmanagedShare float64 `json:"unmanagedShare"`
	// SyncedShare of managed humans get their access through IdP-synced
	// groups (default 0.2).
	SyncedShare float64 `json:"syncedShare"`
	// AppAccounts and CustomerAccounts (JSM portal customers) (defaults 5 and 20).
	AppAccounts      int `json:"appAccounts"`
	CustomerAccounts int `json:"customerAccounts"`
	// OrgAdmins and SiteAdmins among the human accounts (defaults 2 and 3).
	OrgAdmins  int `json:"orgAdmins"`
	SiteAdmins int `json:"siteAdmins"`
	// Now is the reference time last-active dates count back from (default:
	// the server clock when the org is generated).
	Now time.Time `json:"now,omitzero"`
}

func (p Params) withDefaults(now time.Time) Params {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	deff := func(v *float64, d float64) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&p.Users, 1000)
	def(&p.Sites, 1)
	def(&p.OrdinaryGroups, 10)
	def(&p.AppAccounts, 5)
	def(&p.CustomerAccounts, 20)
	def(&p.OrgAdmins, 2)
	def(&p.SiteAdmins, 3)
	deff(&p.MeanDaysSinceActive, 40)
	deff(&p.NeverActiveShare, 0.08)
	deff(&p.UnmanagedShare, 0.15)
	deff(&p.SyncedShare, 0.2)
	if len(p.Products) == 0 {
		p.Products = []string{ProductJiraSoftware, ProductJSM, ProductConfluence}
	}
	if p.Now.IsZero() {
		p.Now = now
	}
	p.Now = p.Now.UTC().Truncate(time.Second)
	return p
}

// generator builds an org deterministically from Params.
type generator struct {
	p   Params
	rng *rand.Rand
	org *Org
	n   int // id counter
}

// Generate builds an organization from p (defaults applied with the
// current time when p.Now is zero).
func Generate(p Params) *Org {
	p = p.withDefaults(time.Now())
	g := &generator{p: p, rng: rand.New(rand.NewPCG(uint64(p.Seed), 0xdecaf))}
	g.org = &Org{
		ID:          g.uuid(),
		Name:        "Simulated Org",
		APIKey:      "devsite-org-key-" + g.hex(16),
		DirectoryID: g.uuid(),
		Domains: []Domain{
			{ID: g.uuid(), Name: "example.com", Verified: true},
			{ID: g.uuid(), Name: "example.org", Verified: false},
		},
	}
	for i := range p.Sites {
		g.addSite(i)
	}
	g.addUsers()
	g.org.index()
	return g.org
}

func (g *generator) uuid() string {
	b := make([]byte, 16)
	for i := range b {
		b[i] = byte(g.rng.UintN(256))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func (g *generator) hex(n int) string {
	var sb strings.Builder
	for range n {
		fmt.Fprintf(&sb, "%02x", g.rng.UintN(256))
	}
	return sb.String()
}

// accountID looks like an Atlassian account id ("5b10ac8d82e05b22cc7d4ef5"
// or "557058:<uuid>"); sorted order is unrelated to creation order.
func (g *generator) accountID() string {
	if g.rng.IntN(4) == 0 {
		return "557058:" + g.uuid()
	}
	return g.hex(12)
}

func (g *generator) addSite(i int) {
	name := "acme"
	if i > 0 {
		name = fmt.Sprintf("acme%d", i+1)
	}
	site := &Site{Name: name, CloudID: g.uuid(), Products: g.p.Products}
	g.org.Sites = append(g.org.Sites, site)
	admins := &Group{ID: g.uuid(), Name: "site-admins-" + name, Description: "Site administrators of " + name}
	for _, prod := range site.Products {
		ari := ProductARI(prod, site.CloudID)
		users := &Group{ID: g.uuid(), Name: prod + "-users-" + name, Description: "Default access to " + prod + " on " + name,
			Roles: []RoleAssignment{{ResourceID: ari, RoleID: RoleUser}}, DefaultFor: []string{ari}}
		synced := &Group{ID: g.uuid(), Name: "okta-" + prod + "-" + name, Description: "Synced from the identity provider", Synced: true,
			Roles: []RoleAssignment{{ResourceID: ari, RoleID: RoleUser}}}
		admins.Roles = append(admins.Roles, RoleAssignment{ResourceID: ari, RoleID: RoleAdmin})
		g.org.Groups = append(g.org.Groups, users, synced)
	}
	g.org.Groups = append(g.org.Groups, admins)
	if i == 0 {
		for k := range g.p.OrdinaryGroups {
			g.org.Groups = append(g.org.Groups, &Group{ID: g.uuid(), Name: fmt.Sprintf("team-%02d", k+1), Description: "A team"})
		}
		apps := &Group{ID: g.uuid(), Name: "atlassian-addons-admin", Description: "App accounts"}
		for _, s := range g.org.Sites {
			for _, prod := range s.Products {
				apps.Roles = append(apps.Roles, RoleAssignment{ResourceID: ProductARI(prod, s.CloudID), RoleID: RoleUser})
			}
		}
		g.org.Groups = append(g.org.Groups, apps)
	}
}

// groupNamed returns the group with exactly this name, or nil.
func (g *generator) groupNamed(name string) *Group {
	for _, gr := range g.org.Groups {
		if gr.Name == name {
			return gr
		}
	}
	return nil
}

// groupsNamed returns the groups whose name starts with prefix.
func (g *generator) groupsNamed(prefix string) []*Group {
	var out []*Group
	for _, gr := range g.org.Groups {
		if strings.HasPrefix(gr.Name, prefix) {
			out = append(out, gr)
		}
	}
	return out
}

func (g *generator) addUsers() {
	p := g.p
	humans := p.Users - p.AppAccounts - p.CustomerAccounts
	if humans < 0 {
		humans = 0
	}
	for i := range p.Users {
		switch {
		case i < humans:
			g.addHuman(i)
		case i < humans+p.AppAccounts:
			g.addApp(i - humans)
		default:
			g.addCustomer(i - humans - p.AppAccounts)
		}
	}
}

func (g *generator) newUser(kind string, i int) *User {
	u := &User{
		AccountID: g.accountID(), AccountType: kind, AccountStatus: "active", Status: "active",
		LastActive: map[string]time.Time{},
		AddedToOrg: g.p.Now.Add(-time.Duration(30+g.rng.IntN(1500)) * 24 * time.Hour),
	}
	g.org.Users = append(g.org.Users, u)
	return u
}

func (g *generator) addHuman(i int) {
	p := g.p
	u := g.newUser("atlassian", i)
	u.Name = fmt.Sprintf("User %05d", i+1)
	if g.rng.Float64() < p.UnmanagedShare {
		u.Email = fmt.Sprintf("user%05d@partner-%d.example.net", i+1, g.rng.IntN(7))
		u.ClaimStatus = "unmanaged"
	} else {
		u.Email = fmt.Sprintf("user%05d@example.com", i+1)
		u.ClaimStatus = "managed"
		u.ManagementSource = "invited"
	}
	if g.rng.IntN(50) == 0 {
		u.AccountStatus = "inactive" // deactivated managed account
	}
	switch {
	case i < p.OrgAdmins:
		u.PlatformRoles = []string{PlatformOrgAdmin}
	case i < p.OrgAdmins+p.SiteAdmins:
		u.PlatformRoles = []string{PlatformSiteAdmin}
		for _, gr := range g.groupsNamed("site-admins-") {
			gr.members = append(gr.members, u.AccountID)
		}
	}
	g.grantProducts(u)
	if teams := g.groupsNamed("team-"); len(teams) > 0 && g.rng.IntN(2) == 0 {
		t := teams[g.rng.IntN(len(teams))]
		t.members = append(t.members, u.AccountID)
	}
}

// grantProducts puts a human into product groups: most through the
// default groups, some (managed ones) through IdP-synced groups, and sets
// when each product was last used.
func (g *generator) grantProducts(u *User) {
	synced := u.ClaimStatus == "managed" && g.rng.Float64() < g.p.SyncedShare
	if synced {
		u.ManagementSource = "synced"
	}
	never := g.rng.Float64() < g.p.NeverActiveShare
	for _, site := range g.org.Sites {
		for _, prod := range site.Products {
			// Not everyone has every product: JSM is for agents only.
			if prod == ProductJSM && g.rng.IntN(4) != 0 {
				continue
			}
			if prod == ProductConfluence && g.rng.IntN(5) == 0 {
				continue
			}
			name := prod + "-users-" + site.Name
			if synced {
				name = "okta-" + prod + "-" + site.Name
			}
			if gr := g.groupNamed(name); gr != nil {
				gr.members = append(gr.members, u.AccountID)
			}
			if !never {
				days := math.Min(g.rng.ExpFloat64()*g.p.MeanDaysSinceActive, 900)
				u.LastActive[ProductARI(prod, site.CloudID)] = g.p.Now.Add(-time.Duration(days * 24 * float64(time.Hour))).Truncate(time.Second)
			}
		}
	}
}

func (g *generator) addApp(i int) {
	u := g.newUser("app", i)
	u.Name = fmt.Sprintf("App bot %d", i+1)
	if gr := g.groupNamed("atlassian-addons-admin"); gr != nil {
		gr.members = append(gr.members, u.AccountID)
	}
}

func (g *generator) addCustomer(i int) {
	u := g.newUser("customer", i)
	u.Name = fmt.Sprintf("Customer %d", i+1)
	u.Email = fmt.Sprintf("customer%d@client-%d.example.net", i+1, i%5)
	u.ClaimStatus = "unmanaged"
}
