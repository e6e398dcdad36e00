package devsite

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Page-size limits of the simulated Jira endpoints. Jira does not refuse a
// maxResults above its cap: it returns at most cap items and reports the cap
// it applied in the page's maxResults, which is why clients must page by the
// number of items received and isLast, never by the maxResults they asked for.
const (
	// jiraDefaultPage is the documented default of every paged endpoint here
	// (spec: "default": 50).
	jiraDefaultPage = 50
	// jiraGroupBulkMax: the spec documents no cap for group/bulk; 50 is an
	// assumption (the default), so clients that page correctly are safe.
	jiraGroupBulkMax = 50
	// jiraGroupMemberMax: "number should be between 1 and 50" (jira.js
	// getUsersFromGroup, DOMAIN §1.3).
	jiraGroupMemberMax = 50
	// jiraUsersSearchMax: "limited to 1000" (jira.js getAllUsers, PowerJira
	// ValidateRange 1–1000, DOMAIN §1.1).
	jiraUsersSearchMax = 1000
)

// jiraForbiddenWrite is the answer Forge apps get from the group membership
// writes through asApp(): the app user is not in the site-admin group
// (DOMAIN §1.3, community thread 92540).
const jiraForbiddenWrite = "user does not have the relevant permissions"

// jiraRoutes registers the Jira platform REST endpoints Lapse uses. Scopes are
// the x-atlassian-connect-scope of each operation in Atlassian's published
// spec (specs/jira-platform-v3.openapi.json, DOMAIN §9).
func (s *Server) jiraRoutes() {
	s.productRoute(APIJira, http.MethodPost, "/rest/api/3/permissions/check", ScopeRead, s.handleJiraPermissionsCheck)
	s.productRoute(APIJira, http.MethodGet, "/rest/api/3/group/bulk", ScopeAdmin, s.handleJiraGroupBulk)
	s.productRoute(APIJira, http.MethodGet, "/rest/api/3/group/member", ScopeAdmin, s.handleJiraGroupMember)
	s.productRoute(APIJira, http.MethodGet, "/rest/api/3/users/search", ScopeInaccessible, s.handleJiraUsersSearch)
	s.productRoute(APIJira, http.MethodGet, "/rest/api/3/user/groups", ScopeRead, s.handleJiraUserGroups)
	s.productRoute(APIJira, http.MethodPost, "/rest/api/3/group/user", ScopeInaccessible, s.handleJiraGroupUserWrite)
	s.productRoute(APIJira, http.MethodDelete, "/rest/api/3/group/user", ScopeInaccessible, s.handleJiraGroupUserWrite)
	s.productRoute(APIJira, http.MethodGet, "/rest/api/3/applicationrole", ScopeInaccessible, s.handleJiraApplicationRoles)
}

// RegisterConnectInstall installs a Connect app into one product ("jira" or
// "confluence") of a site, as if the site had sent the installed callback,
// and returns the installation with its shared secret. Tests and tools use
// it until the control API installs apps; installing again replaces the
// previous installation (a new shared secret).
func (s *Server) RegisterConnectInstall(siteName, product, appKey string, scopes []string) (*Installation, error) {
	if product != APIJira && product != APIConfluence {
		return nil, fmt.Errorf("devsite: register install: unknown product %q", product)
	}
	if appKey == "" {
		return nil, errors.New("devsite: register install: empty app key")
	}
	in := NewInstallation(s.SiteURL(siteName, product), product)
	s.mu.Lock()
	defer s.mu.Unlock()
	site := s.org.SiteByName(siteName)
	if site == nil {
		return nil, fmt.Errorf("devsite: register install: no site %q", siteName)
	}
	s.installs[installKey(siteName, product, appKey)] = &siteInstall{
		Site: site, Product: product, AppKey: appKey, Scopes: slices.Clone(scopes), Install: in,
	}
	return in, nil
}

