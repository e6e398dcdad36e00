package devsite

// The organization Admin API (https://api.atlassian.com/admin), as far as
// Lapse uses it. Request and response shapes follow the published models in
// jira.js src/admin (MrRefactoring/jira.js: api/users.ts, groups.ts, orgs.ts,
// workspaces.ts, domains.ts and the models they reference) and DOMAIN.md §3.
// Where a behaviour is not published, the choice is named in a comment so a
// live-org check can correct it (DOMAIN.md §8).

import (
	"bytes"
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Page sizes. Only the users/search default (50) and the groups/search
// default (20) are published; the users/search maximum is not, so 100 is
// the cap, the value public client code uses (DOMAIN.md §0 fact 3). Larger
// limits are clamped rather than refused, as most Atlassian APIs do.
const (
	adminUserLimitDefault      = 50
	adminGroupLimitDefault     = 20
	adminRoleLimitDefault      = 50  // not published
	adminWorkspaceLimitDefault = 20  // the published example request uses 20
	adminLimitMax              = 100 // not published; see above
	adminDomainPageSize        = 20  // not published
	adminLastActivePageSize    = 20  // not published: product_access entries per page
)

// Admin API error codes, from jira.js src/admin/models/applicationError.ts.
const (
	adminCodeInvalidCursor   = "ADMIN-400-1"
	adminCodeInvalidBody     = "ADMIN-400-24"
	adminCodeNotAllowedGroup = "ADMIN-403-5"
	adminCodeUnknownResource = "ADMIN-404-1"
	adminCodeOrgNotFound     = "ADMIN-404-2"
	adminCodeDomainNotFound  = "ADMIN-404-3"
	adminCodeUserNotFound    = "ADMIN-404-8"
	adminCodeGroupNotFound   = "ADMIN-404-10"
)

// DefaultCursorTTL is how long an Admin API page cursor stays valid after the
// page that issued it. Atlassian does not publish one; a crawl that pauses
// longer (a budget wait, a deploy) must be ready to start over.
const DefaultCursorTTL = 15 * time.Minute

// How users/search treats expand "productAccess". The official enum value
// is "productAccess", but one third party saw no product data come back
// (DOMAIN.md §3.3, §8 question 1), so the simulator can play either answer.
const (
	ProductAccessReturned = ""         // the documented behaviour
	ProductAccessOmitted  = "omitted"  // accepted, but no productAccess field
	ProductAccessRejected = "rejected" // 400 on the expand value
)

// AdminBehavior tunes the simulated Admin API where Atlassian's behaviour is
// unpublished or disputed.
type AdminBehavior struct {
	// CursorTTL: 0 means DefaultCursorTTL, negative means cursors never expire.
	CursorTTL time.Duration
	// ProductAccess is one of the ProductAccess* constants.
	ProductAccess string
}

// SetAdminBehavior changes how the simulated Admin API behaves.
func (s *Server) SetAdminBehavior(b AdminBehavior) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.adminBehavior = b
}

// AdminBehavior returns the current Admin API behaviour.
func (s *Server) AdminBehavior() AdminBehavior {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.adminBehavior
}

// cursorTTL is called with s.mu held.
func (s *Server) cursorTTL() time.Duration {
	switch ttl := s.adminBehavior.CursorTTL; {
	case ttl == 0:
		return DefaultCursorTTL
	case ttl < 0:
		return 0
	default:
		return ttl
	}
}

// adminRoutes registers the organization Admin API.
func (s *Server) adminRoutes() {
	const dir = "/admin/v2/orgs/{orgId}/directories/{directoryId}"
	s.adminRoute("GET /admin/v1/orgs", s.handleAdminOrgList)
	s.adminRoute("GET /admin/v1/orgs/{orgId}", s.handleAdminOrgGet)
	s.adminRoute("GET /admin/v1/orgs/{orgId}/domains", s.handleAdminDomainList)
	s.adminRoute("GET /admin/v1/orgs/{orgId}/domains/{domainId}", s.handleAdminDomainGet)
	s.adminRoute("POST /admin/v2/orgs/{orgId}/workspaces", s.handleAdminWorkspaceQuery)
	s.adminRoute("POST "+dir+"/users/search", s.handleAdminUserSearch)
	s.adminRoute("GET /admin/v1/orgs/{orgId}/directory/users/{accountId}/last-active-dates", s.handleAdminLastActive)
	s.adminRoute("POST "+dir+"/groups/search", s.handleAdminGroupSearch)
	s.adminRoute("GET "+dir+"/groups/{groupId}", s.handleAdminGroupGet)
	s.adminRoute("GET "+dir+"/groups/{groupId}/role-assignments", s.handleAdminGroupRoles)
	s.adminRoute("POST "+dir+"/groups/{groupId}/memberships", s.handleAdminMemberAdd)
	s.adminRoute("DELETE "+dir+"/groups/{groupId}/memberships/{accountId}", s.handleAdminMemberRemove)
}

// adminError is an Admin API error answer.
type adminError struct {
	status       int
	code, detail string
}

func (e *adminError) write(w http.ResponseWriter) { writeAdminError(w, e.status, e.code, e.detail) }

func adminBadRequest(code, detail string) *adminError {
	return &adminError{status: http.StatusBadRequest, code: code, detail: detail}
}

func adminNotFound(code, detail string) *adminError {
	return &adminError{status: http.StatusNotFound, code: code, detail: detail}
}

// inOrg checks the path's orgId and directoryId, runs fn with the org
// locked and writes its answer after unlocking, so a slow client never
// holds the lock. A nil body is a 204.
func (s *Server) inOrg(w http.ResponseWriter, r *http.Request, fn func(o *Org) (any, *adminError)) {
	body, aerr := s.lockedAdmin(r, fn)
	switch {
	case aerr != nil:
		aerr.write(w)
	case body == nil:
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSON(w, http.StatusOK, body)
	}
}

func (s *Server) lockedAdmin(r *http.Request, fn func(o *Org) (any, *adminError)) (any, *adminError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if aerr := checkAdminScope(s.org, r); aerr != nil {
		return nil, aerr
	}
	return fn(s.org)
}

