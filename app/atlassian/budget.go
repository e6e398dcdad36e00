package atlassian

import (
	"context"
	"fmt"
	"time"
)

// Charge is the cost of one request in one accounting scope.
type Charge struct {
	// Scope names the shared counter, e.g. "points:app" (Tier 1 global pool),
	// "points:tenant:<id>" (Tier 2 per-tenant pool) or "admin:org:<orgId>"
	// (Admin API request counter).
	Scope string
	// Units is the cost of this request in the scope's unit (points or
	// requests). Reservations are upper-bound estimates; see Request.Settle.
	Units int64
	// Limit is the maximum number of units per window; 0 counts usage but
	// never refuses.
	Limit int64
	// Window is the window length. Windows are aligned to the Unix epoch in
	// UTC, so an hour window starts at the top of the UTC hour, exactly when
	// Atlassian's hourly quotas reset (DOMAIN.md §4.3). A zero Window is one
	// window that never resets.
	Window time.Duration
}

// Budget is shared accounting for every replica that calls Atlassian. The
// production implementation lives in app/store; MemoryBudget serves tests and
// single-process tools.
type Budget interface {
	// Reserve atomically adds every charge to its scope's current window, or
	// none of them. When a scope cannot fit its units it returns a
	// *BudgetError for the first failing scope.
	Reserve(ctx context.Context, now time.Time, charges []Charge) error
	// Adjust adds delta (negative = refund) to the window of c.Scope that
	// contains now, never taking it below 0. c.Units and c.Limit are ignored.
	Adjust(ctx context.Context, now time.Time, c Charge, delta int64) error
	// Pause marks scope unusable until `until` for every replica (an
	// Atlassian quota 429). A pause never shortens an existing one.
	Pause(ctx context.Context, scope string, until time.Time, reason string) error
	// PausedUntil returns the latest pause end of scope, zero when none. The
	// caller compares it with its clock; a past time means "not paused".
	PausedUntil(ctx context.Context, scope string) (time.Time, error)
	// Usage reports the used units of scope's window that contains now.
	Usage(ctx context.Context, now time.Time, scope string, window time.Duration) (int64, error)
}

// Reasons reported in BudgetError.Reason.
const (
	ReasonWindowFull  = "window limit reached"
	ReasonOverLimit   = "charge exceeds the window limit"
	ReasonScopePaused = "scope paused after an Atlassian quota rate limit"
	// ReasonPaced: the scope's Pacer gives the request a turn later.
	ReasonPaced = "request spaced out to the scope's steady rate"
)

// BudgetError reports that a request was not sent because its budget scope
// is exhausted or paused. The scheduler defers the work until ResetAt. A zero
// ResetAt means waiting does not help: the charge alone exceeds the limit.
type BudgetError struct {
	Scope   string
	Limit   int64
	Used    int64
	Wanted  int64
	ResetAt time.Time
	Paused  bool
	Reason  string
}

// Error implements the error interface.
func (e *BudgetError) Error() string {
	if e.Paused {
		return fmt.Sprintf("atlassian: budget scope %q paused until %s: %s",
			e.Scope, e.ResetAt.UTC().Format(time.RFC3339), e.Reason)
	}
	if e.ResetAt.IsZero() {
		return fmt.Sprintf("atlassian: budget scope %q: %s (wanted %d, limit %d)",
			e.Scope, e.Reason, e.Wanted, e.Limit)
	}
	return fmt.Sprintf("atlassian: budget scope %q: %s (used %d + wanted %d > limit %d), resets at %s",
		e.Scope, e.Reason, e.Used, e.Wanted, e.Limit, e.ResetAt.UTC().Format(time.RFC3339))
}

// WindowStart returns the start of the window of length window that contains
// now. Windows are aligned to the Unix epoch (UTC), so hour windows start at
// the top of the UTC hour and day windows at UTC midnight. A window <= 0 is a
// single window that never ends; its start is the zero time.
func WindowStart(now time.Time, window time.Duration) time.Time {
	if window <= 0 {
		return time.Time{}
	}
	epoch := time.Unix(0, 0).UTC()
	since := now.Sub(epoch)
	offset := since % window
	if offset < 0 {
		offset += window
	}
	return now.Add(-offset).UTC()
}

// windowEnd returns when the window containing now ends; zero for a window
// that never ends.
func windowEnd(now time.Time, window time.Duration) time.Time {
	if window <= 0 {
		return time.Time{}
	}
	return WindowStart(now, window).Add(window)
}

// Scopes of Atlassian's points pools, shared by the Jira and Confluence
// clients: Atlassian counts both products in one app-wide pool (Tier 1) and,
// on Tier 2, one pool per tenant (DOMAIN.md §4.3).
const ScopeAppPoints = "points:app"

// TenantPointsScope is the budget scope of a tenant's points pool.
func TenantPointsScope(tenantID string) string { return "points:tenant:" + tenantID }

// PointsCharges returns the hourly charges of a request costing units
// points, to the app-wide pool and to the tenant's.
func PointsCharges(tenantID string, units, appLimit, tenantLimit int64) []Charge {
	return []Charge{
		{Scope: ScopeAppPoints, Units: units, Limit: appLimit, Window: time.Hour},
		{Scope: TenantPointsScope(tenantID), Units: units, Limit: tenantLimit, Window: time.Hour},
	}
}
