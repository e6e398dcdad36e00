package app_test

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/lapsehq/lapse/app"
)

func TestPolicy_Validate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		mod  func(*app.Policy)
		want string // "" = valid
	}{
		{"default", func(*app.Policy) {}, ""},
		{"enforce", func(p *app.Policy) { p.Mode = app.ModeEnforce }, ""},
		{"bad_mode", func(p *app.Policy) { p.Mode = "live" }, "mode"},
		{"bad_action", func(p *app.Policy) { p.Action = "delete" }, "action"},
		{"zero_days", func(p *app.Policy) { p.Products["confluence"] = app.ProductRule{Enabled: true} }, "products.confluence.inactiveDays"},
		{"negative_grace", func(p *app.Policy) { p.GraceDays = -1 }, "graceDays"},
		{"bad_unmanaged", func(p *app.Policy) { p.Unmanaged = "maybe" }, "unmanaged"},
		{"share_above_one", func(p *app.Policy) { p.MaxRemovalShare = 1.5 }, "maxRemovalShare"},
		{"bad_zone", func(p *app.Policy) { p.TimeZone = "Mars/Olympus" }, "timeZone"},
		{"bad_time", func(p *app.Policy) { p.ScanTime = "25:00" }, "scanTime"},
		{"warning_too_long", func(p *app.Policy) { p.WarningDays = 90 }, "warningDays must be less"},
		{"warning_ok", func(p *app.Policy) { p.WarningDays = 14 }, ""},
		{"bad_domain", func(p *app.Policy) { p.ExemptEmailDomains = []string{"@example.com"} }, "exemptEmailDomains"},

		// The brake cannot be turned off by a zero or an omitted field.
		{"zero_max_removals", func(p *app.Policy) { p.MaxRemovals = 0 }, "maxRemovals must be 1 or more (to run without limits, turn the safety brake off explicitly: brake.off true with a brake.offJustification)"},
		{"zero_share", func(p *app.Policy) { p.MaxRemovalShare = 0 }, "maxRemovalShare must be more than 0 and at most 1 (to run without limits"},
		{"negative_share", func(p *app.Policy) { p.MaxRemovalShare = -0.1 }, "maxRemovalShare must be more than 0"},
		{"nan_share", func(p *app.Policy) { p.MaxRemovalShare = math.NaN() }, "maxRemovalShare must be more than 0"},
		{"one_removal", func(p *app.Policy) { p.MaxRemovals, p.MaxRemovalShare = 1, 1 }, ""},
		{"off_with_justification", func(p *app.Policy) {
			p.Brake = app.Brake{Off: true, OffJustification: "Annual clean-up approved by the CISO"}
		}, ""},
		{"off_without_justification", func(p *app.Policy) { p.Brake = app.Brake{Off: true} }, "brake.offJustification is required when brake.off is true"},
		{"off_blank_justification", func(p *app.Policy) { p.Brake = app.Brake{Off: true, OffJustification: " \t "} }, "brake.offJustification is required"},
		{"off_justification_too_long", func(p *app.Policy) {
			p.Brake = app.Brake{Off: true, OffJustification: strings.Repeat("é", app.MaxBrakeOffJustification+1)}
		}, "brake.offJustification must be at most 500 characters (it has 501)"},
		{"off_justification_at_max", func(p *app.Policy) {
			p.Brake = app.Brake{Off: true, OffJustification: strings.Repeat("é", app.MaxBrakeOffJustification)}
		}, ""},
		{"off_justification_control", func(p *app.Policy) { p.Brake = app.Brake{Off: true, OffJustification: "a\nb"} }, "without control characters"},
		{"justification_while_on", func(p *app.Policy) { p.Brake = app.Brake{OffJustification: "why"} }, "only allowed when brake.off is true"},
		{"off_still_needs_limits", func(p *app.Policy) {
			p.Brake = app.Brake{Off: true, OffJustification: "why"}
			p.MaxRemovals = 0
		}, "maxRemovals must be 1 or more"},

		// Time zone: IANA names only; scanTime: exactly HH:MM.
		{"zone_utc", func(p *app.Policy) { p.TimeZone = "UTC" }, ""},
		{"zone_berlin", func(p *app.Policy) { p.TimeZone = "Europe/Berlin" }, ""},
		{"zone_local", func(p *app.Policy) { p.TimeZone = "Local" }, "timeZone must be an IANA time zone such as Europe/Berlin or UTC (not empty, not Local"},
		{"zone_empty", func(p *app.Policy) { p.TimeZone = "" }, "timeZone must be an IANA time zone"},
		{"time_one_digit_hour", func(p *app.Policy) { p.ScanTime = "3:00" }, "scanTime must be HH:MM, 24-hour with two digits each"},
		{"time_one_digit_minute", func(p *app.Policy) { p.ScanTime = "03:0" }, "scanTime"},
		{"time_minute_60", func(p *app.Policy) { p.ScanTime = "03:60" }, "scanTime"},
		{"time_hour_24", func(p *app.Policy) { p.ScanTime = "24:00" }, "scanTime"},
		{"time_no_colon", func(p *app.Policy) { p.ScanTime = "0300" }, "scanTime"},
		{"time_seconds", func(p *app.Policy) { p.ScanTime = "03:00:00" }, "scanTime"},
		{"time_signed", func(p *app.Policy) { p.ScanTime = "+3:00" }, "scanTime"},
		{"time_midnight", func(p *app.Policy) { p.ScanTime = "00:00" }, ""},
		{"time_last_minute", func(p *app.Policy) { p.ScanTime = "23:59" }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := app.DefaultPolicy("t1", []string{"jira-software", "confluence"})
			tc.mod(&p)
			err := p.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("valid policy refused: %v", err)
			case tc.want != "" && (app.ErrorCode(err) != app.EINVALID || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err = %v, want invalid mentioning %q", err, tc.want)
			}
		})
	}
}

