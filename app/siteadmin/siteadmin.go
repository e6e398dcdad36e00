// Package siteadmin answers one question for the JSON API: does this
// account administer the tenant's site? It asks the product, through the
// permission API the app's own identity may call for any account
// (atlassian/DOMAIN.md §9): Jira's "Get bulk permissions" with ADMINISTER,
// Confluence's user operations with administer/application. Answers are
// cached briefly per (tenant, account), so an admin page that fires a
// handful of API calls costs one permission check, not one per call.
package siteadmin

import (
	"container/list"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/atlassian"
	"github.com/lapsehq/lapse/app/confluence"
	"github.com/lapsehq/lapse/app/connect"
	"github.com/lapsehq/lapse/app/jira"
)

// Defaults applied to zero Checker fields.
const (
	// TTLDefault is how long an answer is trusted. A demoted admin keeps
	// access at most this long; a promoted one waits at most this long.
	TTLDefault = 5 * time.Minute
	// MaxEntriesDefault bounds the cache. An entry is a few hundred bytes.
	MaxEntriesDefault = 10_000
	// HTTPTimeoutDefault bounds one request to the product: an admin is
	// waiting for the page.
	HTTPTimeoutDefault = 10 * time.Second
)

// RetryDefault is the retry policy when Checker.Retry is zero: one quick
// retry, because a person is waiting and can press reload.
var RetryDefault = atlassian.RetryPolicy{MaxRetries: 1, BaseDelay: 250 * time.Millisecond, MaxDelay: time.Second}

// Checker decides whether an account is a site administrator. The zero
// value is not usable: AppKey is required for Connect tenants and
// SystemToken for Forge-only tenants. A Checker is safe for concurrent use
// and must not be copied after first use.
type Checker struct {
	// AppKey is the Connect app key, the iss of the JWTs that sign
	// requests to Connect tenants.
	AppKey string
	// SystemToken returns the stored Forge system token of a tenant (nil
	// when there is none); it is how Forge-only tenants are reached.
	// store.(*Store).SystemToken fits.
	SystemToken func(ctx context.Context, tenantID string) (*app.SystemToken, error)
	// TTL is how long answers, positive and negative, are cached; zero
	// means TTLDefault, negative disables the cache.
	TTL time.Duration
	// MaxEntries bounds the cache; zero means MaxEntriesDefault. When it is
	// full the oldest answer is dropped.
	MaxEntries int
	// HTTPClient sends the requests; default: a client with
	// HTTPTimeoutDefault.
	HTTPClient *http.Client
	// Budget is the shared points accounting (store.(*Store).Budget()); nil
	// means no accounting.
	Budget atlassian.Budget
	// AppPointsPerHour and TenantPointsPerHour bound the points pools; zero
	// takes the product clients' defaults.
	AppPointsPerHour    int64
	TenantPointsPerHour int64
	// Retry is the retry policy of one check; zero means RetryDefault.
	Retry atlassian.RetryPolicy
	// UserAgent is sent to Atlassian; default atlassian.DefaultUserAgent.
	UserAgent string
	// Logger; default slog.Default().
	Logger *slog.Logger
	// NowFunc is the clock of the cache; default time.Now.
	NowFunc func() time.Time

	once    sync.Once
	httpc   *http.Client
	mu      sync.Mutex
	entries map[cacheKey]*list.Element // of *entry, oldest first
	order   *list.List
	flights map[cacheKey]*flight
}

type cacheKey struct{ tenantID, accountID string }

type entry struct {
	key     cacheKey
	admin   bool
	expires time.Time
}

// flight is a check under way; concurrent callers for the same key wait
// for it instead of asking Atlassian again.
type flight struct {
	done  chan struct{}
	admin bool
	err   error
}

func (c *Checker) init() {
	c.once.Do(func() {
		c.entries = map[cacheKey]*list.Element{}
		c.order = list.New()
		c.flights = map[cacheKey]*flight{}
		c.httpc = c.HTTPClient
		if c.httpc == nil {
			c.httpc = &http.Client{Timeout: HTTPTimeoutDefault}
		}
	})
}

