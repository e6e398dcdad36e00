package policy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lapsehq/lapse/app"
)

// Reasons are the machine-readable why of a decision. They are stored with
// every decision and exported as evidence, so they never change once
// released.
const (
	// Keep.
	ReasonActive          = "active"            // used within the product's inactiveDays
	ReasonNeverUsedRecent = "never_used_recent" // never used, but added to the org less than inactiveDays ago
	ReasonGracePeriod     = "grace_period"      // added to the org less than graceDays ago

	// Remove, pending_removal or report_only.
	ReasonInactive  = "inactive"   // last used inactiveDays or more ago
	ReasonNeverUsed = "never_used" // never used, added to the org inactiveDays or more ago

	// Inactive, but Lapse cannot act.
	ReasonSyncedOnly          = "synced_only"           // handoff: every grant path is an IdP-synced group
	ReasonNoGrantPath         = "no_grant_path"         // report_only: no group is known to grant the product
	ReasonUnmanagedReportOnly = "unmanaged_report_only" // report_only: unmanaged account under unmanaged=report_only

	// Exempt.
	ReasonExemptAdmin       = "exempt_admin"
	ReasonExemptAccount     = "exempt_account"
	ReasonExemptGroup       = "exempt_group"
	ReasonExemptDomain      = "exempt_domain"
	ReasonExemptAppAccount  = "exempt_app_account"
	ReasonExemptCustomer    = "exempt_customer"
	ReasonUnmanagedExcluded = "unmanaged_excluded"

	// Unknown.
	ReasonActivityUnknown  = "activity_unknown"   // last-active data could not be read
	ReasonNeverUsedUndated = "never_used_undated" // never used and no addedToOrg date: cannot be dated

	// Out of scope.
	ReasonProductOutOfScope = "product_out_of_scope" // no enabled rule for the product
	ReasonInvalidRule       = "invalid_rule"         // enabled rule with inactiveDays < 1
)

// Roles that make an account an administrator, who is always exempt.
const (
	RoleOrgAdmin     = "atlassian/org-admin"  // platform role
	RoleSiteAdmin    = "atlassian/site-admin" // platform role
	RoleProductAdmin = "atlassian/admin"      // product role granted through a group
)

// Account types and claim status as the Admin API reports them.
const (
	accountTypeApp      = "app"
	accountTypeCustomer = "customer"
	claimManaged        = "managed"
)

const day = 24 * time.Hour

// Evaluate applies p to one account and returns one decision per entry of
// acc.Access, ordered by product then resource id (ties keep input order).
// now is the scan's reference time. The rule order is described in the
// package documentation.
func Evaluate(p app.Policy, acc app.AccountFacts, now time.Time) []app.Decision {
	ex, exempt := accountExemption(p, acc)
	out := make([]app.Decision, 0, len(acc.Access))
	for _, use := range acc.Access {
		d := app.Decision{
			AccountID:     acc.AccountID,
			Product:       use.Product,
			ResourceID:    use.ResourceID,
			PolicyVersion: p.Version,
			LastActive:    cloneTime(use.LastActive),
			DaysInactive:  daysInactive(acc, use, now),
			BillablePath:  clonePaths(use.Paths),
		}
		decide(&d, p, acc, use, ex, exempt, now)
		out = append(out, d)
	}
	slices.SortStableFunc(out, func(a, b app.Decision) int {
		return cmp.Or(cmp.Compare(a.Product, b.Product), cmp.Compare(a.ResourceID, b.ResourceID))
	})
	return out
}

// verdict is the reason and rule of an account-wide exemption.
type verdict struct{ reason, rule string }

