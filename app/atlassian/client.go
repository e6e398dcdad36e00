package atlassian

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"golang.org/x/time/rate"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultUserAgent   = "lapse/dev (+https://lapse.example)"
	DefaultTimeout     = 30 * time.Second
	DefaultMaxRetries  = 4
	DefaultBaseDelay   = 2 * time.Second
	DefaultMaxDelay    = 30 * time.Second
	MaxResponseBytes   = 32 << 20 // a 2xx body larger than this is an error
	MaxErrorBodyBytes  = 64 << 10 // error bodies are read up to this and truncated
	jitterMin, jitterW = 0.7, 0.6 // jitter factor in [0.7, 1.3) (DOMAIN.md §4.6)
)

// Config configures a Client. Zero values mean "default".
type Config struct {
	// BaseURL is prepended to every Request.Path, e.g.
	// https://api.atlassian.com or a site base URL including /wiki.
	BaseURL string
	// HTTPClient sends the requests; its Timeout bounds each attempt.
	// Default: a client with a 30 s timeout.
	HTTPClient *http.Client
	// UserAgent defaults to DefaultUserAgent.
	UserAgent string
	// Auth sets credentials on every attempt; nil sends none.
	Auth Auth
	// Budget is the shared accounting; nil means no accounting (quota pauses
	// then live only in this Client).
	Budget Budget
	// MaxWait bounds how long one Do call may wait, in total, for a paused
	// scope, a full budget window, a slowed endpoint or a Retry-After longer
	// than the backoff, before it gives up with *BudgetError or
	// *RateLimitError. With 0, Do never waits longer than its retry backoff
	// would anyway: waits up to BaseDelay before an attempt and up to the
	// backoff delay before a retry are taken, longer ones are returned to the
	// caller (the scheduler), which defers the work.
	MaxWait time.Duration
	// Retry is the retry policy; zero fields take the defaults.
	Retry RetryPolicy
	// Logger receives one debug line per attempt and warnings for rate
	// limits. It never receives credentials, query strings or bodies.
	Logger *slog.Logger
	// NowFunc is the clock (default time.Now).
	NowFunc func() time.Time
	// SleepFunc waits d or until ctx is done (default: a timer).
	SleepFunc func(ctx context.Context, d time.Duration) error
	// Rand returns a float in [0, 1) for jitter (default math/rand/v2).
	Rand func() float64
}

// RetryPolicy is Atlassian's recommended backoff (DOMAIN.md §4.6): delay n is
// min(MaxDelay, BaseDelay·2^(n-1)) times a jitter factor in [0.7, 1.3), and
// Retry-After, when present, is the minimum.
type RetryPolicy struct {
	// MaxRetries is the number of retries after the first attempt
	// (default 4); negative disables retries.
	MaxRetries int
	BaseDelay  time.Duration // default 2 s
	MaxDelay   time.Duration // default 30 s
}

// QuotaScopes names the budget scopes a quota 429 of this request pauses.
type QuotaScopes struct {
	Global string // paused by "*-quota-global-based" (Tier 1 app pool)
	Tenant string // paused by "*-quota-tenant-based" (Tier 2 tenant pool)
	Admin  string // paused by an Admin API 429 (no RateLimit-Reason)
}