func (c *Checker) now() time.Time {
	if c.NowFunc != nil {
		return c.NowFunc()
	}
	return time.Now()
}

func (c *Checker) ttl() time.Duration {
	if c.TTL == 0 {
		return TTLDefault
	}
	return c.TTL
}

func (c *Checker) maxEntries() int {
	if c.MaxEntries <= 0 {
		return MaxEntriesDefault
	}
	return c.MaxEntries
}

func (c *Checker) log() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}

// IsSiteAdmin reports whether accountID administers t's site in t's
// product. A cached answer younger than TTL is returned without a request.
// Errors (Atlassian unreachable, rate limited, no credential) are
// *app.Error with code EUNAVAILABLE and are never cached, so the next call
// asks again. An account the product does not know is not an admin.
func (c *Checker) IsSiteAdmin(ctx context.Context, t *app.Tenant, accountID string) (bool, error) {
	if t == nil || t.ID == "" {
		return false, errors.New("siteadmin: no tenant")
	}
	if accountID == "" {
		return false, nil
	}
	c.init()
	key := cacheKey{t.ID, accountID}
	c.mu.Lock()
	if admin, ok := c.cached(key); ok {
		c.mu.Unlock()
		return admin, nil
	}
	if f := c.flights[key]; f != nil {
		c.mu.Unlock()
		select {
		case <-f.done:
			return f.admin, f.err
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
	f := &flight{done: make(chan struct{})}
	c.flights[key] = f
	c.mu.Unlock()

	f.admin, f.err = c.check(ctx, t, accountID)

	c.mu.Lock()
	delete(c.flights, key)
	if f.err == nil {
		c.store(key, f.admin)
	}
	c.mu.Unlock()
	close(f.done)
	return f.admin, f.err
}

// Forget drops the cached answers of a tenant, e.g. after it was
// reinstalled with new credentials.
func (c *Checker) Forget(tenantID string) {
	c.init()
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, el := range c.entries {
		if k.tenantID == tenantID {
			c.order.Remove(el)
			delete(c.entries, k)
		}
	}
}

// cached returns a live cached answer. c.mu is held.
func (c *Checker) cached(key cacheKey) (admin, ok bool) {
	el := c.entries[key]
	if el == nil {
		return false, false
	}
	e := el.Value.(*entry)
	if !c.now().Before(e.expires) {
		c.order.Remove(el)
		delete(c.entries, key)
		return false, false
	}
	return e.admin, true
}

// store caches an answer, dropping the oldest ones when the cache is
// full. Every entry lives the same TTL, so insertion order is expiry
// order and the front of the list is always the first to go. c.mu is held.
func (c *Checker) store(key cacheKey, admin bool) {
	ttl := c.ttl()
	if ttl < 0 {
		return
	}
	if el := c.entries[key]; el != nil {
		c.order.Remove(el)
		delete(c.entries, key)
	}
	for len(c.entries) >= c.maxEntries() {
		front := c.order.Front()
		c.order.Remove(front)
		delete(c.entries, front.Value.(*entry).key)
	}
	c.entries[key] = c.order.PushBack(&entry{key: key, admin: admin, expires: c.now().Add(ttl)})
}

// Len reports how many answers are cached (expired ones included until
// they are next looked up or pushed out).
func (c *Checker) Len() int {
	c.init()
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// check asks the product.
func (c *Checker) check(ctx context.Context, t *app.Tenant, accountID string) (bool, error) {
	var admin bool
	var err error
	switch t.Product {
	case app.ProductJira:
		var cl *jira.Client
		if cl, err = c.jiraClient(ctx, t); err == nil {
			admin, err = cl.IsSiteAdmin(ctx, accountID)
		}
	case app.ProductConfluence:
		var cl *confluence.Client
		if cl, err = c.confluenceClient(ctx, t); err == nil {
			admin, err = cl.IsSiteAdmin(ctx, accountID)
		}
	default:
		return false, unavailable("this installation names no Jira or Confluence site", nil)
	}
	if err == nil {
		return admin, nil
	}
	if unknownAccount(err) {
		// Jira answers 400 to an accountId it does not know, Confluence
		// 404: an account the site does not know administers nothing.
		return false, nil
	}
	var ae *app.Error
	if errors.As(err, &ae) {
		return false, err
	}
	c.log().WarnContext(ctx, "site admin check failed", "tenant_id", t.ID, "product", t.Product, "err", err)
	return false, unavailable("could not check your site administrator permission with Atlassian; try again shortly", err)
}

func unknownAccount(err error) bool {
	var ae *atlassian.APIError
	return errors.As(err, &ae) && (ae.Status == http.StatusBadRequest || ae.Status == http.StatusNotFound)
}

func unavailable(msg string, err error) error {
	return &app.Error{Code: app.EUNAVAILABLE, Message: msg, Err: err}
}

// transport returns the shared transport to the tenant's product API:
// the site's base URL with a Connect JWT when the tenant has a Connect
// identity (its READ scope suffices), otherwise the Forge API base URL
// with the installation's system token.
func (c *Checker) transport(ctx context.Context, t *app.Tenant) (*atlassian.Client, error) {
	cfg := atlassian.Config{
		HTTPClient: c.httpc, UserAgent: c.UserAgent, Budget: c.Budget, Logger: c.Logger, NowFunc: c.NowFunc, Retry: c.Retry,
	}
	if cfg.Retry == (atlassian.RetryPolicy{}) {
		cfg.Retry = RetryDefault
	}
	switch {
	case t.HasConnect() && len(t.SharedSecret) > 0:
		if c.AppKey == "" {
			return nil, unavailable("site administrator checks are not configured", errors.New("siteadmin: AppKey is empty"))
		}
		cfg.BaseURL = t.BaseURL
		cfg.Auth = connect.TenantAuth{Signer: connect.Signer{AppKey: c.AppKey}, BaseURL: t.BaseURL, Secret: t.SharedSecret}
	case t.InstallationID != "" && t.APIBaseURL != "":
		tok, err := c.systemToken(ctx, t)
		if err != nil {
			return nil, err
		}
		cfg.BaseURL = t.APIBaseURL
		if t.Product == app.ProductConfluence {
			cfg.BaseURL = confluence.ForgeBaseURL(t.APIBaseURL)
		}
		cfg.Auth = atlassian.Bearer(tok)
	default:
		return nil, unavailable("this installation has no credential to reach the site yet", nil)
	}
	tr, err := atlassian.New(cfg)
	if err != nil {
		return nil, unavailable("could not reach the site", err)
	}
	return tr, nil
}

func (c *Checker) systemToken(ctx context.Context, t *app.Tenant) (string, error) {
	if c.SystemToken == nil {
		return "", unavailable("site administrator checks are not configured for Forge installations", errors.New("siteadmin: SystemToken is nil"))
	}
	tok, err := c.SystemToken(ctx, t.ID)
	if err != nil {
		return "", unavailable("could not read the installation's Forge token", err)
	}
	if tok == nil || tok.Token == "" || !c.now().Before(tok.ExpiresAt) {
		return "", unavailable("the Forge installation has no current system token; it is renewed by the next Forge event or scheduled trigger", nil)
	}
	return tok.Token, nil
}

func (c *Checker) jiraClient(ctx context.Context, t *app.Tenant) (*jira.Client, error) {
	tr, err := c.transport(ctx, t)
	if err != nil {
		return nil, err
	}
	return jira.New(jira.Config{Transport: tr, TenantID: t.ID, AppPointsPerHour: c.AppPointsPerHour, TenantPointsPerHour: c.TenantPointsPerHour})
}

func (c *Checker) confluenceClient(ctx context.Context, t *app.Tenant) (*confluence.Client, error) {
	tr, err := c.transport(ctx, t)
	if err != nil {
		return nil, err
	}
	return confluence.New(confluence.Config{Transport: tr, TenantID: t.ID, AppPointsPerHour: c.AppPointsPerHour, TenantPointsPerHour: c.TenantPointsPerHour})
}
