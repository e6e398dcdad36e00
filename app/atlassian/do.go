package atlassian

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// call is the state of one Do call across its attempts.
type call struct {
	req        *Request
	method     string
	endpoint   string
	url        string
	idempotent bool
	body       []byte
	scopes     []string // checked for pauses: charge scopes and quota scopes
	start      time.Time
	waitUntil  time.Time // start + MaxWait
	reservedAt time.Time // admission time of the current attempt
	reserved   bool      // the current attempt holds a reservation
	attempts   int       // attempts sent so far
}

// answer is the result of one attempt.
type answer struct {
	status int
	header http.Header
	body   []byte
	err    error // transport or body error, already sanitized
	fatal  bool  // err must not be retried (building or authorizing failed)
	wrote  bool  // request bytes may have reached Atlassian
	sentID string
	scrub  *scrubber
	at     time.Time
}

// verdict is what Do should do after an attempt.
type verdict struct {
	ok       bool
	retry    bool
	minDelay time.Duration // Retry-After, pause or slow-down; backoff still applies
	err      error         // returned when Do stops here
	why      string        // for the retry log line
}

// maxAdmitRounds bounds the waits before one attempt (pause, slowed
// endpoint, full window): each round sleeps, so a handful is plenty.
const maxAdmitRounds = 8

// Do sends req and decodes a 2xx JSON body into out (out may be nil; a 204
// or an empty body leaves it untouched). The returned Response describes the
// last answer received and is non-nil whenever Atlassian answered, also
// alongside an error. Errors are *APIError (non-2xx other than 429),
// *RateLimitError, *BudgetError, *UnknownOutcomeError (a non-idempotent
// request whose answer was lost), context errors and transport errors, all
// free of credentials.
//
// A non-idempotent request is sent again only when Atlassian provably did not
// process it: after a 429, after a 503 with Retry-After, or after a
// connection error that happened before any request byte was written.
func (c *Client) Do(ctx context.Context, req *Request, out any) (*Response, error) {
	cl, err := c.newCall(req)
	if err != nil {
		return nil, err
	}
	var last *Response
	for attempt := 1; ; attempt++ {
		if err := c.admit(ctx, cl); err != nil {
			return c.finish(cl, last), err
		}
		cl.attempts = attempt
		a := c.send(ctx, cl)
		if a.status != 0 {
			last = c.response(a)
		}
		v := c.judge(ctx, cl, a)
		c.logAttempt(ctx, cl, a, attempt)
		if v.ok {
			return c.finish(cl, last), c.succeed(ctx, cl, a, out)
		}
		if !v.retry {
			return c.finish(cl, last), v.err
		}
		delay, err := c.retryDelay(ctx, cl, attempt, v)
		if err != nil {
			return c.finish(cl, last), err
		}
		c.log.LogAttrs(ctx, slog.LevelInfo, "atlassian request retry",
			slog.String("endpoint", cl.endpoint), slog.Int("attempt", attempt),
			slog.String("why", v.why), slog.Duration("delay", delay))
		if err := c.sleep(ctx, delay); err != nil {
			return c.finish(cl, last), fmt.Errorf("atlassian: %s: wait before retry: %w", cl.endpoint, err)
		}
	}
}

func (c *Client) newCall(req *Request) (*call, error) {
	if req == nil {
		return nil, errors.New("atlassian: nil request")
	}
	method := strings.ToUpper(cmp.Or(req.Method, http.MethodGet))
	if req.Path != "" && !strings.HasPrefix(req.Path, "/") {
		return nil, fmt.Errorf("atlassian: %s: path must start with /", method)
	}
	cl := &call{
		req:        req,
		method:     method,
		endpoint:   cmp.Or(req.Endpoint, method+" "+req.Path),
		url:        c.base + req.Path,
		idempotent: method == http.MethodGet || method == http.MethodHead,
		start:      c.now(),
	}
	if req.Idempotent != nil {
		cl.idempotent = *req.Idempotent
	}
	if len(req.Query) > 0 {
		sep := "?"
		if strings.Contains(req.Path, "?") {
			sep = "&"
		}
		cl.url += sep + req.Query.Encode()
	}
	// Path is appended verbatim; the leading "/" already keeps it on the
	// base host, and this check keeps it so should Path ever be built badly.
	if u, err := url.Parse(cl.url); err != nil || u.Host != c.host {
		return nil, fmt.Errorf("atlassian: %s: path does not form a URL under the base URL", cl.endpoint)
	}
	if req.Body != nil {
		b, err := json.Marshal(req.Body)
		if err != nil {
			return nil, fmt.Errorf("atlassian: %s: encode body: %w", cl.endpoint, err)
		}
		cl.body = b
	}
	cl.waitUntil = cl.start.Add(c.maxWait)
	cl.scopes = pauseScopes(req)
	return cl, nil
}

