package policy_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/policy"
)

// batch returns n decisions on product with the given outcome, for accounts
// prefix-0 … prefix-(n-1).
func batch(product, outcome, prefix string, n int) []app.Decision {
	out := make([]app.Decision, n)
	for i := range out {
		out[i] = app.Decision{AccountID: fmt.Sprintf("%s-%d", prefix, i), Product: product, Outcome: outcome}
	}
	return out
}

func concat(parts ...[]app.Decision) []app.Decision {
	var out []app.Decision
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestCheckBrake(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name         string
		maxRemovals  int
		maxShare     float64
		off          bool // brake.off with a justification
		decisions    []app.Decision
		users        map[string]int
		wantHeld     bool
		wantRemovals int
		wantReasons  []string // substrings, one per reason, in order
		wantProduct  map[string]policy.ProductCount
	}{
		{name: "under_limits", maxRemovals: 50, maxShare: 0.10,
			decisions:    concat(batch(jira, app.OutcomeRemove, "r", 5), batch(jira, app.OutcomeKeep, "k", 95)),
			users:        map[string]int{jira: 100},
			wantRemovals: 5,
			wantProduct:  map[string]policy.ProductCount{jira: {Users: 100, Removals: 5, Share: 0.05}}},
		{name: "absolute_limit_exceeded", maxRemovals: 50,
			decisions: concat(batch(jira, app.OutcomeRemove, "r", 51), batch(jira, app.OutcomeKeep, "k", 949)),
			users:     map[string]int{jira: 1000},
			wantHeld:  true, wantRemovals: 51,
			wantReasons: []string{"51 accounts to remove exceed maxRemovals=50"}},
		{name: "absolute_limit_reached_not_exceeded", maxRemovals: 50,
			decisions:    concat(batch(jira, app.OutcomeRemove, "r", 50), batch(jira, app.OutcomeKeep, "k", 950)),
			users:        map[string]int{jira: 1000},
			wantRemovals: 50},
		{name: "absolute_counts_distinct_accounts", maxRemovals: 3,
			// The same three accounts lose Jira and Confluence: 3 accounts, not 6.
			decisions:    concat(batch(jira, app.OutcomeRemove, "r", 3), batch(confluence, app.OutcomeRemove, "r", 3)),
			users:        map[string]int{jira: 100, confluence: 100},
			wantRemovals: 3},
		{name: "share_exceeded", maxShare: 0.10,
			decisions: concat(batch(jira, app.OutcomeRemove, "r", 11), batch(jira, app.OutcomeKeep, "k", 89),
				batch(confluence, app.OutcomeRemove, "c", 1)),
			users:    map[string]int{jira: 100, confluence: 100},
			wantHeld: true, wantRemovals: 12,
			wantReasons: []string{"jira-software: 11 of 100 users to remove (11.0%) exceed maxRemovalShare=0.1"},
			wantProduct: map[string]policy.ProductCount{
				confluence: {Users: 100, Removals: 1, Share: 0.01},
				jira:       {Users: 100, Removals: 11, Share: 0.11},
			}},
		{name: "share_exactly_at_limit", maxShare: 0.10,
			decisions:    concat(batch(jira, app.OutcomeRemove, "r", 10), batch(jira, app.OutcomeKeep, "k", 90)),
			users:        map[string]int{jira: 100},
			wantRemovals: 10},
		{name: "share_without_user_count_uses_decisions", maxShare: 0.10,
			decisions: concat(batch(jira, app.OutcomeRemove, "r", 2), batch(jira, app.OutcomeKeep, "k", 8)),
			users:     nil,
			wantHeld:  true, wantRemovals: 2,
			wantReasons: []string{"jira-software: 2 of 10 users to remove (20.0%)"},
			wantProduct: map[string]policy.ProductCount{jira: {Users: 10, Removals: 2, Share: 0.2}}},
		// A zero limit is not "no limit": it reads as the default. Only the
		// explicit off switch turns the limits off.
		{name: "zero_limits_read_as_defaults", maxRemovals: 0, maxShare: 0,
			decisions: concat(batch(jira, app.OutcomeRemove, "r", 500), batch(jira, app.OutcomeKeep, "k", 500)),
			users:     map[string]int{jira: 1000},
			wantHeld:  true, wantRemovals: 500,
			wantReasons: []string{"500 accounts to remove exceed maxRemovals=50",
				"jira-software: 500 of 1000 users to remove (50.0%) exceed maxRemovalShare=0.1"}},
		{name: "negative_limits_read_as_defaults", maxRemovals: -1, maxShare: -0.5,
			decisions: concat(batch(jira, app.OutcomeRemove, "r", 51), batch(jira, app.OutcomeKeep, "k", 949)),
			users:     map[string]int{jira: 1000},
			wantHeld:  true, wantRemovals: 51,
			wantReasons: []string{"51 accounts to remove exceed maxRemovals=50"}},
		{name: "explicit_off_ignores_limits", maxRemovals: 5, maxShare: 0.05, off: true,
			decisions:    concat(batch(jira, app.OutcomeRemove, "r", 500), batch(jira, app.OutcomeKeep, "k", 500)),
			users:        map[string]int{jira: 1000},
			wantRemovals: 500},
		{name: "pending_handoff_report_only_are_not_removals", maxRemovals: 1, maxShare: 0.01,
			decisions: concat(batch(jira, app.OutcomePending, "p", 10), batch(jira, app.OutcomeHandoff, "h", 10),
				batch(jira, app.OutcomeReportOnly, "o", 10), batch(jira, app.OutcomeKeep, "k", 70)),
			users:        map[string]int{jira: 100},
			wantRemovals: 0},
		{name: "both_limits_report_both", maxRemovals: 5, maxShare: 0.05,
			decisions: concat(batch(jira, app.OutcomeRemove, "r", 6), batch(jira, app.OutcomeKeep, "k", 94)),
			users:     map[string]int{jira: 100},
			wantHeld:  true, wantRemovals: 6,
			wantReasons: []string{"exceed maxRemovals=5", "exceed maxRemovalShare=0.05"}},

		// Data sanity, with the limits explicitly off: the check holds
		// regardless of them.
		{name: "sanity_too_many_inactive", off: true,
			decisions: concat(batch(confluence, app.OutcomeRemove, "r", 50), batch(confluence, app.OutcomeHandoff, "h", 30),
				batch(confluence, app.OutcomeReportOnly, "o", 15), batch(confluence, app.OutcomeKeep, "k", 5)),
			users:    map[string]int{confluence: 100},
			wantHeld: true, wantRemovals: 50,
			wantReasons: []string{"activity data looks wrong: confluence: 95 of 100 in-scope accounts (95.0%) look inactive"}},
		{name: "sanity_inactive_at_limit", off: true,
			decisions:    concat(batch(confluence, app.OutcomeRemove, "r", 90), batch(confluence, app.OutcomeKeep, "k", 10)),
			users:        map[string]int{confluence: 100},
			wantRemovals: 90},
		{name: "sanity_ignores_out_of_scope_and_counts_exempt", off: true,
			// 19 inactive of 20 in scope is 95%, whatever the out-of-scope rows say.
			decisions: concat(batch(confluence, app.OutcomeRemove, "r", 19), batch(confluence, app.OutcomeExempt, "e", 1),
				batch(confluence, app.OutcomeOutOfScope, "x", 80)),
			users:    map[string]int{confluence: 100},
			wantHeld: true, wantRemovals: 19,
			wantReasons: []string{"confluence: 19 of 20 in-scope accounts"}},
		{name: "sanity_skips_small_products", off: true,
			decisions:    batch(confluence, app.OutcomeRemove, "r", 19),
			users:        map[string]int{confluence: 19},
			wantRemovals: 19},
		{name: "sanity_needs_enough_decisions", off: true,
			// A run that decided on only 5 of 100 users says nothing about the data.
			decisions:    batch(confluence, app.OutcomeReportOnly, "o", 5),
			users:        map[string]int{confluence: 100},
			wantRemovals: 0},
		{name: "sanity_small_product_by_decisions", off: true,
			decisions:    batch(confluence, app.OutcomeUnknown, "u", 19),
			users:        nil,
			wantRemovals: 0},
		{name: "sanity_too_many_unknown", off: true,
			decisions:   concat(batch(jira, app.OutcomeUnknown, "u", 51), batch(jira, app.OutcomeKeep, "k", 49)),
			users:       map[string]int{jira: 100},
			wantHeld:    true,
			wantReasons: []string{"activity data looks wrong: jira-software: activity of 51 of 100 in-scope accounts (51.0%) is unknown"}},
		{name: "sanity_unknown_at_limit", off: true,
			decisions: concat(batch(jira, app.OutcomeUnknown, "u", 50), batch(jira, app.OutcomeKeep, "k", 50)),
			users:     map[string]int{jira: 100}},
		{name: "sanity_per_product_in_product_order", off: true,
			decisions: concat(batch(jira, app.OutcomeUnknown, "u", 60), batch(jira, app.OutcomeKeep, "k", 40),
				batch(confluence, app.OutcomeReportOnly, "o", 40)),
			users:    map[string]int{jira: 100, confluence: 40},
			wantHeld: true,
			wantReasons: []string{"confluence: 40 of 40 in-scope accounts (100.0%) look inactive",
				"jira-software: activity of 60 of 100"}},
		{name: "no_decisions", off: true,
			users:       map[string]int{jira: 100},
			wantProduct: map[string]policy.ProductCount{jira: {Users: 100}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := basePolicy()
			p.MaxRemovals, p.MaxRemovalShare = tc.maxRemovals, tc.maxShare
			if tc.off {
				p.Brake = app.Brake{Off: true, OffJustification: "test"}
			}
			got := policy.CheckBrake(p, tc.decisions, tc.users)
			if got.Off != tc.off {
				t.Errorf("Off = %v, want %v", got.Off, tc.off)
			}
			if got.Held != tc.wantHeld {
				t.Errorf("Held = %v, want %v (reasons %q)", got.Held, tc.wantHeld, got.Reasons)
			}
			if got.Removals != tc.wantRemovals {
				t.Errorf("Removals = %d, want %d", got.Removals, tc.wantRemovals)
			}
			if len(got.Reasons) != len(tc.wantReasons) {
				t.Fatalf("Reasons = %q, want %d matching %q", got.Reasons, len(tc.wantReasons), tc.wantReasons)
			}
			for i, want := range tc.wantReasons {
				if !strings.Contains(got.Reasons[i], want) {
					t.Errorf("Reasons[%d] = %q, want it to contain %q", i, got.Reasons[i], want)
				}
			}
			if tc.wantProduct != nil && !reflect.DeepEqual(got.PerProduct, tc.wantProduct) {
				t.Errorf("PerProduct (-want +got):\n-%+v\n+%+v", tc.wantProduct, got.PerProduct)
			}
		})
	}
}

