package devsite

import (
	"fmt"
	"maps"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Defaults of LimitConfig (DOMAIN.md §3.7, §4.3, §4.4).
const (
	// DefaultAppPointsPerHour is Atlassian's Tier 1 global pool: points per
	// UTC hour per app, shared by all of its tenants.
	DefaultAppPointsPerHour = 65000
	// DefaultAdminRequestsPerMinute is the reported Admin API limit per
	// organization (UNVERIFIED third-party figure, DOMAIN.md §3.7).
	DefaultAdminRequestsPerMinute = 200
)

// defaultBurst is the Jira token-bucket size per HTTP method; each bucket
// refills its whole size every second (DOMAIN.md §4.4).
var defaultBurst = map[string]int{"GET": 100, "POST": 100, "PUT": 50, "PATCH": 50, "DELETE": 50}

// defaultBurstOverrides are the per-endpoint sizes Atlassian documents for
// endpoints the simulated site serves.
var defaultBurstOverrides = map[string]int{
	"GET /rest/api/2/user":       150,
	"GET /rest/api/3/user":       150,
	"GET /rest/api/2/user/email": 200,
	"GET /rest/api/3/user/email": 200,
}

// Quota policy names and the window of the hourly quotas, as sent in the
// structured RateLimit-Policy and RateLimit headers.
const (
	policyGlobal = "global-app-quota"
	policyTenant = "tenant-app-quota"
	policyBurst  = "jira-burst-based"
	quotaWindow  = 3600
)

// forgeAppKey is the app every Forge caller is charged to: the simulated
// site hosts one Forge app.
const forgeAppKey = "forge"

// LimitConfig sets the simulated rate limits. Zero values take the
// defaults noted; it is read and replaced with GET/PUT /_devsite/limits.
type LimitConfig struct {
	// AppPointsPerHour is the Tier 1 pool of each app (default 65,000; a
	// negative value disables it).
	AppPointsPerHour int64 `json:"appPointsPerHour"`
	// TenantPointsPerHour, when > 0, moves every app to Tier 2: each tenant
	// (app installation) gets its own pool of this size instead of the
	// app-wide one. 0 (default) is Tier 1.
	TenantPointsPerHour int64 `json:"tenantPointsPerHour"`
	// Burst is the Jira token-bucket size per method (defaults GET 100,
	// POST 100, PUT 50, PATCH 50, DELETE 50); each bucket refills its size
	// per second. Keys given replace the default of that method; a negative
	// size disables burst limiting for the method.
	Burst map[string]int `json:"burst"`
	// BurstOverrides sets the bucket size of single endpoints, keyed like
	// "GET /rest/api/3/user" (defaults: Atlassian's documented overrides of
	// the user endpoints). Keys given are merged over the defaults; 0 removes
	// an override.
	BurstOverrides map[string]int `json:"burstOverrides"`
	// AdminRequestsPerMinute limits Admin API requests per organization per
	// minute (default 200; a negative value disables it).
	AdminRequestsPerMinute int64 `json:"adminRequestsPerMinute"`
	// AdminWindow is how that minute is counted: AdminWindowFixed (default,
	// UTC minutes) or AdminWindowSliding (the last 60 seconds). Atlassian
	// does not publish which; a client that passes the sliding count passes
	// both.
	AdminWindow string `json:"adminWindow"`
	// Enforced (default true) answers 429 when a points quota or burst
	// bucket is exhausted. False simulates the time before enforcement:
	// nothing is refused and only the Beta- headers are sent. The Admin API
	// limit is always enforced.
	Enforced *bool `json:"enforced"`
}

// Ways to count the Admin API minute.
const (
	AdminWindowFixed   = "fixed"
	AdminWindowSliding = "sliding"
)

// DefaultLimitConfig returns the limits of a fresh site.
func DefaultLimitConfig() LimitConfig { return LimitConfig{}.withDefaults() }

func (c LimitConfig) withDefaults() LimitConfig {
	if c.AppPointsPerHour == 0 {
		c.AppPointsPerHour = DefaultAppPointsPerHour
	}
	c.TenantPointsPerHour = max(c.TenantPointsPerHour, 0)
	if c.AdminRequestsPerMinute == 0 {
		c.AdminRequestsPerMinute = DefaultAdminRequestsPerMinute
	}
	if c.AdminWindow == "" {
		c.AdminWindow = AdminWindowFixed
	}
	burst := maps.Clone(defaultBurst)
	for k, v := range c.Burst {
		burst[strings.ToUpper(k)] = v
	}
	c.Burst = burst
	over := maps.Clone(defaultBurstOverrides)
	for k, v := range c.BurstOverrides {
		if v == 0 {
			delete(over, k)
			continue
		}
		over[k] = v
	}
	c.BurstOverrides = over
	if c.Enforced == nil {
		t := true
		c.Enforced = &t
	}
	return c
}

func (c LimitConfig) validate() error {
	switch c.AdminWindow {
	case "", AdminWindowFixed, AdminWindowSliding:
	default:
		return fmt.Errorf("adminWindow: %q is not %q or %q", c.AdminWindow, AdminWindowFixed, AdminWindowSliding)
	}
	for k := range c.Burst {
		switch strings.ToUpper(k) {
		case "GET", "POST", "PUT", "PATCH", "DELETE":
		default:
			return fmt.Errorf("burst: %q is not one of GET, POST, PUT, PATCH, DELETE", k)
		}
	}
	for k := range c.BurstOverrides {
		if m, p, ok := strings.Cut(k, " "); !ok || defaultBurst[m] == 0 || !strings.HasPrefix(p, "/") {
			return fmt.Errorf("burstOverrides: %q is not an endpoint like \"GET /rest/api/3/user\"", k)
		}
	}
	return nil
}

// limiterState is the traffic state of one run: points per hour, burst
// buckets, Admin API requests per minute, and the faults injected. A reset
// starts a new one.
type limiterState struct {
	hour    time.Time              // start of the UTC hour being accounted
	app     map[string]int64       // points this hour by app key
	tenant  map[string]int64       // points this hour by tenant
	buckets map[string]*bucket     // Jira burst buckets by tenant and endpoint
	minute  time.Time              // start of the UTC minute being counted
	admin   map[string]int64       // Admin API requests this minute by org
	recent  map[string][]time.Time // Admin API request times of the last 60 s by org (sliding count)
	faults  map[string]int64       // injected faults by kind, since the reset
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiterState() *limiterState {
	return &limiterState{
		app: map[string]int64{}, tenant: map[string]int64{}, buckets: map[string]*bucket{},
		admin: map[string]int64{}, recent: map[string][]time.Time{}, faults: map[string]int64{},
	}
}

// roll starts a new hour and minute when now has passed them: quotas reset
// at the top of each UTC hour, with no carry-over.
func (l *limiterState) roll(now time.Time) {
	if h := now.Truncate(time.Hour); !h.Equal(l.hour) {
		l.hour = h
		clear(l.app)
		clear(l.tenant)
	}
	if m := now.Truncate(time.Minute); !m.Equal(l.minute) {
		l.minute = m
		clear(l.admin)
	}
}

// take removes a token from the bucket of key (size tokens, refilled at size
// per second). When it is empty it returns how long until a token is back.
func (l *limiterState) take(key string, size int, now time.Time) (bool, time.Duration) {
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: float64(size), last: now}
		l.buckets[key] = b
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens = math.Min(float64(size), b.tokens+el.Seconds()*float64(size))
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / float64(size) * float64(time.Second))
}

