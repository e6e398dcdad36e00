package policy_test

import (
	"cmp"
	"slices"
	"testing"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/policy"
)

var knownOutcomes = []string{
	app.OutcomeKeep, app.OutcomeRemove, app.OutcomePending, app.OutcomeExempt,
	app.OutcomeHandoff, app.OutcomeReportOnly, app.OutcomeUnknown, app.OutcomeOutOfScope,
}

// FuzzEvaluate checks that Evaluate never panics, returns one decision per
// access entry in a stable order, and keeps its safety invariants whatever
// the facts and the (possibly invalid) policy.
func FuzzEvaluate(f *testing.F) {
	f.Add("atlassian", "managed", "ada@corp.test", true, 400, 120, uint16(0x00ff), uint8(3), uint8(0b0101), "", 30, 90, 0, "remove_groups", "include", "corp.test", "g-1", "")
	f.Add("app", "unmanaged", "", false, 10, -5, uint16(0xffff), uint8(7), uint8(0xff), "atlassian/admin", 0, 1, 90, "report_only", "report_only", "", "", "atlassian/org-admin")
	f.Add("customer", "", "x@@Y.example.COM", true, -1, 0, uint16(0), uint8(0), uint8(0), "", -3, 0, -1, "", "", ".example.com", "g-0", "")
	f.Add("atlassian", "managed", "bob@corp.test", true, 0, 90, uint16(0x5555), uint8(5), uint8(0b11110), "atlassian/user", 30, 90, 14, "remove_groups", "exclude", "CORP.test", "", "")

	f.Fuzz(func(t *testing.T, accountType, claim, email string, activityKnown bool,
		addedDays, lastDays int, neverUsedMask uint16, nAccess, syncedMask uint8, pathRole string,
		graceDays, inactiveDays, warningDays int, action, unmanaged, exemptDomain, exemptGroup, platformRole string,
	) {
		products := []string{jira, confluence, jsm, ""}
		p := basePolicy()
		p.GraceDays, p.WarningDays = graceDays, warningDays
		p.Action, p.Unmanaged = action, unmanaged
		p.Products[confluence] = app.ProductRule{Enabled: true, InactiveDays: inactiveDays}
		p.ExemptEmailDomains = []string{exemptDomain}
		p.ExemptGroupIDs = []string{exemptGroup}

		acc := app.AccountFacts{
			AccountID: "acc", Email: email, AccountType: accountType, ClaimStatus: claim,
			AccountStatus: "active", ActivityKnown: activityKnown, PlatformRoles: []string{platformRole},
		}
		if addedDays >= 0 {
			acc.AddedToOrg = daysAgo(addedDays % 100000)
		}
		n := int(nAccess % 9)
		for i := range n {
			use := app.ProductUse{Product: products[i%len(products)], ResourceID: string(rune('a' + (n - i)))}
			if neverUsedMask&(1<<i) == 0 {
				use.LastActive = ptr(daysAgo((lastDays + i) % 100000))
			}
			for j := range i % 4 {
				use.Paths = append(use.Paths, app.GrantPath{
					GroupID: "g-" + string(rune('0'+j)), Synced: syncedMask&(1<<((i+j)%8)) != 0,
					Product: use.Product, ResourceID: use.ResourceID, Roles: []string{pathRole},
				})
			}
			acc.Access = append(acc.Access, use)
		}

		got := policy.Evaluate(p, acc, now)
		if len(got) != len(acc.Access) {
			t.Fatalf("got %d decisions for %d access entries", len(got), len(acc.Access))
		}
		if !slices.IsSortedFunc(got, func(a, b app.Decision) int {
			return cmp.Or(cmp.Compare(a.Product, b.Product), cmp.Compare(a.ResourceID, b.ResourceID))
		}) {
			t.Errorf("decisions not sorted by product, resource")
		}
		for _, d := range got {
			if !slices.Contains(knownOutcomes, d.Outcome) || d.Reason == "" || d.Rule == "" {
				t.Errorf("incomplete decision %+v", d)
			}
			if d.PolicyVersion != p.Version || d.AccountID != acc.AccountID {
				t.Errorf("identity lost: %+v", d)
			}
			if d.DaysInactive < -1 {
				t.Errorf("DaysInactive = %d", d.DaysInactive)
			}
			// Unknown activity is never acted on.
			if !activityKnown && d.Outcome != app.OutcomeExempt && d.Outcome != app.OutcomeOutOfScope && d.Outcome != app.OutcomeUnknown {
				t.Errorf("activity unknown but outcome %q (%s)", d.Outcome, d.Reason)
			}
			switch d.Outcome {
			case app.OutcomeRemove:
				if p.Action != app.ActionRemoveGroups || len(d.RemoveGroups) == 0 ||
					len(d.RemoveGroups)+len(d.HandoffGroups) != len(d.BillablePath) {
					t.Errorf("bad remove %+v", d)
				}
				for _, gp := range d.RemoveGroups {
					if gp.Synced {
						t.Errorf("remove of synced group %+v", gp)
					}
				}
				if slices.Contains(acc.PlatformRoles, policy.RoleOrgAdmin) || pathRole == policy.RoleProductAdmin && len(d.BillablePath) > 0 {
					t.Errorf("admin removed: %+v", d)
				}
			case app.OutcomeHandoff:
				if len(d.RemoveGroups) != 0 || len(d.HandoffGroups) != len(d.BillablePath) || len(d.HandoffGroups) == 0 {
					t.Errorf("bad handoff %+v", d)
				}
			default:
				if len(d.RemoveGroups) != 0 || len(d.HandoffGroups) != 0 {
					t.Errorf("%s decision with group lists: %+v", d.Outcome, d)
				}
			}
		}

		// Determinism.
		if again := policy.Evaluate(p, acc, now); !slices.EqualFunc(again, got, func(a, b app.Decision) bool {
			return a.Outcome == b.Outcome && a.Reason == b.Reason && a.Rule == b.Rule && a.ResourceID == b.ResourceID
		}) {
			t.Errorf("Evaluate is not deterministic")
		}

		// The brake and the summary accept whatever Evaluate returns.
		br := policy.CheckBrake(p, got, map[string]int{jira: 1})
		if br.Held != (len(br.Reasons) > 0) {
			t.Errorf("Held %v with reasons %q", br.Held, br.Reasons)
		}
		if s := policy.Summarize(got); s.Decisions != len(got) {
			t.Errorf("summary counts %d of %d", s.Decisions, len(got))
		}
	})
}
