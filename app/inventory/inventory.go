// Package inventory reads who holds which product on a tenant's site, how
// they got it (the billable path: group → role on a product) and when they
// last used it, from the organization Admin API alone. It spends no
// Jira/Confluence points: in bulk, a site of N users costs ⌈N/page⌉
// users/search requests plus the group pages; where users/search does not
// report last-active dates, one v1 last-active-dates request per user.
//
// Accounts are streamed page by page; nothing holds the whole population.
package inventory

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/adminapi"
	"github.com/lapsehq/lapse/app/atlassian"
)

// Options select what to inventory.
type Options struct {
	// CloudID is the tenant's site. When it is unknown (Connect installs do
	// not carry it), SiteURL finds the site among the org's workspaces.
	CloudID string
	SiteURL string
	// Family keeps the products of one Atlassian product family: "jira"
	// (jira-software, jira-servicedesk, …) or "confluence". Empty keeps all.
	Family string
	// Products limits the inventory to these product keys (e.g.
	// jira-software); empty means every product on the site.
	Products []string
	// ActivitySource forces app.ActivityBulk or app.ActivityPerUser; ""
	// detects it with one small request (Plan.Detected reports the choice).
	ActivitySource string
	// PageSize of users/search (default and cap adminapi.MaxPageSize).
	PageSize int
}

// Resource is one product on the site.
type Resource struct {
	ID      string `json:"id"` // product ARI
	Product string `json:"product"`
	Name    string `json:"name"`
}

// Grant is one step of a billable path: membership in a group grants roles
// on a product.
type Grant struct {
	GroupID    string   `json:"groupId"`
	GroupName  string   `json:"groupName"`
	Synced     bool     `json:"synced"` // managed by an identity provider
	ResourceID string   `json:"resourceId"`
	Product    string   `json:"product"`
	Roles      []string `json:"roles"`
	Default    bool     `json:"default"` // a default-access group of the product
}

// Access is one product an account holds on the site.
type Access struct {
	ResourceID string `json:"resourceId"`
	Product    string `json:"product"`
	// LastActive is nil when the account never used the product.
	LastActive *time.Time `json:"lastActive"`
	// Paths are the grants through which the account holds the product.
	Paths []Grant `json:"paths"`
}

// Account is one account with access to at least one product of the site.
type Account struct {
	AccountID        string              `json:"accountId"`
	Name             string              `json:"name"`
	Email            string              `json:"email,omitempty"`
	AccountType      string              `json:"accountType"`
	AccountStatus    string              `json:"accountStatus"`
	Status           string              `json:"status"`
	ClaimStatus      string              `json:"claimStatus"`
	ManagementSource string              `json:"managementSource,omitempty"`
	AddedToOrg       time.Time           `json:"addedToOrg,omitzero"`
	PlatformRoles    []string            `json:"platformRoles,omitempty"`
	Groups           []adminapi.GroupRef `json:"groups"`
	Access           []Access            `json:"access"`
	// ActivityKnown is false when the account's last-active dates could not
	// be read: its activity is unknown, never "inactive".
	ActivityKnown bool   `json:"activityKnown"`
	ActivityError string `json:"activityError,omitempty"`
}

// Plan is the site's products and the grants of every group on them. It is
// small (one entry per group and product) and is read before the accounts.
type Plan struct {
	CloudID   string
	Resources []Resource
	// Grants by group id: only groups with a role on one of the Resources.
	Grants map[string][]Grant
	// ActivitySource is how last-active dates are read; Detected says it was
	// detected on this org rather than configured.
	ActivitySource string
	Detected       bool

	client   *adminapi.Client
	pageSize int
}

