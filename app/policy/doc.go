// Package policy turns a tenant's access-removal policy (app.Policy) and what
// a scan knows about one account (app.AccountFacts) into decisions
// (app.Decision): keep, remove, pending_removal, exempt, handoff,
// report_only, unknown or out_of_scope, one per product the account holds,
// each with a machine-readable Reason, the Rule that fired, the policy
// version and the billable path it rests on (atlassian/DOMAIN.md §7.2, §7.3).
//
// The package is pure: no I/O, no clock. The scan passes "now" in, so the
// same facts and policy always give the same decisions, which is what makes
// a decision reproducible as SOC 2 evidence.
//
// # Rule order
//
// Evaluate applies these rules to each product access in this order; the
// first that matches decides:
//
//  1. Product out of scope: the product has no enabled rule →
//     out_of_scope (ReasonProductOutOfScope). An enabled rule with
//     inactiveDays < 1 (rejected by Policy.Validate) is also out of scope,
//     with ReasonInvalidRule, so a broken rule can never remove everybody.
//  2. Admins, always: platform role atlassian/org-admin or
//     atlassian/site-admin, or any grant path (on any product) carrying the
//     product role atlassian/admin → exempt (ReasonExemptAdmin). Nothing
//     else can override this.
//  3. Exempt account ids → exempt (ReasonExemptAccount).
//  4. Exempt groups: the account is in one of ExemptGroupIDs, by its group
//     list or through any grant path → exempt (ReasonExemptGroup).
//  5. Exempt email domains: the email's domain equals an entry or is a
//     subdomain of it, case-insensitively → exempt (ReasonExemptDomain).
//  6. App accounts when ExemptAppAccounts, customer accounts when
//     ExemptCustomerAccounts → exempt (ReasonExemptAppAccount,
//     ReasonExemptCustomer). App accounts matter most: REST/API-token use
//     does not count as activity, so bots always look idle (DOMAIN.md §3.8).
//  7. Unmanaged accounts (claim status other than "managed"):
//     unmanaged=exclude → exempt (ReasonUnmanagedExcluded);
//     unmanaged=report_only → evaluated by the rules below, but an account
//     that would be removed becomes report_only (ReasonUnmanagedReportOnly);
//     unmanaged=include → evaluated like any other account.
//  8. Activity unknown (ActivityKnown false) → unknown
//     (ReasonActivityUnknown). Unknown is never inactive (DOMAIN.md §3.8).
//     A product that was never used by an account without an AddedToOrg
//     date is unknown too (ReasonNeverUsedUndated): it cannot be dated.
//  9. Grace: the account was added to the organization less than GraceDays
//     ago → keep (ReasonGracePeriod).
//  10. Activity, see below.
//
// # Activity, warning and action
//
// Days inactive are counted from LastActive, or from AddedToOrg when the
// product was never used. With I the product's inactiveDays and W the
// policy's WarningDays:
//
//   - days < I−W → keep (ReasonActive, or ReasonNeverUsedRecent for a
//     product never used);
//   - I−W ≤ days < I → pending_removal, when W > 0 and a removal would
//     follow (action remove_groups, not unmanaged=report_only, at least one
//     grant path); the reason is already ReasonInactive or ReasonNeverUsed
//     and the rule ends in ",warningDays=W". An account becomes pending W
//     days before it would be removed; RemovalDue is the date it crosses
//     the threshold (LastActive or AddedToOrg + I days). A W ≥ I (which Policy.Validate
//     allows) puts every account that is not yet inactive in the window;
//   - days ≥ I → inactive (ReasonInactive or ReasonNeverUsed), and then
//     unmanaged=report_only → report_only (ReasonUnmanagedReportOnly);
//     action other than remove_groups → report_only, rule ending in
//     ",action=report_only"; no grant path known → report_only
//     (ReasonNoGrantPath): there is nothing Lapse could remove; every path
//     IdP-synced → handoff (ReasonSyncedOnly), HandoffGroups set: Lapse
//     cannot act, the identity provider must (DOMAIN.md fact 7); otherwise
//     remove, RemoveGroups the non-synced paths and HandoffGroups the
//     synced ones (the IdP must change those, or the account keeps access
//     through them).
//
// # Decisions made here
//
//   - Days are whole 24-hour periods (floored) between the date and now; a
//     date in the future counts as 0 days. Flooring never overstates
//     inactivity.
//   - Pending_removal only announces a removal that will happen: under
//     action report_only, for unmanaged=report_only accounts and for access
//     without any grant path there is no pending state; those accounts stay
//     keep until they cross the threshold.
//   - DaysInactive is filled on every decision, exempt and out-of-scope ones
//     included, so the evidence shows how idle an exempt admin is; it is -1
//     only when activity is unknown or a never-used product cannot be dated.
//   - Pending and keep decisions carry no RemoveGroups/HandoffGroups: only a
//     remove or handoff decision tells an executor what to change.
//   - Accounts whose AccountStatus is not "active" (deactivated or closed)
//     are evaluated like any other, by their last activity, and keep the
//     activity reason. They are usually no longer billable, but their group
//     memberships still grant access if the account is ever reactivated, so
//     removing them is access-review hygiene rather than a saving.
//   - Admin, group and domain exemptions are properties of the account, so
//     they apply to every product it holds: a Jira product admin is not
//     removed from Confluence either.
//   - Only an explicit claim status "managed" counts as managed. An account
//     whose claim status was not reported is treated as unmanaged, so
//     unmanaged=exclude never removes an account we cannot place.
//   - Evaluate does not validate the policy. Values Validate would reject are
//     read conservatively: an unrecognised action reports only, an
//     unrecognised unmanaged mode reports only.
//
// CheckBrake is the safety brake of a whole run (absolute and per-product
// limits plus a data-sanity check); a held run removes nothing until an
// admin approves it. Only the policy's explicit brake.off turns the limits
// off (a zero limit reads as the default); the data-sanity check always
// applies. Summarize counts decisions for the scan record.
package policy