// pauseScopes lists, without duplicates, every scope whose pause holds req.
func pauseScopes(req *Request) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range append(chargeScopes(req.Charges), req.QuotaScopes.list()...) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func chargeScopes(charges []Charge) []string {
	out := make([]string, 0, len(charges))
	for _, ch := range charges {
		if ch.Scope != "" {
			out = append(out, ch.Scope)
		}
	}
	return out
}

// finish stamps the call's totals on the last response.
func (c *Client) finish(cl *call, r *Response) *Response {
	if r != nil {
		r.Duration = c.now().Sub(cl.start)
		r.Attempts = cl.attempts
	}
	return r
}

func (c *Client) response(a answer) *Response {
	return &Response{
		Status:        a.status,
		Header:        a.header,
		RateLimit:     ParseRateLimit(a.header, a.at),
		RequestID:     atlassianRequestID(a.header),
		SentRequestID: a.sentID,
	}
}

// atlassianRequestID prefers Atl-Traceid, the id Atlassian support asks for.
func atlassianRequestID(h http.Header) string {
	for _, k := range []string{"Atl-Traceid", "X-Request-Id", "X-Arequestid"} {
		if v := cleanCode(h.Get(k)); v != "" {
			return v
		}
	}
	return ""
}

// send performs one attempt.
func (c *Client) send(ctx context.Context, cl *call) answer {
	a := answer{sentID: rand.Text(), scrub: &scrubber{}}
	var body io.Reader
	if cl.body != nil {
		body = bytes.NewReader(cl.body)
	}
	hreq, err := http.NewRequestWithContext(ctx, cl.method, cl.url, body)
	if err != nil {
		a.err, a.fatal = fmt.Errorf("build request: %w", sanitizeError(err, a.scrub)), true
		return a
	}
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("User-Agent", c.userAgent)
	hreq.Header.Set("X-Request-Id", a.sentID)
	if cl.body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	before, beforeQuery := hreq.Header.Clone(), hreq.URL.RawQuery
	if c.auth != nil {
		if err := c.auth.Authorize(hreq); err != nil {
			a.err, a.fatal = fmt.Errorf("authorize: %w", err), true
			return a
		}
	}
	collectSecrets(a.scrub, before, beforeQuery, hreq)

	// WroteHeaders proves nothing reached the server when it never fired; a
	// non-idempotent request may then be sent again safely.
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{WroteHeaders: func() { wrote.Store(true) }}
	hreq = hreq.WithContext(httptrace.WithClientTrace(hreq.Context(), trace))

	resp, err := c.http.Do(hreq)
	a.at = c.now()
	a.wrote = wrote.Load()
	if a.wrote || err == nil {
		// Counted once it has left: a request that a cancelled context
		// stopped before it was written never reached Atlassian.
		c.sent.Add(1)
	}
	if err != nil {
		a.err = sanitizeError(err, a.scrub)
		return a
	}
	defer resp.Body.Close()
	a.status, a.header, a.wrote = resp.StatusCode, resp.Header, true
	a.body, a.fatal, a.err = readBody(resp)
	if a.err != nil {
		a.err = sanitizeError(a.err, a.scrub)
	}
	return a
}

// readBody reads at most MaxResponseBytes of a 2xx body and at most
// MaxErrorBodyBytes of any other; an error body is truncated silently, a
// success body that is too large is a fatal error.
func readBody(resp *http.Response) (body []byte, fatal bool, err error) {
	limit := int64(MaxErrorBodyBytes)
	if success(resp.StatusCode) {
		limit = MaxResponseBytes
	}
	body, err = io.ReadAll(io.LimitReader(resp.Body, limit+1))
	_, _ = io.CopyN(io.Discard, resp.Body, 64<<10) // let the connection be reused
	switch {
	case !success(resp.StatusCode):
		return body[:min(int64(len(body)), limit)], false, nil
	case err != nil:
		return nil, false, fmt.Errorf("read response body: %w", err)
	case int64(len(body)) > limit:
		return nil, true, fmt.Errorf("response body exceeds %d bytes", limit)
	}
	return body, false, nil
}

func success(status int) bool { return status >= 200 && status < 300 }