func TestPolicy_Warnings(t *testing.T) {
	t.Parallel()
	p := app.DefaultPolicy("t1", []string{"jira-software"})
	if got := p.Warnings(false); got == nil || len(got) != 0 {
		t.Fatalf("default policy warnings = %#v, want an empty list", got)
	}
	p.WarningDays = 14
	if got := p.Warnings(true); len(got) != 0 {
		t.Fatalf("warning period with a mail relay: %q", got)
	}
	p.Brake = app.Brake{Off: true, OffJustification: "Annual clean-up"}
	want := []string{
		`The safety brake is off: a scan in enforce mode removes every account the policy selects, however many, without waiting for an approval (justification: "Annual clean-up"). The data-sanity hold still applies.`,
		"A warning period is set but no mail relay is configured (LAPSE_SMTP_URL), so no warning e-mails will be sent",
	}
	if got := p.Warnings(false); !reflect.DeepEqual(got, want) {
		t.Fatalf("warnings = %q, want %q", got, want)
	}
}

// TestPolicy_BrakeLimits: a stored limit of zero or less reads as the
// default, never as "no limit".
func TestPolicy_BrakeLimits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		removals, wantRemovals int
		share, wantShare       float64
	}{
		{0, app.DefaultMaxRemovals, 0, app.DefaultMaxRemovalShare},
		{-3, app.DefaultMaxRemovals, -1, app.DefaultMaxRemovalShare},
		{0, app.DefaultMaxRemovals, math.NaN(), app.DefaultMaxRemovalShare},
		{7, 7, 0.25, 0.25},
	} {
		p := app.Policy{MaxRemovals: tc.removals, MaxRemovalShare: tc.share}
		if r, s := p.BrakeLimits(); r != tc.wantRemovals || s != tc.wantShare {
			t.Errorf("BrakeLimits(%d, %g) = %d, %g; want %d, %g", tc.removals, tc.share, r, s, tc.wantRemovals, tc.wantShare)
		}
	}
}