// decide fills Outcome, Reason, Rule and, for remove and handoff, the group
// lists of d.
func decide(d *app.Decision, p app.Policy, acc app.AccountFacts, use app.ProductUse, ex verdict, exempt bool, now time.Time) {
	set := func(outcome, reason, rule string) { d.Outcome, d.Reason, d.Rule = outcome, reason, rule }

	// 1. Scope.
	rule, ok := p.Products[use.Product]
	switch {
	case !ok:
		set(app.OutcomeOutOfScope, ReasonProductOutOfScope, fmt.Sprintf("products.%s=unset", use.Product))
		return
	case !rule.Enabled:
		set(app.OutcomeOutOfScope, ReasonProductOutOfScope, fmt.Sprintf("products.%s.enabled=false", use.Product))
		return
	case rule.InactiveDays < 1:
		set(app.OutcomeOutOfScope, ReasonInvalidRule, fmt.Sprintf("products.%s.inactiveDays=%d", use.Product, rule.InactiveDays))
		return
	}

	// 2–6. Account-wide exemptions.
	if exempt {
		set(app.OutcomeExempt, ex.reason, ex.rule)
		return
	}

	// 7. Unmanaged accounts.
	unmanagedReportOnly := false
	if !strings.EqualFold(acc.ClaimStatus, claimManaged) {
		switch p.Unmanaged {
		case app.UnmanagedInclude:
		case app.UnmanagedExclude:
			set(app.OutcomeExempt, ReasonUnmanagedExcluded, "unmanaged="+app.UnmanagedExclude)
			return
		default: // report_only, or a value Validate would reject: never remove.
			unmanagedReportOnly = true
		}
	}

	// 8. Unknown is never inactive.
	if !acc.ActivityKnown {
		set(app.OutcomeUnknown, ReasonActivityUnknown, "activityKnown=false")
		return
	}
	if use.LastActive == nil && acc.AddedToOrg.IsZero() {
		// Never used, and we do not know since when the account could
		// have used it: counting from the zero time would make it look
		// inactive for two thousand years. We cannot date it, so we say
		// so instead of guessing.
		set(app.OutcomeUnknown, ReasonNeverUsedUndated, "addedToOrg=unknown")
		return
	}

	// 9. Grace for new accounts.
	if p.GraceDays > 0 && !acc.AddedToOrg.IsZero() && daysSince(acc.AddedToOrg, now) < p.GraceDays {
		set(app.OutcomeKeep, ReasonGracePeriod, fmt.Sprintf("graceDays=%d", p.GraceDays))
		return
	}

	// 10. Activity.
	days := d.DaysInactive
	productRule := fmt.Sprintf("products.%s.inactiveDays=%d", use.Product, rule.InactiveDays)
	keepReason, inactiveReason := ReasonActive, ReasonInactive
	if use.LastActive == nil {
		keepReason, inactiveReason = ReasonNeverUsedRecent, ReasonNeverUsed
	}
	removalFollows := p.Action == app.ActionRemoveGroups && !unmanagedReportOnly && len(use.Paths) > 0
	if days < rule.InactiveDays {
		if removalFollows && p.WarningDays > 0 && days >= rule.InactiveDays-p.WarningDays {
			set(app.OutcomePending, inactiveReason, fmt.Sprintf("%s,warningDays=%d", productRule, p.WarningDays))
			due := inactiveSince(acc, use).Add(time.Duration(rule.InactiveDays) * day)
			d.RemovalDue = &due
			return
		}
		set(app.OutcomeKeep, keepReason, productRule)
		return
	}

	// Inactive: what happens depends on the action and the paths.
	switch {
	case unmanagedReportOnly:
		set(app.OutcomeReportOnly, ReasonUnmanagedReportOnly, "unmanaged="+cmp.Or(p.Unmanaged, "unset"))
		return
	case p.Action != app.ActionRemoveGroups:
		set(app.OutcomeReportOnly, inactiveReason, productRule+",action="+cmp.Or(p.Action, "unset"))
		return
	case len(use.Paths) == 0:
		set(app.OutcomeReportOnly, ReasonNoGrantPath, productRule)
		return
	}
	var remove, handoff []app.GrantPath
	for _, gp := range d.BillablePath {
		if gp.Synced {
			handoff = append(handoff, gp)
		} else {
			remove = append(remove, gp)
		}
	}
	d.HandoffGroups = handoff
	if len(remove) == 0 {
		set(app.OutcomeHandoff, ReasonSyncedOnly, productRule)
		return
	}
	d.RemoveGroups = remove
	set(app.OutcomeRemove, inactiveReason, productRule)
}

