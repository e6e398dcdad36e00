package policy

import (
	"fmt"
	"slices"

	"github.com/lapsehq/lapse/app"
)

// Data-sanity thresholds of the brake. Real organizations do have many idle
// users, but when nearly everybody looks inactive, or activity is unknown for
// half of a product, the likelier explanation is bad data (a wrong org, an
// expired key, a changed API), and acting on it would remove access from
// people who use the product.
const (
	// SanityMinUsers is the number of users, and of in-scope decisions, a
	// product needs before the data-sanity check applies: small products,
	// or a run that decided on only a few of a product's users, are too
	// noisy to judge.
	SanityMinUsers = 20
	// SanityMaxInactiveShare is the share of a product's in-scope decisions
	// that may be inactive (remove, handoff or report_only) before the run
	// is held; the run is held when the share is strictly greater.
	SanityMaxInactiveShare = 0.90
	// SanityMaxUnknownShare is the share of a product's in-scope decisions
	// that may have unknown activity before the run is held; the run is held
	// when the share is strictly greater.
	SanityMaxUnknownShare = 0.50
)

// BrakeResult is the verdict of the safety brake on a whole run. When Held
// is true the run removes nothing and waits for an admin's approval.
type BrakeResult struct {
	Held bool `json:"held"`
	// Off records that the policy had the brake's limits turned off
	// explicitly (brake.off); the data-sanity hold still applied.
	Off bool `json:"off,omitempty"`
	// Reasons explains every limit that was crossed, in a stable order.
	Reasons []string `json:"reasons,omitempty"`
	// Removals is the number of distinct accounts with at least one remove
	// decision.
	Removals   int                     `json:"removals"`
	PerProduct map[string]ProductCount `json:"perProduct"`
}

// ProductCount is the brake's view of one product.
type ProductCount struct {
	// Users is the product's user count as the caller gave it, or, when the
	// caller gave none, the number of distinct accounts holding the product
	// among the decisions.
	Users int `json:"users"`
	// Removals is the number of distinct accounts with a remove decision on
	// the product.
	Removals int `json:"removals"`
	// Share is Removals / Users, 0 when Users is 0.
	Share float64 `json:"share"`
}

// productTally collects what the brake needs about one product.
type productTally struct {
	holders  map[string]bool // accounts with any decision on the product
	removed  map[string]bool // accounts with a remove decision
	inScope  int             // decisions that are not out_of_scope
	inactive int             // remove, handoff or report_only
	unknown  int
}

// CheckBrake applies the run's safety brake to the decisions of a run.
// usersPerProduct maps product keys to the product's user count; a product
// missing from it is measured against the accounts seen in decisions, which
// can only make its removal share larger, never hide it.
//
// The run is held when
//   - more than p.MaxRemovals distinct accounts would be removed;
//   - for any product, removals / users is greater than p.MaxRemovalShare
//     (when users > 0);
//   - for any product with at least SanityMinUsers users and in-scope
//     decisions, more than SanityMaxInactiveShare of its in-scope decisions
//     are inactive, or more than SanityMaxUnknownShare are unknown: the
//     activity data looks wrong. The sanity check applies whatever the
//     limits say, even in a run that would remove nobody: bad data also
//     spoils the run's evidence.
//
// The two limits apply unless the policy turns the brake off explicitly
// (p.Brake.Off); a limit of zero or less is read as its default
// (app.Policy.BrakeLimits), never as "no limit".
//
// Only remove decisions count as removals: pending, handoff and report_only
// decisions change nothing in this run.
func CheckBrake(p app.Policy, decisions []app.Decision, usersPerProduct map[string]int) BrakeResult {
	tallies := map[string]*productTally{}
	tally := func(prod string) *productTally {
		t := tallies[prod]
		if t == nil {
			t = &productTally{holders: map[string]bool{}, removed: map[string]bool{}}
			tallies[prod] = t
		}
		return t
	}
	for prod := range usersPerProduct {
		tally(prod)
	}
	removedAccounts := map[string]bool{}
	for _, d := range decisions {
		t := tally(d.Product)
		t.holders[d.AccountID] = true
		if d.Outcome == app.OutcomeOutOfScope {
			continue
		}
		t.inScope++
		switch d.Outcome {
		case app.OutcomeRemove:
			t.removed[d.AccountID] = true
			removedAccounts[d.AccountID] = true
			t.inactive++
		case app.OutcomeHandoff, app.OutcomeReportOnly:
			t.inactive++
		case app.OutcomeUnknown:
			t.unknown++
		}
	}

	res := BrakeResult{Off: p.Brake.Off, Removals: len(removedAccounts), PerProduct: make(map[string]ProductCount, len(tallies))}
	hold := func(format string, args ...any) {
		res.Held = true
		res.Reasons = append(res.Reasons, fmt.Sprintf(format, args...))
	}
	limitsOn := !p.Brake.Off
	maxRemovals, maxShare := p.BrakeLimits()
	if limitsOn && res.Removals > maxRemovals {
		hold("%d accounts to remove exceed maxRemovals=%d", res.Removals, maxRemovals)
	}

	products := make([]string, 0, len(tallies))
	for prod := range tallies {
		products = append(products, prod)
	}
	slices.Sort(products)
	for _, prod := range products {
		t := tallies[prod]
		users := usersPerProduct[prod]
		if users <= 0 {
			users = len(t.holders)
		}
		pc := ProductCount{Users: users, Removals: len(t.removed)}
		if users > 0 {
			// Division, not multiplication: the quotient is correctly
			// rounded, so removals/users equal to the limit (10 of 100
			// against 0.10) compares equal and does not hold.
			pc.Share = float64(pc.Removals) / float64(users)
		}
		res.PerProduct[prod] = pc

		if limitsOn && users > 0 && pc.Share > maxShare {
			hold("%s: %d of %d users to remove (%.1f%%) exceed maxRemovalShare=%g",
				prod, pc.Removals, users, pc.Share*100, maxShare)
		}
		if users < SanityMinUsers || t.inScope < SanityMinUsers {
			continue
		}
		if share := float64(t.inactive) / float64(t.inScope); share > SanityMaxInactiveShare {
			hold("activity data looks wrong: %s: %d of %d in-scope accounts (%.1f%%) look inactive, more than %.0f%%",
				prod, t.inactive, t.inScope, share*100, SanityMaxInactiveShare*100)
		}
		if share := float64(t.unknown) / float64(t.inScope); share > SanityMaxUnknownShare {
			hold("activity data looks wrong: %s: activity of %d of %d in-scope accounts (%.1f%%) is unknown, more than %.0f%%",
				prod, t.unknown, t.inScope, share*100, SanityMaxUnknownShare*100)
		}
	}
	return res
}
