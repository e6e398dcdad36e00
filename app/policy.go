package app

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// PolicyMode says whether a scan under the policy changes anything.
type PolicyMode string

// Policy modes: a new install starts in dry run.
const (
	ModeDryRun  PolicyMode = "dry_run"
	ModeEnforce PolicyMode = "enforce"
)

// Policy actions.
const (
	ActionRemoveGroups = "remove_groups" // remove the user from the groups that grant the product on this site (reversible)
	ActionReportOnly   = "report_only"
)

// How unmanaged (external) accounts are treated.
const (
	UnmanagedInclude    = "include"
	UnmanagedExclude    = "exclude"
	UnmanagedReportOnly = "report_only"
)

// Policy defaults.
const (
	DefaultInactiveDays    = 90
	DefaultGraceDays       = 30
	DefaultMaxRemovals     = 50
	DefaultMaxRemovalShare = 0.10
	DefaultScanTime        = "03:00"
	DefaultJitterMinutes   = 30
	// MaxBrakeOffJustification caps brake.offJustification: a sentence or
	// two for the audit trail, not a document.
	MaxBrakeOffJustification = 500
)

// Brake is the safety brake's switch. It is on unless an admin turns it off
// explicitly, with a reason that goes into the audit trail: no zero, empty
// or omitted value can turn it off.
type Brake struct {
	Off              bool   `json:"off"`
	OffJustification string `json:"offJustification,omitempty"`
}

// ProductRule is the inactivity rule of one product (a product key such as
// jira-software or confluence).
type ProductRule struct {
	Enabled      bool `json:"enabled"`
	InactiveDays int  `json:"inactiveDays"`
}

// Policy is a tenant's access-removal policy. Every saved change is a new
// Version, audited with the before and after.
type Policy struct {
	TenantID string     `json:"tenantId,omitempty"`
	Version  int        `json:"version"`
	Mode     PolicyMode `json:"mode"`
	Action   string     `json:"action"`
	// Products maps product keys to their rule; a product without an
	// enabled rule is out of scope.
	Products map[string]ProductRule `json:"products"`
	// GraceDays protects accounts added to the organization less than this
	// many days ago; a user who never used a product counts from that date.
	GraceDays int `json:"graceDays"`
	// Exemptions. Org and site admins are always exempt.
	ExemptGroupIDs         []string `json:"exemptGroupIds"`
	ExemptAccountIDs       []string `json:"exemptAccountIds"`
	ExemptEmailDomains     []string `json:"exemptEmailDomains"`
	ExemptAppAccounts      bool     `json:"exemptAppAccounts"`
	ExemptCustomerAccounts bool     `json:"exemptCustomerAccounts"`
	Unmanaged              string   `json:"unmanaged"`
	// Safety brake: a run that would remove more than MaxRemovals accounts,
	// or more than MaxRemovalShare of a product's users, removes nothing and
	// waits for an admin's approval, unless Brake.Off. The data-sanity hold
	// of app/policy applies either way.
	Brake           Brake   `json:"brake"`
	MaxRemovals     int     `json:"maxRemovals"`
	MaxRemovalShare float64 `json:"maxRemovalShare"`
	// Schedule: daily at ScanTime (HH:MM) in TimeZone, plus up to
	// JitterMinutes of jitter.
	TimeZone      string `json:"timeZone"`
	ScanTime      string `json:"scanTime"`
	JitterMinutes int    `json:"jitterMinutes"`
	// WarningDays, when > 0, marks users pending removal this many days
	// before they would be removed.
	WarningDays int `json:"warningDays"`

	UpdatedAt time.Time `json:"updatedAt,omitzero"`
	UpdatedBy string    `json:"updatedBy,omitempty"`
}

// DefaultPolicy is the policy of a new tenant: dry run, 90 days for every
// product, reversible group removal, conservative brake.
func DefaultPolicy(tenantID string, products []string) Policy {
	p := Policy{
		TenantID: tenantID, Version: 0, Mode: ModeDryRun, Action: ActionRemoveGroups,
		Products: map[string]ProductRule{}, GraceDays: DefaultGraceDays,
		ExemptAppAccounts: true, ExemptCustomerAccounts: true, Unmanaged: UnmanagedInclude,
		MaxRemovals: DefaultMaxRemovals, MaxRemovalShare: DefaultMaxRemovalShare,
		TimeZone: "UTC", ScanTime: DefaultScanTime, JitterMinutes: DefaultJitterMinutes,
	}
	for _, prod := range products {
		p.Products[prod] = ProductRule{Enabled: true, InactiveDays: DefaultInactiveDays}
	}
	return p
}