// MintSystemToken mints a Forge system token (x-forge-oauth-system) for an
// installation in one product ("jira" or "confluence") of a site, valid for
// ttl. It returns "" when the site or product does not exist.
func (s *Server) MintSystemToken(siteName, product, installationID string, ttl time.Duration) string {
	if product != APIJira && product != APIConfluence {
		return ""
	}
	tok := "devsite-forge-" + randomHex(24)
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	site := s.org.SiteByName(siteName)
	if site == nil {
		return ""
	}
	s.forgeTokens[tok] = &forgeInstall{Site: site, Product: product, InstallationID: installationID, Expires: now.Add(ttl)}
	return tok
}

// productBase returns the URL the request's product API lives under: the
// site URL for Connect (/s/<site>, plus /wiki for Confluence) or the Forge
// gateway URL (/ex/<product>/<cloudId>, plus /wiki), so that self and next
// links lead back through the same door the caller came in by.
func (s *Server) productBase(r *http.Request, c *call) string {
	base := s.BaseURL()
	if strings.HasPrefix(r.URL.Path, "/ex/") {
		base += "/ex/" + c.Product + "/" + c.Site.CloudID
	} else {
		base += "/s/" + c.Site.Name
	}
	if c.Product == APIConfluence {
		base += "/wiki"
	}
	return base
}

// offsetPage is an offset window requested by a client.
type offsetPage struct {
	start int // index of the first item
	size  int // items per page, after the cap
}

// parseOffsetPage reads an offset and a page size from q. Malformed or negative
// values, and sizes below 1, are errors (the 400 answer's message); sizes
// above limit are lowered to limit, as Jira and Confluence do.
func parseOffsetPage(q url.Values, startKey, sizeKey string, def, limit int) (offsetPage, error) {
	p := offsetPage{size: def}
	if v := q.Get(startKey); v != "" {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 0 {
			return p, fmt.Errorf("the %s parameter must be a non-negative integer", startKey)
		}
		p.start = int(n)
	}
	if v := q.Get(sizeKey); v != "" {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 1 {
			return p, fmt.Errorf("the %s parameter must be a positive integer", sizeKey)
		}
		p.size = int(n)
	}
	p.size = min(p.size, limit)
	return p, nil
}

// bounds returns the slice bounds of the page within n items.
func (p offsetPage) bounds(n int) (lo, hi int) {
	lo = min(p.start, n)
	return lo, min(lo+p.size, n)
}

// offsetPageURL returns base+path with q, where the offset key is set to start.
func offsetPageURL(base, path string, q url.Values, startKey string, start int) string {
	q = cloneQuery(q)
	q.Set(startKey, strconv.Itoa(start))
	return base + path + "?" + q.Encode()
}

func cloneQuery(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = slices.Clone(v)
	}
	return out
}

// siteGroup reports whether a group belongs to the site's user base: it
// grants a role on one of the site's products, or it grants nothing (an
// ordinary group, visible on every site of the org).
func siteGroup(g *Group, site *Site) bool {
	if len(g.Roles) == 0 {
		return true
	}
	for _, r := range g.Roles {
		if strings.HasSuffix(r.ResourceID, "::site/"+site.CloudID) {
			return true
		}
	}
	return false
}

// productAPIOwns reports whether a product key is served by the product API
// ("jira" serves jira-software, jira-servicedesk…, "confluence" serves
// confluence).
func productAPIOwns(api, productKey string) bool {
	if api == APIJira {
		return strings.HasPrefix(productKey, "jira-")
	}
	return productKey == ProductConfluence
}

// administers reports whether an active user administers the product API on
// the site: an org or site admin, or a member of a group holding the admin
// role on one of the site's products that the API serves.
func administers(o *Org, u *User, site *Site, api string) bool {
	if u == nil || u.AccountStatus != "active" {
		return false
	}
	if slices.Contains(u.PlatformRoles, PlatformOrgAdmin) || slices.Contains(u.PlatformRoles, PlatformSiteAdmin) {
		return true
	}
	for _, p := range site.Products {
		if !productAPIOwns(api, p) {
			continue
		}
		ari := ProductARI(p, site.CloudID)
		for _, gid := range u.groups {
			for _, r := range o.groupByID[gid].Roles {
				if r.ResourceID == ari && r.RoleID == RoleAdmin {
					return true
				}
			}
		}
	}
	return false
}