// checkAdminScope answers 404 for another org's id (Atlassian may answer 403
// ADMIN-403-3 "not allowed to manage the org"; either way the key cannot
// reach it) and for an unknown directory. "-" means every directory.
func checkAdminScope(o *Org, r *http.Request) *adminError {
	if id := r.PathValue("orgId"); id != "" && id != o.ID {
		return adminNotFound(adminCodeOrgNotFound, "Organization not found.")
	}
	if d := r.PathValue("directoryId"); d != "" && d != "-" && d != o.DirectoryID {
		return adminNotFound(adminCodeUnknownResource, "Directory not found.")
	}
	return nil
}

// decodeAdminBody decodes an optional JSON body strictly: an unknown field,
// or a known one in the wrong case (encoding/json would match
// "accountIDs" to accountIds), is a 400, so a client that misspells a
// filter finds out instead of silently getting everyone.
func decodeAdminBody(r *http.Request, v any) *adminError {
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return adminBadRequest(adminCodeInvalidBody, "The request body could not be read.")
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return adminBadRequest(adminCodeInvalidBody, "Invalid request body: "+err.Error())
	}
	known := jsonFieldNames(v)
	for name := range fields {
		if !known[name] {
			return adminBadRequest(adminCodeInvalidBody, "Invalid request body: unknown field "+strconv.Quote(name)+".")
		}
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return adminBadRequest(adminCodeInvalidBody, "Invalid request body: "+err.Error())
	}
	return nil
}

// jsonFieldNames returns the JSON names of the fields of the struct v
// points to.
func jsonFieldNames(v any) map[string]bool {
	t := reflect.TypeOf(v).Elem()
	names := make(map[string]bool, t.NumField())
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		names[cmp.Or(name, f.Name)] = true
	}
	return names
}

// adminPageLimit applies a default and the cap; an explicit limit below 1 is a 400.
func adminPageLimit(limit *int, def int) (int, *adminError) {
	switch {
	case limit == nil:
		return def, nil
	case *limit < 1:
		return 0, adminBadRequest(adminCodeInvalidBody, "limit must be at least 1.")
	}
	return min(*limit, adminLimitMax), nil
}

// adminQueryLimit reads ?limit= for the GET endpoints.
func adminQueryLimit(q url.Values, def int) (int, *adminError) {
	v := q.Get("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, adminBadRequest(adminCodeInvalidBody, "limit must be a number.")
	}
	return adminPageLimit(&n, def)
}