// quota is the points pool that governs a request.
type quota struct {
	policy string // policyGlobal or policyTenant
	reason string // RateLimit-Reason when it is exhausted
	limit  int64
	used   int64
	reset  time.Time
}

func (q quota) remaining() int64 { return max(q.limit-q.used, 0) }

// verdict is what admit decided for a product request.
type verdict struct {
	quota     *quota // nil when no pool applies
	burstSize int    // the bucket size, when the burst bucket refused
	burstWait time.Duration
	refused   string // "", "quota" or "burst": what would refuse the request
}

// appKeyOf returns the app a product request is charged to.
func appKeyOf(c *call) string {
	if c.Caller.Kind == CallerForge {
		return forgeAppKey
	}
	return c.Caller.ID
}

// poolFor returns the pool of c under cfg, or nil when none applies. The
// caller holds s.mu and has rolled the state.
func (l *limiterState) poolFor(cfg LimitConfig, c *call) *quota {
	reset := l.hour.Add(time.Hour)
	if cfg.TenantPointsPerHour > 0 {
		return &quota{policy: policyTenant, reason: c.Product + "-quota-tenant-based", limit: cfg.TenantPointsPerHour, used: l.tenant[c.Caller.Tenant], reset: reset}
	}
	if cfg.AppPointsPerHour > 0 {
		return &quota{policy: policyGlobal, reason: c.Product + "-quota-global-based", limit: cfg.AppPointsPerHour, used: l.app[appKeyOf(c)], reset: reset}
	}
	return nil
}