// Validate reports every problem of p at once, as an EINVALID error whose
// message names the fields.
func (p *Policy) Validate() error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if p.Mode != ModeDryRun && p.Mode != ModeEnforce {
		add("mode must be %q or %q", ModeDryRun, ModeEnforce)
	}
	if p.Action != ActionRemoveGroups && p.Action != ActionReportOnly {
		add("action must be %q or %q", ActionRemoveGroups, ActionReportOnly)
	}
	for prod, r := range p.Products {
		if r.InactiveDays < 1 || r.InactiveDays > 3650 {
			add("products.%s.inactiveDays must be between 1 and 3650", prod)
		}
		// A warning period as long as the threshold would warn people who
		// are active today.
		if r.Enabled && p.WarningDays >= r.InactiveDays && p.WarningDays > 0 {
			add("warningDays must be less than products.%s.inactiveDays", prod)
		}
	}
	if p.GraceDays < 0 || p.GraceDays > 3650 {
		add("graceDays must be between 0 and 3650")
	}
	if !slices.Contains([]string{UnmanagedInclude, UnmanagedExclude, UnmanagedReportOnly}, p.Unmanaged) {
		add("unmanaged must be %q, %q or %q", UnmanagedInclude, UnmanagedExclude, UnmanagedReportOnly)
	}
	problems = append(problems, p.brakeProblems()...)
	if !validTimeZone(p.TimeZone) {
		add("timeZone must be an IANA time zone such as Europe/Berlin or UTC (not empty, not Local: the server's own zone is not the site's)")
	}
	if !validScanTime(p.ScanTime) {
		add("scanTime must be HH:MM, 24-hour with two digits each, such as 03:00")
	}
	if p.JitterMinutes < 0 || p.JitterMinutes > 240 {
		add("jitterMinutes must be between 0 and 240")
	}
	if p.WarningDays < 0 || p.WarningDays > 90 {
		add("warningDays must be between 0 and 90")
	}
	for _, d := range p.ExemptEmailDomains {
		if d == "" || strings.ContainsAny(d, "@ /") {
			add("exemptEmailDomains entries must be bare domains such as example.com")
			break
		}
	}
	if len(problems) > 0 {
		return Errorf(EINVALID, "invalid policy: %s", strings.Join(problems, "; "))
	}
	return nil
}

// brakeOffHint tells an admin how to turn the brake off, since a zero limit
// no longer does.
const brakeOffHint = "to run without limits, turn the safety brake off explicitly: brake.off true with a brake.offJustification"

// brakeProblems checks the brake. The limits must be real limits whether
// the brake is on or off, so that turning it back on restores them and no
// stored zero can be read as "unlimited".
func (p *Policy) brakeProblems() []string {
	var problems []string
	if p.MaxRemovals < 1 {
		problems = append(problems, "maxRemovals must be 1 or more ("+brakeOffHint+")")
	}
	// The negated form also refuses NaN.
	if !(p.MaxRemovalShare > 0 && p.MaxRemovalShare <= 1) {
		problems = append(problems, "maxRemovalShare must be more than 0 and at most 1 ("+brakeOffHint+")")
	}
	why := strings.TrimSpace(p.Brake.OffJustification)
	switch {
	case p.Brake.Off && why == "":
		problems = append(problems, "brake.offJustification is required when brake.off is true: say why this policy may remove any number of accounts without an approval")
	case !p.Brake.Off && p.Brake.OffJustification != "":
		problems = append(problems, "brake.offJustification is only allowed when brake.off is true (remove it, or set brake.off)")
	}
	if n := utf8.RuneCountInString(p.Brake.OffJustification); n > MaxBrakeOffJustification {
		problems = append(problems, fmt.Sprintf("brake.offJustification must be at most %d characters (it has %d)", MaxBrakeOffJustification, n))
	}
	if strings.ContainsFunc(p.Brake.OffJustification, unicode.IsControl) {
		problems = append(problems, "brake.offJustification must be one line of text without control characters")
	}
	return problems
}

// BrakeLimits returns the limits the safety brake applies. A limit of zero
// or less is never "no limit": policy versions saved before the brake had
// its explicit off switch may hold 0, which meant "no limit" by accident,
// and such a limit reads as the default.
func (p *Policy) BrakeLimits() (maxRemovals int, maxRemovalShare float64) {
	maxRemovals, maxRemovalShare = p.MaxRemovals, p.MaxRemovalShare
	if maxRemovals < 1 {
		maxRemovals = DefaultMaxRemovals
	}
	if !(maxRemovalShare > 0) {
		maxRemovalShare = DefaultMaxRemovalShare
	}
	return maxRemovals, maxRemovalShare
}

// validTimeZone accepts IANA names only. time.LoadLocation also accepts
// "Local" (the server's zone, which differs between replicas and has
// nothing to do with the site) and "" (UTC, by accident of an omitted field).
func validTimeZone(name string) bool {
	if name == "" || name == "Local" {
		return false
	}
	_, err := time.LoadLocation(name)
	return err == nil
}

