package atlassian_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app/atlassian"
)

func ra(secs string) map[string]string { return map[string]string{"Retry-After": secs} }

func burst(secs string) map[string]string {
	return map[string]string{"Retry-After": secs, "RateLimit-Reason": "jira-burst-based"}
}

// TestClient_Retry drives one request through scripted answers and checks
// every sleep the client took, how often the server was hit, and the
// outcome. Jitter is fixed at 1.0, so backoff is 2 s, 4 s, 8 s, ...
func TestClient_Retry(t *testing.T) {
	t.Parallel()
	type errKind int
	const (
		none errKind = iota
		apiErr
		rateLimitErr
		unknownOutcome
	)
	cases := []struct {
		name       string
		method     string
		idempotent *bool
		replies    []reply
		cfg        func(*atlassian.Config)
		wantSleeps []time.Duration
		wantHits   int
		wantErr    errKind
	}{
		{
			name:       "get_5xx_backoff_doubles",
			replies:    []reply{{status: 500}, {status: 502}, {status: 200}},
			wantSleeps: seconds(2, 4), wantHits: 3,
		},
		{
			name:       "retry_after_is_the_minimum_on_503",
			replies:    []reply{{status: 503, header: ra("7")}, {status: 200}},
			cfg:        func(c *atlassian.Config) { c.MaxWait = time.Minute },
			wantSleeps: seconds(7), wantHits: 2,
		},
		{
			name:       "backoff_wins_over_shorter_retry_after",
			replies:    []reply{{status: 500, header: ra("1")}, {status: 200}},
			wantSleeps: seconds(2), wantHits: 2,
		},
		{
			name:       "burst_429_waits_retry_after_within_max_wait",
			replies:    []reply{{status: 429, header: burst("10")}, {status: 200}},
			cfg:        func(c *atlassian.Config) { c.MaxWait = time.Minute },
			wantSleeps: seconds(10), wantHits: 2,
		},
		{
			name:     "burst_429_longer_than_backoff_without_max_wait",
			replies:  []reply{{status: 429, header: burst("10")}},
			wantHits: 1, wantErr: rateLimitErr,
		},
		{
			name:       "burst_429_within_backoff_without_max_wait",
			replies:    []reply{{status: 429, header: burst("1")}, {status: 200}},
			wantSleeps: seconds(2), wantHits: 2,
		},
		{
			name:       "429_without_headers_uses_backoff",
			replies:    []reply{{status: 429}, {status: 429}, {status: 200}},
			wantSleeps: seconds(2, 4), wantHits: 3,
		},
		{
			name:       "post_retried_after_429",
			method:     http.MethodPost,
			replies:    []reply{{status: 429, header: burst("1")}, {status: 201, body: `{"id":"1"}`}},
			wantSleeps: seconds(2), wantHits: 2,
		},
		{
			name:       "post_retried_after_503_with_retry_after",
			method:     http.MethodPost,
			replies:    []reply{{status: 503, header: ra("3")}, {status: 201}},
			cfg:        func(c *atlassian.Config) { c.MaxWait = time.Minute },
			wantSleeps: seconds(3), wantHits: 2,
		},
		{
			name:     "post_not_retried_after_500",
			method:   http.MethodPost,
			replies:  []reply{{status: 500}, {status: 201}},
			wantHits: 1, wantErr: unknownOutcome,
		},
		{
			name:     "post_not_retried_after_503_without_retry_after",
			method:   http.MethodDelete,
			replies:  []reply{{status: 503}, {status: 204}},
			wantHits: 1, wantErr: unknownOutcome,
		},
		{
			name:       "idempotent_post_retried_after_500",
			method:     http.MethodPost,
			idempotent: boolPtr(true),
			replies:    []reply{{status: 500}, {status: 200}},
			wantSleeps: seconds(2), wantHits: 2,
		},
		{
			name:     "client_errors_not_retried",
			replies:  []reply{{status: 400}, {status: 200}},
			wantHits: 1, wantErr: apiErr,
		},
		{
			name:       "retries_capped",
			replies:    []reply{{status: 500}},
			cfg:        func(c *atlassian.Config) { c.Retry.MaxRetries = 2 },
			wantSleeps: seconds(2, 4), wantHits: 3, wantErr: apiErr,
		},
		{
			name:       "default_cap_is_four_retries",
			replies:    []reply{{status: 500}},
			wantSleeps: seconds(2, 4, 8, 16), wantHits: 5, wantErr: apiErr,
		},
		{
			name:    "delay_capped_at_max_delay",
			replies: []reply{{status: 502}},
			cfg: func(c *atlassian.Config) {
				c.Retry = atlassian.RetryPolicy{MaxRetries: 5, BaseDelay: time.Second, MaxDelay: 5 * time.Second}
			},
			wantSleeps: seconds(1, 2, 4, 5, 5), wantHits: 6, wantErr: apiErr,
		},
		{
			name:       "429_retries_capped",
			replies:    []reply{{status: 429, header: burst("1")}},
			cfg:        func(c *atlassian.Config) { c.Retry.MaxRetries = 3 },
			wantSleeps: seconds(2, 4, 8), wantHits: 4, wantErr: rateLimitErr,
		},
		{
			name:     "retries_disabled",
			replies:  []reply{{status: 500}},
			cfg:      func(c *atlassian.Config) { c.Retry.MaxRetries = -1 },
			wantHits: 1, wantErr: apiErr,
		},
		{
			name:       "get_dropped_connection_retried",
			replies:    []reply{{drop: true}, {status: 200}},
			wantSleeps: seconds(2), wantHits: 2,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := script1(t, tc.replies...)
			h := newHarness()
			c := h.client(t, srv.URL, tc.cfg)
			resp, err := c.Do(context.Background(), &atlassian.Request{Method: tc.method, Path: "/x", Idempotent: tc.idempotent}, nil)
			var (
				ae *atlassian.APIError
				re *atlassian.RateLimitError
				ue *atlassian.UnknownOutcomeError
			)
			got := none
			switch {
			case errors.As(err, &ue):
				got = unknownOutcome
			case errors.As(err, &re):
				got = rateLimitErr
			case errors.As(err, &ae):
				got = apiErr
			case err != nil:
				t.Fatalf("unexpected error %v", err)
			}
			if got != tc.wantErr {
				t.Errorf("error kind %d (%v), want %d", got, err, tc.wantErr)
			}
			if d := diff(tc.wantSleeps, h.clock.Sleeps()); d != "" && (len(tc.wantSleeps) > 0 || len(h.clock.Sleeps()) > 0) {
				t.Errorf("sleeps %s", d)
			}
			if n := srv.count("/x"); n != tc.wantHits {
				t.Errorf("server saw %d requests, want %d", n, tc.wantHits)
			}
			if resp != nil && resp.Attempts != tc.wantHits {
				t.Errorf("Attempts = %d, want %d", resp.Attempts, tc.wantHits)
			}
		})
	}
}

