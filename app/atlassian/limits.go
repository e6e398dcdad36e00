package atlassian

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// slowdown is a per-endpoint "not before" time set by a burst 429.
type slowdown struct {
	until  time.Time
	reason string
}

// admit waits, within MaxWait, until the request may be sent, and reserves
// its charges: no scope of the request is paused, its endpoint is not slowed
// down, and the budget has room.
func (c *Client) admit(ctx context.Context, cl *call) error {
	var b *block
	for range maxAdmitRounds {
		// The pacer's turn is taken again after every wait: a request held
		// back by a full window must not go out right after the next paced
		// one, or a sliding-minute limit sees two requests closer together
		// than the pace (seen as 429s at minute boundaries in the scan bench).
		if err := c.pace(ctx, cl); err != nil {
			return err
		}
		var err error
		if b, err = c.obstacle(ctx, cl, c.now()); err != nil || b == nil {
			return err
		}
		if b.wait <= 0 || !c.mayWait(ctx, cl, b.wait, c.retry.BaseDelay) {
			return b.err
		}
		c.log.LogAttrs(ctx, slog.LevelDebug, "atlassian request waiting",
			slog.String("endpoint", cl.endpoint), slog.Duration("delay", b.wait), slog.String("why", b.err.Error()))
		if err := c.sleep(ctx, b.wait); err != nil {
			return fmt.Errorf("atlassian: %s: wait: %w", cl.endpoint, err)
		}
	}
	return b.err
}

// pace waits for the request's turn on its Pacer, on the client's clock, or
// returns a *BudgetError when the wait is longer than the call may wait.
func (c *Client) pace(ctx context.Context, cl *call) error {
	p := cl.req.Pacer
	if p == nil || p.Limiter == nil {
		return nil
	}
	now := c.now()
	r := p.Limiter.ReserveN(now, 1)
	if !r.OK() {
		return fmt.Errorf("atlassian: %s: pacer of %q allows no request", cl.endpoint, p.Scope)
	}
	d := r.DelayFrom(now)
	if d <= 0 {
		return nil
	}
	if !c.mayWait(ctx, cl, d, c.retry.BaseDelay) {
		r.CancelAt(now)
		return &BudgetError{Scope: p.Scope, ResetAt: now.Add(d), Paused: true, Reason: ReasonPaced}
	}
	if err := c.sleep(ctx, d); err != nil {
		r.CancelAt(c.now())
		return fmt.Errorf("atlassian: %s: wait: %w", cl.endpoint, err)
	}
	return nil
}

// block is what keeps a request from being sent now: the typed error to
// return, and how long waiting would take (0 = waiting does not help).
type block struct {
	wait time.Duration
	err  error
}

// obstacle returns what keeps the request from being sent now, or reserves
// the charges and returns nil. err reports a failing Budget; the request is
// then not sent (fail closed).
func (c *Client) obstacle(ctx context.Context, cl *call, now time.Time) (*block, error) {
	until, scope, err := c.pausedUntil(ctx, cl.scopes)
	if err != nil {
		return nil, fmt.Errorf("atlassian: %s: check pause: %w", cl.endpoint, err)
	}
	if until.After(now) {
		be := &BudgetError{Scope: scope, ResetAt: until, Paused: true, Reason: ReasonScopePaused}
		return &block{wait: until.Sub(now), err: be}, nil
	}
	if s := c.slowdown(cl.endpoint); s.until.After(now) {
		d := s.until.Sub(now)
		re := &RateLimitError{Endpoint: cl.endpoint, Reason: s.reason, RetryAfter: d, ResetAt: s.until}
		return &block{wait: d, err: re}, nil
	}
	cl.reservedAt, cl.reserved = now, false
	if c.budget == nil || len(cl.req.Charges) == 0 {
		return nil, nil
	}
	err = c.budget.Reserve(ctx, now, cl.req.Charges)
	var be *BudgetError
	switch {
	case err == nil:
		cl.reserved = true
		return nil, nil
	case errors.As(err, &be) && be.ResetAt.IsZero():
		return &block{err: be}, nil
	case errors.As(err, &be):
		return &block{wait: be.ResetAt.Sub(now), err: be}, nil
	}
	return nil, fmt.Errorf("atlassian: %s: reserve budget: %w", cl.endpoint, err)
}

