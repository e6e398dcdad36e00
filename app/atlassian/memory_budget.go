package atlassian

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// MemoryBudget is a concurrency-safe, in-memory Budget for tests and
// single-process tools. It only shares state within one process; replicas
// need the store-backed Budget.
type MemoryBudget struct {
	mu        sync.Mutex
	used      map[windowKey]int64
	pauses    map[string]pause
	lastPrune time.Time
}

// windowKey identifies one window of one scope. Start is kept as Unix
// nanoseconds because time.Time values with different locations or monotonic
// readings are not == even when they denote the same instant.
type windowKey struct {
	scope  string
	window time.Duration
	start  int64
}

type pause struct {
	until  time.Time
	reason string
}

var _ Budget = (*MemoryBudget)(nil)

// NewMemoryBudget returns an empty MemoryBudget.
func NewMemoryBudget() *MemoryBudget {
	return &MemoryBudget{used: map[windowKey]int64{}, pauses: map[string]pause{}}
}

func keyFor(now time.Time, scope string, window time.Duration) windowKey {
	if window < 0 {
		window = 0
	}
	start := WindowStart(now, window)
	var ns int64
	if !start.IsZero() {
		ns = start.UnixNano()
	}
	return windowKey{scope: scope, window: window, start: ns}
}

// Reserve implements Budget. Charges of the same scope and window are summed
// before the limit is checked, so one call cannot slip past a limit by
// splitting its cost.
func (b *MemoryBudget) Reserve(ctx context.Context, now time.Time, charges []Charge) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := validateCharges(charges); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pruneLocked(now)

	wanted := map[windowKey]int64{}
	for _, c := range charges {
		wanted[keyFor(now, c.Scope, c.Window)] += c.Units
	}
	for _, c := range charges {
		k := keyFor(now, c.Scope, c.Window)
		used, want := b.used[k], wanted[k]
		if c.Limit <= 0 || used+want <= c.Limit {
			continue
		}
		e := &BudgetError{Scope: c.Scope, Limit: c.Limit, Used: used, Wanted: want, Reason: ReasonWindowFull}
		if want > c.Limit {
			e.Reason = ReasonOverLimit // waiting for the next window would not help
		} else {
			e.ResetAt = windowEnd(now, c.Window)
		}
		return e
	}
	for k, units := range wanted {
		b.used[k] += units
	}
	return nil
}

func validateCharges(charges []Charge) error {
	for _, c := range charges {
		if c.Scope == "" {
			return errors.New("atlassian: charge without scope")
		}
		if c.Units < 0 || c.Limit < 0 {
			return fmt.Errorf("atlassian: charge %q: negative units or limit", c.Scope)
		}
	}
	return nil
}

// Adjust implements Budget.
func (b *MemoryBudget) Adjust(ctx context.Context, now time.Time, c Charge, delta int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.Scope == "" {
		return errors.New("atlassian: charge without scope")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	k := keyFor(now, c.Scope, c.Window)
	b.used[k] = max(b.used[k]+delta, 0)
	return nil
}

// Pause implements Budget.
func (b *MemoryBudget) Pause(ctx context.Context, scope string, until time.Time, reason string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if scope == "" {
		return errors.New("atlassian: pause without scope")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if p, ok := b.pauses[scope]; ok && !until.After(p.until) {
		return nil
	}
	b.pauses[scope] = pause{until: until, reason: reason}
	return nil
}

// PausedUntil implements Budget.
func (b *MemoryBudget) PausedUntil(ctx context.Context, scope string) (time.Time, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pauses[scope].until, nil
}

// PauseReason returns the reason recorded with scope's current pause, ""
// when none. It is not part of Budget; reports and tests use it.
func (b *MemoryBudget) PauseReason(scope string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pauses[scope].reason
}

// Usage implements Budget.
func (b *MemoryBudget) Usage(ctx context.Context, now time.Time, scope string, window time.Duration) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used[keyFor(now, scope, window)], nil
}

// pruneLocked drops windows and pauses that ended before now, at most once a
// minute of the caller's clock, so a long-running tool does not grow without
// bound. Windows slightly in the past are kept: a refund (Adjust) may still
// arrive for them.
func (b *MemoryBudget) pruneLocked(now time.Time) {
	if !b.lastPrune.IsZero() && now.Sub(b.lastPrune) < time.Minute && now.After(b.lastPrune) {
		return
	}
	b.lastPrune = now
	cutoff := now.Add(-time.Hour)
	for k := range b.used {
		if k.window > 0 && time.Unix(0, k.start).Add(k.window).Before(cutoff) {
			delete(b.used, k)
		}
	}
	for s, p := range b.pauses {
		if p.until.Before(cutoff) {
			delete(b.pauses, s)
		}
	}
}
