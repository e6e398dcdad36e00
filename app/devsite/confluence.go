package devsite

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Page-size limits of the simulated Confluence v1 endpoints. Like Jira,
// Confluence lowers a limit above its cap instead of refusing it, and the
// page's limit field reports what it applied.
const (
	// confluenceDefaultPage is the documented default limit of
	// membersByGroupId (200); the group list and memberof use the same.
	confluenceDefaultPage = 200
	// confluencePageMax: "fixed system limit of 200" (confluence.js
	// GetMembersByQueryParam, DOMAIN §2). Applied to every list here.
	confluencePageMax = 200
)

// confluenceRoutes registers the Confluence REST v1 endpoints Lapse uses.
// All of them need only the READ Connect scope (JRACLOUD-79363 contrasts the
// group list's READ with Jira's ADMIN).
func (s *Server) confluenceRoutes() {
	s.productRoute(APIConfluence, http.MethodGet, "/wiki/rest/api/group", ScopeRead, s.handleConfluenceGroups)
	s.productRoute(APIConfluence, http.MethodGet, "/wiki/rest/api/group/by-id", ScopeRead, s.handleConfluenceGroupByID)
	s.productRoute(APIConfluence, http.MethodGet, "/wiki/rest/api/group/{groupId}/membersByGroupId", ScopeRead, s.handleConfluenceMembers)
	s.productRoute(APIConfluence, http.MethodGet, "/wiki/rest/api/user", ScopeRead, s.handleConfluenceUser)
	s.productRoute(APIConfluence, http.MethodGet, "/wiki/rest/api/user/memberof", ScopeRead, s.handleConfluenceMemberOf)
}

// confluenceGroup is the v1 Group (confluence.js models/group.ts).
type confluenceGroup struct {
	Type  string            `json:"type"`
	Name  string            `json:"name"`
	ID    string            `json:"id"`
	Links map[string]string `json:"_links"`
}

func newConfluenceGroup(base string, g *Group) confluenceGroup {
	return confluenceGroup{Type: "group", Name: g.Name, ID: g.ID,
		Links: map[string]string{"self": base + "/rest/api/group/by-id?id=" + url.QueryEscape(g.ID)}}
}

// confluenceUser is the v1 User (confluence.js models/user.ts). Operations
// is present only with expand=operations.
type confluenceUser struct {
	Type           string                `json:"type"`
	AccountID      string                `json:"accountId"`
	AccountType    string                `json:"accountType"`
	Email          string                `json:"email"`
	PublicName     string                `json:"publicName"`
	ProfilePicture confluenceIcon        `json:"profilePicture"`
	DisplayName    string                `json:"displayName"`
	IsGuest        bool                  `json:"isGuest"`
	Operations     []confluenceOperation `json:"operations,omitempty"`
	Expandable     map[string]string     `json:"_expandable"`
	Links          map[string]string     `json:"_links"`
}

// confluenceIcon is the v1 Icon.
type confluenceIcon struct {
	Path      string `json:"path"`
	Width     int    `json:"width"`
	Height    int    `json:"height"`
	IsDefault bool   `json:"isDefault"`
}

// confluenceOperation is an OperationCheckResult. Site administration is
// {operation:"administer", targetType:"application"}, a target type the
// reference omits but the API returns (community thread 29678).
type confluenceOperation struct {
	Operation  string `json:"operation"`
	TargetType string `json:"targetType"`
}

// newConfluenceUser builds a user; ops non-nil expands operations.
func newConfluenceUser(base string, u *User, ops []confluenceOperation) confluenceUser {
	cu := confluenceUser{
		Type: "known", AccountID: u.AccountID, AccountType: u.AccountType, Email: u.Email,
		PublicName: u.Name, DisplayName: u.Name,
		ProfilePicture: confluenceIcon{Path: "/wiki/aa-avatar/" + u.AccountID, Width: 48, Height: 48, IsDefault: true},
		Expandable:     map[string]string{"operations": "", "personalSpace": ""},
		Links:          map[string]string{"self": base + "/rest/api/user?accountId=" + url.QueryEscape(u.AccountID)},
	}
	if ops != nil {
		cu.Operations = ops
		delete(cu.Expandable, "operations")
	}
	return cu
}