// usesProduct reports whether the user can use one of the site's products
// that the API serves.
func usesProduct(o *Org, u *User, site *Site, api string) bool {
	for _, ari := range o.ProductAccess(u) {
		for _, p := range site.Products {
			if productAPIOwns(api, p) && ari == ProductARI(p, site.CloudID) {
				return true
			}
		}
	}
	return false
}

// jiraActive is Jira's user "active" flag. Deactivated and closed accounts
// are inactive; so, as an assumption, are accounts suspended from the org,
// which lose product access.
func jiraActive(u *User) bool { return u.AccountStatus == "active" && u.Status != "suspended" }

// productBadRequest writes a product 400.
func productBadRequest(w http.ResponseWriter, c *call, msg string) {
	writeProductError(w, c.Product, http.StatusBadRequest, msg)
}

// jiraUser is a Jira user: UserDetails (group/member) or, with Locale set,
// User (users/search). Both schemas forbid additional properties.
type jiraUser struct {
	Self         string            `json:"self"`
	AccountID    string            `json:"accountId"`
	AccountType  string            `json:"accountType"`
	EmailAddress string            `json:"emailAddress,omitempty"`
	AvatarURLs   map[string]string `json:"avatarUrls"`
	DisplayName  string            `json:"displayName"`
	Active       bool              `json:"active"`
	TimeZone     string            `json:"timeZone,omitempty"`
	Locale       string            `json:"locale,omitempty"`
}

func newJiraUser(base string, u *User) jiraUser {
	return jiraUser{
		Self:         base + "/rest/api/3/user?accountId=" + url.QueryEscape(u.AccountID),
		AccountID:    u.AccountID,
		AccountType:  u.AccountType,
		EmailAddress: u.Email,
		AvatarURLs:   avatarURLs(u.Name),
		DisplayName:  u.Name,
		Active:       jiraActive(u),
		TimeZone:     "Etc/UTC",
	}
}

// avatarURLs returns the initials avatars Atlassian serves for users
// without a picture, in the four sizes of AvatarUrlsBean.
func avatarURLs(name string) map[string]string {
	initials := "U"
	if f := strings.Fields(name); len(f) > 0 {
		initials = strings.ToUpper(f[0][:1])
		if len(f) > 1 {
			initials += strings.ToUpper(f[len(f)-1][:1])
		}
	}
	out := make(map[string]string, 4)
	for _, n := range []int{16, 24, 32, 48} {
		out[fmt.Sprintf("%dx%d", n, n)] = fmt.Sprintf(
			"https://avatar-management--avatars.server-location.prod.public.atl-paas.net/initials/%s-3.png?size=%d&s=%d", initials, n, n)
	}
	return out
}

// jiraGroupName is GroupName (user/groups, applicationrole groupDetails).
type jiraGroupName struct {
	Name    string `json:"name"`
	GroupID string `json:"groupId"`
	Self    string `json:"self"`
}

func newJiraGroupName(base string, g *Group) jiraGroupName {
	return jiraGroupName{Name: g.Name, GroupID: g.ID, Self: base + "/rest/api/3/group?groupId=" + url.QueryEscape(g.ID)}
}

// jiraPage is a PageBean (PageBeanGroupDetails, PageBeanUserDetails).
type jiraPage[T any] struct {
	Self       string `json:"self"`
	NextPage   string `json:"nextPage,omitempty"`
	MaxResults int    `json:"maxResults"`
	StartAt    int    `json:"startAt"`
	Total      int    `json:"total"`
	IsLast     bool   `json:"isLast"`
	Values     []T    `json:"values"`
}

