// Package adminapi is a typed client for the Atlassian organization Admin API
// (https://api.atlassian.com/admin): orgs, workspaces, domains, the v2
// users/search and groups endpoints, the v1 per-user last-active dates and
// group membership changes (atlassian/DOMAIN.md §3).
//
// It is built on the shared transport in app/atlassian: every request is
// charged to the org's request budget, so replicas sharing one Budget pace
// themselves under the org limit, and writes are never sent twice without
// reading the state back first. Listings are iterators that fetch one page
// at a time and never hold a whole population.
package adminapi

import (
	"context"
	"errors"
	"golang.org/x/time/rate"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/lapsehq/lapse/app/atlassian"
)

// Defaults applied by New to zero Config fields.
const (
	// DefaultBaseURL is Atlassian's API gateway.
	DefaultBaseURL = "https://api.atlassian.com"
	// DefaultRequestsPerMinute stays under the ~200 requests/min per org
	// that third parties report (DOMAIN.md §3.7, unverified), leaving room
	// for the customer's own scripts.
	DefaultRequestsPerMinute = 150
	// DefaultDirectoryID "-" addresses every directory the key can manage.
	DefaultDirectoryID = "-"
	// MaxPageSize is the largest page requested: the users/search maximum
	// is not published and 100 is what public client code uses.
	MaxPageSize = 100
)

// Config configures a Client. Zero values mean "default".
type Config struct {
	BaseURL     string // default DefaultBaseURL
	APIKey      string // the org admin API key (Bearer); required
	OrgID       string // required
	DirectoryID string // default DefaultDirectoryID
	// TenantID is the Lapse tenant the requests are counted against.
	TenantID string
	// RequestsPerMinute is the org request limit the client paces to.
	RequestsPerMinute int64
	// Budget is the accounting shared by replicas. nil: a private in-memory
	// budget, so the per-minute limit still holds within this process.
	Budget atlassian.Budget
	// Pacers spaces the requests of every client of one organization in
	// this process evenly over the minute. nil: a private pacer for this
	// client. Share one (NewPacers) across the clients a process makes.
	Pacers *Pacers
	// MaxWait bounds how long one request may wait for a full minute window
	// or a rate limit before failing with *atlassian.BudgetError or
	// *atlassian.RateLimitError. Set it above a minute to pace by waiting
	// instead of handing the wait back to the scheduler.
	MaxWait time.Duration

	HTTPClient *http.Client
	UserAgent  string
	Retry      atlassian.RetryPolicy
	Logger     *slog.Logger
	NowFunc    func() time.Time
	SleepFunc  func(ctx context.Context, d time.Duration) error
}

// Client calls the Admin API of one organization. It is safe for
// concurrent use.
type Client struct {
	t         *atlassian.Client
	orgID     string
	dirID     string
	orgScope  string
	charges   []atlassian.Charge
	pacer     *atlassian.Pacer
	orgPath   string // /admin/v1/orgs/<orgId>
	v2OrgPath string // /admin/v2/orgs/<orgId>
	dirPath   string // /admin/v2/orgs/<orgId>/directories/<dirId>
}

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.APIKey == "" || cfg.OrgID == "" {
		return nil, errors.New("adminapi: config: APIKey and OrgID are required")
	}
	if cfg.RequestsPerMinute < 0 {
		return nil, errors.New("adminapi: config: negative RequestsPerMinute")
	}
	if cfg.Budget == nil {
		cfg.Budget = atlassian.NewMemoryBudget()
	}
	t, err := atlassian.New(atlassian.Config{
		BaseURL: orDefault(cfg.BaseURL, DefaultBaseURL), HTTPClient: cfg.HTTPClient, UserAgent: cfg.UserAgent,
		Auth: atlassian.Bearer(cfg.APIKey), Budget: cfg.Budget, MaxWait: cfg.MaxWait, Retry: cfg.Retry,
		Logger: cfg.Logger, NowFunc: cfg.NowFunc, SleepFunc: cfg.SleepFunc,
	})
	if err != nil {
		return nil, err
	}
	c := &Client{t: t, orgID: cfg.OrgID, dirID: orDefault(cfg.DirectoryID, DefaultDirectoryID)}
	c.orgScope = "admin:org:" + cfg.OrgID
	c.charges = requestCharges(c.orgScope, cfg.TenantID, cfg.RequestsPerMinute)
	if cfg.Pacers == nil {
		cfg.Pacers = NewPacers()
	}
	c.pacer = &atlassian.Pacer{Scope: c.orgScope, Limiter: cfg.Pacers.forOrg(cfg.OrgID, c.charges[0].Limit)}
	c.orgPath = "/admin/v1/orgs/" + url.PathEscape(c.orgID)
	c.v2OrgPath = "/admin/v2/orgs/" + url.PathEscape(c.orgID)
	c.dirPath = c.v2OrgPath + "/directories/" + url.PathEscape(c.dirID)
	return c, nil
}

