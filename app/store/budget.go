package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/lapsehq/lapse/app/atlassian"
)

// Budget is the database-backed atlassian.Budget: every replica reserves
// from the same windows, so together they never spend more of Atlassian's
// shared quotas than configured.
type Budget struct{ s *Store }

var _ atlassian.Budget = (*Budget)(nil)

// Budget returns the store's shared API budget.
func (s *Store) Budget() *Budget { return &Budget{s: s} }

// Reserve adds every charge to its scope's current window, in one
// transaction: all fit or none is taken. The first charge that does not fit
// comes back as *atlassian.BudgetError.
func (b *Budget) Reserve(ctx context.Context, now time.Time, charges []atlassian.Charge) error {
	var refused *atlassian.BudgetError
	err := b.s.inTx(ctx, func(tx *Store) error {
		for _, c := range charges {
			var err error
			if refused, err = tx.reserveOne(ctx, now, c); err != nil {
				return err
			}
			if refused != nil {
				return refused // rolls back the charges already taken
			}
		}
		return nil
	})
	if refused != nil {
		return refused
	}
	if err != nil {
		return fmt.Errorf("store: reserve budget: %w", err)
	}
	return nil
}

// reserveOne is a conditional upsert: it creates the window or adds to it
// only while the sum stays within the limit (a zero limit only counts). It
// returns the refusal when the units do not fit.
func (s *Store) reserveOne(ctx context.Context, now time.Time, c atlassian.Charge) (*atlassian.BudgetError, error) {
	start := atlassian.WindowStart(now, c.Window).UTC()
	if c.Limit > 0 && c.Units > c.Limit {
		return &atlassian.BudgetError{Scope: c.Scope, Limit: c.Limit, Wanted: c.Units, Reason: atlassian.ReasonOverLimit}, nil
	}
	limit := c.Limit
	if limit <= 0 {
		limit = 1<<62 - 1
	}
	res := s.db.WithContext(ctx).Exec(`INSERT INTO api_budget_windows (scope, window_start, used) VALUES (?, ?, ?)
		ON CONFLICT (scope, window_start) DO UPDATE SET used = api_budget_windows.used + excluded.used
		WHERE api_budget_windows.used + excluded.used <= ?`, c.Scope, start, c.Units, limit)
	if res.Error != nil {
		return nil, res.Error
	}
	if res.RowsAffected == 1 {
		return nil, nil
	}
	used, err := s.usage(ctx, c.Scope, start)
	if err != nil {
		return nil, err
	}
	refused := &atlassian.BudgetError{Scope: c.Scope, Limit: c.Limit, Used: used, Wanted: c.Units, Reason: atlassian.ReasonWindowFull}
	if c.Window > 0 {
		refused.ResetAt = start.Add(c.Window)
	}
	return refused, nil
}

func (s *Store) usage(ctx context.Context, scope string, start time.Time) (int64, error) {
	var used int64
	err := s.db.WithContext(ctx).Raw(`SELECT used FROM api_budget_windows WHERE scope = ? AND window_start = ?`, scope, start.UTC()).Row().Scan(&used)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return used, err
}

// Adjust adds delta (negative refunds) to the current window of c's scope,
// never taking it below zero.
func (b *Budget) Adjust(ctx context.Context, now time.Time, c atlassian.Charge, delta int64) error {
	start := atlassian.WindowStart(now, c.Window).UTC()
	db := b.s.db.WithContext(ctx)
	var err error
	switch {
	case delta > 0:
		err = db.Exec(`INSERT INTO api_budget_windows (scope, window_start, used) VALUES (?, ?, ?)
			ON CONFLICT (scope, window_start) DO UPDATE SET used = api_budget_windows.used + excluded.used`, c.Scope, start, delta).Error
	case delta < 0:
		err = db.Exec(`UPDATE api_budget_windows SET used = CASE WHEN used + ? < 0 THEN 0 ELSE used + ? END
			WHERE scope = ? AND window_start = ?`, delta, delta, c.Scope, start).Error
	}
	if err != nil {
		return fmt.Errorf("store: adjust budget: %w", err)
	}
	return nil
}

// Pause marks scope unusable until until, keeping the later of two pauses.
func (b *Budget) Pause(ctx context.Context, scope string, until time.Time, reason string) error {
	err := b.s.db.WithContext(ctx).Exec(`INSERT INTO api_budget_pauses (scope, paused_til, reason) VALUES (?, ?, ?)
		ON CONFLICT (scope) DO UPDATE SET paused_til = excluded.paused_til, reason = excluded.reason
		WHERE api_budget_pauses.paused_til < excluded.paused_til`, scope, until.UTC(), reason).Error
	if err != nil {
		return fmt.Errorf("store: pause budget: %w", err)
	}
	return nil
}

// PausedUntil returns the end of scope's pause, or the zero time.
func (b *Budget) PausedUntil(ctx context.Context, scope string) (time.Time, error) {
	var rows []struct{ PausedTil time.Time }
	err := b.s.db.WithContext(ctx).Raw(`SELECT paused_til FROM api_budget_pauses WHERE scope = ?`, scope).Scan(&rows).Error
	if err != nil {
		return time.Time{}, fmt.Errorf("store: paused until: %w", err)
	}
	if len(rows) == 0 {
		return time.Time{}, nil
	}
	return rows[0].PausedTil.UTC(), nil
}

// Usage reports the units used in scope's current window.
func (b *Budget) Usage(ctx context.Context, now time.Time, scope string, window time.Duration) (int64, error) {
	used, err := b.s.usage(ctx, scope, atlassian.WindowStart(now, window))
	if err != nil {
		return 0, fmt.Errorf("store: budget usage: %w", err)
	}
	return used, nil
}