func TestClient_Jitter(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		rand float64
		want time.Duration
	}{
		{"low", 0, 1400 * time.Millisecond},
		{"middle", 0.5, 2 * time.Second},
		{"high", 0.75, 2300 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := script1(t, reply{status: 500}, reply{status: 200})
			h := newHarness()
			c := h.client(t, srv.URL, func(cfg *atlassian.Config) { cfg.Rand = func() float64 { return tc.rand } })
			if _, err := c.Do(context.Background(), &atlassian.Request{Path: "/x"}, nil); err != nil {
				t.Fatal(err)
			}
			if d := diff([]time.Duration{tc.want}, h.clock.Sleeps()); d != "" {
				t.Error(d)
			}
		})
	}
}

// TestClient_NonIdempotentLostAnswer: a POST whose answer is lost is never
// sent again; the caller gets UnknownOutcomeError and reads state back.
func TestClient_NonIdempotentLostAnswer(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		reply reply
	}{
		{"dropped_connection", reply{drop: true}},
		{"timeout", reply{hang: true}},
		{"server_error", reply{status: 500, body: `{"errorMessages":["boom"]}`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := script1(t, tc.reply, reply{status: 201})
			h := newHarness()
			c := h.client(t, srv.URL, func(cfg *atlassian.Config) {
				cfg.HTTPClient.Timeout = 100 * time.Millisecond
			})
			_, err := c.Do(context.Background(), &atlassian.Request{
				Method: http.MethodPost, Path: "/x", Body: map[string]string{"accountId": "a"},
				Endpoint: "POST /rest/api/3/group/user",
			}, nil)
			var ue *atlassian.UnknownOutcomeError
			if !errors.As(err, &ue) || ue.Endpoint != "POST /rest/api/3/group/user" {
				t.Fatalf("err = %v, want *UnknownOutcomeError", err)
			}
			if n := srv.count("/x"); n != 1 {
				t.Errorf("server saw %d requests, want exactly 1", n)
			}
			if len(h.clock.Sleeps()) != 0 {
				t.Errorf("slept %v", h.clock.Sleeps())
			}
		})
	}
}