// requestCharges is what every request costs: one request of the org's
// per-minute limit, counted per app and per tenant by the hour so usage can
// be reported.
func requestCharges(orgScope, tenantID string, perMinute int64) []atlassian.Charge {
	if perMinute == 0 {
		perMinute = DefaultRequestsPerMinute
	}
	charges := []atlassian.Charge{
		{Scope: orgScope, Units: 1, Limit: perMinute, Window: time.Minute},
		{Scope: "admin-requests:app", Units: 1, Window: time.Hour},
	}
	if tenantID != "" {
		charges = append(charges, atlassian.Charge{Scope: "admin-requests:tenant:" + tenantID, Units: 1, Window: time.Hour})
	}
	return charges
}

// Pacers holds one request pacer per organization, so that every client of
// an org in this process shares one steady pace of RequestsPerMinute.
//
// Why a pacer besides the per-minute budget: the budget counts fixed UTC
// minutes (shared by replicas through the database), which allows a full
// minute's requests in the first seconds of each window. If Atlassian counts
// the ~200 requests/min over a sliding minute, as most gateways do, the burst
// at a window's start collides with the end of the last one and draws 429s.
// At one request every 60/limit seconds (burst 1) no minute, fixed or
// sliding, ever sees more than the limit from this process.
type Pacers struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
}

// NewPacers returns an empty set of pacers.
func NewPacers() *Pacers { return &Pacers{m: map[string]*rate.Limiter{}} }

// forOrg returns the org's pacer at perMinute requests per minute (the
// latest value wins when clients disagree).
func (p *Pacers) forOrg(orgID string, perMinute int64) *rate.Limiter {
	every := rate.Limit(float64(perMinute) / 60)
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.m[orgID]
	if l == nil {
		l = rate.NewLimiter(every, 1)
		p.m[orgID] = l
	} else if l.Limit() != every {
		l.SetLimit(every)
	}
	return l
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Stats returns the requests this client has sent, the 429s among them
// and the points spent (none: the Admin API is outside the points model).
func (c *Client) Stats() atlassian.Stats { return c.t.Stats() }

// OrgID returns the organization the client calls.
func (c *Client) OrgID() string { return c.orgID }

// request describes one Admin API call.
type request struct {
	method   string
	path     string // escaped
	endpoint string // stable name with {placeholders}
	query    url.Values
	body     any
	readOnly bool // a POST that only reads (a search) may be retried freely
}

// do sends r with the org's charges and decodes the answer into out.
func (c *Client) do(ctx context.Context, r request, out any) error {
	req := &atlassian.Request{
		Method: r.method, Path: r.path, Query: r.query, Body: r.body, Endpoint: r.method + " " + r.endpoint,
		Charges: slices.Clone(c.charges), Pacer: c.pacer, QuotaScopes: atlassian.QuotaScopes{Admin: c.orgScope},
	}
	if r.readOnly {
		yes := true
		req.Idempotent = &yes
	}
	_, err := c.t.Do(ctx, req, out)
	return err
}