// newJiraPage cuts the page p out of items and fills in the links; link
// builds the link of the page starting at a given offset.
func newJiraPage[T any](items []T, p offsetPage, link func(start int) string) jiraPage[T] {
	lo, hi := p.bounds(len(items))
	out := jiraPage[T]{
		Self: link(p.start), MaxResults: p.size, StartAt: p.start, Total: len(items),
		IsLast: hi >= len(items), Values: items[lo:hi],
	}
	if !out.IsLast {
		out.NextPage = link(hi)
	}
	return out
}

// permissionsCheckRequest is BulkPermissionsRequestBean.
type permissionsCheckRequest struct {
	AccountID          string   `json:"accountId"`
	GlobalPermissions  []string `json:"globalPermissions"`
	ProjectPermissions []struct {
		Permissions []string `json:"permissions"`
		Projects    []int64  `json:"projects"`
		Issues      []int64  `json:"issues"`
	} `json:"projectPermissions"`
}

// jiraGlobalPermissions are the global permission keys the simulated Jira
// knows; the value says whether the permission needs administration (else
// it needs product access).
var jiraGlobalPermissions = map[string]bool{
	"ADMINISTER": true, "SYSTEM_ADMIN": true,
	"USER_PICKER": false, "CREATE_SHARED_OBJECTS": false, "MANAGE_GROUP_FILTER_SUBSCRIPTIONS": false, "BULK_CHANGE": false,
}

// handleJiraPermissionsCheck answers "Get bulk permissions" for global
// permissions: BulkPermissionGrants {globalPermissions: [granted keys],
// projectPermissions: []}. The simulated site has no projects, so project
// checks grant nothing. Without an accountId Jira answers for the caller,
// which for an app is the app user: never an administrator here.
func (s *Server) handleJiraPermissionsCheck(w http.ResponseWriter, r *http.Request, c *call) {
	var req permissionsCheckRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		productBadRequest(w, c, "The request body is not valid JSON for this resource.")
		return
	}
	if errs := checkPermissionsRequest(req); len(errs) > 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"errorMessages": []string{}, "errors": errs})
		return
	}
	s.mu.Lock()
	var u *User
	if req.AccountID != "" {
		if u = s.org.User(req.AccountID); u == nil {
			s.mu.Unlock()
			productBadRequest(w, c, "The account ID is not valid: "+req.AccountID)
			return
		}
	}
	granted := s.grantedGlobal(u, c.Site, req.GlobalPermissions)
	s.mu.Unlock()
	// A POST, but a read: it is charged per permission returned, like the
	// identity reads, not the flat 1 point of a write (permission checks
	// "accrued points heavily", DOMAIN §4.2).
	c.Write = false
	c.Objects = len(granted)
	writeJSON(w, http.StatusOK, map[string]any{"globalPermissions": granted, "projectPermissions": []any{}})
}

// checkPermissionsRequest returns the per-field errors of a permissions
// check, in ErrorCollection's errors map.
func checkPermissionsRequest(req permissionsCheckRequest) map[string]string {
	errs := map[string]string{}
	for _, p := range req.GlobalPermissions {
		if _, ok := jiraGlobalPermissions[p]; !ok {
			errs[p] = "Unrecognized permission"
		}
	}
	for _, pp := range req.ProjectPermissions {
		if len(pp.Permissions) == 0 {
			errs["projectPermissions"] = "At least one project permission is required."
		}
	}
	return errs
}

// grantedGlobal returns, deduplicated and in request order, the global
// permissions u holds on the site; nil u is the app user. s.mu is held.
func (s *Server) grantedGlobal(u *User, site *Site, asked []string) []string {
	granted := []string{}
	if u == nil || !jiraActive(u) {
		return granted
	}
	admin := administers(s.org, u, site, APIJira)
	user := admin || usesProduct(s.org, u, site, APIJira)
	for _, p := range asked {
		if slices.Contains(granted, p) {
			continue
		}
		if needsAdmin := jiraGlobalPermissions[p]; (needsAdmin && admin) || (!needsAdmin && user) {
			granted = append(granted, p)
		}
	}
	return granted
}