func burstSize(cfg LimitConfig, c *call) int {
	if n, ok := cfg.BurstOverrides[c.Endpoint]; ok {
		return n
	}
	method, _, _ := strings.Cut(c.Endpoint, " ")
	return cfg.Burst[method]
}

// admit applies the rate limits before the handler: the Admin API's
// per-minute limit, and for Jira and Confluence the hourly points pool and
// (Jira) the burst bucket of the endpoint. It writes the informational
// headers, or the 429, and reports whether the request may proceed.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, c *call) bool {
	switch c.API {
	case APIAdmin:
		return s.admitAdmin(w, c)
	case APIJira, APIConfluence:
		return s.admitProduct(w, c)
	}
	return true // the privacy API has no simulated limit
}

func (s *Server) admitProduct(w http.ResponseWriter, c *call) bool {
	s.mu.Lock()
	cfg := s.limits.withDefaults()
	now := s.now().UTC()
	l := s.limiter
	l.roll(now)
	v := verdict{quota: l.poolFor(cfg, c)}
	switch {
	case v.quota != nil && v.quota.used >= v.quota.limit:
		// Already exhausted: every request is refused until the top of the
		// hour. A request that would cross the limit is still served and
		// overshoots it (account charges after the handler).
		v.refused = "quota"
	case c.API == APIJira:
		if size := burstSize(cfg, c); size > 0 {
			if ok, wait := l.take(c.Caller.Tenant+" "+c.Endpoint, size, now); !ok {
				v.refused, v.burstSize, v.burstWait = "burst", size, wait
			}
		}
	}
	s.mu.Unlock()

	enforced := *cfg.Enforced
	setQuotaHeaders(w.Header(), v, now, enforced)
	if v.refused == "" || !enforced {
		return true
	}
	msg := "Rate limit exceeded: the app's points quota for this hour is used up."
	if v.refused == "burst" {
		msg = "Rate limit exceeded: too many requests to this endpoint; slow down."
	}
	writeProductError(w, c.Product, http.StatusTooManyRequests, msg)
	return false
}

// setQuotaHeaders writes Atlassian's rate-limit headers (DOMAIN.md §4.5).
// Enforced: RateLimit-Policy and RateLimit (r only past 80 % use),
// X-RateLimit-Limit/Remaining, X-RateLimit-NearLimit when under 20 % is
// left, and on a refusal Retry-After, RateLimit-Reason and
// X-RateLimit-Reset. Before enforcement only the Beta- forms of the
// structured headers, Retry-After and RateLimit-Reason are sent.
func setQuotaHeaders(h http.Header, v verdict, now time.Time, enforced bool) {
	prefix := ""
	if !enforced {
		prefix = "Beta-"
	}
	var policies, states []string
	if q := v.quota; q != nil {
		t := secondsUntil(q.reset, now)
		policies = append(policies, fmt.Sprintf("%q;q=%d;w=%d", q.policy, q.limit, quotaWindow))
		state := fmt.Sprintf("%q;t=%d", q.policy, t)
		if q.used*5 >= q.limit*4 {
			state = fmt.Sprintf("%q;r=%d;t=%d", q.policy, q.remaining(), t)
		}
		states = append(states, state)
		if enforced {
			h.Set("X-RateLimit-Limit", strconv.FormatInt(q.limit, 10))
			h.Set("X-RateLimit-Remaining", strconv.FormatInt(q.remaining(), 10))
			if q.remaining()*5 < q.limit {
				h.Set("X-RateLimit-NearLimit", "true")
			}
		}
	}
	switch v.refused {
	case "quota":
		t := secondsUntil(v.quota.reset, now)
		h.Set(prefix+"Retry-After", strconv.FormatInt(t, 10))
		h.Set(prefix+"RateLimit-Reason", v.quota.reason)
		if enforced {
			h.Set("X-RateLimit-Reset", isoTime(v.quota.reset))
		}
	case "burst":
		t := ceilSeconds(v.burstWait)
		policies = append(policies, fmt.Sprintf("%q;q=%d;w=1", policyBurst, v.burstSize))
		states = append(states, fmt.Sprintf("%q;r=0;t=%d", policyBurst, t))
		h.Set(prefix+"Retry-After", strconv.FormatInt(t, 10))
		h.Set(prefix+"RateLimit-Reason", policyBurst)
		if enforced {
			// The refusal is the burst limit's: the X- set describes it.
			h.Set("X-RateLimit-Limit", strconv.Itoa(v.burstSize))
			h.Set("X-RateLimit-Remaining", "0")
			h.Set("X-RateLimit-Reset", isoTime(now.Add(time.Duration(t)*time.Second)))
			h.Del("X-RateLimit-NearLimit")
		}
	}
	if len(policies) > 0 {
		h.Set(prefix+"RateLimit-Policy", strings.Join(policies, ", "))
		h.Set(prefix+"RateLimit", strings.Join(states, ", "))
	}
}

