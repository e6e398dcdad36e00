package policy_test

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/policy"
)

const (
	jira       = "jira-software"
	confluence = "confluence"
	jsm        = "jira-servicedesk"
	jiraSite   = "ari:cloud:jira-software::site/c1"
)

var now = time.Date(2026, 6, 1, 3, 0, 0, 0, time.UTC)

// daysAgo returns now minus n days.
func daysAgo(n int) time.Time { return now.Add(-time.Duration(n) * 24 * time.Hour) }

func ptr[T any](v T) *T { return &v }

// basePolicy is a valid policy: 90 days for Jira and Confluence, grace 30,
// no warning period, removal by groups.
func basePolicy() app.Policy {
	p := app.DefaultPolicy("t1", []string{jira, confluence})
	p.Version = 7
	return p
}

func path(groupID string, synced bool, roles ...string) app.GrantPath {
	if len(roles) == 0 {
		roles = []string{"atlassian/user"}
	}
	return app.GrantPath{GroupID: groupID, GroupName: groupID, Synced: synced, ResourceID: jiraSite, Product: jira, Roles: roles}
}

// baseAccount is a managed, active human account added 400 days ago that
// holds Jira through one non-synced group and last used it lastActiveDays
// ago.
func baseAccount(lastActiveDays int) app.AccountFacts {
	return app.AccountFacts{
		AccountID: "acc-1", Name: "Ada", Email: "ada@corp.test",
		AccountType: "atlassian", AccountStatus: "active", ClaimStatus: "managed",
		AddedToOrg: daysAgo(400), GroupIDs: []string{"g-jira"}, ActivityKnown: true,
		Access: []app.ProductUse{{
			ResourceID: jiraSite, Product: jira, LastActive: ptr(daysAgo(lastActiveDays)),
			Paths: []app.GrantPath{path("g-jira", false)},
		}},
	}
}

func groupIDs(paths []app.GrantPath) []string {
	var ids []string
	for _, gp := range paths {
		ids = append(ids, gp.GroupID)
	}
	return ids
}

