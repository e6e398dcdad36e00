package atlassian_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app/atlassian"
)

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func pol(name string, q, w, r, tt int64) atlassian.RateLimitPolicy {
	return atlassian.RateLimitPolicy{Name: name, Quota: q, Window: w, Remaining: r, ResetSeconds: tt}
}

func betaPol(name string, q, w, r, tt int64) atlassian.RateLimitPolicy {
	p := pol(name, q, w, r, tt)
	p.Beta = true
	return p
}

func TestParseRateLimit(t *testing.T) {
	t.Parallel()
	at := func(min, sec int) time.Time { return time.Date(2026, 6, 1, 10, min, sec, 0, time.UTC) }
	cases := []struct {
		name string
		h    http.Header
		want atlassian.RateLimitInfo
	}{
		{
			name: "no_headers",
			h:    http.Header{},
			want: atlassian.RateLimitInfo{Remaining: -1},
		},
		{
			name: "jira_quota_429",
			h: header(
				"Retry-After", "1847",
				"RateLimit-Reason", "jira-quota-global-based",
				"X-RateLimit-Limit", "65000",
				"X-RateLimit-Remaining", "0",
				"X-RateLimit-Reset", "2026-06-01T11:00:00Z",
				"RateLimit-Policy", `"global-app-quota";q=65000;w=3600`,
				"RateLimit", `"global-app-quota";r=0;t=1847`,
			),
			want: atlassian.RateLimitInfo{
				Reason: "jira-quota-global-based", RetryAfter: 1847 * time.Second,
				Limit: 65000, Remaining: 0, ResetAt: time.Date(2026, 6, 1, 11, 0, 0, 0, time.UTC),
				Policies: []atlassian.RateLimitPolicy{pol("global-app-quota", 65000, 3600, 0, 1847)},
			},
		},
		{
			name: "retry_after_http_date",
			h:    header("Retry-After", "Mon, 01 Jun 2026 10:21:00 GMT"),
			want: atlassian.RateLimitInfo{RetryAfter: time.Minute, Remaining: -1},
		},
		{
			name: "retry_after_fraction",
			h:    header("Retry-After", "1.5"),
			want: atlassian.RateLimitInfo{RetryAfter: 1500 * time.Millisecond, Remaining: -1},
		},
		{
			name: "beta_only",
			h: header(
				"Beta-RateLimit-Policy", `"tenant-app-quota";q=480000;w=3600`,
				"Beta-RateLimit", `"tenant-app-quota";r=96000;t=600`,
				"Beta-Retry-After", "120",
			),
			want: atlassian.RateLimitInfo{
				RetryAfter: 2 * time.Minute, Remaining: -1, Beta: true,
				Policies: []atlassian.RateLimitPolicy{betaPol("tenant-app-quota", 480000, 3600, 96000, 600)},
			},
		},
		{
			name: "mixed_enforced_wins",
			h: header(
				"Retry-After", "5",
				"Beta-Retry-After", "1847",
				"RateLimit-Reason", "jira-burst-based",
				"RateLimit-Policy", `"jira-burst-based";q=100;w=1`,
				"Beta-RateLimit-Policy", `"global-app-quota";q=65000;w=3600`,
				"Beta-RateLimit", `"global-app-quota";r=10000;t=900`,
			),
			want: atlassian.RateLimitInfo{
				Reason: "jira-burst-based", RetryAfter: 5 * time.Second, Remaining: -1,
				Policies: []atlassian.RateLimitPolicy{
					pol("jira-burst-based", 100, 1, -1, -1),
					betaPol("global-app-quota", 65000, 3600, 10000, 900),
				},
			},
		},
		{
			name: "multiple_policies_any_order",
			h: header(
				"RateLimit-Policy", `"tenant-app-quota";q=100100;w=3600, "global-app-quota";q=65000;w=3600, "jira-burst-based";q=100;w=1`,
				"RateLimit", `"jira-burst-based";r=3;t=1, "tenant-app-quota";r=20000;t=600`,
			),
			want: atlassian.RateLimitInfo{
				Remaining: -1,
				Policies: []atlassian.RateLimitPolicy{
					pol("tenant-app-quota", 100100, 3600, 20000, 600),
					pol("global-app-quota", 65000, 3600, -1, -1),
					pol("jira-burst-based", 100, 1, 3, 1),
				},
			},
		},
		{
			name: "policies_on_separate_header_lines",
			h: header(
				"RateLimit-Policy", `"global-app-quota";q=65000;w=3600`,
				"RateLimit-Policy", `"tenant-app-quota";q=480000;w=3600`,
				"RateLimit", `"other-policy";r=7;t=9`,
			),
			want: atlassian.RateLimitInfo{
				Remaining: -1,
				Policies: []atlassian.RateLimitPolicy{
					pol("global-app-quota", 65000, 3600, -1, -1),
					pol("tenant-app-quota", 480000, 3600, -1, -1),
					pol("other-policy", 0, 0, 7, 9),
				},
			},
		},
		{
			name: "token_names_extra_params_escapes",
			h: header(
				"RateLimit-Policy", `global-app-quota;q=65000;w=3600;pk=:YWJj:, "we\"ird,name";q=1;w=2`,
			),
			want: atlassian.RateLimitInfo{
				Remaining: -1,
				Policies: []atlassian.RateLimitPolicy{
					pol("global-app-quota", 65000, 3600, -1, -1),
					pol(`we"ird,name`, 1, 2, -1, -1),
				},
			},
		},
		{
			name: "near_limit",
			h:    header("X-RateLimit-NearLimit", "true", "X-RateLimit-Remaining", "9000"),
			want: atlassian.RateLimitInfo{NearLimit: true, Remaining: 9000},
		},
		{
			name: "legacy_x_beta_set",
			h: header(
				"X-Beta-RateLimit-Limit", "65000",
				"X-Beta-RateLimit-Remaining", "12000",
				"X-Beta-RateLimit-Reset", "2026-06-01T11:00:00Z",
				"X-Beta-RateLimit-NearLimit", "TRUE",
			),
			want: atlassian.RateLimitInfo{
				Limit: 65000, Remaining: 12000, ResetAt: time.Date(2026, 6, 1, 11, 0, 0, 0, time.UTC),
				NearLimit: true, Beta: true,
			},
		},
		{
			name: "admin_reset_with_millis",
			h:    header("X-RateLimit-Reset", "2026-06-01T10:21:00.000Z", "X-RateLimit-Limit", "200"),
			want: atlassian.RateLimitInfo{ResetAt: at(21, 0), Limit: 200, Remaining: -1},
		},
		{
			name: "admin_reset_with_offset",
			h:    header("X-RateLimit-Reset", "2026-06-01T12:21:30+02:00"),
			want: atlassian.RateLimitInfo{ResetAt: at(21, 30), Remaining: -1},
		},
		{
			name: "admin_reset_without_zone_is_utc",
			h:    header("X-RateLimit-Reset", "2026-06-01T10:21:00"),
			want: atlassian.RateLimitInfo{ResetAt: at(21, 0), Remaining: -1},
		},
		{
			name: "reset_unix_seconds",
			h:    header("X-RateLimit-Reset", "1780309260"),
			want: atlassian.RateLimitInfo{ResetAt: time.Unix(1780309260, 0).UTC(), Remaining: -1},
		},
		{
			name: "garbage_is_ignored",
			h: header(
				"Retry-After", "soon",
				"Beta-Retry-After", "-5",
				"RateLimit-Reason", "bad reason; with spaces",
				"X-RateLimit-Limit", "lots",
				"X-RateLimit-Remaining", "-1",
				"X-RateLimit-Reset", "tomorrow",
				"X-RateLimit-NearLimit", "maybe",
				"RateLimit-Policy", `;;;,,"unterminated;q=5, =;q=1, name;q=abc;w=-1`,
				"RateLimit", `"x";r=;t=, limit=100, "";r=1, "a"b;r=2`,
				"Beta-RateLimit-Policy", `"p";q=99999999999999999999999`,
			),
			want: atlassian.RateLimitInfo{Remaining: -1},
		},
		{
			name: "absurd_retry_after_ignored",
			h:    header("Retry-After", "1e300"),
			want: atlassian.RateLimitInfo{Remaining: -1},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := atlassian.ParseRateLimit(tc.h, t0)
			if d := diff(tc.want, got); d != "" {
				t.Error(d)
			}
		})
	}
}