// Prepare reads the site's products and the group grants, and settles the
// activity source.
func Prepare(ctx context.Context, c *adminapi.Client, opts Options) (*Plan, error) {
	p := &Plan{CloudID: opts.CloudID, Grants: map[string][]Grant{}, client: c, pageSize: opts.PageSize, ActivitySource: opts.ActivitySource}
	if err := p.readResources(ctx, opts); err != nil {
		return nil, err
	}
	if len(p.Resources) == 0 {
		return nil, app.Errorf(app.ENOTFOUND, "the organization has no product on site %s that Lapse can manage", opts.CloudID)
	}
	if err := p.readGrants(ctx); err != nil {
		return nil, err
	}
	if p.ActivitySource == "" {
		if err := p.detectActivitySource(ctx); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// readResources keeps the workspaces of the site: product ARIs end in
// "::site/<cloudId>"; without a cloud id the site is matched by URL.
func (p *Plan) readResources(ctx context.Context, opts Options) error {
	for ws, err := range p.client.Workspaces(ctx) {
		if err != nil {
			return fmt.Errorf("inventory: workspaces: %w", err)
		}
		product, cloudID, ok := parseProductARI(ws.ID)
		if !ok || ws.Sandbox || !inFamily(product, opts.Family) || (len(opts.Products) > 0 && !slices.Contains(opts.Products, product)) {
			continue
		}
		if p.CloudID == "" && opts.SiteURL != "" && siteRoot(ws.HostURL) == siteRoot(opts.SiteURL) {
			p.CloudID = cloudID
		}
		if cloudID == p.CloudID && p.CloudID != "" {
			p.Resources = append(p.Resources, Resource{ID: ws.ID, Product: product, Name: ws.Name})
		}
	}
	slices.SortFunc(p.Resources, func(a, b Resource) int { return strings.Compare(a.ID, b.ID) })
	return nil
}

func inFamily(product, family string) bool {
	return family == "" || product == family || strings.HasPrefix(product, family+"-")
}

// siteRoot normalises a site URL: Confluence's base URL carries /wiki.
func siteRoot(u string) string {
	u = strings.ToLower(strings.TrimSuffix(u, "/"))
	return strings.TrimSuffix(u, "/wiki")
}

// parseProductARI splits "ari:cloud:<product>::site/<cloudId>".
func parseProductARI(ari string) (product, cloudID string, ok bool) {
	rest, found := strings.CutPrefix(ari, "ari:cloud:")
	if !found {
		return "", "", false
	}
	product, cloudID, found = strings.Cut(rest, "::site/")
	return product, cloudID, found && product != "" && cloudID != ""
}

func (p *Plan) resourceIDs() []string {
	ids := make([]string, len(p.Resources))
	for i, r := range p.Resources {
		ids[i] = r.ID
	}
	return ids
}

// readGrants lists the groups with a role on the site's products and reads
// each one's role assignments.
func (p *Plan) readGrants(ctx context.Context) error {
	var groups []adminapi.Group
	for g, err := range p.client.SearchGroups(ctx, adminapi.GroupQuery{ResourceIDs: p.resourceIDs()}) {
		if err != nil {
			return fmt.Errorf("inventory: groups: %w", err)
		}
		groups = append(groups, g)
	}
	for _, g := range groups {
		for ra, err := range p.client.GroupRoleAssignments(ctx, g.ID) {
			if err != nil {
				return fmt.Errorf("inventory: role assignments of group %s: %w", g.ID, err)
			}
			if r, ok := p.resource(ra.ResourceID); ok && len(ra.Roles) > 0 {
				p.Grants[g.ID] = append(p.Grants[g.ID], Grant{GroupID: g.ID, GroupName: g.Name, Synced: g.Synced,
					ResourceID: r.ID, Product: r.Product, Roles: ra.Roles, Default: ra.DefaultRole != ""})
			}
		}
	}
	return nil
}

func (p *Plan) resource(id string) (Resource, bool) {
	i := slices.IndexFunc(p.Resources, func(r Resource) bool { return r.ID == id })
	if i < 0 {
		return Resource{}, false
	}
	return p.Resources[i], true
}

func (p *Plan) detectActivitySource(ctx context.Context) error {
	bulk, err := p.client.DetectBulkProductAccess(ctx, p.Resources[0].ID)
	if err != nil {
		return fmt.Errorf("inventory: detect activity source: %w", err)
	}
	p.ActivitySource, p.Detected = app.ActivityPerUser, true
	if bulk {
		p.ActivitySource = app.ActivityBulk
	}
	return nil
}

// IncompleteError reports that an inventory stopped before the end, for
// example at the org's request budget: Done accounts were read, and the
// listing can resume from Cursor (while Atlassian keeps it valid) once the
// budget allows, at RetryAt. Cursor is "" when the stop came inside a page
// (a per-user read): resuming then starts over, and the caller skips the
// accounts it already has.
type IncompleteError struct {
	Done    int
	Cursor  string
	RetryAt time.Time
	Err     error
}

// Error implements the error interface.
func (e *IncompleteError) Error() string {
	return fmt.Sprintf("inventory: stopped after %d accounts: %v", e.Done, e.Err)
}

// Unwrap returns the cause (a *atlassian.BudgetError, for example).
func (e *IncompleteError) Unwrap() error { return e.Err }

// Accounts streams every account with access to the site's products, with
// its billable paths and last-active dates. It stops with an
// *IncompleteError when a page cannot be read.
func (p *Plan) Accounts(ctx context.Context) iter.Seq2[Account, error] {
	return p.AccountsFrom(ctx, "")
}

// AccountsFrom resumes a listing at cursor (from IncompleteError.Cursor).
func (p *Plan) AccountsFrom(ctx context.Context, cursor string) iter.Seq2[Account, error] {
	expand := []string{adminapi.ExpandGroups}
	if p.ActivitySource == app.ActivityBulk {
		expand = append(expand, adminapi.ExpandProductAccess)
	}
	q := adminapi.UserQuery{ResourceIDs: p.resourceIDs(), Expand: expand, Limit: p.pageSize, Cursor: cursor}
	return func(yield func(Account, error) bool) {
		done := 0
		for u, err := range p.client.SearchUsers(ctx, q) {
			if err != nil {
				yield(Account{}, incomplete(done, err))
				return
			}
			acc, err := p.account(ctx, u)
			if err != nil {
				yield(Account{}, incomplete(done, err))
				return
			}
			if len(acc.Access) == 0 {
				continue
			}
			done++
			if !yield(acc, nil) {
				return
			}
		}
	}
}

func incomplete(done int, err error) error {
	ie := &IncompleteError{Done: done, Err: err}
	ie.RetryAt, _ = atlassian.RetryAt(err)
	if pe := (*adminapi.PageError)(nil); errors.As(err, &pe) {
		ie.Cursor = pe.Cursor
	}
	return ie
}

// account builds the Account of u: the products its groups grant on the
// site, with the paths, and the last-active dates from the chosen source.
func (p *Plan) account(ctx context.Context, u adminapi.User) (Account, error) {
	acc := Account{AccountID: u.AccountID, Name: u.Name, Email: u.Email, AccountType: u.AccountType,
		AccountStatus: u.AccountStatus, Status: u.Status, ClaimStatus: u.ClaimStatus, ManagementSource: u.ManagementSource,
		AddedToOrg: u.AddedToOrg, PlatformRoles: u.PlatformRoles, Groups: u.Groups, ActivityKnown: true}
	for _, r := range p.Resources {
		var paths []Grant
		for _, g := range u.Groups {
			for _, gr := range p.Grants[g.ID] {
				if gr.ResourceID == r.ID {
					paths = append(paths, gr)
				}
			}
		}
		if len(paths) > 0 {
			acc.Access = append(acc.Access, Access{ResourceID: r.ID, Product: r.Product, Paths: paths})
		}
	}
	if len(acc.Access) == 0 {
		return acc, nil
	}
	if p.ActivitySource == app.ActivityBulk {
		return acc, p.bulkActivity(&acc, u)
	}
	return acc, p.perUserActivity(ctx, &acc)
}

func (p *Plan) bulkActivity(acc *Account, u adminapi.User) error {
	if !u.ProductAccessKnown {
		acc.ActivityKnown, acc.ActivityError = false, "users/search returned no productAccess for this account"
		return nil
	}
	for i := range acc.Access {
		for _, pa := range u.ProductAccess {
			if pa.ResourceID == acc.Access[i].ResourceID && !pa.LastActive.IsZero() {
				t := pa.LastActive
				acc.Access[i].LastActive = &t
			}
		}
	}
	return nil
}

// perUserActivity reads one account's v1 last-active dates. A budget or
// rate-limit stop ends the inventory (the caller resumes later); any other
// failure leaves this account's activity unknown.
func (p *Plan) perUserActivity(ctx context.Context, acc *Account) error {
	la, err := p.client.LastActiveDates(ctx, acc.AccountID)
	if err != nil {
		var be *atlassian.BudgetError
		var rl *atlassian.RateLimitError
		if errors.As(err, &be) || errors.As(err, &rl) || ctx.Err() != nil {
			return err
		}
		acc.ActivityKnown, acc.ActivityError = false, "last-active dates could not be read"
		return nil
	}
	for i := range acc.Access {
		for _, pa := range la.Products {
			if pa.ResourceID == acc.Access[i].ResourceID && !pa.LastActive.IsZero() {
				t := pa.LastActive
				acc.Access[i].LastActive = &t
			}
		}
	}
	if acc.AddedToOrg.IsZero() {
		acc.AddedToOrg = la.AddedToOrg
	}
	return nil
}

// Facts converts the account to the policy's input.
func (a Account) Facts() app.AccountFacts {
	f := app.AccountFacts{AccountID: a.AccountID, Name: a.Name, Email: a.Email, AccountType: a.AccountType,
		AccountStatus: a.AccountStatus, ClaimStatus: a.ClaimStatus, ManagementSource: a.ManagementSource,
		AddedToOrg: a.AddedToOrg, PlatformRoles: a.PlatformRoles, ActivityKnown: a.ActivityKnown}
	for _, g := range a.Groups {
		f.GroupIDs = append(f.GroupIDs, g.ID)
	}
	for _, acc := range a.Access {
		use := app.ProductUse{ResourceID: acc.ResourceID, Product: acc.Product, LastActive: acc.LastActive}
		for _, p := range acc.Paths {
			use.Paths = append(use.Paths, app.GrantPath{GroupID: p.GroupID, GroupName: p.GroupName, Synced: p.Synced,
				ResourceID: p.ResourceID, Product: p.Product, Roles: p.Roles, Default: p.Default})
		}
		f.Access = append(f.Access, use)
	}
	return f
}