// confluenceList is a v1 paged list (GroupArrayWithLinks, UserArray). Next
// in _links is relative to _links.base; it is absent on the last page.
type confluenceList[T any] struct {
	Results   []T               `json:"results"`
	Start     int               `json:"start"`
	Limit     int               `json:"limit"`
	Size      int               `json:"size"`
	TotalSize *int              `json:"totalSize,omitempty"`
	Links     map[string]string `json:"_links"`
}

// newConfluenceList cuts page p out of items. path is the list's path
// below base (e.g. "/rest/api/group") and q the request's query, reused in
// the next link with start advanced.
func newConfluenceList[T any](items []T, p offsetPage, base, path string, q url.Values) confluenceList[T] {
	lo, hi := p.bounds(len(items))
	out := confluenceList[T]{
		Results: append([]T{}, items[lo:hi]...), Start: p.start, Limit: p.size, Size: hi - lo,
		Links: map[string]string{"base": base, "context": "/wiki", "self": base + path},
	}
	if hi < len(items) {
		next := withPageSize(q, "limit", p.size)
		next.Set("start", strconv.Itoa(hi))
		out.Links["next"] = path + "?" + next.Encode()
	}
	return out
}

func parseConfluencePage(w http.ResponseWriter, c *call, q url.Values) (offsetPage, bool) {
	p, err := parseOffsetPage(q, "start", "limit", confluenceDefaultPage, confluencePageMax)
	if err != nil {
		productBadRequest(w, c, err.Error())
		return p, false
	}
	return p, true
}

// handleConfluenceGroups lists the site's groups alphabetically.
func (s *Server) handleConfluenceGroups(w http.ResponseWriter, r *http.Request, c *call) {
	q := r.URL.Query()
	p, ok := parseConfluencePage(w, c, q)
	if !ok {
		return
	}
	base := s.productBase(r, c)
	s.mu.Lock()
	var groups []confluenceGroup
	for _, g := range s.sortedSiteGroups(c.Site) {
		groups = append(groups, newConfluenceGroup(base, g))
	}
	s.mu.Unlock()
	out := newConfluenceList(groups, p, base, "/rest/api/group", q)
	c.Objects = out.Size
	writeJSON(w, http.StatusOK, out)
}

// handleConfluenceGroupByID returns one group of the site.
func (s *Server) handleConfluenceGroupByID(w http.ResponseWriter, r *http.Request, c *call) {
	id := r.URL.Query().Get("id")
	if id == "" {
		productBadRequest(w, c, "The id query parameter is required.")
		return
	}
	base := s.productBase(r, c)
	s.mu.Lock()
	g := s.siteGroupByIDOrName(c.Site, id, "")
	var out confluenceGroup
	if g != nil {
		out = newConfluenceGroup(base, g)
	}
	s.mu.Unlock()
	if g == nil {
		writeProductError(w, c.Product, http.StatusNotFound, "No group found with id: "+id)
		return
	}
	c.Objects = 1
	writeJSON(w, http.StatusOK, out)
}