// TestClient_DialErrorRetriesPost: a connection that failed before any byte
// was written proves the request was not sent, so even a POST is retried.
func TestClient_DialErrorRetriesPost(t *testing.T) {
	t.Parallel()
	srv := script1(t, reply{status: 201, body: `{}`})
	var dials atomic.Int32
	dialer := &net.Dialer{}
	transport := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if dials.Add(1) == 1 {
			return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connection refused")}
		}
		return dialer.DialContext(ctx, network, addr)
	}}
	t.Cleanup(transport.CloseIdleConnections)
	h := newHarness()
	c := h.client(t, srv.URL, func(cfg *atlassian.Config) { cfg.HTTPClient = &http.Client{Transport: transport} })
	resp, err := c.Do(context.Background(), &atlassian.Request{Method: http.MethodPost, Path: "/x"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Attempts != 2 || srv.count("/x") != 1 {
		t.Errorf("attempts %d, server hits %d; want 2 attempts and 1 hit", resp.Attempts, srv.count("/x"))
	}
	if d := diff(seconds(2), h.clock.Sleeps()); d != "" {
		t.Error(d)
	}
}

// TestClient_QuotaPause: a quota 429 pauses the matching scope in the shared
// Budget; every client on that Budget is held until the pause ends.
func TestClient_QuotaPause(t *testing.T) {
	t.Parallel()
	qs := atlassian.QuotaScopes{Global: "points:app", Tenant: "points:tenant:t1", Admin: "admin:org:o1"}
	cases := []struct {
		reason    string
		wantScope string
	}{
		{"jira-quota-global-based", "points:app"},
		{"jira-quota-tenant-based", "points:tenant:t1"},
		{"confluence-quota-global-based", "points:app"},
		{"confluence-quota-tenant-based", "points:tenant:t1"},
	}
	for _, tc := range cases {
		t.Run(tc.reason, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			h := newHarness()
			pauseEnd := t0.Add(1847 * time.Second)

			first := script1(t, reply{status: 429, header: map[string]string{"Retry-After": "1847", "RateLimit-Reason": tc.reason}})
			a := h.client(t, first.URL, nil)
			_, err := a.Do(ctx, &atlassian.Request{Path: "/x", QuotaScopes: qs}, nil)
			var re *atlassian.RateLimitError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want *RateLimitError", err)
			}
			want := &atlassian.RateLimitError{Endpoint: "GET /x", Reason: tc.reason, Scope: tc.wantScope, RetryAfter: 1847 * time.Second, ResetAt: pauseEnd}
			if d := diff(want, re); d != "" {
				t.Error(d)
			}
			if until, _ := h.budget.PausedUntil(ctx, tc.wantScope); !until.Equal(pauseEnd) {
				t.Errorf("PausedUntil(%s) = %s, want %s", tc.wantScope, until, pauseEnd)
			}
			if r := h.budget.PauseReason(tc.wantScope); r != tc.reason {
				t.Errorf("pause reason %q", r)
			}

			// A second client (another replica) sharing the budget is held
			// without sending anything.
			second := script1(t, reply{status: 200, body: "{}"})
			b := h.client(t, second.URL, nil)
			_, err = b.Do(ctx, &atlassian.Request{Path: "/x", QuotaScopes: qs}, nil)
			var be *atlassian.BudgetError
			if !errors.As(err, &be) || !be.Paused || be.Scope != tc.wantScope || !be.ResetAt.Equal(pauseEnd) {
				t.Fatalf("err = %v, want paused *BudgetError for %s", err, tc.wantScope)
			}
			if n := second.count("/x"); n != 0 {
				t.Errorf("paused request reached the server %d times", n)
			}
			// A charge on the paused scope holds too, even without QuotaScopes.
			_, err = b.Do(ctx, &atlassian.Request{Path: "/x", Charges: []atlassian.Charge{{Scope: tc.wantScope, Units: 1, Window: time.Hour}}}, nil)
			if !errors.As(err, &be) || !be.Paused {
				t.Errorf("charge on paused scope: err = %v", err)
			}
			// Requests of other scopes are not affected.
			if _, err := b.Do(ctx, &atlassian.Request{Path: "/x", QuotaScopes: atlassian.QuotaScopes{Global: "points:other"}}, nil); err != nil {
				t.Errorf("unrelated scope held: %v", err)
			}

			// With MaxWait long enough, a client waits the pause out.
			c := h.client(t, second.URL, func(cfg *atlassian.Config) { cfg.MaxWait = time.Hour })
			if _, err := c.Do(ctx, &atlassian.Request{Path: "/x", QuotaScopes: qs}, nil); err != nil {
				t.Fatal(err)
			}
			if d := diff(seconds(1847), h.clock.Sleeps()); d != "" {
				t.Errorf("sleeps %s", d)
			}
		})
	}
}

