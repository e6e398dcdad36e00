package devsite

import (
	"slices"
	"time"
)

// Product keys as the Admin API names them (productAccess[].key), and the
// Jira application keys they correspond to.
const (
	ProductJiraSoftware = "jira-software"
	ProductJSM          = "jira-servicedesk"
	ProductConfluence   = "confluence"
)

// Roles a group can grant on a product (Admin API role ids).
const (
	RoleUser  = "atlassian/user"
	RoleAdmin = "atlassian/admin"
)

// Platform (admin) roles a user can hold.
const (
	PlatformOrgAdmin  = "atlassian/org-admin"
	PlatformSiteAdmin = "atlassian/site-admin"
)

// ProductARI returns the resource id of a product on a site, as the Admin API
// uses it in productAccess[].id, resourceIds and role assignments.
func ProductARI(product, cloudID string) string {
	return "ari:cloud:" + product + "::site/" + cloudID
}

// Org is a simulated Atlassian organization: one directory, several sites,
// users, groups and the org admin API key. All fields are guarded by the
// owning Server's mutex; handlers never hold a *User across an unlock.
type Org struct {
	ID          string
	Name        string
	APIKey      string // the org admin API key, sent as a Bearer token
	DirectoryID string
	Sites       []*Site
	Domains     []Domain

	Users     []*User // ordered by AccountID; the order pagination walks
	userByID  map[string]*User
	Groups    []*Group // ordered by ID
	groupByID map[string]*Group
}

// Site is one cloud site with its products.
type Site struct {
	Name     string   // URL name: the site is served under /s/<Name>
	CloudID  string   // the site's cloud id
	Products []string // product keys enabled on the site
}

// HasProduct reports whether the site has product.
func (s *Site) HasProduct(p string) bool { return slices.Contains(s.Products, p) }

// Domain is a domain of the organization; verified domains make their
// accounts managed.
type Domain struct {
	ID       string
	Name     string
	Verified bool
}

// User is one Atlassian account in the organization's directory.
type User struct {
	AccountID        string
	Name             string
	Email            string
	AccountType      string // atlassian | app | customer
	AccountStatus    string // active | inactive | closed
	Status           string // active | suspended (membership in the org)
	ClaimStatus      string // managed | unmanaged
	ManagementSource string // invited | synced ("" for unmanaged)
	AddedToOrg       time.Time
	PlatformRoles    []string
	// LastActive maps a product ARI to the last time the user viewed that
	// product. A product the user can access but never used has no entry.
	LastActive map[string]time.Time
	// groups this user is a member of, ordered by group id.
	groups []string
}

// GroupIDs returns the ids of the groups the user belongs to.
func (u *User) GroupIDs() []string { return u.groups }

// RoleAssignment grants a role on a product resource to every member of a
// group.
type RoleAssignment struct {
	ResourceID string // product ARI
	RoleID     string // RoleUser or RoleAdmin
}

// Group is a group of the directory.
type Group struct {
	ID          string
	Name        string
	Description string
	// Synced groups are managed by an identity provider: Atlassian refuses
	// membership changes through its APIs.
	Synced bool
	Roles  []RoleAssignment
	// DefaultFor lists product ARIs for which new users are added to this
	// group (Jira's application-role default groups).
	DefaultFor []string
	// members, ordered by account id.
	members []string
}

// Members returns the account ids of the group, ordered.
func (g *Group) Members() []string { return g.members }

// GrantsProduct reports whether membership in g grants access to the
// product resource.
func (g *Group) GrantsProduct(resourceID string) bool {
	for _, r := range g.Roles {
		if r.ResourceID == resourceID {
			return true
		}
	}
	return false
}

// User returns a user by account id, or nil.
func (o *Org) User(accountID string) *User { return o.userByID[accountID] }

// Group returns a group by id, or nil.
func (o *Org) Group(id string) *Group { return o.groupByID[id] }

// SiteByName returns a site by its URL name, or nil.
func (o *Org) SiteByName(name string) *Site {
	for _, s := range o.Sites {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// SiteByCloudID returns a site by cloud id, or nil.
func (o *Org) SiteByCloudID(id string) *Site {
	for _, s := range o.Sites {
		if s.CloudID == id {
			return s
		}
	}
	return nil
}

// IsMember reports whether accountID is in group g.
func (o *Org) IsMember(groupID, accountID string) bool {
	g := o.groupByID[groupID]
	if g == nil {
		return false
	}
	_, ok := slices.BinarySearch(g.members, accountID)
	return ok
}

// AddMember adds accountID to group; it reports false when it was already
// a member.
func (o *Org) AddMember(groupID, accountID string) bool {
	g, u := o.groupByID[groupID], o.userByID[accountID]
	if g == nil || u == nil {
		return false
	}
	i, found := slices.BinarySearch(g.members, accountID)
	if found {
		return false
	}
	g.members = slices.Insert(g.members, i, accountID)
	j, _ := slices.BinarySearch(u.groups, groupID)
	u.groups = slices.Insert(u.groups, j, groupID)
	return true
}

// RemoveMember removes accountID from group; it reports false when it was
// not a member.
func (o *Org) RemoveMember(groupID, accountID string) bool {
	g, u := o.groupByID[groupID], o.userByID[accountID]
	if g == nil || u == nil {
		return false
	}
	i, found := slices.BinarySearch(g.members, accountID)
	if !found {
		return false
	}
	g.members = slices.Delete(g.members, i, i+1)
	if j, ok := slices.BinarySearch(u.groups, groupID); ok {
		u.groups = slices.Delete(u.groups, j, j+1)
	}
	return true
}

// ProductAccess returns the product ARIs the user can access through any of
// its groups, ordered.
func (o *Org) ProductAccess(u *User) []string {
	var out []string
	for _, gid := range u.groups {
		for _, r := range o.groupByID[gid].Roles {
			if !slices.Contains(out, r.ResourceID) {
				out = append(out, r.ResourceID)
			}
		}
	}
	slices.Sort(out)
	return out
}

// index rebuilds the lookup maps and sorts users, groups and memberships.
func (o *Org) index() {
	slices.SortFunc(o.Users, func(a, b *User) int { return compare(a.AccountID, b.AccountID) })
	slices.SortFunc(o.Groups, func(a, b *Group) int { return compare(a.ID, b.ID) })
	o.userByID = make(map[string]*User, len(o.Users))
	for _, u := range o.Users {
		o.userByID[u.AccountID] = u
		u.groups = u.groups[:0]
	}
	o.groupByID = make(map[string]*Group, len(o.Groups))
	for _, g := range o.Groups {
		o.groupByID[g.ID] = g
		slices.Sort(g.members)
		g.members = slices.Compact(g.members)
		for _, m := range g.members {
			if u := o.userByID[m]; u != nil {
				u.groups = append(u.groups, g.ID)
			}
		}
	}
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