// handleConfluenceMembers pages through a group's members, ordered by
// account id. Unlike Jira's group/member, Confluence lists every member
// whatever its account status. shouldReturnTotalSize=true adds totalSize.
func (s *Server) handleConfluenceMembers(w http.ResponseWriter, r *http.Request, c *call) {
	q := r.URL.Query()
	p, ok := parseConfluencePage(w, c, q)
	if !ok {
		return
	}
	id := r.PathValue("groupId")
	expandOps := expands(q, "operations")
	base := s.productBase(r, c)
	s.mu.Lock()
	g := s.siteGroupByIDOrName(c.Site, id, "")
	var members []confluenceUser
	if g != nil {
		for _, aid := range g.members {
			if u := s.org.User(aid); u != nil {
				members = append(members, newConfluenceUser(base, u, s.confluenceOps(u, c.Site, expandOps)))
			}
		}
	}
	s.mu.Unlock()
	if g == nil {
		writeProductError(w, c.Product, http.StatusNotFound, "No group found with id: "+id)
		return
	}
	out := newConfluenceList(members, p, base, "/rest/api/group/"+url.PathEscape(id)+"/membersByGroupId", q)
	if q.Get("shouldReturnTotalSize") == "true" {
		n := len(members)
		out.TotalSize = &n
	}
	c.Objects = out.Size
	writeJSON(w, http.StatusOK, out)
}

// expands reports whether the expand parameter (repeated or
// comma-separated) names prop.
func expands(q url.Values, prop string) bool {
	for _, v := range q["expand"] {
		for _, p := range strings.Split(v, ",") {
			if p == prop {
				return true
			}
		}
	}
	return false
}

// confluenceOps returns the application operations of u on the site's
// Confluence, or nil when not expanded. Users with Confluence access may
// use it and create spaces; administrators also "administer" it. s.mu is
// held.
func (s *Server) confluenceOps(u *User, site *Site, expand bool) []confluenceOperation {
	if !expand {
		return nil
	}
	ops := []confluenceOperation{}
	admin := administers(s.org, u, site, APIConfluence)
	if u.AccountStatus == "active" && (admin || usesProduct(s.org, u, site, APIConfluence)) {
		ops = append(ops, confluenceOperation{"use", "application"}, confluenceOperation{"create_space", "application"})
	}
	if admin {
		ops = append(ops, confluenceOperation{"administer", "application"})
	}
	return ops
}

// handleConfluenceUser returns one user. With expand=operations it is the
// documented way to ask whether the user administers Confluence.
func (s *Server) handleConfluenceUser(w http.ResponseWriter, r *http.Request, c *call) {
	q := r.URL.Query()
	accountID := q.Get("accountId")
	if accountID == "" {
		productBadRequest(w, c, "The accountId query parameter is required.")
		return
	}
	base := s.productBase(r, c)
	s.mu.Lock()
	u := s.org.User(accountID)
	var out confluenceUser
	if u != nil {
		out = newConfluenceUser(base, u, s.confluenceOps(u, c.Site, expands(q, "operations")))
	}
	s.mu.Unlock()
	if u == nil {
		writeProductError(w, c.Product, http.StatusNotFound, "No user found with accountId: "+accountID)
		return
	}
	c.Objects = 1
	writeJSON(w, http.StatusOK, out)
}

// handleConfluenceMemberOf pages through the site's groups a user belongs to.
func (s *Server) handleConfluenceMemberOf(w http.ResponseWriter, r *http.Request, c *call) {
	q := r.URL.Query()
	p, ok := parseConfluencePage(w, c, q)
	if !ok {
		return
	}
	accountID := q.Get("accountId")
	if accountID == "" {
		productBadRequest(w, c, "The accountId query parameter is required.")
		return
	}
	base := s.productBase(r, c)
	s.mu.Lock()
	u := s.org.User(accountID)
	var groups []confluenceGroup
	if u != nil {
		for _, g := range s.sortedSiteGroups(c.Site) {
			if s.org.IsMember(g.ID, u.AccountID) {
				groups = append(groups, newConfluenceGroup(base, g))
			}
		}
	}
	s.mu.Unlock()
	if u == nil {
		writeProductError(w, c.Product, http.StatusNotFound, "No user found with accountId: "+accountID)
		return
	}
	out := newConfluenceList(groups, p, base, "/rest/api/user/memberof", q)
	c.Objects = out.Size
	writeJSON(w, http.StatusOK, out)
}