func TestBasePolicy_Valid(t *testing.T) {
	t.Parallel()
	p := basePolicy()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestEvaluate_Rules(t *testing.T) {
	t.Parallel()
	const jiraRule = "products.jira-software.inactiveDays=90"
	cases := []struct {
		name        string
		policy      func(*app.Policy)
		account     func(*app.AccountFacts)
		lastActive  int // days ago, for baseAccount
		wantOutcome string
		wantReason  string
		wantRule    string
		wantDays    int
		wantRemove  []string
		wantHandoff []string
	}{
		// Activity and thresholds.
		{name: "active_recently", lastActive: 10,
			wantOutcome: app.OutcomeKeep, wantReason: policy.ReasonActive, wantRule: jiraRule, wantDays: 10},
		{name: "active_today", lastActive: 0,
			wantOutcome: app.OutcomeKeep, wantReason: policy.ReasonActive, wantRule: jiraRule, wantDays: 0},
		{name: "one_day_before_threshold", lastActive: 89,
			wantOutcome: app.OutcomeKeep, wantReason: policy.ReasonActive, wantRule: jiraRule, wantDays: 89},
		{name: "exactly_threshold_removes", lastActive: 90,
			wantOutcome: app.OutcomeRemove, wantReason: policy.ReasonInactive, wantRule: jiraRule, wantDays: 90,
			wantRemove: []string{"g-jira"}},
		{name: "long_inactive_removes", lastActive: 400,
			wantOutcome: app.OutcomeRemove, wantReason: policy.ReasonInactive, wantRule: jiraRule, wantDays: 400,
			wantRemove: []string{"g-jira"}},
		{name: "partial_day_is_floored", lastActive: 90,
			account:     func(a *app.AccountFacts) { a.Access[0].LastActive = ptr(daysAgo(90).Add(time.Minute)) },
			wantOutcome: app.OutcomeKeep, wantReason: policy.ReasonActive, wantRule: jiraRule, wantDays: 89},
		{name: "future_last_active_counts_as_zero", lastActive: -3,
			wantOutcome: app.OutcomeKeep, wantReason: policy.ReasonActive, wantRule: jiraRule, wantDays: 0},
		{name: "per_product_threshold", lastActive: 35,
			policy: func(p *app.Policy) {
				p.Products[jira] = app.ProductRule{Enabled: true, InactiveDays: 30}
			},
			wantOutcome: app.OutcomeRemove, wantReason: policy.ReasonInactive,
			wantRule: "products.jira-software.inactiveDays=30", wantDays: 35, wantRemove: []string{"g-jira"}},

		// Never used counts from addedToOrg.
		{name: "never_used_counts_from_added_to_org",
			account:     func(a *app.AccountFacts) { a.Access[0].LastActive = nil; a.AddedToOrg = daysAgo(120) },
			wantOutcome: app.OutcomeRemove, wantReason: policy.ReasonNeverUsed, wantRule: jiraRule, wantDays: 120,
			wantRemove: []string{"g-jira"}},
		{name: "never_used_recently_added_keeps",
			account:     func(a *app.AccountFacts) { a.Access[0].LastActive = nil; a.AddedToOrg = daysAgo(89) },
			wantOutcome: app.OutcomeKeep, wantReason: policy.ReasonNeverUsedRecent, wantRule: jiraRule, wantDays: 89},
		{name: "never_used_without_added_date_is_unknown",
			account:     func(a *app.AccountFacts) { a.Access[0].LastActive = nil; a.AddedToOrg = time.Time{} },
			wantOutcome: app.OutcomeUnknown, wantReason: policy.ReasonNeverUsedUndated, wantRule: "addedToOrg=unknown", wantDays: -1},
		{name: "used_without_added_date_is_evaluated", lastActive: 100,
			account:     func(a *app.AccountFacts) { a.AddedToOrg = time.Time{} },
			wantOutcome: app.OutcomeRemove, wantReason: policy.ReasonInactive, wantRule: jiraRule, wantDays: 100,
			wantRemove: []string{"g-jira"}},

		// Grace.
		{name: "grace_protects_new_account",
			account:     func(a *app.AccountFacts) { a.Access[0].LastActive = nil; a.AddedToOrg = daysAgo(10) },
			wantOutcome: app.OutcomeKeep, wantReason: policy.ReasonGracePeriod, wantRule: "graceDays=30", wantDays: 10},
		{name: "grace_beats_inactivity",
			policy: func(p *app.Policy) { p.Products[jira] = app.ProductRule{Enabled: true, InactiveDays: 10} },
			account: func(a *app.AccountFacts) {
				a.Access[0].LastActive = ptr(daysAgo(29))
				a.AddedToOrg = daysAgo(29)
			},
			wantOutcome: app.OutcomeKeep, wantReason: policy.ReasonGracePeriod, wantRule: "graceDays=30", wantDays: 29},
		{name: "grace_ends_on_grace_day",
			policy:      func(p *app.Policy) { p.Products[jira] = app.ProductRule{Enabled: true, InactiveDays: 10} },
			account:     func(a *app.AccountFacts) { a.Access[0].LastActive = nil; a.AddedToOrg = daysAgo(30) },
			wantOutcome: app.OutcomeRemove, wantReason: policy.ReasonNeverUsed,
			wantRule: "products.jira-software.inactiveDays=10", wantDays: 30, wantRemove: []string{"g-jira"}},
		{name: "grace_zero_disabled",
			policy: func(p *app.Policy) {
				p.GraceDays = 0
				p.Products[jira] = app.ProductRule{Enabled: true, InactiveDays: 3}
			},
			account:     func(a *app.AccountFacts) { a.Access[0].LastActive = nil; a.AddedToOrg = daysAgo(5) },
			wantOutcome: app.OutcomeRemove, wantReason: policy.ReasonNeverUsed,
			wantRule: "products.jira-software.inactiveDays=3", wantDays: 5, wantRemove: []string{"g-jira"}},

		// Unknown is never inactive.
		{name: "activity_unknown", lastActive: 400,
			account:     func(a *app.AccountFacts) { a.ActivityKnown = false },
			wantOutcome: app.OutcomeUnknown, wantReason: policy.ReasonActivityUnknown, wantRule: "activityKnown=false", wantDays: -1},
		{name: "unknown_beats_grace", lastActive: 400,
			account:     func(a *app.AccountFacts) { a.ActivityKnown = false; a.AddedToOrg = daysAgo(2) },
			wantOutcome: app.OutcomeUnknown, wantReason: policy.ReasonActivityUnknown, wantRule: "activityKnown=false", wantDays: -1},

		// Admins, always.
		{name: "org_admin_exempt", lastActive: 400,
			account:     func(a *app.AccountFacts) { a.PlatformRoles = []string{"atlassian/org-admin"} },
			wantOutcome: app.OutcomeExempt, wantReason: policy.ReasonExemptAdmin,
			wantRule: "exempt.platformRole=atlassian/org-admin", wantDays: 400},
		{name: "site_admin_exempt", lastActive: 400,
			account:     func(a *app.AccountFacts) { a.PlatformRoles = []string{"other", "atlassian/site-admin"} },
			wantOutcome: app.OutcomeExempt, wantReason: policy.ReasonExemptAdmin,
			wantRule: "exempt.platformRole=atlassian/site-admin", wantDays: 400},
		{name: "product_admin_path_exempt", lastActive: 400,
			account: func(a *app.AccountFacts) {
				a.Access[0].Paths = append(a.Access[0].Paths, path("g-jira-admins", false, "atlassian/admin"))
			},
			wantOutcome: app.OutcomeExempt, wantReason: policy.ReasonExemptAdmin,
			wantRule: "exempt.productRole=atlassian/admin", wantDays: 400},
		{name: "admin_beats_unknown_exempt_account_and_unmanaged_report_only", lastActive: 400,
			policy: func(p *app.Policy) { p.ExemptAccountIDs = []string{"acc-1"}; p.Unmanaged = app.UnmanagedReportOnly },
			account: func(a *app.AccountFacts) {
				a.PlatformRoles = []string{"atlassian/org-admin"}
				a.ActivityKnown = false
				a.ClaimStatus = "unmanaged"
			},
			wantOutcome: app.OutcomeExempt, wantReason: policy.ReasonExemptAdmin,
			wantRule: "exempt.platformRole=atlassian/org-admin", wantDays: -1},
		{name: "out_of_scope_comes_before_admin", lastActive: 400,
			account: func(a *app.AccountFacts) {
				a.PlatformRoles = []string{"atlassian/org-admin"}
				a.Access[0].Product = jsm
			},
			wantOutcome: app.OutcomeOutOfScope, wantReason: policy.ReasonProductOutOfScope,
			wantRule: "products.jira-servicedesk=unset", wantDays: 400},

		// Exemptions by account, group, domain.
		{name: "exempt_account", lastActive: 400,
			policy:      func(p *app.Policy) { p.ExemptAccountIDs = []string{"other", "acc-1"} },
			wantOutcome: app.OutcomeExempt, wantReason: policy.ReasonExemptAccount, wantRule: "exemptAccountIds=acc-1", wantDays: 400},
		{name: "exempt_account_beats_group", lastActive: 400,
			policy: func(p *app.Policy) {
				p.ExemptAccountIDs = []string{"acc-1"}
				p.ExemptGroupIDs = []string{"g-jira"}
			},
			wantOutcome: app.OutcomeExempt, wantReason: policy.ReasonExemptAccount, wantRule: "exemptAccountIds=acc-1", wantDays: 400},
		{name: "exempt_group_beats_inactivity", lastActive: 400,
			policy: func(p *app.Policy) { p.ExemptGroupIDs = []string{"g-contractors", "g-vip"} },
			account: func(a *app.AccountFacts) {
				a.GroupIDs = append(a.GroupIDs, "g-vip")
			},
			wantOutcome: app.OutcomeExempt, wantReason: policy.ReasonExemptGroup, wantRule: "exemptGroupIds=g-vip", wantDays: 400},
		{name: "exempt_group_through_grant_path", lastActive: 400,
			policy: func(p *app.Policy) { p.ExemptGroupIDs = []string{"g-jira"} },
			account: func(a *app.AccountFacts) {
				a.GroupIDs = nil
			},
			wantOutcome: app.OutcomeExempt, wantReason: policy.ReasonExemptGroup, wantRule: "exemptGroupIds=g-jira", wantDays: 400},
		{name: "exempt_group_beats_domain", lastActive: 400,
			policy: func(p *app.Policy) {
				p.ExemptGroupIDs = []string{"g-jira"}
				p.ExemptEmailDomains = []string{"corp.test"}
			},
			wantOutcome: app.OutcomeExempt, wantReason: policy.ReasonExemptGroup, wantRule: "exemptGroupIds=g-jira", wantDays: 400},
		{name: "exempt_domain_exact", lastActive: 400,
			policy:      func(p *app.Policy) { p.ExemptEmailDomains = []string{"other.test", "corp.test"} },
			wantOutcome: app.OutcomeExempt, wantReason: policy.ReasonExemptDomain, wantRule: "exemptEmailDomains=corp.test", wantDays: 400},
		{name: "exempt_domain_subdomain_and_case", lastActive: 400,
			policy:      func(p *app.Policy) { p.ExemptEmailDomains = []string{"Example.com"} },
			account:     func(a *app.AccountFacts) { a.Email = "Bob@EU.Example.COM" },
			wantOutcome: app.OutcomeExempt, wantReason: policy.ReasonExemptDomain, wantRule: "exemptEmailDomains=Example.com", wantDays: 400},
		{name: "exempt_domain_is_not_a_suffix_match", lastActive: 400,
			policy:      func(p *app.Policy) { p.ExemptEmailDomains = []string{"example.com"} },
			account:     func(a *app.AccountFacts) { a.Email = "bob@notexample.com" },
			wantOutcome: app.OutcomeRemove, wantReason: policy.ReasonInactive, wantRule: jiraRule, wantDays: 400,
			wantRemove: []string{"g-jira"}},
		{name: "exempt_domain_hidden_email", lastActive: 400,
			policy:      func(p *app.Policy) { p.ExemptEmailDomains = []string{"corp.test"} },
			account:     func(a *app.AccountFacts) { a.Email = "" },
			wantOutcome: app.OutcomeRemove, wantReason: policy.ReasonInactive, wantRule: jiraRule, wantDays: 400,
			wantRemove: []string{"g-jira"}},

		// App and customer accounts.
		{name: "app_account_exempt", lastActive: 400,
			account:     func(a *app.AccountFacts) { a.AccountType = "app" },
			wantOutcome: app.OutcomeExempt, wantReason: policy.ReasonExemptAppAccount, wantRule: "exemptAppAccounts=true", wantDays: 400},
		{name: "app_account_flag_off", lastActive: 400,
			policy:      func(p *app.Policy) { p.ExemptAppAccounts = false },
			account:     func(a *app.AccountFacts) { a.AccountType = "app" },
			wantOutcome: app.OutcomeRemove, wantReason: policy.ReasonInactive, wantRule: jiraRule, wantDays: 400,
			wantRemove: []string{"g-jira"}},
		{name: "customer_account_exempt", lastActive: 400,
			account:     func(a *app.AccountFacts) { a.AccountType = "customer" },
			wantOutcome: app.OutcomeExempt, wantReason: policy.ReasonExemptCustomer, wantRule: "exemptCustomerAccounts=true", wantDays: 400},
		{name: "customer_account_flag_off", lastActive: 400,
			policy:      func(p *app.Policy) { p.ExemptCustomerAccounts = false },
			account:     func(a *app.AccountFacts) { a.AccountType = "customer" },
			wantOutcome: app.OutcomeRemove, wantReason: policy.ReasonInactive, wantRule: jiraRule, wantDays: 400,
			wantRemove: []string{"g-jira"}},
		{name: "human_not_exempt_by_app_flag", lastActive: 400,
			policy:      func(p *app.Policy) { p.ExemptAppAccounts, p.ExemptCustomerAccounts = true, true },
			wantOutcome: app.OutcomeRemove, wantReason: policy.ReasonInactive, wantRule: jiraRule, wantDays: 400,
			wantRemove: []string{"g-jira"}},

		// Unmanaged accounts.
		{name: "unmanaged_exclude", lastActive: 400,
			policy:      func(p *app.Policy) { p.Unmanaged = app.UnmanagedExclude },
			account:     func(a *app.AccountFacts) { a.ClaimStatus = "unmanaged" },
			wantOutcome: app.OutcomeExempt, wantReason: policy.ReasonUnmanagedExcluded, wantRule: "unmanaged=exclude", wantDays: 400},
		{name: "unmanaged_exclude_beats_unknown", lastActive: 400,
			policy:      func(p *app.Policy) { p.Unmanaged = app.UnmanagedExclude },
			account:     func(a *app.AccountFacts) { a.ClaimStatus = "unmanaged"; a.ActivityKnown = false },
			wantOutcome: app.OutcomeExempt, wantReason: policy.ReasonUnmanagedExcluded, wantRule: "unmanaged=exclude", wantDays: -1},
		{name: "unmanaged_exclude_does_not_touch_managed", lastActive: 400,
			policy:      func(p *app.Policy) { p.Unmanaged = app.UnmanagedExclude },
			wantOutcome: app.OutcomeRemove, wantReason: policy.ReasonInactive, wantRule: jiraRule, wantDays: 400,
			wantRemove: []string{"g-jira"}},
		{name: "unknown_claim_status_counts_as_unmanaged", lastActive: 400,
			policy:      func(p *app.Policy) { p.Unmanaged = app.UnmanagedExclude },
			account:     func(a *app.AccountFacts) { a.ClaimStatus = "" },
			wantOutcome: app.OutcomeExempt, wantReason: policy.ReasonUnmanagedExcluded, wantRule: "unmanaged=exclude", wantDays: 400},
		{name: "unmanaged_report_only_inactive", lastActive: 400,
			policy:      func(p *app.Policy) { p.Unmanaged = app.UnmanagedReportOnly },
			account:     func(a *app.AccountFacts) { a.ClaimStatus = "unmanaged" },
			wantOutcome: app.OutcomeReportOnly, wantReason: policy.ReasonUnmanagedReportOnly, wantRule: "unmanaged=report_only", wantDays: 400},
		{name: "unmanaged_report_only_active_keeps", lastActive: 5,
			policy:      func(p *app.Policy) { p.Unmanaged = app.UnmanagedReportOnly },
			account:     func(a *app.AccountFacts) { a.ClaimStatus = "unmanaged" },
			wantOutcome: app.OutcomeKeep, wantReason: policy.ReasonActive, wantRule: jiraRule, wantDays: 5},
		{name: "unmanaged_report_only_no_pending", lastActive: 85,
			policy:      func(p *app.Policy) { p.Unmanaged = app.UnmanagedReportOnly; p.WarningDays = 14 },
			account:     func(a *app.AccountFacts) { a.ClaimStatus = "unmanaged" },
			wantOutcome: app.OutcomeKeep, wantReason: policy.ReasonActive, wantRule: jiraRule, wantDays: 85},
		{name: "unmanaged_include", lastActive: 400,
			policy:      func(p *app.Policy) { p.Unmanaged = app.UnmanagedInclude },
			account:     func(a *app.AccountFacts) { a.ClaimStatus = "unmanaged" },
			wantOutcome: app.OutcomeRemove, wantReason: policy.ReasonInactive, wantRule: jiraRule, wantDays: 400,
			wantRemove: []string{"g-jira"}},
		{name: "unmanaged_unrecognised_mode_reports_only", lastActive: 400,
			policy:      func(p *app.Policy) { p.Unmanaged = "" },
			account:     func(a *app.AccountFacts) { a.ClaimStatus = "unmanaged" },
			wantOutcome: app.OutcomeReportOnly, wantReason: policy.ReasonUnmanagedReportOnly, wantRule: "unmanaged=unset", wantDays: 400},

		// Warning window: pending in [inactiveDays-warningDays, inactiveDays).
		{name: "warning_before_window_keeps", lastActive: 75,
			policy:      func(p *app.Policy) { p.WarningDays = 14 },
			wantOutcome: app.OutcomeKeep, wantReason: policy.ReasonActive, wantRule: jiraRule, wantDays: 75},
		{name: "warning_window_first_day", lastActive: 76,
			policy:      func(p *app.Policy) { p.WarningDays = 14 },
			wantOutcome: app.OutcomePending, wantReason: policy.ReasonInactive, wantRule: jiraRule + ",warningDays=14", wantDays: 76},
		{name: "warning_window_last_day", lastActive: 89,
			policy:      func(p *app.Policy) { p.WarningDays = 14 },
			wantOutcome: app.OutcomePending, wantReason: policy.ReasonInactive, wantRule: jiraRule + ",warningDays=14", wantDays: 89},
		{name: "warning_window_over_removes", lastActive: 90,
			policy:      func(p *app.Policy) { p.WarningDays = 14 },
			wantOutcome: app.OutcomeRemove, wantReason: policy.ReasonInactive, wantRule: jiraRule, wantDays: 90,
			wantRemove: []string{"g-jira"}},
		{name: "warning_never_used", policy: func(p *app.Policy) { p.WarningDays = 14 },
			account:     func(a *app.AccountFacts) { a.Access[0].LastActive = nil; a.AddedToOrg = daysAgo(80) },
			wantOutcome: app.OutcomePending, wantReason: policy.ReasonNeverUsed, wantRule: jiraRule + ",warningDays=14", wantDays: 80},
		{name: "warning_does_not_override_grace",
			policy: func(p *app.Policy) {
				p.WarningDays = 14
				p.Products[jira] = app.ProductRule{Enabled: true, InactiveDays: 20}
			},
			account:     func(a *app.AccountFacts) { a.Access[0].LastActive = nil; a.AddedToOrg = daysAgo(15) },
			wantOutcome: app.OutcomeKeep, wantReason: policy.ReasonGracePeriod, wantRule: "graceDays=30", wantDays: 15},

		// Synced groups and the billable path.
		{name: "synced_only_hands_off", lastActive: 400,
			account: func(a *app.AccountFacts) {
				a.Access[0].Paths = []app.GrantPath{path("g-okta-1", true), path("g-okta-2", true)}
			},
			wantOutcome: app.OutcomeHandoff, wantReason: policy.ReasonSyncedOnly, wantRule: jiraRule, wantDays: 400,
			wantHandoff: []string{"g-okta-1", "g-okta-2"}},
		{name: "mixed_synced_and_local_removes_with_both_lists", lastActive: 400,
			account: func(a *app.AccountFacts) {
				a.Access[0].Paths = []app.GrantPath{path("g-okta", true), path("g-jira", false), path("g-default", false)}
			},
			wantOutcome: app.OutcomeRemove, wantReason: policy.ReasonInactive, wantRule: jiraRule, wantDays: 400,
			wantRemove: []string{"g-jira", "g-default"}, wantHandoff: []string{"g-okta"}},
		{name: "no_grant_path_reports_only", lastActive: 400,
			account:     func(a *app.AccountFacts) { a.Access[0].Paths = nil },
			wantOutcome: app.OutcomeReportOnly, wantReason: policy.ReasonNoGrantPath, wantRule: jiraRule, wantDays: 400},

		// Action report_only.
		{name: "report_only_action", lastActive: 400,
			policy:      func(p *app.Policy) { p.Action = app.ActionReportOnly },
			wantOutcome: app.OutcomeReportOnly, wantReason: policy.ReasonInactive,
			wantRule: jiraRule + ",action=report_only", wantDays: 400},
		{name: "report_only_action_never_used", policy: func(p *app.Policy) { p.Action = app.ActionReportOnly },
			account:     func(a *app.AccountFacts) { a.Access[0].LastActive = nil; a.AddedToOrg = daysAgo(100) },
			wantOutcome: app.OutcomeReportOnly, wantReason: policy.ReasonNeverUsed,
			wantRule: jiraRule + ",action=report_only", wantDays: 100},
		{name: "report_only_action_has_no_pending", lastActive: 80,
			policy:      func(p *app.Policy) { p.Action = app.ActionReportOnly; p.WarningDays = 14 },
			wantOutcome: app.OutcomeKeep, wantReason: policy.ReasonActive, wantRule: jiraRule, wantDays: 80},
		{name: "unrecognised_action_reports_only", lastActive: 400,
			policy:      func(p *app.Policy) { p.Action = "delete_everything" },
			wantOutcome: app.OutcomeReportOnly, wantReason: policy.ReasonInactive,
			wantRule: jiraRule + ",action=delete_everything", wantDays: 400},

		// Account status.
		{name: "deactivated_account_evaluated_by_activity", lastActive: 200,
			account:     func(a *app.AccountFacts) { a.AccountStatus = "inactive" },
			wantOutcome: app.OutcomeRemove, wantReason: policy.ReasonInactive, wantRule: jiraRule, wantDays: 200,
			wantRemove: []string{"g-jira"}},
		{name: "closed_account_active_recently_keeps", lastActive: 3,
			account:     func(a *app.AccountFacts) { a.AccountStatus = "closed" },
			wantOutcome: app.OutcomeKeep, wantReason: policy.ReasonActive, wantRule: jiraRule, wantDays: 3},

		// Scope.
		{name: "product_disabled_out_of_scope", lastActive: 400,
			policy:      func(p *app.Policy) { p.Products[jira] = app.ProductRule{Enabled: false, InactiveDays: 90} },
			wantOutcome: app.OutcomeOutOfScope, wantReason: policy.ReasonProductOutOfScope,
			wantRule: "products.jira-software.enabled=false", wantDays: 400},
		{name: "product_without_rule_out_of_scope", lastActive: 400,
			policy:      func(p *app.Policy) { delete(p.Products, jira) },
			wantOutcome: app.OutcomeOutOfScope, wantReason: policy.ReasonProductOutOfScope,
			wantRule: "products.jira-software=unset", wantDays: 400},
		{name: "invalid_rule_out_of_scope", lastActive: 400,
			policy:      func(p *app.Policy) { p.Products[jira] = app.ProductRule{Enabled: true, InactiveDays: 0} },
			wantOutcome: app.OutcomeOutOfScope, wantReason: policy.ReasonInvalidRule,
			wantRule: "products.jira-software.inactiveDays=0", wantDays: 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := basePolicy()
			if tc.policy != nil {
				tc.policy(&p)
			}
			acc := baseAccount(tc.lastActive)
			if tc.account != nil {
				tc.account(&acc)
			}
			got := policy.Evaluate(p, acc, now)
			if len(got) != 1 {
				t.Fatalf("got %d decisions, want 1", len(got))
			}
			d := got[0]
			if d.Outcome != tc.wantOutcome || d.Reason != tc.wantReason || d.Rule != tc.wantRule {
				t.Errorf("(outcome, reason, rule) = (%q, %q, %q), want (%q, %q, %q)",
					d.Outcome, d.Reason, d.Rule, tc.wantOutcome, tc.wantReason, tc.wantRule)
			}
			if d.DaysInactive != tc.wantDays {
				t.Errorf("DaysInactive = %d, want %d", d.DaysInactive, tc.wantDays)
			}
			// A pending account is told the day it crosses the threshold: its
			// whole-day inactivity counted up to the product's inactiveDays.
			var wantDue *time.Time
			if tc.wantOutcome == app.OutcomePending {
				due := now.Add(time.Duration(p.Products[d.Product].InactiveDays-tc.wantDays) * 24 * time.Hour)
				wantDue = &due
			}
			if !reflect.DeepEqual(d.RemovalDue, wantDue) {
				t.Errorf("RemovalDue = %v, want %v", d.RemovalDue, wantDue)
			}
			if g := groupIDs(d.RemoveGroups); !slices.Equal(g, tc.wantRemove) {
				t.Errorf("RemoveGroups = %v, want %v", g, tc.wantRemove)
			}
			if g := groupIDs(d.HandoffGroups); !slices.Equal(g, tc.wantHandoff) {
				t.Errorf("HandoffGroups = %v, want %v", g, tc.wantHandoff)
			}
			// Every decision carries its evidence.
			if d.AccountID != acc.AccountID || d.PolicyVersion != p.Version ||
				d.Product != acc.Access[0].Product || d.ResourceID != acc.Access[0].ResourceID {
				t.Errorf("identity = (%q, %d, %q, %q)", d.AccountID, d.PolicyVersion, d.Product, d.ResourceID)
			}
			if !reflect.DeepEqual(d.BillablePath, acc.Access[0].Paths) {
				t.Errorf("BillablePath = %+v, want %+v", d.BillablePath, acc.Access[0].Paths)
			}
			if !reflect.DeepEqual(d.LastActive, acc.Access[0].LastActive) {
				t.Errorf("LastActive = %v, want %v", d.LastActive, acc.Access[0].LastActive)
			}
		})
	}
}

