// Package jira is Lapse's client for the few Jira Cloud platform REST
// endpoints its Connect or Forge identity may call: whether an account
// administers the site (permissions/check) and optional cross-checks of
// groups and memberships. Identity data itself comes from the organization
// Admin API (atlassian/DOMAIN.md §9).
//
// Every request goes through the shared transport (package atlassian) and
// is charged to Atlassian's points quotas: the whole app's hourly pool and
// the tenant's (DOMAIN §4). An identity read reserves 1 + 2 points per
// object it may return and settles to 1 + 2 per object it did return.
package jira

import (
	"errors"
	"net/url"

	"github.com/lapsehq/lapse/app/atlassian"
)

// Points quotas when Config leaves them zero (DOMAIN §4.3): Tier 1 is
// 65,000 points per hour for the whole app across all tenants; a tenant's
// Tier 2 pool is at least 65,000 (Free).
const (
	DefaultAppPointsPerHour    = 65_000
	DefaultTenantPointsPerHour = 65_000
)

// Page-size maxima of the endpoints (Jira lowers larger requests to these).
const (
	MaxGroupPage  = 50   // group/bulk: undocumented; 50 is assumed (the default)
	MaxMemberPage = 50   // group/member: "between 1 and 50"
	MaxUserPage   = 1000 // users/search: "limited to 1000"
)

// Config configures a Client.
type Config struct {
	// Transport sends the requests. Its BaseURL is the site's base URL
	// (Connect, e.g. https://x.atlassian.net, with connect.TenantAuth) or the
	// invocation's apiBaseUrl (Forge, https://api.atlassian.com/ex/jira/<cloudId>,
	// with atlassian.Bearer(systemToken)).
	Transport *atlassian.Client
	// TenantID names the tenant whose points pool is charged.
	TenantID string
	// AppPointsPerHour and TenantPointsPerHour bound the pools; zero takes
	// the defaults above.
	AppPointsPerHour    int64
	TenantPointsPerHour int64
	// PageSize is the page size asked for; zero asks for each endpoint's
	// maximum. Smaller pages cost fewer points per request, not in total.
	PageSize int
}

// Client calls Jira for one tenant. It is safe for concurrent use.
type Client struct {
	http        *atlassian.Client
	tenantID    string
	tenantScope string
	appLimit    int64
	tenantLimit int64
	pageSize    int
}

// New returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.Transport == nil {
		return nil, errors.New("jira: config: Transport is required")
	}
	if cfg.TenantID == "" {
		return nil, errors.New("jira: config: TenantID is required")
	}
	if cfg.PageSize < 0 {
		return nil, errors.New("jira: config: negative PageSize")
	}
	c := &Client{
		http:     cfg.Transport,
		tenantID: cfg.TenantID, tenantScope: atlassian.TenantPointsScope(cfg.TenantID),
		appLimit:    cfg.AppPointsPerHour,
		tenantLimit: cfg.TenantPointsPerHour,
		pageSize:    cfg.PageSize,
	}
	if c.appLimit == 0 {
		c.appLimit = DefaultAppPointsPerHour
	}
	if c.tenantLimit == 0 {
		c.tenantLimit = DefaultTenantPointsPerHour
	}
	return c, nil
}

// pageSizeFor returns the page size to ask for, at most max.
func (c *Client) pageSizeFor(max int) int {
	if c.pageSize == 0 {
		return max
	}
	return c.pageSize
}

// charges reserves or settles units points in the app and tenant pools.
func (c *Client) charges(units int64) []atlassian.Charge {
	return atlassian.PointsCharges(c.tenantID, units, c.appLimit, c.tenantLimit)
}

// identityCost is the points price of a read returning n identity objects
// (users, groups, permissions): 1 + 2 each (DOMAIN §4.2).
func identityCost(n int) int64 { return 1 + 2*int64(n) }

// read returns an identity read of at most estimate objects; objects
// reports, once the answer is decoded, how many it held.
func (c *Client) read(method, path string, q url.Values, body any, estimate int, objects func() int) *atlassian.Request {
	idempotent := true // a POST here (permissions/check) only reads
	return &atlassian.Request{
		Method: method, Path: path, Query: q, Body: body,
		Endpoint:    method + " " + path,
		Idempotent:  &idempotent,
		Charges:     c.charges(identityCost(estimate)),
		Settle:      func() []atlassian.Charge { return c.charges(identityCost(objects())) },
		QuotaScopes: atlassian.QuotaScopes{Global: atlassian.ScopeAppPoints, Tenant: c.tenantScope},
	}
}