// admitAdmin counts Admin API requests per organization per minute, fixed
// or sliding. Every response carries X-RateLimit-Limit/Remaining/Reset; over
// the limit the answer is 429 with Retry-After and no RateLimit-Reason.
func (s *Server) admitAdmin(w http.ResponseWriter, c *call) bool {
	s.mu.Lock()
	cfg := s.limits.withDefaults()
	limit := cfg.AdminRequestsPerMinute
	now := s.now().UTC()
	var used int64
	var ok bool
	var reset time.Time
	if cfg.AdminWindow == AdminWindowSliding {
		used, ok, reset = s.limiter.admitSliding(c.Caller.ID, limit, now)
	} else {
		used, ok, reset = s.limiter.admitFixed(c.Caller.ID, limit, now)
	}
	s.mu.Unlock()
	if limit <= 0 {
		return true
	}
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.FormatInt(limit, 10))
	h.Set("X-RateLimit-Remaining", strconv.FormatInt(max(limit-used, 0), 10))
	h.Set("X-RateLimit-Reset", isoTime(reset))
	if ok {
		return true
	}
	t := secondsUntil(reset, now)
	h.Set("Retry-After", strconv.FormatInt(t, 10))
	writeAdminError(w, http.StatusTooManyRequests, "rate-limited", fmt.Sprintf("Too many requests for this organization; retry after %d seconds.", t))
	return false
}

// admitFixed counts org's requests in the current UTC minute; reset is the
// next minute.
func (l *limiterState) admitFixed(org string, limit int64, now time.Time) (used int64, ok bool, reset time.Time) {
	l.roll(now)
	used = l.admin[org]
	ok = limit <= 0 || used < limit
	if ok {
		used++
		l.admin[org] = used
	}
	return used, ok, l.minute.Add(time.Minute)
}

// admitSliding counts org's requests of the last 60 seconds; reset is when
// the oldest of them leaves the window (a slot frees up).
func (l *limiterState) admitSliding(org string, limit int64, now time.Time) (used int64, ok bool, reset time.Time) {
	l.roll(now)
	times := l.recent[org]
	cut := 0
	for cut < len(times) && !times[cut].After(now.Add(-time.Minute)) {
		cut++
	}
	times = times[cut:]
	ok = limit <= 0 || int64(len(times)) < limit
	if ok && limit > 0 {
		times = append(times, now)
	}
	l.recent[org] = times
	if len(times) == 0 {
		return 0, ok, now.Add(time.Minute)
	}
	return int64(len(times)), ok, times[0].Add(time.Minute)
}

// pointsOf is the cost of a request in Atlassian's points model (DOMAIN.md
// §4.2): a write costs 1; a read costs 1 plus 2 per identity object
// returned.
func pointsOf(c *call) int64 {
	if c.Write {
		return 1
	}
	return 1 + 2*int64(c.Objects)
}

// charged reports whether a request that ended with status costs points:
// not when it got no answer before the handler ran (0), nor a 429 or 5xx.
func charged(status int) bool {
	return status > 0 && status < 500 && status != http.StatusTooManyRequests
}

// account charges a Jira or Confluence request after its handler, to its
// app and its tenant this hour and to its endpoint's statistics. Because
// the cost is known only now, the request that crosses a quota is served
// and overshoots it, as on Atlassian; only the next one is refused.
func (s *Server) account(c *call, status int) {
	if (c.API != APIJira && c.API != APIConfluence) || !charged(status) {
		return
	}
	cost := pointsOf(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.limiter
	l.roll(s.now().UTC())
	l.app[appKeyOf(c)] += cost
	l.tenant[c.Caller.Tenant] += cost
	st := s.stats[c.Endpoint]
	if st == nil {
		st = &EndpointStats{Statuses: map[string]int64{}}
		s.stats[c.Endpoint] = st
	}
	st.Points += cost
}

// secondsUntil is the whole seconds from now until t, at least 1.
func secondsUntil(t, now time.Time) int64 { return ceilSeconds(t.Sub(now)) }

func ceilSeconds(d time.Duration) int64 {
	return max(int64(math.Ceil(d.Seconds())), 1)
}

// isoTime formats X-RateLimit-Reset: ISO-8601 in UTC.
func isoTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }
