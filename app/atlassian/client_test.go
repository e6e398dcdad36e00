package atlassian_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app/atlassian"
)

func TestNew(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		cfg     atlassian.Config
		wantErr bool
	}{
		{"OK", atlassian.Config{BaseURL: "https://api.atlassian.com"}, false},
		{"OK_site_with_wiki", atlassian.Config{BaseURL: "https://acme.atlassian.net/wiki/"}, false},
		{"ErrMissingBaseURL", atlassian.Config{}, true},
		{"ErrRelativeBaseURL", atlassian.Config{BaseURL: "/wiki"}, true},
		{"ErrScheme", atlassian.Config{BaseURL: "ftp://acme.atlassian.net"}, true},
		{"ErrUserInfo", atlassian.Config{BaseURL: "https://user:pw@acme.atlassian.net"}, true},
		{"ErrQuery", atlassian.Config{BaseURL: "https://acme.atlassian.net?jwt=x"}, true},
		{"ErrNegativeMaxWait", atlassian.Config{BaseURL: "https://acme.atlassian.net", MaxWait: -1}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := atlassian.New(tc.cfg)
			if (err != nil) != tc.wantErr {
				t.Errorf("New() err = %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "pw") {
				t.Errorf("error leaks the URL's password: %v", err)
			}
		})
	}
}

func TestClient_Do(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("OK_request_shape_and_decode", func(t *testing.T) {
		t.Parallel()
		srv := newFakeServer(t, map[string][]reply{"/wiki/rest/api/group": {{
			status: 200,
			header: map[string]string{"Atl-Traceid": "trace-123", "X-RateLimit-NearLimit": "true"},
			body:   `{"results":[{"name":"jira-users"}]}`,
		}}})
		h := newHarness()
		c := h.client(t, srv.URL+"/wiki", func(cfg *atlassian.Config) { cfg.Auth = atlassian.Bearer("tok-123456") })
		var out struct {
			Results []struct{ Name string } `json:"results"`
		}
		resp, err := c.Do(ctx, &atlassian.Request{
			Method: http.MethodPost,
			Path:   "/rest/api/group",
			Query:  url.Values{"limit": {"50"}},
			Body:   map[string]string{"name": "x"},
		}, &out)
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Results) != 1 || out.Results[0].Name != "jira-users" {
			t.Errorf("decoded %+v", out)
		}
		if resp.Status != 200 || resp.RequestID != "trace-123" || resp.Attempts != 1 || !resp.RateLimit.NearLimit {
			t.Errorf("response = %+v", resp)
		}
		got := srv.requests()[0]
		checks := map[string][2]string{
			"method":        {http.MethodPost, got.Method},
			"path":          {"/wiki/rest/api/group", got.Path},
			"query":         {"limit=50", got.RawQuery},
			"body":          {`{"name":"x"}`, got.Body},
			"authorization": {"Bearer tok-123456", got.Header.Get("Authorization")},
			"content_type":  {"application/json", got.Header.Get("Content-Type")},
			"accept":        {"application/json", got.Header.Get("Accept")},
			"user_agent":    {atlassian.DefaultUserAgent, got.Header.Get("User-Agent")},
			"request_id":    {resp.SentRequestID, got.Header.Get("X-Request-Id")},
		}
		for name, c := range checks {
			if c[0] != c[1] {
				t.Errorf("%s = %q, want %q", name, c[1], c[0])
			}
		}
		if !strings.Contains(h.logs.String(), "request_id="+resp.SentRequestID) {
			t.Errorf("sent request id not logged:\n%s", h.logs.String())
		}
	})

	t.Run("request_ids_are_random", func(t *testing.T) {
		t.Parallel()
		srv := script1(t, reply{status: 200, header: map[string]string{"X-Request-Id": "atl-1"}, body: "{}"})
		c := newHarness().client(t, srv.URL, nil)
		seen := map[string]bool{}
		for range 3 {
			resp, err := c.Do(ctx, &atlassian.Request{Path: "/x"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.RequestID != "atl-1" {
				t.Errorf("RequestID = %q, want Atlassian's X-Request-Id", resp.RequestID)
			}
			seen[resp.SentRequestID] = true
		}
		if len(seen) != 3 {
			t.Errorf("sent request ids repeat: %v", seen)
		}
	})

	t.Run("no_content_leaves_out_untouched", func(t *testing.T) {
		t.Parallel()
		srv := script1(t, reply{status: http.StatusNoContent})
		c := newHarness().client(t, srv.URL, nil)
		out := map[string]int{"kept": 1}
		resp, err := c.Do(ctx, &atlassian.Request{Method: http.MethodDelete, Path: "/x"}, &out)
		if err != nil || resp.Status != http.StatusNoContent || out["kept"] != 1 || len(out) != 1 {
			t.Errorf("Do = %+v, %v; out = %v", resp, err, out)
		}
	})

	t.Run("ErrDecode", func(t *testing.T) {
		t.Parallel()
		srv := script1(t, reply{status: 200, body: `{"results": "not a list"}`})
		c := newHarness().client(t, srv.URL, nil)
		var out struct{ Results []string }
		_, err := c.Do(ctx, &atlassian.Request{Path: "/x"}, &out)
		if err == nil || !strings.Contains(err.Error(), "decode response") {
			t.Errorf("err = %v, want a decode error", err)
		}
		if n := srv.count("/x"); n != 1 {
			t.Errorf("server saw %d requests, want 1 (decode errors are not retried)", n)
		}
	})

	t.Run("ErrPathNotUnderBase", func(t *testing.T) {
		t.Parallel()
		c := newHarness().client(t, "https://acme.atlassian.net", nil)
		for _, p := range []string{"@evil.example/x", "rest/api/3/user"} {
			if _, err := c.Do(ctx, &atlassian.Request{Path: p}, nil); err == nil {
				t.Errorf("Do(path %q) succeeded", p)
			}
		}
	})

	t.Run("IsNotFound", func(t *testing.T) {
		t.Parallel()
		srv := script1(t, reply{status: 404, body: `{"errorMessages":["User does not exist"],"errors":{}}`})
		c := newHarness().client(t, srv.URL, nil)
		resp, err := c.Do(ctx, &atlassian.Request{Path: "/x"}, nil)
		if !atlassian.IsNotFound(err) {
			t.Fatalf("IsNotFound(%v) = false", err)
		}
		if resp == nil || resp.Status != 404 {
			t.Errorf("response = %+v, want the 404 answer alongside the error", resp)
		}
		if atlassian.IsNotFound(errors.New("404")) || atlassian.IsNotFound(nil) {
			t.Error("IsNotFound true for a non-APIError")
		}
	})
}

func TestClient_ErrorBodies(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 1000)
	cases := []struct {
		name         string
		status       int
		contentType  string
		body         string
		wantMessages []string
		wantCode     string
	}{
		{
			name: "jira", status: 400,
			body:         `{"errorMessages":["Group does not exist."],"errors":{"groupname":"required","accountId":"bad"}}`,
			wantMessages: []string{"Group does not exist.", "accountId: bad", "groupname: required"},
		},
		{
			name: "confluence_v1", status: 403,
			body:         `{"statusCode":403,"data":{"authorized":false},"message":"Not permitted to use confluence"}`,
			wantMessages: []string{"Not permitted to use confluence"},
		},
		{
			name: "admin_code_message", status: 401,
			body:         `{"code":401,"message":"Unauthorized; scope does not match"}`,
			wantMessages: []string{"Unauthorized; scope does not match"}, wantCode: "401",
		},
		{
			name: "admin_errors_array", status: 400,
			body:         `{"errors":[{"id":"e1","status":"400","code":"INVALID_CURSOR","title":"Invalid cursor","detail":"The cursor has expired"},{"title":"Second"}]}`,
			wantMessages: []string{"Invalid cursor: The cursor has expired", "Second"}, wantCode: "INVALID_CURSOR",
		},
		{
			name: "control_characters_and_whitespace", status: 400,
			body:         `{"errorMessages":["line one\nfake-log-line level=ERROR\u0000  end"]}`,
			wantMessages: []string{"line one fake-log-line level=ERROR end"},
		},
		{
			name: "long_message_bounded", status: 400,
			body:         `{"errorMessages":["` + long + `"]}`,
			wantMessages: []string{strings.Repeat("x", 300-len("…")) + "…"},
		},
		{
			name: "html_page_ignored", status: 502, contentType: "text/html",
			body: "<html><body>Bad gateway</body></html>",
		},
		{
			name: "plain_text_kept", status: 502, contentType: "text/plain; charset=utf-8",
			body:         "upstream unavailable",
			wantMessages: []string{"upstream unavailable"},
		},
		{
			name: "empty", status: 500,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rep := reply{status: tc.status, body: tc.body, header: map[string]string{"X-Request-Id": "atl-9"}}
			if tc.contentType != "" {
				rep.header["Content-Type"] = tc.contentType
			}
			srv := script1(t, rep)
			c := newHarness().client(t, srv.URL, func(cfg *atlassian.Config) { cfg.Retry.MaxRetries = -1 })
			_, err := c.Do(context.Background(), &atlassian.Request{Path: "/x", Endpoint: "GET /x"}, nil)
			var ae *atlassian.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v, want *APIError", err)
			}
			want := &atlassian.APIError{Status: tc.status, Endpoint: "GET /x", RequestID: "atl-9", Messages: tc.wantMessages, Code: tc.wantCode}
			if d := diff(want, ae); d != "" {
				t.Error(d)
			}
		})
	}
}

func TestClient_Budget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	app := func(units int64) atlassian.Charge {
		return atlassian.Charge{Scope: "points:app", Units: units, Limit: 100, Window: time.Hour}
	}
	nextHour := time.Date(2026, 6, 1, 11, 0, 0, 0, time.UTC)

	t.Run("ErrBudget_beyond_limit", func(t *testing.T) {
		t.Parallel()
		srv := script1(t)
		h := newHarness()
		c := h.client(t, srv.URL, nil)
		req := &atlassian.Request{Path: "/x", Charges: []atlassian.Charge{app(60)}}
		if _, err := c.Do(ctx, req, nil); err != nil {
			t.Fatal(err)
		}
		_, err := c.Do(ctx, req, nil)
		var be *atlassian.BudgetError
		if !errors.As(err, &be) {
			t.Fatalf("err = %v, want *BudgetError", err)
		}
		want := &atlassian.BudgetError{Scope: "points:app", Limit: 100, Used: 60, Wanted: 60, ResetAt: nextHour, Reason: atlassian.ReasonWindowFull}
		if d := diff(want, be); d != "" {
			t.Error(d)
		}
		if at, ok := atlassian.RetryAt(err); !ok || !at.Equal(nextHour) {
			t.Errorf("RetryAt = %s, %v", at, ok)
		}
		if n := srv.count("/x"); n != 1 {
			t.Errorf("server saw %d requests, want 1", n)
		}
	})

	t.Run("OK_waits_for_next_window_within_MaxWait", func(t *testing.T) {
		t.Parallel()
		srv := script1(t)
		h := newHarness()
		c := h.client(t, srv.URL, func(cfg *atlassian.Config) { cfg.MaxWait = time.Hour })
		req := &atlassian.Request{Path: "/x", Charges: []atlassian.Charge{app(60)}}
		for range 2 {
			if _, err := c.Do(ctx, req, nil); err != nil {
				t.Fatal(err)
			}
		}
		if d := diff([]time.Duration{40 * time.Minute}, h.clock.Sleeps()); d != "" {
			t.Error(d)
		}
		if n := usage(t, h.budget, nextHour, "points:app"); n != 60 {
			t.Errorf("new window usage = %d, want 60", n)
		}
	})

	t.Run("settle_refunds_and_adds", func(t *testing.T) {
		t.Parallel()
		srv := script1(t, reply{status: 200, body: `[{"accountId":"a"},{"accountId":"b"},{"accountId":"c"}]`})
		h := newHarness()
		c := h.client(t, srv.URL, nil)
		tenant := atlassian.Charge{Scope: "points:tenant:t1", Units: 2001, Window: time.Hour}
		big := atlassian.Charge{Scope: "points:app", Units: 2001, Limit: 65000, Window: time.Hour}
		var users []struct{ AccountID string }
		settle := func() []atlassian.Charge {
			cost := int64(1 + 2*len(users)) // DOMAIN.md §4.2: 1 + 2 per user
			a, t := big, tenant
			a.Units, t.Units = cost, cost
			return []atlassian.Charge{a, t, {Scope: "extra", Units: 4, Window: time.Hour}}
		}
		_, err := c.Do(ctx, &atlassian.Request{Path: "/x", Charges: []atlassian.Charge{big, tenant}, Settle: settle}, &users)
		if err != nil {
			t.Fatal(err)
		}
		for scope, want := range map[string]int64{"points:app": 7, "points:tenant:t1": 7, "extra": 4} {
			if n := usage(t, h.budget, t0, scope); n != want {
				t.Errorf("usage(%s) = %d, want %d", scope, n, want)
			}
		}
	})

	t.Run("failure_keeps_reservation", func(t *testing.T) {
		t.Parallel()
		srv := newFakeServer(t, map[string][]reply{"/404": {{status: 404}}, "/500": {{status: 500}}, "/drop": {{drop: true}}})
		h := newHarness()
		c := h.client(t, srv.URL, nil)
		settled := false
		settle := func() []atlassian.Charge { settled = true; return nil }
		for _, r := range []*atlassian.Request{
			{Path: "/404"},
			{Method: http.MethodPost, Path: "/500"},
			{Method: http.MethodPost, Path: "/drop"},
		} {
			r.Charges, r.Settle = []atlassian.Charge{app(10)}, settle
			if _, err := c.Do(ctx, r, nil); err == nil {
				t.Fatalf("%s succeeded", r.Path)
			}
		}
		if n := usage(t, h.budget, t0, "points:app"); n != 30 {
			t.Errorf("usage = %d, want 30 (every failed request keeps its reservation)", n)
		}
		if settled {
			t.Error("Settle called for a failed request")
		}
	})

	t.Run("429_attempt_refunded", func(t *testing.T) {
		t.Parallel()
		srv := script1(t,
			reply{status: 429, header: map[string]string{"Retry-After": "1", "RateLimit-Reason": "jira-burst-based"}},
			reply{status: 200, body: `[]`},
		)
		h := newHarness()
		c := h.client(t, srv.URL, nil)
		settle := func() []atlassian.Charge { return []atlassian.Charge{app(1)} }
		resp, err := c.Do(ctx, &atlassian.Request{Path: "/x", Charges: []atlassian.Charge{app(50)}, Settle: settle}, nil)
		if err != nil || resp.Attempts != 2 {
			t.Fatalf("Do = %+v, %v", resp, err)
		}
		if n := usage(t, h.budget, t0, "points:app"); n != 1 {
			t.Errorf("usage = %d, want 1 (429 refunded, success settled)", n)
		}
	})
}

func TestRetryAt(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		err    error
		want   time.Time
		wantOK bool
	}{
		{"budget", &atlassian.BudgetError{ResetAt: t0}, t0, true},
		{"rate_limit_wrapped", errors.Join(errors.New("scan"), &atlassian.RateLimitError{ResetAt: t0}), t0, true},
		{"api_error", &atlassian.APIError{Status: 500}, time.Time{}, false},
		{"nil", nil, time.Time{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := atlassian.RetryAt(tc.err)
			if !got.Equal(tc.want) || ok != tc.wantOK {
				t.Errorf("RetryAt = %s, %v; want %s, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}