func TestRateLimitInfo_Policy(t *testing.T) {
	t.Parallel()
	info := atlassian.ParseRateLimit(header(
		"Beta-RateLimit-Policy", `"tenant-app-quota";q=1;w=2, "global-app-quota";q=3;w=4`,
		"RateLimit-Policy", `"global-app-quota";q=65000;w=3600`,
	), t0)
	if p, ok := info.Policy("global-app-quota"); !ok || p.Beta || p.Quota != 65000 {
		t.Errorf("global: got %+v, %v; want the enforced policy", p, ok)
	}
	if p, ok := info.Policy("tenant-app-quota"); !ok || !p.Beta || p.Quota != 1 {
		t.Errorf("tenant: got %+v, %v; want the beta policy", p, ok)
	}
	if _, ok := info.Policy("nope"); ok {
		t.Error("unknown policy found")
	}
}

// FuzzParseRateLimit checks that no header value makes the parser panic or
// report impossible values. `go test` runs the seeds; `-fuzz` explores.
func FuzzParseRateLimit(f *testing.F) {
	seeds := [][4]string{
		{"1847", `"global-app-quota";q=65000;w=3600`, `"global-app-quota";r=0;t=1847`, "2026-06-01T11:00:00Z"},
		{"", `"a\"b";q=1, c;w=2;q=3`, `"\`, "1780309260"},
		{"Mon, 01 Jun 2026 10:21:00 GMT", `;,;"`, `x;r=-1;t=`, "tomorrow"},
		{"-1", `"""`, `\\"`, "-5"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, retryAfter, policy, rateLimit, reset string) {
		h := http.Header{}
		h.Set("Retry-After", retryAfter)
		h.Set("RateLimit-Policy", policy)
		h.Set("Beta-RateLimit", rateLimit)
		h.Set("X-RateLimit-Reset", reset)
		h.Set("X-RateLimit-Remaining", reset)
		info := atlassian.ParseRateLimit(h, t0)
		if info.RetryAfter < 0 || info.Remaining < -1 || info.Limit < 0 {
			t.Fatalf("impossible values: %+v", info)
		}
		for _, p := range info.Policies {
			if p.Name == "" || p.Quota < 0 || p.Window < 0 || p.Remaining < -1 || p.ResetSeconds < -1 {
				t.Fatalf("impossible policy: %+v", p)
			}
		}
	})
}