// handleJiraGroupBulk lists the site's groups ordered by name
// (PageBeanGroupDetails). groupId and groupName filters are combined with
// OR; applicationKey keeps the groups granting that Jira product, and
// accessType "site-admin"/"admin" the groups granting an admin role, "user"
// those granting a user role (jira.js BulkGetGroups; newer than the spec).
func (s *Server) handleJiraGroupBulk(w http.ResponseWriter, r *http.Request, c *call) {
	q := r.URL.Query()
	p, err := parseOffsetPage(q, "startAt", "maxResults", jiraDefaultPage, jiraGroupBulkMax)
	if err != nil {
		productBadRequest(w, c, err.Error())
		return
	}
	base := s.productBase(r, c)
	s.mu.Lock()
	var groups []jiraGroupDetails
	for _, g := range s.sortedSiteGroups(c.Site) {
		if groupBulkMatches(g, c.Site, q) {
			groups = append(groups, jiraGroupDetails{Name: g.Name, GroupID: g.ID})
		}
	}
	s.mu.Unlock()
	out := newJiraPage(groups, p, func(start int) string {
		return offsetPageURL(base, "/rest/api/3/group/bulk", withPageSize(q, "maxResults", p.size), "startAt", start)
	})
	if out.Values == nil {
		out.Values = []jiraGroupDetails{}
	}
	c.Objects = len(out.Values)
	writeJSON(w, http.StatusOK, out)
}

// jiraGroupDetails is Jira's GroupDetails: a group's name and id.
type jiraGroupDetails struct {
	Name    string `json:"name"`
	GroupID string `json:"groupId"`
}

// withPageSize returns q with the page size set to the size actually applied,
// so that next links do not repeat an over-cap request.
func withPageSize(q url.Values, key string, size int) url.Values {
	q = cloneQuery(q)
	q.Set(key, strconv.Itoa(size))
	return q
}

// sortedSiteGroups returns the site's groups ordered by name. s.mu is held.
func (s *Server) sortedSiteGroups(site *Site) []*Group {
	var out []*Group
	for _, g := range s.org.Groups {
		if siteGroup(g, site) {
			out = append(out, g)
		}
	}
	slices.SortFunc(out, func(a, b *Group) int {
		return compareNameFold(a.Name, b.Name, a.ID, b.ID)
	})
	return out
}

// compareNameFold orders case-insensitively by name, then by id for equal names.
func compareNameFold(a, b, idA, idB string) int {
	if c := compare(strings.ToLower(a), strings.ToLower(b)); c != 0 {
		return c
	}
	return compare(idA, idB)
}

func groupBulkMatches(g *Group, site *Site, q url.Values) bool {
	ids, names := q["groupId"], q["groupName"]
	if (len(ids) > 0 || len(names) > 0) && !slices.Contains(ids, g.ID) && !slices.Contains(names, g.Name) {
		return false
	}
	if key := q.Get("applicationKey"); key != "" && !g.GrantsProduct(ProductARI(key, site.CloudID)) {
		return false
	}
	switch q.Get("accessType") {
	case "site-admin", "admin":
		return grantsRole(g, site, RoleAdmin)
	case "user":
		return grantsRole(g, site, RoleUser)
	}
	return true
}

// grantsRole reports whether g grants role on one of the site's Jira products.
func grantsRole(g *Group, site *Site, role string) bool {
	for _, r := range g.Roles {
		for _, p := range site.Products {
			if productAPIOwns(APIJira, p) && r.ResourceID == ProductARI(p, site.CloudID) && r.RoleID == role {
				return true
			}
		}
	}
	return false
}