func TestEvaluate_MultipleProducts(t *testing.T) {
	t.Parallel()
	p := basePolicy()
	p.Products[confluence] = app.ProductRule{Enabled: true, InactiveDays: 30}
	confSite := "ari:cloud:confluence::site/c1"
	acc := baseAccount(60)
	acc.Access = []app.ProductUse{
		{ResourceID: "ari:cloud:jira-servicedesk::site/c1", Product: jsm, LastActive: ptr(daysAgo(500))},
		{ResourceID: jiraSite, Product: jira, LastActive: ptr(daysAgo(60)), Paths: []app.GrantPath{path("g-jira", false)}},
		{ResourceID: confSite, Product: confluence, LastActive: nil,
			Paths: []app.GrantPath{{GroupID: "g-conf", Product: confluence, ResourceID: confSite, Roles: []string{"atlassian/user"}}}},
		{ResourceID: "ari:cloud:confluence::site/a0", Product: confluence, LastActive: ptr(daysAgo(1)),
			Paths: []app.GrantPath{{GroupID: "g-conf-a0", Product: confluence}}},
	}

	got := policy.Evaluate(p, acc, now)
	type row struct{ product, resource, outcome, reason string }
	var rows []row
	for _, d := range got {
		rows = append(rows, row{d.Product, d.ResourceID, d.Outcome, d.Reason})
	}
	want := []row{
		{confluence, "ari:cloud:confluence::site/a0", app.OutcomeKeep, policy.ReasonActive},
		{confluence, confSite, app.OutcomeRemove, policy.ReasonNeverUsed}, // added 400 days ago
		{jsm, "ari:cloud:jira-servicedesk::site/c1", app.OutcomeOutOfScope, policy.ReasonProductOutOfScope},
		{jira, jiraSite, app.OutcomeKeep, policy.ReasonActive},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("decisions (-want +got):\n-%v\n+%v", want, rows)
	}

	// The same input in another order gives the same decisions.
	rev := acc
	rev.Access = slices.Clone(acc.Access)
	slices.Reverse(rev.Access)
	if again := policy.Evaluate(p, rev, now); !reflect.DeepEqual(again, got) {
		t.Errorf("order depends on input order:\n%+v\n%+v", again, got)
	}

	// An account-wide exemption applies to every in-scope product.
	acc.Access[1].Paths[0].Roles = []string{"atlassian/admin"} // Jira admin
	for _, d := range policy.Evaluate(p, acc, now) {
		want := app.OutcomeExempt
		if d.Product == jsm {
			want = app.OutcomeOutOfScope
		}
		if d.Outcome != want {
			t.Errorf("%s %s: outcome %q, want %q", d.Product, d.ResourceID, d.Outcome, want)
		}
	}
}

func TestEvaluate_DecisionsDoNotAliasFacts(t *testing.T) {
	t.Parallel()
	acc := baseAccount(400)
	got := policy.Evaluate(basePolicy(), acc, now)
	got[0].BillablePath[0].GroupID = "changed"
	got[0].BillablePath[0].Roles[0] = "changed"
	*got[0].LastActive = time.Time{}
	use := acc.Access[0]
	if use.Paths[0].GroupID != "g-jira" || use.Paths[0].Roles[0] != "atlassian/user" || !use.LastActive.Equal(daysAgo(400)) {
		t.Errorf("decision aliases the facts: %+v", use)
	}
}

func TestEvaluate_NoAccess(t *testing.T) {
	t.Parallel()
	acc := baseAccount(0)
	acc.Access = nil
	if got := policy.Evaluate(basePolicy(), acc, now); len(got) != 0 {
		t.Errorf("got %d decisions, want 0", len(got))
	}
}