// validScanTime accepts exactly HH:MM. time.Parse("15:04", …) also accepts
// one-digit hours such as 3:00.
func validScanTime(s string) bool {
	if len(s) != 5 || s[2] != ':' {
		return false
	}
	digits := s[:2] + s[3:]
	for _, r := range digits {
		if r < '0' || r > '9' {
			return false
		}
	}
	hour, minute := int(s[0]-'0')*10+int(s[1]-'0'), int(s[3]-'0')*10+int(s[4]-'0')
	return hour <= 23 && minute <= 59
}

// Warnings are what an admin should know about a valid policy: settings
// that are allowed but weaken it or do nothing. mailConfigured says whether
// this deployment can send warning e-mails.
func (p *Policy) Warnings(mailConfigured bool) []string {
	warnings := []string{}
	if p.Brake.Off {
		warnings = append(warnings, fmt.Sprintf("The safety brake is off: a scan in enforce mode removes every account the policy selects, "+
			"however many, without waiting for an approval (justification: %q). The data-sanity hold still applies.", p.Brake.OffJustification))
	}
	if p.WarningDays > 0 && !mailConfigured {
		warnings = append(warnings, "A warning period is set but no mail relay is configured (LAPSE_SMTP_URL), so no warning e-mails will be sent")
	}
	return warnings
}

// GrantPath is one step of a billable path: membership in a group grants
// roles on a product on this site.
type GrantPath struct {
	GroupID    string   `json:"groupId"`
	GroupName  string   `json:"groupName"`
	Synced     bool     `json:"synced"`
	ResourceID string   `json:"resourceId"`
	Product    string   `json:"product"`
	Roles      []string `json:"roles"`
	Default    bool     `json:"default,omitempty"`
}

// ProductUse is one product an account holds on the site.
type ProductUse struct {
	ResourceID string      `json:"resourceId"`
	Product    string      `json:"product"`
	LastActive *time.Time  `json:"lastActive"` // nil: never used
	Paths      []GrantPath `json:"paths"`
}

// AccountFacts is what a scan knows about one account when it evaluates the
// policy: its identity as seen then, its groups and its product use.
type AccountFacts struct {
	AccountID        string       `json:"accountId"`
	Name             string       `json:"name"`
	Email            string       `json:"email,omitempty"`
	AccountType      string       `json:"accountType"`   // atlassian | app | customer
	AccountStatus    string       `json:"accountStatus"` // active | inactive | closed
	ClaimStatus      string       `json:"claimStatus"`   // managed | unmanaged
	ManagementSource string       `json:"managementSource,omitempty"`
	AddedToOrg       time.Time    `json:"addedToOrg,omitzero"`
	PlatformRoles    []string     `json:"platformRoles,omitempty"`
	GroupIDs         []string     `json:"groupIds"`
	Access           []ProductUse `json:"access"`
	// ActivityKnown is false when last-active data could not be read: the
	// account is then "unknown", never "inactive".
	ActivityKnown bool `json:"activityKnown"`
}

// Decision outcomes.
const (
	OutcomeKeep       = "keep"
	OutcomeRemove     = "remove"
	OutcomePending    = "pending_removal" // inside the warning period
	OutcomeExempt     = "exempt"
	OutcomeHandoff    = "handoff" // access only through IdP-synced groups: the IdP must act
	OutcomeReportOnly = "report_only"
	OutcomeUnknown    = "unknown"
	OutcomeOutOfScope = "out_of_scope"
)

// Decision is the policy's verdict on one account's access to one product,
// with a machine-readable reason and the billable path it rests on.
type Decision struct {
	AccountID     string     `json:"accountId"`
	Product       string     `json:"product"`
	ResourceID    string     `json:"resourceId"`
	Outcome       string     `json:"outcome"`
	Reason        string     `json:"reason"`
	Rule          string     `json:"rule"` // e.g. "products.jira-software.inactiveDays=90"
	PolicyVersion int        `json:"policyVersion"`
	LastActive    *time.Time `json:"lastActive"`
	DaysInactive  int        `json:"daysInactive"`
	// RemovalDue, on pending_removal decisions, is when the account crosses
	// the threshold and a scan would remove it (the warning names it).
	RemovalDue   *time.Time  `json:"removalDue,omitempty"`
	BillablePath []GrantPath `json:"billablePath"`
	// RemoveGroups are the paths a removal takes (not synced); HandoffGroups
	// the synced ones the identity provider must change.
	RemoveGroups  []GrantPath `json:"removeGroups,omitempty"`
	HandoffGroups []GrantPath `json:"handoffGroups,omitempty"`
}