// TestClient_QuotaPauseUntil: where a quota pause ends when Retry-After is
// missing (DOMAIN.md §4.3: quotas reset at the top of the UTC hour).
func TestClient_QuotaPauseUntil(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		header map[string]string
		want   time.Time
	}{
		{"retry_after", map[string]string{"Retry-After": "60"}, t0.Add(time.Minute)},
		{"x_ratelimit_reset", map[string]string{"X-RateLimit-Reset": "2026-06-01T10:50:00Z"}, t0.Add(30 * time.Minute)},
		{"policy_reset", map[string]string{"RateLimit": `"global-app-quota";r=0;t=120`}, t0.Add(2 * time.Minute)},
		{"nothing_means_next_utc_hour", nil, time.Date(2026, 6, 1, 11, 0, 0, 0, time.UTC)},
		{"beta_retry_after_ignored", map[string]string{"Beta-Retry-After": "5"}, time.Date(2026, 6, 1, 11, 0, 0, 0, time.UTC)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			hdr := map[string]string{"RateLimit-Reason": "jira-quota-global-based"}
			for k, v := range tc.header {
				hdr[k] = v
			}
			srv := script1(t, reply{status: 429, header: hdr})
			h := newHarness()
			c := h.client(t, srv.URL, nil)
			_, err := c.Do(context.Background(), &atlassian.Request{Path: "/x", QuotaScopes: atlassian.QuotaScopes{Global: "points:app"}}, nil)
			if at, ok := atlassian.RetryAt(err); !ok || !at.Equal(tc.want) {
				t.Errorf("RetryAt = %s, %v; want %s (err %v)", at, ok, tc.want, err)
			}
			if until, _ := h.budget.PausedUntil(context.Background(), "points:app"); !until.Equal(tc.want) {
				t.Errorf("PausedUntil = %s, want %s", until, tc.want)
			}
		})
	}
}

// TestClient_BurstSlowsOnlyEndpoint: a burst 429 delays later requests to
// the same endpoint on this client and nothing else.
func TestClient_BurstSlowsOnlyEndpoint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := newFakeServer(t, map[string][]reply{
		"/rest/api/3/group/member": {{status: 429, header: burst("30")}, {status: 200, body: "{}"}},
	})
	h := newHarness()
	c := h.client(t, srv.URL, nil)
	slow := &atlassian.Request{Path: "/rest/api/3/group/member", Endpoint: "GET /rest/api/3/group/member", QuotaScopes: atlassian.QuotaScopes{Global: "points:app"}}
	other := &atlassian.Request{Path: "/rest/api/3/users/search", QuotaScopes: atlassian.QuotaScopes{Global: "points:app"}}

	_, err := c.Do(ctx, slow, nil)
	var re *atlassian.RateLimitError
	if !errors.As(err, &re) || re.Scope != "" || re.Reason != "jira-burst-based" || !re.ResetAt.Equal(t0.Add(30*time.Second)) {
		t.Fatalf("err = %#v, want burst *RateLimitError without scope", err)
	}
	if until, _ := h.budget.PausedUntil(ctx, "points:app"); !until.IsZero() {
		t.Errorf("burst 429 paused the quota scope until %s", until)
	}
	if _, err := c.Do(ctx, other, nil); err != nil {
		t.Errorf("other endpoint held: %v", err)
	}
	_, err = c.Do(ctx, slow, nil)
	if !errors.As(err, &re) || !re.ResetAt.Equal(t0.Add(30*time.Second)) {
		t.Errorf("same endpoint not held: %v", err)
	}
	if n := srv.count("/rest/api/3/group/member"); n != 1 {
		t.Errorf("slowed endpoint hit %d times, want 1", n)
	}
	// Another client (replica) is not slowed: burst state is per client.
	if _, err := h.client(t, srv.URL, nil).Do(ctx, slow, nil); err != nil {
		t.Errorf("other client held by a burst slow-down: %v", err)
	}
	h.clock.Advance(30 * time.Second)
	if _, err := c.Do(ctx, slow, nil); err != nil {
		t.Errorf("after the slow-down: %v", err)
	}
	if len(h.clock.Sleeps()) != 0 {
		t.Errorf("slept %v", h.clock.Sleeps())
	}
}