// pausedUntil returns the latest pause end among scopes and its scope.
func (c *Client) pausedUntil(ctx context.Context, scopes []string) (time.Time, string, error) {
	var latest time.Time
	var which string
	for _, s := range scopes {
		until, err := c.pauses.PausedUntil(ctx, s)
		if err != nil {
			return time.Time{}, "", err
		}
		if until.After(latest) {
			latest, which = until, s
		}
	}
	return latest, which, nil
}

func (c *Client) slowdown(endpoint string) slowdown {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.notBefore[endpoint]
}

// slowEndpoint keeps requests of this client to endpoint from being sent
// before until; it never shortens an existing slow-down.
func (c *Client) slowEndpoint(endpoint string, until time.Time, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.notBefore) > 1000 { // forget expired entries now and then
		now := c.now()
		for e, s := range c.notBefore {
			if !s.until.After(now) {
				delete(c.notBefore, e)
			}
		}
	}
	if until.After(c.notBefore[endpoint].until) {
		c.notBefore[endpoint] = slowdown{until: until, reason: reason}
	}
}

// Kinds of 429.
const (
	limitBurst = iota
	limitQuotaGlobal
	limitQuotaTenant
	limitAdmin
)

// classify429 maps RateLimit-Reason to a kind and the scope it pauses.
func classify429(reason string, qs QuotaScopes) (kind int, scope string) {
	switch {
	case strings.HasSuffix(reason, "-quota-global-based"):
		return limitQuotaGlobal, qs.Global
	case strings.HasSuffix(reason, "-quota-tenant-based"):
		return limitQuotaTenant, qs.Tenant
	case reason == "" && qs.Admin != "":
		return limitAdmin, qs.Admin
	}
	return limitBurst, ""
}

// rateLimited handles a 429 (DOMAIN.md §4.6): a quota 429 pauses its scope
// for every replica sharing the Budget, an Admin API 429 pauses the Admin
// scope until X-RateLimit-Reset, anything else (burst, per-issue writes, or a
// quota 429 without a scope to pause) slows only this endpoint. The request
// is retried in every case: a 429 was not processed.
func (c *Client) rateLimited(ctx context.Context, cl *call, a answer) verdict {
	c.limited.Add(1)
	info := enforcedInfo(a.header, a.at)
	kind, scope := classify429(info.Reason, cl.req.QuotaScopes)
	var until time.Time
	switch kind {
	case limitQuotaGlobal, limitQuotaTenant:
		until = quotaUntil(info, a.at)
	case limitAdmin:
		until = firstFuture(a.at, info.ResetAt, addIfPositive(a.at, info.RetryAfter))
	default:
		until = firstFuture(a.at, addIfPositive(a.at, info.RetryAfter), info.ResetAt)
	}
	switch {
	case until.IsZero():
		scope = ""
	case scope != "":
		reason := cmp.Or(info.Reason, "admin-api-rate-limit")
		if err := c.pauses.Pause(context.WithoutCancel(ctx), scope, until, reason); err != nil {
			c.log.LogAttrs(ctx, slog.LevelWarn, "atlassian pause scope failed",
				slog.String("scope", scope), slog.String("error", err.Error()))
		}
	default:
		c.slowEndpoint(cl.endpoint, until, info.Reason)
	}
	c.refund(ctx, cl)
	var minDelay time.Duration
	if !until.IsZero() {
		minDelay = until.Sub(a.at)
	}
	c.log.LogAttrs(ctx, slog.LevelWarn, "atlassian rate limited",
		slog.String("endpoint", cl.endpoint), slog.String("reason", info.Reason),
		slog.String("scope", scope), slog.Duration("retry_after", info.RetryAfter),
		slog.Time("until", until), slog.String("request_id", a.sentID))
	return verdict{
		retry:    true,
		minDelay: minDelay,
		why:      "429 " + cmp.Or(info.Reason, "rate limited"),
		err: &RateLimitError{
			Endpoint:   cl.endpoint,
			Reason:     info.Reason,
			Scope:      scope,
			RetryAfter: cmpDuration(info.RetryAfter, minDelay),
			ResetAt:    until,
		},
	}
}