// handleJiraGroupMember pages through a group's members, ordered by account
// id (Jira orders by the hidden username), as PageBeanUserDetails.
func (s *Server) handleJiraGroupMember(w http.ResponseWriter, r *http.Request, c *call) {
	q := r.URL.Query()
	p, err := parseOffsetPage(q, "startAt", "maxResults", jiraDefaultPage, jiraGroupMemberMax)
	if err != nil {
		productBadRequest(w, c, err.Error())
		return
	}
	id, name := q.Get("groupId"), q.Get("groupname")
	switch {
	case id == "" && name == "":
		productBadRequest(w, c, "You must specify a group name or a group id.")
		return
	case id != "" && name != "":
		productBadRequest(w, c, "You must specify either a group name or a group id, not both.")
		return
	}
	inactive := q.Get("includeInactiveUsers") == "true"
	base := s.productBase(r, c)
	s.mu.Lock()
	g := s.siteGroupByIDOrName(c.Site, id, name)
	var members []jiraUser
	if g != nil {
		members = s.jiraMembers(base, g, inactive)
	}
	s.mu.Unlock()
	if g == nil {
		writeProductError(w, c.Product, http.StatusNotFound, "Specified group does not exist.")
		return
	}
	out := newJiraPage(members, p, func(start int) string {
		return offsetPageURL(base, "/rest/api/3/group/member", withPageSize(q, "maxResults", p.size), "startAt", start)
	})
	if out.Values == nil {
		out.Values = []jiraUser{}
	}
	c.Objects = len(out.Values)
	writeJSON(w, http.StatusOK, out)
}

// siteGroupByIDOrName finds a group of the site by id or, when id is empty,
// by name. s.mu is held.
func (s *Server) siteGroupByIDOrName(site *Site, id, name string) *Group {
	if id != "" {
		if g := s.org.Group(id); g != nil && siteGroup(g, site) {
			return g
		}
		return nil
	}
	for _, g := range s.org.Groups {
		if g.Name == name && siteGroup(g, site) {
			return g
		}
	}
	return nil
}

// jiraMembers returns a group's members as Jira users. s.mu is held.
func (s *Server) jiraMembers(base string, g *Group, includeInactive bool) []jiraUser {
	var out []jiraUser
	for _, id := range g.members {
		u := s.org.User(id)
		if u == nil || (!includeInactive && !jiraActive(u)) {
			continue
		}
		out = append(out, newJiraUser(base, u))
	}
	return out
}

// handleJiraUsersSearch answers "Get all users": every account of the org,
// active or not, including app and customer accounts, as a bare array
// without paging metadata (DOMAIN §1.1).
func (s *Server) handleJiraUsersSearch(w http.ResponseWriter, r *http.Request, c *call) {
	p, err := parseOffsetPage(r.URL.Query(), "startAt", "maxResults", jiraDefaultPage, jiraUsersSearchMax)
	if err != nil {
		productBadRequest(w, c, err.Error())
		return
	}
	base := s.productBase(r, c)
	s.mu.Lock()
	lo, hi := p.bounds(len(s.org.Users))
	users := make([]jiraUser, 0, hi-lo)
	for _, u := range s.org.Users[lo:hi] {
		ju := newJiraUser(base, u)
		ju.Locale = "en_US"
		users = append(users, ju)
	}
	s.mu.Unlock()
	c.Objects = len(users)
	writeJSON(w, http.StatusOK, users)
}

// handleJiraUserGroups lists the site's groups a user belongs to, as a bare
// array of GroupName.
func (s *Server) handleJiraUserGroups(w http.ResponseWriter, r *http.Request, c *call) {
	accountID := r.URL.Query().Get("accountId")
	if accountID == "" {
		productBadRequest(w, c, "The accountId query parameter is required.")
		return
	}
	base := s.productBase(r, c)
	s.mu.Lock()
	u := s.org.User(accountID)
	groups := []jiraGroupName{}
	if u != nil {
		for _, gid := range u.groups {
			if g := s.org.Group(gid); siteGroup(g, c.Site) {
				groups = append(groups, newJiraGroupName(base, g))
			}
		}
	}
	s.mu.Unlock()
	if u == nil {
		writeProductError(w, c.Product, http.StatusNotFound, "The user with accountId '"+accountID+"' does not exist.")
		return
	}
	c.Objects = len(groups)
	writeJSON(w, http.StatusOK, groups)
}

// handleJiraGroupUserWrite answers "Add user to group" and "Remove user from
// group". Connect apps never get here (INACCESSIBLE); a Forge system token
// acts as the app user, which is not in the site-admin group, so Jira
// refuses with 403 and nothing changes (DOMAIN §1.3, §9; open question
// §8.3). Removals go through the Admin API instead.
func (s *Server) handleJiraGroupUserWrite(w http.ResponseWriter, r *http.Request, c *call) {
	writeProductError(w, c.Product, http.StatusForbidden, jiraForbiddenWrite)
}

// applicationRole is Jira's ApplicationRole.
type applicationRole struct {
	Key                  string          `json:"key"`
	Name                 string          `json:"name"`
	Groups               []string        `json:"groups"`
	GroupDetails         []jiraGroupName `json:"groupDetails"`
	DefaultGroups        []string        `json:"defaultGroups"`
	DefaultGroupsDetails []jiraGroupName `json:"defaultGroupsDetails"`
	SelectedByDefault    bool            `json:"selectedByDefault"`
	Defined              bool            `json:"defined"`
	NumberOfSeats        int             `json:"numberOfSeats"`
	RemainingSeats       int             `json:"remainingSeats"`
	UserCount            int             `json:"userCount"`
	UserCountDescription string          `json:"userCountDescription"`
	HasUnlimitedSeats    bool            `json:"hasUnlimitedSeats"`
	Platform             bool            `json:"platform"`
}

// jiraRoleNames are the display names of Jira application roles.
var jiraRoleNames = map[string]string{
	ProductJiraSoftware: "Jira Software",
	ProductJSM:          "Jira Service Management",
	"jira-core":         "Jira Work Management",
}

// handleJiraApplicationRoles answers "Get all application roles": one role
// per Jira product of the site, with the groups granting it (any role on
// the product) and its default groups (Group.DefaultFor). userCount counts
// the distinct active human accounts in those groups.
func (s *Server) handleJiraApplicationRoles(w http.ResponseWriter, r *http.Request, c *call) {
	base := s.productBase(r, c)
	s.mu.Lock()
	roles := []applicationRole{}
	for _, p := range c.Site.Products {
		if productAPIOwns(APIJira, p) {
			roles = append(roles, s.applicationRole(base, c.Site, p))
		}
	}
	s.mu.Unlock()
	slices.SortFunc(roles, func(a, b applicationRole) int { return compare(a.Key, b.Key) })
	for _, role := range roles {
		c.Objects += len(role.GroupDetails)
	}
	writeJSON(w, http.StatusOK, roles)
}

// applicationRole builds the role of one Jira product. s.mu is held.
func (s *Server) applicationRole(base string, site *Site, product string) applicationRole {
	ari := ProductARI(product, site.CloudID)
	role := applicationRole{
		Key: product, Name: jiraRoleNames[product], Groups: []string{}, GroupDetails: []jiraGroupName{},
		DefaultGroups: []string{}, DefaultGroupsDetails: []jiraGroupName{}, UserCountDescription: "users",
	}
	users := map[string]bool{}
	for _, g := range s.sortedSiteGroups(site) {
		if !g.GrantsProduct(ari) {
			continue
		}
		role.Groups = append(role.Groups, g.Name)
		role.GroupDetails = append(role.GroupDetails, newJiraGroupName(base, g))
		if slices.Contains(g.DefaultFor, ari) {
			role.DefaultGroups = append(role.DefaultGroups, g.Name)
			role.DefaultGroupsDetails = append(role.DefaultGroupsDetails, newJiraGroupName(base, g))
		}
		for _, id := range g.members {
			if u := s.org.User(id); u != nil && u.AccountType == "atlassian" && jiraActive(u) {
				users[id] = true
			}
		}
	}
	role.UserCount = len(users)
	// A licence tier just above the current use: seats come in blocks.
	role.NumberOfSeats = (role.UserCount/100 + 1) * 100
	role.RemainingSeats = role.NumberOfSeats - role.UserCount
	return role
}
