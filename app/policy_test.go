package app_test

import (
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