// TestClient_AdminRateLimit: an Admin API 429 carries X-RateLimit-Reset and
// no RateLimit-Reason; it pauses the org's Admin scope until the reset.
func TestClient_AdminRateLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	reset := t0.Add(45 * time.Second)
	admin429 := reply{status: 429, header: map[string]string{
		"X-RateLimit-Limit": "200", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset.Format(time.RFC3339),
	}, body: `{"code":429,"message":"Too many requests"}`}
	qs := atlassian.QuotaScopes{Admin: "admin:org:o1"}
	path := "/admin/v1/orgs/o1/directory/users/a1/last-active-dates"

	t.Run("waits_for_reset_within_max_wait", func(t *testing.T) {
		t.Parallel()
		srv := newFakeServer(t, map[string][]reply{path: {admin429, {status: 200, body: `{"data":{}}`}}})
		h := newHarness()
		c := h.client(t, srv.URL, func(cfg *atlassian.Config) { cfg.MaxWait = time.Minute })
		resp, err := c.Do(ctx, &atlassian.Request{Path: path, QuotaScopes: qs}, nil)
		if err != nil || resp.Attempts != 2 {
			t.Fatalf("Do = %+v, %v", resp, err)
		}
		if d := diff(seconds(45), h.clock.Sleeps()); d != "" {
			t.Errorf("sleeps %s", d)
		}
		if until, _ := h.budget.PausedUntil(ctx, "admin:org:o1"); !until.Equal(reset) {
			t.Errorf("PausedUntil = %s, want %s", until, reset)
		}
	})

	t.Run("ErrRateLimit_and_scope_paused", func(t *testing.T) {
		t.Parallel()
		srv := newFakeServer(t, map[string][]reply{path: {admin429}})
		h := newHarness()
		c := h.client(t, srv.URL, nil)
		_, err := c.Do(ctx, &atlassian.Request{Path: path, QuotaScopes: qs}, nil)
		var re *atlassian.RateLimitError
		if !errors.As(err, &re) || re.Scope != "admin:org:o1" || !re.ResetAt.Equal(reset) {
			t.Fatalf("err = %#v", err)
		}
		_, err = c.Do(ctx, &atlassian.Request{Path: "/admin/v2/orgs/o1/directories/-/users/search", Method: http.MethodPost, QuotaScopes: qs}, nil)
		var be *atlassian.BudgetError
		if !errors.As(err, &be) || !be.Paused {
			t.Errorf("other Admin endpoint: err = %v, want paused *BudgetError", err)
		}
		if n := len(srv.requests()); n != 1 {
			t.Errorf("server saw %d requests, want 1", n)
		}
	})
}

func TestClient_ContextCanceled(t *testing.T) {
	t.Parallel()
	srv := script1(t, reply{status: 500})
	h := newHarness()
	ctx, cancel := context.WithCancel(context.Background())
	c := h.client(t, srv.URL, func(cfg *atlassian.Config) {
		cfg.SleepFunc = func(ctx context.Context, d time.Duration) error {
			cancel()
			return h.clock.Sleep(ctx, d)
		}
	})
	_, err := c.Do(ctx, &atlassian.Request{Path: "/x"}, nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if n := srv.count("/x"); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}
}

// TestClient_WaitBeyondDeadline: a wait that would outlast the caller's
// deadline is not taken; the typed error comes back at once.
func TestClient_WaitBeyondDeadline(t *testing.T) {
	t.Parallel()
	srv := script1(t, reply{status: 429, header: burst("50")})
	h := newHarness()
	c := h.client(t, srv.URL, func(cfg *atlassian.Config) { cfg.MaxWait = time.Hour })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Do(ctx, &atlassian.Request{Path: "/x"}, nil)
	var re *atlassian.RateLimitError
	if !errors.As(err, &re) {
		t.Errorf("err = %v, want *RateLimitError", err)
	}
	if len(h.clock.Sleeps()) != 0 {
		t.Errorf("slept %v", h.clock.Sleeps())
	}
}