// accountExemption reports the first account-wide exemption (rules 2–6)
// that applies to acc.
func accountExemption(p app.Policy, acc app.AccountFacts) (verdict, bool) {
	// Admins, always.
	for _, role := range []string{RoleOrgAdmin, RoleSiteAdmin} {
		if containsFold(acc.PlatformRoles, role) {
			return verdict{ReasonExemptAdmin, "exempt.platformRole=" + role}, true
		}
	}
	for _, use := range acc.Access {
		for _, gp := range use.Paths {
			if containsFold(gp.Roles, RoleProductAdmin) {
				return verdict{ReasonExemptAdmin, "exempt.productRole=" + RoleProductAdmin}, true
			}
		}
	}

	if acc.AccountID != "" && slices.Contains(p.ExemptAccountIDs, acc.AccountID) {
		return verdict{ReasonExemptAccount, "exemptAccountIds=" + acc.AccountID}, true
	}

	if len(p.ExemptGroupIDs) > 0 {
		member := make(map[string]bool, len(acc.GroupIDs))
		for _, g := range acc.GroupIDs {
			member[g] = true
		}
		for _, use := range acc.Access {
			for _, gp := range use.Paths {
				member[gp.GroupID] = true
			}
		}
		for _, g := range p.ExemptGroupIDs {
			if g != "" && member[g] {
				return verdict{ReasonExemptGroup, "exemptGroupIds=" + g}, true
			}
		}
	}

	if domain := emailDomain(acc.Email); domain != "" {
		for _, entry := range p.ExemptEmailDomains {
			d := normalizeDomain(entry)
			if d != "" && (domain == d || strings.HasSuffix(domain, "."+d)) {
				return verdict{ReasonExemptDomain, "exemptEmailDomains=" + entry}, true
			}
		}
	}

	switch {
	case p.ExemptAppAccounts && strings.EqualFold(acc.AccountType, accountTypeApp):
		return verdict{ReasonExemptAppAccount, "exemptAppAccounts=true"}, true
	case p.ExemptCustomerAccounts && strings.EqualFold(acc.AccountType, accountTypeCustomer):
		return verdict{ReasonExemptCustomer, "exemptCustomerAccounts=true"}, true
	}
	return verdict{}, false
}

// daysInactive is the number of whole days since the product was last used,
// or since the account was added to the organization when it never was; -1
// when that cannot be known.
func daysInactive(acc app.AccountFacts, use app.ProductUse, now time.Time) int {
	switch {
	case !acc.ActivityKnown:
		return -1
	case use.LastActive != nil:
		return daysSince(*use.LastActive, now)
	case !acc.AddedToOrg.IsZero():
		return daysSince(acc.AddedToOrg, now)
	default:
		return -1
	}
}

// inactiveSince is the date inactivity counts from: the last use, or the
// date the account was added when the product was never used. Only called
// once daysInactive has dated the account.
func inactiveSince(acc app.AccountFacts, use app.ProductUse) time.Time {
	if use.LastActive != nil {
		return *use.LastActive
	}
	return acc.AddedToOrg
}

// daysSince is the number of whole 24-hour periods from t to now, 0 when t
// is in the future (clock skew, or a date-only value of today).
func daysSince(t, now time.Time) int {
	d := now.Sub(t) // saturates instead of overflowing
	if d <= 0 {
		return 0
	}
	return int(d / day)
}

// emailDomain returns the lower-case domain of an email address, or "".
func emailDomain(email string) string {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return ""
	}
	return normalizeDomain(email[at+1:])
}

// normalizeDomain lower-cases d and drops surrounding space, a leading "@"
// or "." and a trailing "." (the DNS root).
func normalizeDomain(d string) string {
	d = strings.ToLower(strings.TrimSpace(d))
	d = strings.TrimPrefix(d, "@")
	d = strings.TrimPrefix(d, ".")
	return strings.TrimSuffix(d, ".")
}

func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(v string) bool { return strings.EqualFold(strings.TrimSpace(v), s) })
}

func cloneTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

// clonePaths deep-copies paths so a decision never aliases the scan's facts.
func clonePaths(paths []app.GrantPath) []app.GrantPath {
	if paths == nil {
		return nil
	}
	out := make([]app.GrantPath, len(paths))
	for i, gp := range paths {
		gp.Roles = slices.Clone(gp.Roles)
		out[i] = gp
	}
	return out
}