func (q QuotaScopes) list() []string {
	var out []string
	for _, s := range []string{q.Global, q.Tenant, q.Admin} {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Request is one logical call; Do may send it several times.
type Request struct {
	Method string // default GET
	// Path is appended to Config.BaseURL; the caller has escaped it.
	Path  string
	Query url.Values
	// Body is JSON-encoded when non-nil and sent as application/json.
	Body any
	// Endpoint is a stable name for logs, metrics and burst tracking, e.g.
	// "POST /admin/v2/orgs/{orgId}/directories/{dirId}/users/search".
	// Default: Method + " " + Path.
	Endpoint string
	// Idempotent requests are retried on network errors, 5xx and timeouts.
	// Default: true for GET and HEAD, false otherwise; set it for read-only
	// POSTs such as users/search. Any request is retried after a 429 or a
	// 503 with Retry-After, which Atlassian did not process.
	Idempotent *bool
	// Charges are reserved before each attempt (upper-bound estimates).
	Charges []Charge
	// Settle, when set, is called after a 2xx body was decoded into out and
	// returns the actual charges; the difference to Charges is refunded or
	// added with Budget.Adjust. Attempts that fail without an answer, or
	// with a non-2xx answer other than 429, keep their reservation.
	Settle func() []Charge
	// QuotaScopes are paused by a quota 429 of this request.
	QuotaScopes QuotaScopes
	// Pacer, when set, spaces this request evenly from the others sharing
	// it (one token per attempt, taken before the budget is reserved).
	Pacer *Pacer
}

// Pacer spaces the requests that share it to a steady rate. A per-minute
// limit is then used evenly instead of in a burst at each window's start,
// which a limit counted over a sliding minute would answer with 429s. A wait
// for the pacer counts against MaxWait like any other; one it may not take
// returns a *BudgetError for Scope with the time the turn comes.
type Pacer struct {
	Scope   string
	Limiter *rate.Limiter
}

// Response describes the last answer Do received.
type Response struct {
	Status    int
	Header    http.Header
	RateLimit RateLimitInfo
	// RequestID is Atlassian's id for the answer: Atl-Traceid, or
	// X-Request-Id when there is no trace id. Quote it to Atlassian support.
	RequestID string
	// SentRequestID is the X-Request-Id this client sent on the last attempt.
	SentRequestID string
	// Attempts is the number of attempts Do sent, failed ones included.
	Attempts int
	// Duration is the whole Do call, waits included.
	Duration time.Duration
}

// Client sends requests to one Atlassian base URL. It is safe for concurrent
// use; requests of one Client share the per-endpoint slow-downs.
type Client struct {
	base      string
	host      string
	http      *http.Client
	userAgent string
	auth      Auth
	budget    Budget // nil: no accounting
	pauses    Budget // budget, or a private MemoryBudget for quota pauses
	maxWait   time.Duration
	retry     RetryPolicy
	log       *slog.Logger
	now       func() time.Time
	sleep     func(context.Context, time.Duration) error
	rand      func() float64

	mu        sync.Mutex
	notBefore map[string]slowdown // endpoint → earliest next attempt (burst 429)

	sent, limited, points atomic.Int64 // see Stats
}

// Stats is what a Client has spent: the requests it sent (every attempt
// that left the process, failed ones included), the 429 answers among them, and the Jira/Confluence
// points of its successful requests (as settled). A scan reports them.
type Stats struct {
	Requests    int64 `json:"requests"`
	RateLimited int64 `json:"rateLimited"`
	Points      int64 `json:"points"`
}

// Stats returns the client's counts so far.
func (c *Client) Stats() Stats {
	return Stats{Requests: c.sent.Load(), RateLimited: c.limited.Load(), Points: c.points.Load()}
}

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	base := strings.TrimRight(cfg.BaseURL, "/")
	u, err := url.Parse(base)
	if err != nil || base == "" || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("atlassian: config: BaseURL must be an absolute http(s) URL")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("atlassian: config: BaseURL must not carry user info, a query or a fragment")
	}
	if cfg.MaxWait < 0 {
		return nil, fmt.Errorf("atlassian: config: negative MaxWait %s", cfg.MaxWait)
	}
	c := &Client{
		base:      base,
		host:      u.Host,
		http:      cfg.HTTPClient,
		userAgent: cmp.Or(cfg.UserAgent, DefaultUserAgent),
		auth:      cfg.Auth,
		budget:    cfg.Budget,
		pauses:    cfg.Budget,
		maxWait:   cfg.MaxWait,
		retry:     cfg.Retry.withDefaults(),
		log:       cmp.Or(cfg.Logger, slog.Default()),
		now:       cfg.NowFunc,
		sleep:     cfg.SleepFunc,
		rand:      cfg.Rand,
		notBefore: map[string]slowdown{},
	}
	// cmp.Or does not work for these: function values are not comparable.
	if c.http == nil {
		c.http = &http.Client{Timeout: DefaultTimeout}
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.sleep == nil {
		c.sleep = sleepCtx
	}
	if c.rand == nil {
		c.rand = rand.Float64
	}
	if c.pauses == nil {
		c.pauses = NewMemoryBudget()
	}
	return c, nil
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxRetries == 0 {
		p.MaxRetries = DefaultMaxRetries
	}
	if p.MaxRetries < 0 {
		p.MaxRetries = 0
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = DefaultBaseDelay
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = DefaultMaxDelay
	}
	p.MaxDelay = max(p.MaxDelay, p.BaseDelay)
	return p
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