// judge classifies an attempt.
func (c *Client) judge(ctx context.Context, cl *call, a answer) verdict {
	switch {
	case a.fatal:
		return verdict{err: fmt.Errorf("atlassian: %s: %w", cl.endpoint, a.err)}
	case a.err != nil:
		return c.judgeLost(ctx, cl, a)
	case success(a.status):
		return verdict{ok: true}
	case a.status == http.StatusTooManyRequests:
		return c.rateLimited(ctx, cl, a)
	}
	apiErr := c.apiError(cl, a)
	retryAfter := enforcedInfo(a.header, a.at).RetryAfter
	switch {
	case a.status == http.StatusServiceUnavailable && retryAfter > 0:
		// Atlassian promises the request was not processed: any method may
		// be sent again, after at least Retry-After.
		c.refund(ctx, cl)
		return verdict{retry: true, minDelay: retryAfter, err: apiErr, why: "503 with Retry-After"}
	case a.status >= 500 && cl.idempotent:
		return verdict{retry: true, minDelay: retryAfter, err: apiErr, why: fmt.Sprintf("status %d", a.status)}
	case a.status >= 500:
		return verdict{err: &UnknownOutcomeError{Endpoint: cl.endpoint, Err: apiErr}}
	}
	return verdict{err: apiErr}
}

// judgeLost handles an attempt without a usable answer.
func (c *Client) judgeLost(ctx context.Context, cl *call, a answer) verdict {
	err := fmt.Errorf("atlassian: %s: %w", cl.endpoint, a.err)
	if !cl.idempotent && a.wrote {
		return verdict{err: &UnknownOutcomeError{Endpoint: cl.endpoint, Err: a.err}}
	}
	if ctx.Err() != nil {
		return verdict{err: err}
	}
	why := "network error"
	if !a.wrote {
		why = "connection failed before the request was written"
	}
	return verdict{retry: true, err: err, why: why}
}

func (c *Client) apiError(cl *call, a answer) *APIError {
	msgs, code := parseErrorBody(a.body, a.header.Get("Content-Type"), a.scrub.scrub)
	return &APIError{
		Status:    a.status,
		Endpoint:  cl.endpoint,
		RequestID: atlassianRequestID(a.header),
		Messages:  msgs,
		Code:      code,
	}
}

// retryDelay returns how long to wait before the next attempt, or the error
// to return when retries are exhausted or the wait is longer than allowed.
func (c *Client) retryDelay(ctx context.Context, cl *call, attempt int, v verdict) (time.Duration, error) {
	backoff := c.backoff(attempt)
	delay := max(backoff, v.minDelay)
	if rl, ok := v.err.(*RateLimitError); ok && rl.ResetAt.IsZero() {
		rl.ResetAt = c.now().Add(delay)
	}
	if attempt > c.retry.MaxRetries || !c.mayWait(ctx, cl, delay, backoff) {
		return 0, v.err
	}
	return delay, nil
}

// backoff is the delay before retry number attempt (1-based).
func (c *Client) backoff(attempt int) time.Duration {
	d := c.retry.BaseDelay
	for i := 1; i < attempt && d < c.retry.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, c.retry.MaxDelay)
	r := c.rand()
	if r < 0 || r >= 1 {
		r = 0.5
	}
	return time.Duration(float64(d) * (jitterMin + jitterW*r))
}

// mayWait reports whether Do may sleep d: always when d is within allowance
// (the backoff it would sleep anyway), otherwise only within MaxWait. A wait
// that would outlast ctx's deadline is never taken: returning the typed error
// early lets the caller reschedule instead of timing out.
func (c *Client) mayWait(ctx context.Context, cl *call, d, allowance time.Duration) bool {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return false
	}
	return d <= allowance || !c.now().Add(d).After(cl.waitUntil)
}

// succeed decodes the body and settles the reservation.
func (c *Client) succeed(ctx context.Context, cl *call, a answer, out any) error {
	if out != nil && a.status != http.StatusNoContent && len(bytes.TrimSpace(a.body)) > 0 {
		if err := json.Unmarshal(a.body, out); err != nil {
			return fmt.Errorf("atlassian: %s: decode response: %w", cl.endpoint, err)
		}
	}
	charges := cl.req.Charges
	if cl.req.Settle != nil {
		charges = cl.req.Settle()
		if c.budget != nil {
			c.settle(ctx, cl, charges)
		}
	}
	for _, ch := range charges {
		if ch.Scope == ScopeAppPoints {
			c.points.Add(ch.Units)
		}
	}
	return nil
}

func (c *Client) logAttempt(ctx context.Context, cl *call, a answer, attempt int) {
	if !c.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{
		slog.String("endpoint", cl.endpoint),
		slog.String("method", cl.method),
		slog.Int("attempt", attempt),
		slog.String("request_id", a.sentID),
		slog.Int("status", a.status),
	}
	if id := atlassianRequestID(a.header); id != "" {
		attrs = append(attrs, slog.String("atl_request_id", id))
	}
	if !a.at.IsZero() {
		attrs = append(attrs, slog.Duration("duration", a.at.Sub(cl.reservedAt)))
	}
	if a.err != nil {
		attrs = append(attrs, slog.String("error", a.err.Error()))
	}
	if a.header != nil {
		if info := ParseRateLimit(a.header, a.at); info.NearLimit {
			attrs = append(attrs, slog.Bool("near_limit", true))
		}
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "atlassian request", attrs...)
}
