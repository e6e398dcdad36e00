// Package confluence is Lapse's client for the Confluence Cloud REST v1
// endpoints its Connect or Forge identity may call: whether an account
// administers the site and optional cross-checks of groups and memberships
// (atlassian/DOMAIN.md §2, §9). Groups and memberships exist only in v1.
//
// Requests go through the shared transport (package atlassian) and are
// charged to the points quotas like Jira's (DOMAIN §4): 1 + 2 points per
// identity object, reserved for a full page and settled to what came back.
package confluence

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/lapsehq/lapse/app/atlassian"
)

// Points quotas when Config leaves them zero (DOMAIN §4.3).
const (
	DefaultAppPointsPerHour    = 65_000
	DefaultTenantPointsPerHour = 65_000
)

// MaxPage is the largest page Confluence returns ("fixed system limit of
// 200"); larger limits are lowered to it.
const MaxPage = 200

// Config configures a Client.
type Config struct {
	// Transport sends the requests. Its BaseURL is the Confluence base URL
	// including the /wiki context path: the installation's baseUrl for
	// Connect (with connect.TenantAuth), or ForgeBaseURL(apiBaseUrl) for Forge
	// (with atlassian.Bearer(systemToken)).
	Transport *atlassian.Client
	// TenantID names the tenant whose points pool is charged.
	TenantID string
	// AppPointsPerHour and TenantPointsPerHour bound the pools; zero takes
	// the defaults above.
	AppPointsPerHour    int64
	TenantPointsPerHour int64
	// PageSize is the limit asked for; zero asks for MaxPage.
	PageSize int
}

// Client calls Confluence for one tenant. It is safe for concurrent use.
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
	switch {
	case cfg.Transport == nil:
		return nil, errors.New("confluence: config: Transport is required")
	case cfg.TenantID == "":
		return nil, errors.New("confluence: config: TenantID is required")
	case cfg.PageSize < 0:
		return nil, errors.New("confluence: config: negative PageSize")
	}
	c := &Client{
		http: cfg.Transport, tenantID: cfg.TenantID, tenantScope: atlassian.TenantPointsScope(cfg.TenantID),
		appLimit: cfg.AppPointsPerHour, tenantLimit: cfg.TenantPointsPerHour, pageSize: cfg.PageSize,
	}
	if c.appLimit == 0 {
		c.appLimit = DefaultAppPointsPerHour
	}
	if c.tenantLimit == 0 {
		c.tenantLimit = DefaultTenantPointsPerHour
	}
	if c.pageSize == 0 {
		c.pageSize = MaxPage
	}
	return c, nil
}

// ForgeBaseURL returns the Confluence base URL behind a Forge invocation's
// apiBaseUrl (https://api.atlassian.com/ex/confluence/<cloudId>): Forge
// reaches the v1 API below /wiki, as a Connect baseUrl does.
func ForgeBaseURL(apiBaseURL string) string {
	return strings.TrimSuffix(apiBaseURL, "/") + "/wiki"
}

func (c *Client) charges(units int64) []atlassian.Charge {
	return atlassian.PointsCharges(c.tenantID, units, c.appLimit, c.tenantLimit)
}

// identityCost is the points price of a read returning n identity objects.
func identityCost(n int) int64 { return 1 + 2*int64(n) }

// get returns a GET of at most estimate identity objects; objects reports,
// once the answer is decoded, how many it held. endpoint is the stable name
// (path parameters as placeholders).
func (c *Client) get(path, endpoint string, q url.Values, estimate int, objects func() int) *atlassian.Request {
	return &atlassian.Request{
		Method: http.MethodGet, Path: path, Query: q, Endpoint: "GET " + endpoint,
		Charges:     c.charges(identityCost(estimate)),
		Settle:      func() []atlassian.Charge { return c.charges(identityCost(objects())) },
		QuotaScopes: atlassian.QuotaScopes{Global: atlassian.ScopeAppPoints, Tenant: c.tenantScope},
	}
}