// TestCheckBrake_EndToEnd runs Evaluate over a small organization whose
// activity data came back empty: every account looks never-used and the
// data-sanity brake must hold the run even with the limits switched off.
func TestCheckBrake_EndToEnd(t *testing.T) {
	t.Parallel()
	p := basePolicy()
	p.Brake = app.Brake{Off: true, OffJustification: "test: remove every inactive account"}
	var decisions []app.Decision
	for i := range 30 {
		acc := baseAccount(0)
		acc.AccountID = fmt.Sprintf("acc-%d", i)
		acc.Access[0].LastActive = nil
		decisions = append(decisions, policy.Evaluate(p, acc, now)...)
	}
	got := policy.CheckBrake(p, decisions, map[string]int{jira: 30})
	if !got.Held || got.Removals != 30 {
		t.Fatalf("got %+v, want held with 30 removals", got)
	}
	if !strings.HasPrefix(got.Reasons[0], "activity data looks wrong: ") {
		t.Errorf("reason %q", got.Reasons[0])
	}
}

// TestCheckBrake_ZeroLimitsAreNotUnlimited evaluates an organization in
// which 43 of 100 Jira users are inactive, the share a scan once removed
// without a hold because the policy's limits were 0. Zero limits hold the
// run at the defaults; only the explicit off switch lets it remove them all.
func TestCheckBrake_ZeroLimitsAreNotUnlimited(t *testing.T) {
	t.Parallel()
	var decisions []app.Decision
	p := basePolicy()
	for i := range 100 {
		days := 5
		if i < 43 {
			days = 200
		}
		acc := baseAccount(days)
		acc.AccountID = fmt.Sprintf("acc-%d", i)
		decisions = append(decisions, policy.Evaluate(p, acc, now)...)
	}
	users := map[string]int{jira: 100}

	p.MaxRemovals, p.MaxRemovalShare = 0, 0
	zero := policy.CheckBrake(p, decisions, users)
	if !zero.Held || zero.Off || zero.Removals != 43 ||
		!reflect.DeepEqual(zero.Reasons, []string{"jira-software: 43 of 100 users to remove (43.0%) exceed maxRemovalShare=0.1"}) {
		t.Fatalf("zero limits: %+v, want held by the default share limit", zero)
	}

	p.Brake = app.Brake{Off: true, OffJustification: "test: remove every inactive account"}
	off := policy.CheckBrake(p, decisions, users)
	if off.Held || !off.Off || off.Removals != 43 {
		t.Fatalf("brake off: %+v, want 43 removals without a hold", off)
	}
}