// quotaUntil is when an exhausted quota resets: Retry-After, else
// X-RateLimit-Reset, else the policy's reset, else the next UTC hour (quotas
// are hourly and reset at the top of the hour, DOMAIN.md §4.3).
func quotaUntil(info RateLimitInfo, now time.Time) time.Time {
	var policyReset time.Time
	for _, p := range info.Policies {
		if strings.Contains(p.Name, "quota") && p.ResetSeconds > 0 {
			policyReset = maxTime(policyReset, now.Add(time.Duration(p.ResetSeconds)*time.Second))
		}
	}
	if t := firstFuture(now, addIfPositive(now, info.RetryAfter), info.ResetAt, policyReset); !t.IsZero() {
		return t
	}
	return windowEnd(now, time.Hour)
}

// firstFuture returns the first of ts that is after now, zero if none.
func firstFuture(now time.Time, ts ...time.Time) time.Time {
	for _, t := range ts {
		if t.After(now) {
			return t
		}
	}
	return time.Time{}
}

func addIfPositive(t time.Time, d time.Duration) time.Time {
	if d <= 0 {
		return time.Time{}
	}
	return t.Add(d)
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func cmpDuration(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// enforcedInfo parses only the enforced rate-limit headers. Decisions never
// rest on Beta- values: they describe what Atlassian would have done.
func enforcedInfo(h http.Header, now time.Time) RateLimitInfo {
	clean := http.Header{}
	for k, v := range h {
		if !strings.HasPrefix(k, betaPrefix) && !strings.HasPrefix(k, legacyBetaPrefix) {
			clean[k] = v
		}
	}
	return ParseRateLimit(clean, now)
}

// refund returns the reservation of an attempt that Atlassian did not
// process (429, 503 with Retry-After).
func (c *Client) refund(ctx context.Context, cl *call) {
	if !cl.reserved {
		return
	}
	cl.reserved = false
	ctx = context.WithoutCancel(ctx)
	for _, ch := range cl.req.Charges {
		if err := c.budget.Adjust(ctx, cl.reservedAt, ch, -ch.Units); err != nil {
			c.log.LogAttrs(ctx, slog.LevelWarn, "atlassian budget refund failed",
				slog.String("scope", ch.Scope), slog.String("error", err.Error()))
		}
	}
}

// settle replaces the reservation with the actual charges: per scope and
// window, the difference is added (or refunded) in the window the
// reservation was made in.
func (c *Client) settle(ctx context.Context, cl *call, actual []Charge) {
	type key struct {
		scope  string
		window time.Duration
	}
	delta := map[key]int64{}
	charge := map[key]Charge{}
	var order []key
	note := func(ch Charge, units int64) {
		k := key{ch.Scope, ch.Window}
		if _, ok := charge[k]; !ok {
			charge[k] = ch
			order = append(order, k)
		}
		delta[k] += units
	}
	if cl.reserved {
		for _, ch := range cl.req.Charges {
			note(ch, -ch.Units)
		}
	}
	for _, ch := range actual {
		if ch.Scope != "" {
			note(ch, ch.Units)
		}
	}
	ctx = context.WithoutCancel(ctx)
	for _, k := range order {
		if delta[k] == 0 {
			continue
		}
		if err := c.budget.Adjust(ctx, cl.reservedAt, charge[k], delta[k]); err != nil {
			c.log.LogAttrs(ctx, slog.LevelWarn, "atlassian budget settle failed",
				slog.String("scope", k.scope), slog.String("error", err.Error()))
		}
	}
}