// adminQueryList reads a list parameter sent as repeated keys or comma-separated.
func adminQueryList(q url.Values, key string) []string {
	var out []string
	for _, v := range q[key] {
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// adminOneOf checks every value against an enum.
func adminOneOf(field string, values []string, allowed ...string) *adminError {
	for _, v := range values {
		if !slices.Contains(allowed, v) {
			return adminBadRequest(adminCodeInvalidBody, "Invalid value "+strconv.Quote(v)+" for "+field+".")
		}
	}
	return nil
}

// adminAnyIn reports whether want is empty (no filter) or shares a value with have.
func adminAnyIn(want, have []string) bool {
	if len(want) == 0 {
		return true
	}
	for _, h := range have {
		if slices.Contains(want, h) {
			return true
		}
	}
	return false
}

// adminARIOwner returns the resource owner (product key) of a product ARI:
// "ari:cloud:jira-software::site/<cloudId>" → "jira-software".
func adminARIOwner(ari string) string {
	rest, ok := strings.CutPrefix(ari, "ari:cloud:")
	if !ok {
		return ""
	}
	owner, _, _ := strings.Cut(rest, ":")
	return owner
}

func adminTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// ---------------------------------------------------------------------------
// Cursors

// adminCursor is what an opaque cursor carries: the keyset position (the last
// key returned, so pages stay stable while memberships change), a
// fingerprint of the filter it belongs to, and when it was issued. It is
// signed with the org key so a garbled or forged cursor is refused.
type adminCursor struct {
	Kind   string          `json:"k"`
	After  string          `json:"a"`
	Filter string          `json:"f,omitempty"`
	Issued int64           `json:"t"` // Unix milliseconds
	Limit  int             `json:"l,omitempty"`
	Query  json.RawMessage `json:"q,omitempty"` // the filter itself, where the API keeps it
}

var adminB64 = base64.RawURLEncoding

func (s *Server) encodeAdminCursor(key string, pc adminCursor) string {
	pc.Issued = s.now().UnixMilli()
	body, _ := json.Marshal(pc)
	return adminB64.EncodeToString(body) + "." + adminB64.EncodeToString(adminCursorMAC(key, body))
}

func adminCursorMAC(key string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	return m.Sum(nil)[:12]
}

// adminErrCursorInvalid and adminErrCursorExpired share ADMIN-400-1 ("Invalid page
// cursor", the only published cursor code); the detail tells them apart.
// A client that sends back a cursor it was given can only see the second.
var (
	adminErrCursorInvalid = adminBadRequest(adminCodeInvalidCursor, "invalid cursor: it is malformed or belongs to another request.")
	adminErrCursorExpired = adminBadRequest(adminCodeInvalidCursor, "invalid cursor: the cursor has expired; start again without a cursor.")
)

// decodeAdminCursor checks a cursor's signature, kind, filter and age.
func (s *Server) decodeAdminCursor(key, raw, kind, filter string) (adminCursor, *adminError) {
	var pc adminCursor
	body64, mac64, ok := strings.Cut(raw, ".")
	body, err1 := adminB64.DecodeString(body64)
	mac, err2 := adminB64.DecodeString(mac64)
	if !ok || err1 != nil || err2 != nil || !hmac.Equal(mac, adminCursorMAC(key, body)) ||
		json.Unmarshal(body, &pc) != nil || pc.Kind != kind || pc.Filter != filter {
		return pc, adminErrCursorInvalid
	}
	if ttl := s.cursorTTL(); ttl > 0 && s.now().After(time.UnixMilli(pc.Issued).Add(ttl)) {
		return pc, adminErrCursorExpired
	}
	return pc, nil
}

// adminFingerprint hashes a filter so a cursor is only accepted with the filter
// that produced it.
func adminFingerprint(parts ...any) string {
	h := sha256.New()
	for _, p := range parts {
		b, _ := json.Marshal(p)
		h.Write(b)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// adminLinks is LinkPageCursor: bare cursor tokens, next absent on the last page.
type adminLinks struct {
	Self string `json:"self,omitempty"`
	Next string `json:"next,omitempty"`
}

// adminKeysetPage walks keys (sorted) after `after`, keeping those match accepts,
// and reports whether another match follows the page. Peeking one past the
// page means an exactly full last page carries no next link.
func adminKeysetPage[T any](items []T, key func(T) string, after string, limit int, match func(T) bool) (page []T, more bool) {
	page, limit = []T{}, max(limit, 1) // [] encodes as [], never null
	i := sort.Search(len(items), func(i int) bool { return key(items[i]) > after })
	for ; i < len(items); i++ {
		if !match(items[i]) {
			continue
		}
		if len(page) == limit {
			return page, true
		}
		page = append(page, items[i])
	}
	return page, false
}

// ---------------------------------------------------------------------------
// Orgs and domains (v1, JSON:API style: {data, links})

type adminOrgJSON struct {
	ID            string            `json:"id"`
	Type          string            `json:"type"`
	Attributes    map[string]string `json:"attributes"`
	Relationships map[string]any    `json:"relationships"`
	Links         map[string]string `json:"links"`
}

func (s *Server) adminOrgModel(o *Org) adminOrgJSON {
	self := s.baseURL + "/admin/v1/orgs/" + o.ID
	related := func(p string) map[string]any {
		return map[string]any{"links": map[string]string{"related": self + p}}
	}
	return adminOrgJSON{
		ID: o.ID, Type: "orgs", Attributes: map[string]string{"name": o.Name},
		Relationships: map[string]any{"domains": related("/domains"), "users": related("/users")},
		Links:         map[string]string{"self": self},
	}
}

// handleAdminOrgList lists the orgs of the key: always exactly one.
func (s *Server) handleAdminOrgList(w http.ResponseWriter, r *http.Request, c *call) {
	s.inOrg(w, r, func(o *Org) (any, *adminError) {
		if cur := r.URL.Query().Get("cursor"); cur != "" {
			if _, aerr := s.decodeAdminCursor(o.APIKey, cur, "orgs", ""); aerr != nil {
				return nil, aerr
			}
			return map[string]any{"data": []adminOrgJSON{}, "links": adminLinks{}}, nil
		}
		return map[string]any{"data": []adminOrgJSON{s.adminOrgModel(o)}, "links": adminLinks{}}, nil
	})
}

func (s *Server) handleAdminOrgGet(w http.ResponseWriter, r *http.Request, c *call) {
	s.inOrg(w, r, func(o *Org) (any, *adminError) {
		return map[string]any{"data": s.adminOrgModel(o)}, nil
	})
}

type adminDomainJSON struct {
	ID         string            `json:"id"`
	Type       string            `json:"type"`
	Attributes adminDomainAttrs  `json:"attributes"`
	Links      map[string]string `json:"links"`
}

type adminDomainAttrs struct {
	Name  string            `json:"name"`
	Claim map[string]string `json:"claim"`
}

func (s *Server) adminDomainModel(o *Org, d Domain) adminDomainJSON {
	status := "unverified"
	if d.Verified {
		status = "verified"
	}
	return adminDomainJSON{
		ID: d.ID, Type: "domains",
		Attributes: adminDomainAttrs{Name: d.Name, Claim: map[string]string{"type": "dns", "status": status}},
		Links:      map[string]string{"self": s.baseURL + "/admin/v1/orgs/" + o.ID + "/domains/" + d.ID},
	}
}

// handleAdminDomainList pages the org's domains by id; claim.status tells
// verified domains (whose accounts are managed) from the others.
func (s *Server) handleAdminDomainList(w http.ResponseWriter, r *http.Request, c *call) {
	s.inOrg(w, r, func(o *Org) (any, *adminError) {
		var after string
		if cur := r.URL.Query().Get("cursor"); cur != "" {
			pc, aerr := s.decodeAdminCursor(o.APIKey, cur, "domains", "")
			if aerr != nil {
				return nil, aerr
			}
			after = pc.After
		}
		domains := slices.SortedFunc(slices.Values(o.Domains), func(a, b Domain) int { return strings.Compare(a.ID, b.ID) })
		page, more := adminKeysetPage(domains, func(d Domain) string { return d.ID }, after, adminDomainPageSize, func(Domain) bool { return true })
		data := make([]adminDomainJSON, 0, len(page))
		for _, d := range page {
			data = append(data, s.adminDomainModel(o, d))
		}
		links := adminLinks{}
		if more {
			links.Next = s.encodeAdminCursor(o.APIKey, adminCursor{Kind: "domains", After: page[len(page)-1].ID})
		}
		return map[string]any{"data": data, "links": links}, nil
	})
}

func (s *Server) handleAdminDomainGet(w http.ResponseWriter, r *http.Request, c *call) {
	s.inOrg(w, r, func(o *Org) (any, *adminError) {
		for _, d := range o.Domains {
			if d.ID == r.PathValue("domainId") {
				return map[string]any{"data": s.adminDomainModel(o, d)}, nil
			}
		}
		return nil, adminNotFound(adminCodeDomainNotFound, "Domain not found.")
	})
}

// ---------------------------------------------------------------------------
// Workspaces (v2): one per product per site; the id is the product ARI that
// resourceIds and role assignments use.

type adminWorkspaceQuery struct {
	Query  json.RawMessage `json:"query,omitempty"`
	Limit  *int            `json:"limit,omitempty"`
	Sort   json.RawMessage `json:"sort,omitempty"`
	Cursor string          `json:"cursor,omitempty"`
}

type adminWorkspaceJSON struct {
	ID         string              `json:"id"`
	Type       string              `json:"type"`
	Attributes adminWorkspaceAttrs `json:"attributes"`
	Links      map[string]*string  `json:"links"`
}

// adminWorkspaceAttrs is the subset of WorkspaceModel.attributes the simulator
// knows. typeKey is the product key; attributes.type is the product family
// (jira or confluence): the real values are not published, so clients should
// derive the product from the ARI in id.
type adminWorkspaceAttrs struct {
	Name    string            `json:"name"`
	TypeKey string            `json:"typeKey"`
	Type    string            `json:"type"`
	Status  string            `json:"status"`
	Sandbox map[string]string `json:"sandbox"`
	HostURL string            `json:"hostUrl"`
}

func (s *Server) adminWorkspaces(o *Org) []adminWorkspaceJSON {
	var out []adminWorkspaceJSON
	for _, site := range o.Sites {
		for _, p := range site.Products {
			family, host := "jira", s.baseURL+"/s/"+site.Name
			if p == ProductConfluence {
				family, host = "confluence", host+"/wiki"
			}
			out = append(out, adminWorkspaceJSON{
				ID: ProductARI(p, site.CloudID), Type: "workspaces",
				Attributes: adminWorkspaceAttrs{Name: site.Name, TypeKey: p, Type: family, Status: "online",
					Sandbox: map[string]string{"type": "NONE"}, HostURL: host},
				Links: map[string]*string{"self": nil},
			})
		}
	}
	slices.SortFunc(out, func(a, b adminWorkspaceJSON) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// handleAdminWorkspaceQuery pages workspaces. As published, a request with a
// cursor may carry nothing else, so the page size travels in the cursor.
// query and sort are not simulated and are refused rather than ignored.
func (s *Server) handleAdminWorkspaceQuery(w http.ResponseWriter, r *http.Request, c *call) {
	var req adminWorkspaceQuery
	if aerr := decodeAdminBody(r, &req); aerr != nil {
		aerr.write(w)
		return
	}
	if len(req.Query) > 0 || (len(req.Sort) > 0 && string(req.Sort) != "null") {
		adminBadRequest(adminCodeInvalidBody, "query and sort are not supported by the simulated site.").write(w)
		return
	}
	if req.Cursor != "" && req.Limit != nil {
		adminBadRequest(adminCodeInvalidBody, "When a cursor is provided, no other properties may be present.").write(w)
		return
	}
	limit, aerr := adminPageLimit(req.Limit, adminWorkspaceLimitDefault)
	if aerr != nil {
		aerr.write(w)
		return
	}
	s.inOrg(w, r, func(o *Org) (any, *adminError) {
		var after string
		start := 0
		if req.Cursor != "" {
			pc, aerr := s.decodeAdminCursor(o.APIKey, req.Cursor, "workspaces", "")
			if aerr != nil {
				return nil, aerr
			}
			after, limit = pc.After, cmp.Or(pc.Limit, adminWorkspaceLimitDefault)
		}
		all := s.adminWorkspaces(o)
		page, more := adminKeysetPage(all, func(w adminWorkspaceJSON) string { return w.ID }, after, limit, func(adminWorkspaceJSON) bool { return true })
		if len(page) > 0 {
			start = slices.IndexFunc(all, func(w adminWorkspaceJSON) bool { return w.ID == page[0].ID })
		}
		links := adminLinks{}
		if more {
			links.Next = s.encodeAdminCursor(o.APIKey, adminCursor{Kind: "workspaces", After: page[len(page)-1].ID, Limit: limit})
		}
		meta := map[string]int{"pageSize": limit, "startIndex": start, "endIndex": start + len(page), "total": len(all)}
		return map[string]any{"data": page, "links": links, "meta": meta}, nil
	})
}

// ---------------------------------------------------------------------------
// users/search (v2)

// adminUserQuery is MultiDirectoryUserSearchRequest.
type adminUserQuery struct {
	Cursor           string          `json:"cursor,omitempty"`
	Limit            *int            `json:"limit,omitempty"`
	AccountIDs       []string        `json:"accountIds,omitempty"`
	DirectoryIDs     []string        `json:"directoryIds,omitempty"`
	ResourceIDs      []string        `json:"resourceIds,omitempty"`
	GroupIDs         []string        `json:"groupIds,omitempty"`
	MFAEnabled       *bool           `json:"mfaEnabled,omitempty"`
	ClaimStatus      string          `json:"claimStatus,omitempty"`
	Status           []string        `json:"status,omitempty"`
	AccountStatus    []string        `json:"accountStatus,omitempty"`
	MembershipStatus []string        `json:"membershipStatus,omitempty"`
	RoleIDs          []string        `json:"roleIds,omitempty"`
	EmailDomains     []string        `json:"emailDomains,omitempty"`
	SearchTerm       string          `json:"searchTerm,omitempty"`
	Emails           []string        `json:"emails,omitempty"`
	Expand           []string        `json:"expand,omitempty"`
	SortBy           json.RawMessage `json:"sortBy,omitempty"`
}

// Expand values of users/search, exactly as published (case-sensitive: a
// third party saw "PRODUCT_ACCESS" refused with a 400).
const (
	adminExpandPlatformRoles   = "platformRoles"
	adminExpandCountsResources = "counts.resources"
	adminExpandProductAccess   = "productAccess"
	adminExpandGroups          = "groups"
)

func (q *adminUserQuery) validate(behavior AdminBehavior) *adminError {
	checks := []*adminError{
		adminOneOf("claimStatus", adminNonEmpty(q.ClaimStatus), "managed", "unmanaged"),
		adminOneOf("status", q.Status, "active", "suspended", "not_invited", "deactivated", "for_deletion"),
		adminOneOf("accountStatus", q.AccountStatus, "active", "inactive", "closed"),
		adminOneOf("membershipStatus", q.MembershipStatus, "active", "suspended", "no_membership"),
		adminOneOf("expand", q.Expand, adminExpandPlatformRoles, adminExpandCountsResources, adminExpandProductAccess, adminExpandGroups),
	}
	for _, e := range checks {
		if e != nil {
			return e
		}
	}
	switch {
	case q.SearchTerm != "" && len(q.Emails) > 0:
		return adminBadRequest(adminCodeInvalidBody, "searchTerm and emails are mutually exclusive.")
	case len(q.SortBy) > 0 && string(q.SortBy) != "null":
		return adminBadRequest(adminCodeInvalidBody, "sortBy is not supported by the simulated site.")
	case behavior.ProductAccess == ProductAccessRejected && slices.Contains(q.Expand, adminExpandProductAccess):
		return adminBadRequest(adminCodeInvalidBody, "Invalid value \"productAccess\" for expand.")
	}
	return nil
}

func adminNonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// filterPrint identifies the filter: everything but cursor, limit and expand.
func (q adminUserQuery) filterPrint(directoryID string) string {
	q.Cursor, q.Limit, q.Expand = "", nil, nil
	return adminFingerprint(directoryID, q)
}

// adminUserStatus is the composite status of MultiDirectoryUser.
func adminUserStatus(u *User) string {
	switch {
	case u.AccountStatus != "active":
		return "deactivated"
	case u.Status == "suspended":
		return "suspended"
	}
	return "active"
}

func adminMembershipStatus(u *User) string { return cmp.Or(u.Status, "active") }

// adminUserRoles returns the role ids the user holds through groups, plus its
// platform roles.
func adminUserRoles(o *Org, u *User) []string {
	roles := slices.Clone(u.PlatformRoles)
	for _, gid := range u.groups {
		for _, ra := range o.groupByID[gid].Roles {
			roles = append(roles, ra.RoleID)
		}
	}
	return roles
}

func (q *adminUserQuery) match(o *Org, u *User) bool {
	return adminAnyIn(q.AccountIDs, []string{u.AccountID}) &&
		adminAnyIn(q.DirectoryIDs, []string{o.DirectoryID}) &&
		(len(q.ResourceIDs) == 0 || adminAnyIn(q.ResourceIDs, o.ProductAccess(u))) &&
		adminAnyIn(q.GroupIDs, u.groups) &&
		(q.MFAEnabled == nil || !*q.MFAEnabled) && // MFA is not simulated: nobody has it
		(q.ClaimStatus == "" || q.ClaimStatus == u.ClaimStatus) &&
		adminAnyIn(q.Status, []string{adminUserStatus(u)}) &&
		adminAnyIn(q.AccountStatus, []string{u.AccountStatus}) &&
		adminAnyIn(q.MembershipStatus, []string{adminMembershipStatus(u)}) &&
		(len(q.RoleIDs) == 0 || adminAnyIn(q.RoleIDs, adminUserRoles(o, u))) &&
		q.matchEmail(u)
}

func (q *adminUserQuery) matchEmail(u *User) bool {
	email := strings.ToLower(u.Email)
	if len(q.EmailDomains) > 0 {
		_, domain, _ := strings.Cut(email, "@")
		ok := slices.ContainsFunc(q.EmailDomains, func(d string) bool {
			return strings.EqualFold(strings.TrimPrefix(d, "@"), domain)
		})
		if !ok {
			return false
		}
	}
	if len(q.Emails) > 0 && !slices.ContainsFunc(q.Emails, func(e string) bool { return strings.EqualFold(e, email) }) {
		return false
	}
	term := strings.ToLower(q.SearchTerm)
	return term == "" || strings.Contains(strings.ToLower(u.Name), term) || strings.Contains(email, term)
}

// adminUserJSON is MultiDirectoryUser. Expanded fields are pointers to
// slices: absent without the expand, [] when expanded but empty.
type adminUserJSON struct {
	AccountID        string                    `json:"accountId"`
	AccountType      string                    `json:"accountType"`
	Status           string                    `json:"status"`
	AccountStatus    string                    `json:"accountStatus"`
	MembershipStatus string                    `json:"membershipStatus"`
	AddedToOrg       string                    `json:"addedToOrg,omitempty"`
	Name             string                    `json:"name"`
	Email            string                    `json:"email,omitempty"`
	ClaimStatus      string                    `json:"claimStatus,omitempty"`
	ManagementSource *string                   `json:"managementSource"` // null when not determined
	PlatformRoles    *[]string                 `json:"platformRoles,omitempty"`
	Counts           *adminUserCountsJSON      `json:"counts,omitempty"`
	ProductAccess    *[]adminProductAccessJSON `json:"productAccess,omitempty"`
	Groups           *[]adminUserGroupJSON     `json:"groups,omitempty"`
}

type adminUserCountsJSON struct {
	Resources int `json:"resources"`
}

// adminProductAccessJSON is MultiDirectoryProductAccess. lastActiveTimestamp is
// absent for a product the user can access but never used.
type adminProductAccessJSON struct {
	Key                 string `json:"key"`
	ID                  string `json:"id"`
	LastActiveTimestamp string `json:"lastActiveTimestamp,omitempty"`
}

// adminUserGroupJSON is MultiDirectoryUserGroup.
type adminUserGroupJSON struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description"`
}

func (s *Server) adminUserModel(o *Org, u *User, q *adminUserQuery, behavior AdminBehavior) adminUserJSON {
	out := adminUserJSON{
		AccountID: u.AccountID, AccountType: u.AccountType, Status: adminUserStatus(u),
		AccountStatus: u.AccountStatus, MembershipStatus: adminMembershipStatus(u),
		Name: u.Name, Email: u.Email, ClaimStatus: u.ClaimStatus,
	}
	if !u.AddedToOrg.IsZero() {
		out.AddedToOrg = adminTime(u.AddedToOrg)
	}
	if u.ManagementSource != "" {
		out.ManagementSource = &u.ManagementSource
	}
	access := o.ProductAccess(u)
	for _, e := range q.Expand {
		switch e {
		case adminExpandPlatformRoles:
			roles := append([]string{}, u.PlatformRoles...)
			out.PlatformRoles = &roles
		case adminExpandCountsResources:
			out.Counts = &adminUserCountsJSON{Resources: len(access)}
		case adminExpandProductAccess:
			if behavior.ProductAccess != ProductAccessOmitted {
				pa := adminProductAccessItems(u, access, q.ResourceIDs)
				out.ProductAccess = &pa
			}
		case adminExpandGroups:
			groups := adminUserGroups(o, u)
			out.Groups = &groups
		}
	}
	return out
}

// adminProductAccessItems lists each product the user can access, restricted to
// resourceIDs when the search named some.
func adminProductAccessItems(u *User, access, resourceIDs []string) []adminProductAccessJSON {
	items := []adminProductAccessJSON{}
	for _, ari := range access {
		if len(resourceIDs) > 0 && !slices.Contains(resourceIDs, ari) {
			continue
		}
		item := adminProductAccessJSON{Key: adminARIOwner(ari), ID: ari}
		if t, ok := u.LastActive[ari]; ok {
			item.LastActiveTimestamp = adminTime(t)
		}
		items = append(items, item)
	}
	return items
}

func adminUserGroups(o *Org, u *User) []adminUserGroupJSON {
	groups := []adminUserGroupJSON{}
	for _, gid := range u.groups {
		g := o.groupByID[gid]
		groups = append(groups, adminUserGroupJSON{ID: g.ID, Name: g.Name, Description: g.Description})
	}
	return groups
}

// handleAdminUserSearch pages users in accountId order.
func (s *Server) handleAdminUserSearch(w http.ResponseWriter, r *http.Request, c *call) {
	var q adminUserQuery
	if aerr := decodeAdminBody(r, &q); aerr != nil {
		aerr.write(w)
		return
	}
	behavior := s.AdminBehavior()
	limit, aerr := adminPageLimit(q.Limit, adminUserLimitDefault)
	if aerr == nil {
		aerr = q.validate(behavior)
	}
	if aerr != nil {
		aerr.write(w)
		return
	}
	filter := q.filterPrint(r.PathValue("directoryId"))
	s.inOrg(w, r, func(o *Org) (any, *adminError) {
		var after string
		if q.Cursor != "" {
			pc, aerr := s.decodeAdminCursor(o.APIKey, q.Cursor, "users", filter)
			if aerr != nil {
				return nil, aerr
			}
			after = pc.After
		}
		page, more := adminKeysetPage(o.Users, func(u *User) string { return u.AccountID }, after, limit,
			func(u *User) bool { return q.match(o, u) })
		data := make([]adminUserJSON, 0, len(page))
		for _, u := range page {
			data = append(data, s.adminUserModel(o, u, &q, behavior))
		}
		c.Objects = len(data)
		links := adminLinks{Self: q.Cursor}
		if more {
			links.Next = s.encodeAdminCursor(o.APIKey, adminCursor{Kind: "users", After: page[len(page)-1].AccountID, Filter: filter})
		}
		return map[string]any{"data": data, "links": links}, nil
	})
}

// ---------------------------------------------------------------------------
// last-active-dates (v1, snake_case)

// adminLastActiveJSON is UserProductLastActive.
type adminLastActiveJSON struct {
	ID                  string `json:"id"`
	Key                 string `json:"key"`
	LastActive          string `json:"last_active"`
	LastActiveTimestamp string `json:"last_active_timestamp"`
}

// adminV1Key maps a product key to the v1 enum, which spells JSM
// "jira-service-desk" while its ARIs say "jira-servicedesk"
// (jira.js userProductLastActive.ts).
func adminV1Key(product string) string {
	if product == ProductJSM {
		return "jira-service-desk"
	}
	return product
}

// handleAdminLastActive reports, per product and site, when the user was
// last active. It lists every product the user has used, whether or not it
// can still access it: activity is history, access is current. A product
// never used is absent, so a user who never used anything has an empty list.
func (s *Server) handleAdminLastActive(w http.ResponseWriter, r *http.Request, c *call) {
	accountID := r.PathValue("accountId")
	s.inOrg(w, r, func(o *Org) (any, *adminError) {
		u := o.User(accountID)
		if u == nil {
			return nil, adminNotFound(adminCodeUserNotFound, "User not found.")
		}
		var after string
		if cur := r.URL.Query().Get("cursor"); cur != "" {
			pc, aerr := s.decodeAdminCursor(o.APIKey, cur, "last-active", accountID)
			if aerr != nil {
				return nil, aerr
			}
			after = pc.After
		}
		c.Objects = 1
		aris := slices.Sorted(maps.Keys(u.LastActive))
		page, more := adminKeysetPage(aris, func(a string) string { return a }, after, adminLastActivePageSize, func(string) bool { return true })
		items := make([]adminLastActiveJSON, 0, len(page))
		for _, ari := range page {
			t := u.LastActive[ari].UTC()
			items = append(items, adminLastActiveJSON{ID: ari, Key: adminV1Key(adminARIOwner(ari)),
				LastActive: t.Format(time.DateOnly), LastActiveTimestamp: t.Format(time.RFC3339)})
		}
		links := map[string]*string{"next": nil}
		if more {
			next := s.encodeAdminCursor(o.APIKey, adminCursor{Kind: "last-active", After: page[len(page)-1], Filter: accountID})
			links["next"] = &next
		}
		data := map[string]any{"product_access": items}
		if !u.AddedToOrg.IsZero() {
			data["added_to_org"] = u.AddedToOrg.UTC().Format(time.DateOnly)
			data["added_to_org_timestamp"] = adminTime(u.AddedToOrg)
		}
		return map[string]any{"data": data, "links": links}, nil
	})
}

// ---------------------------------------------------------------------------
// Groups (v2)

// adminGroupQuery is MultiDirectoryGroupSearchRequest.
type adminGroupQuery struct {
	Cursor         string          `json:"cursor,omitempty"`
	Limit          *int            `json:"limit,omitempty"`
	SortBy         json.RawMessage `json:"sortBy,omitempty"`
	AccountIDs     []string        `json:"accountIds,omitempty"`
	DirectoryIDs   []string        `json:"directoryIds,omitempty"`
	RoleIDs        []string        `json:"roleIds,omitempty"`
	ResourceOwners []string        `json:"resourceOwners,omitempty"`
	ResourceIDs    []string        `json:"resourceIds,omitempty"`
	SearchTerm     string          `json:"searchTerm,omitempty"`
	GroupIDs       []string        `json:"groupIds,omitempty"`
	GroupNames     []string        `json:"groupNames,omitempty"`
	Expand         []string        `json:"expand,omitempty"`
}

func (q *adminGroupQuery) validate() *adminError {
	switch {
	case len(q.GroupNames) > 0 && (q.SearchTerm != "" || len(q.GroupIDs) > 0):
		return adminBadRequest(adminCodeInvalidBody, "groupNames is mutually exclusive with searchTerm and groupIds.")
	case len(q.SortBy) > 0 && string(q.SortBy) != "null":
		return adminBadRequest(adminCodeInvalidBody, "sortBy is not supported by the simulated site.")
	}
	return adminOneOf("expand", q.Expand, "counts.resources", "counts.users")
}

func (q adminGroupQuery) filterPrint(directoryID string) string {
	q.Cursor, q.Limit, q.Expand = "", nil, nil
	return adminFingerprint(directoryID, q)
}

func (q *adminGroupQuery) match(o *Org, g *Group) bool {
	var roles, resources, owners []string
	for _, ra := range g.Roles {
		roles = append(roles, ra.RoleID)
		resources = append(resources, ra.ResourceID)
		owners = append(owners, adminARIOwner(ra.ResourceID))
	}
	return adminAnyIn(q.DirectoryIDs, []string{o.DirectoryID}) &&
		adminAnyIn(q.GroupIDs, []string{g.ID}) &&
		adminAnyIn(q.RoleIDs, roles) && adminAnyIn(q.ResourceIDs, resources) && adminAnyIn(q.ResourceOwners, owners) &&
		adminAnyIn(q.AccountIDs, g.members) && q.matchName(g)
}

func (q *adminGroupQuery) matchName(g *Group) bool {
	if len(q.GroupNames) > 0 && !slices.ContainsFunc(q.GroupNames, func(n string) bool { return strings.EqualFold(n, g.Name) }) {
		return false
	}
	return q.SearchTerm == "" || strings.Contains(strings.ToLower(g.Name), strings.ToLower(q.SearchTerm))
}

// adminGroupJSON is MultiDirectoryGroup. The v2 group has no "default
// group" field; default access shows as defaultRole on the group's role
// assignments, and as managementAccess.deletable=false (ADMIN-403-6: a group
// with the default-role attribute cannot be deleted).
type adminGroupJSON struct {
	ID               string                `json:"id"`
	Name             string                `json:"name"`
	Description      string                `json:"description"`
	DirectoryID      string                `json:"directoryId"`
	ManagementAccess map[string]bool       `json:"managementAccess"`
	ExternalSynced   bool                  `json:"externalSynced"`
	ManagedBy        string                `json:"managedBy"`
	Counts           *adminGroupCountsJSON `json:"counts,omitempty"`
}

type adminGroupCountsJSON struct {
	Users     *int `json:"users,omitempty"`
	Resources *int `json:"resources,omitempty"`
}

func adminGroupModel(o *Org, g *Group, expand []string) adminGroupJSON {
	grantsAdmin := slices.ContainsFunc(g.Roles, func(ra RoleAssignment) bool { return ra.RoleID == RoleAdmin })
	managedBy := "admins"
	if g.Synced {
		managedBy = "external"
	}
	out := adminGroupJSON{
		ID: g.ID, Name: g.Name, Description: g.Description, DirectoryID: o.DirectoryID,
		ManagementAccess: map[string]bool{
			"readable":   true,
			"modifiable": !g.Synced,
			"deletable":  !g.Synced && len(g.DefaultFor) == 0 && !grantsAdmin,
		},
		ExternalSynced: g.Synced, ManagedBy: managedBy,
	}
	for _, e := range expand {
		if out.Counts == nil {
			out.Counts = &adminGroupCountsJSON{}
		}
		switch e {
		case "counts.users":
			n := len(g.members)
			out.Counts.Users = &n
		case "counts.resources":
			n := len(adminGroupResources(g))
			out.Counts.Resources = &n
		}
	}
	return out
}

// adminGroupResources returns the resources g has roles on, sorted.
func adminGroupResources(g *Group) []string {
	var out []string
	for _, ra := range g.Roles {
		if !slices.Contains(out, ra.ResourceID) {
			out = append(out, ra.ResourceID)
		}
	}
	slices.Sort(out)
	return out
}

// handleAdminGroupSearch pages groups in id order.
func (s *Server) handleAdminGroupSearch(w http.ResponseWriter, r *http.Request, c *call) {
	var q adminGroupQuery
	if aerr := decodeAdminBody(r, &q); aerr != nil {
		aerr.write(w)
		return
	}
	limit, aerr := adminPageLimit(q.Limit, adminGroupLimitDefault)
	if aerr == nil {
		aerr = q.validate()
	}
	if aerr != nil {
		aerr.write(w)
		return
	}
	filter := q.filterPrint(r.PathValue("directoryId"))
	s.inOrg(w, r, func(o *Org) (any, *adminError) {
		var after string
		if q.Cursor != "" {
			pc, aerr := s.decodeAdminCursor(o.APIKey, q.Cursor, "groups", filter)
			if aerr != nil {
				return nil, aerr
			}
			after = pc.After
		}
		page, more := adminKeysetPage(o.Groups, func(g *Group) string { return g.ID }, after, limit,
			func(g *Group) bool { return q.match(o, g) })
		data := make([]adminGroupJSON, 0, len(page))
		for _, g := range page {
			data = append(data, adminGroupModel(o, g, q.Expand))
		}
		c.Objects = len(data)
		links := adminLinks{Self: q.Cursor}
		if more {
			links.Next = s.encodeAdminCursor(o.APIKey, adminCursor{Kind: "groups", After: page[len(page)-1].ID, Filter: filter})
		}
		return map[string]any{"data": data, "links": links}, nil
	})
}

// handleAdminGroupGet returns MultiDirectoryGroupDetails, with both counts.
func (s *Server) handleAdminGroupGet(w http.ResponseWriter, r *http.Request, c *call) {
	s.inOrg(w, r, func(o *Org) (any, *adminError) {
		g := o.Group(r.PathValue("groupId"))
		if g == nil {
			return nil, adminNotFound(adminCodeGroupNotFound, "Group not found.")
		}
		c.Objects = 1
		return map[string]any{"data": adminGroupModel(o, g, []string{"counts.users", "counts.resources"})}, nil
	})
}

// adminRoleQuery is the filter of GET role-assignments. As published, a cursor
// replaces every other parameter, so the cursor carries the filter.
type adminRoleQuery struct {
	DirectoryIDs   []string `json:"d,omitempty"`
	ResourceOwners []string `json:"o,omitempty"`
	ResourceIDs    []string `json:"r,omitempty"`
	RoleIDs        []string `json:"x,omitempty"`
	Limit          int      `json:"l"`
}

// adminRoleAssignmentJSON is MultiDirectoryGroupRoleAssignment: the roles a group
// grants on one resource. defaultRole is set on resources for which the
// group is a default-access group (new users of the product are added to
// it) and null otherwise; this reading of "which role is granted by default
// for the resource ID" is unverified.
type adminRoleAssignmentJSON struct {
	ResourceID    string   `json:"resourceId"`
	ResourceOwner string   `json:"resourceOwner"`
	DefaultRole   *string  `json:"defaultRole"`
	Roles         []string `json:"roles"`
}

func adminRoleAssignments(g *Group, q adminRoleQuery) []adminRoleAssignmentJSON {
	var out []adminRoleAssignmentJSON
	for _, res := range adminGroupResources(g) {
		owner := adminARIOwner(res)
		if !adminAnyIn(q.ResourceIDs, []string{res}) || !adminAnyIn(q.ResourceOwners, []string{owner}) {
			continue
		}
		ra := adminRoleAssignmentJSON{ResourceID: res, ResourceOwner: owner, Roles: []string{}}
		for _, a := range g.Roles {
			if a.ResourceID == res && adminAnyIn(q.RoleIDs, []string{a.RoleID}) {
				ra.Roles = append(ra.Roles, a.RoleID)
			}
		}
		if len(ra.Roles) == 0 {
			continue
		}
		if slices.Contains(g.DefaultFor, res) {
			role := ra.Roles[0]
			ra.DefaultRole = &role
		}
		out = append(out, ra)
	}
	return out
}

func (s *Server) handleAdminGroupRoles(w http.ResponseWriter, r *http.Request, c *call) {
	qs := r.URL.Query()
	limit, aerr := adminQueryLimit(qs, adminRoleLimitDefault)
	if aerr != nil {
		aerr.write(w)
		return
	}
	q := adminRoleQuery{DirectoryIDs: adminQueryList(qs, "directoryIds"), ResourceOwners: adminQueryList(qs, "resourceOwners"),
		ResourceIDs: adminQueryList(qs, "resourceIds"), RoleIDs: adminQueryList(qs, "roleIds"), Limit: limit}
	groupID := r.PathValue("groupId")
	s.inOrg(w, r, func(o *Org) (any, *adminError) {
		g := o.Group(groupID)
		if g == nil {
			return nil, adminNotFound(adminCodeGroupNotFound, "Group not found.")
		}
		var after string
		if cur := qs.Get("cursor"); cur != "" {
			pc, aerr := s.decodeAdminCursor(o.APIKey, cur, "role-assignments", groupID)
			if aerr != nil || json.Unmarshal(pc.Query, &q) != nil {
				return nil, cmp.Or(aerr, adminErrCursorInvalid)
			}
			after, q.Limit = pc.After, cmp.Or(q.Limit, adminRoleLimitDefault)
		}
		all := []adminRoleAssignmentJSON{}
		if adminAnyIn(q.DirectoryIDs, []string{o.DirectoryID}) {
			all = adminRoleAssignments(g, q)
		}
		page, more := adminKeysetPage(all, func(ra adminRoleAssignmentJSON) string { return ra.ResourceID }, after, q.Limit,
			func(adminRoleAssignmentJSON) bool { return true })
		links := adminLinks{Self: qs.Get("cursor")}
		if more {
			filter, _ := json.Marshal(q)
			links.Next = s.encodeAdminCursor(o.APIKey, adminCursor{Kind: "role-assignments", After: page[len(page)-1].ResourceID, Filter: groupID, Query: filter})
		}
		return map[string]any{"data": append([]adminRoleAssignmentJSON{}, page...), "links": links}, nil
	})
}

// ---------------------------------------------------------------------------
// Memberships (v2)

// Refusals for IdP-synced groups. The add wording is Atlassian's (jira.js
// groups.ts addUserToGroup); the status is not published: 403 with
// ADMIN-403-5 ("Not allowed to manage the group") is the closest code.
const (
	adminMsgSyncedAdd    = "You can't add a user to a group synced from an identity provider. Manage this group in your identity provider instead."
	adminMsgSyncedRemove = "You can't remove a user from a group synced from an identity provider. Manage this group in your identity provider instead."
)

// adminMemberTarget finds the group and user of a membership change, refusing
// synced groups. Checks run group → synced → user, an unpublished order.
func adminMemberTarget(o *Org, groupID, accountID, syncedMsg string) (*Group, *adminError) {
	g := o.Group(groupID)
	switch {
	case g == nil:
		return nil, adminNotFound(adminCodeGroupNotFound, "Group not found.")
	case g.Synced:
		return nil, &adminError{status: http.StatusForbidden, code: adminCodeNotAllowedGroup, detail: syncedMsg}
	case o.User(accountID) == nil:
		return nil, adminNotFound(adminCodeUserNotFound, "User not found.")
	}
	return g, nil
}

// handleAdminMemberAdd adds a user to a group. The body is {accountId} as
// jira.js addUserToGroup sends it; jira.js also has a model with
// account_id (AddGroupMembershipInput), which is accepted too. Adding a
// member again is a no-op success without a ledger entry (unpublished).
func (s *Server) handleAdminMemberAdd(w http.ResponseWriter, r *http.Request, c *call) {
	var body struct {
		AccountID       string `json:"accountId"`
		LegacyAccountID string `json:"account_id"`
	}
	if aerr := decodeAdminBody(r, &body); aerr != nil {
		aerr.write(w)
		return
	}
	accountID := cmp.Or(body.AccountID, body.LegacyAccountID)
	if accountID == "" {
		adminBadRequest(adminCodeInvalidBody, "accountId is required.").write(w)
		return
	}
	s.inOrg(w, r, func(o *Org) (any, *adminError) {
		g, aerr := adminMemberTarget(o, r.PathValue("groupId"), accountID, adminMsgSyncedAdd)
		if aerr != nil {
			return nil, aerr
		}
		if o.AddMember(g.ID, accountID) {
			s.recordWrite(c, r, LedgerAdd, accountID, g)
		}
		return nil, nil
	})
}

// handleAdminMemberRemove removes a user from a group. Removing a
// non-member is a 404 (ADMIN-404-1, unknown resource: the membership) and
// leaves no ledger entry; the real answer is unpublished.
func (s *Server) handleAdminMemberRemove(w http.ResponseWriter, r *http.Request, c *call) {
	accountID := r.PathValue("accountId")
	s.inOrg(w, r, func(o *Org) (any, *adminError) {
		g, aerr := adminMemberTarget(o, r.PathValue("groupId"), accountID, adminMsgSyncedRemove)
		if aerr != nil {
			return nil, aerr
		}
		if !o.RemoveMember(g.ID, accountID) {
			return nil, adminNotFound(adminCodeUnknownResource, "The user is not a member of the group.")
		}
		s.recordWrite(c, r, LedgerRemove, accountID, g)
		return nil, nil
	})
}
