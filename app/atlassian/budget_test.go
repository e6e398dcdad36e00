package atlassian_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app/atlassian"
)

func TestWindowStart(t *testing.T) {
	t.Parallel()
	utc := func(y int, mo time.Month, d, h, mi, s int) time.Time {
		return time.Date(y, mo, d, h, mi, s, 0, time.UTC)
	}
	cest := time.FixedZone("CEST", 2*3600)
	cases := []struct {
		name   string
		now    time.Time
		window time.Duration
		want   time.Time
	}{
		{"hour", utc(2026, 6, 1, 10, 20, 30), time.Hour, utc(2026, 6, 1, 10, 0, 0)},
		{"hour_boundary", utc(2026, 6, 1, 11, 0, 0), time.Hour, utc(2026, 6, 1, 11, 0, 0)},
		{"minute", utc(2026, 6, 1, 10, 20, 30), time.Minute, utc(2026, 6, 1, 10, 20, 0)},
		{"day", utc(2026, 6, 1, 10, 20, 30), 24 * time.Hour, utc(2026, 6, 1, 0, 0, 0)},
		{"other_zone_is_read_as_utc", time.Date(2026, 6, 1, 12, 20, 0, 0, cest), time.Hour, utc(2026, 6, 1, 10, 0, 0)},
		{"epoch_aligned_odd_window", time.Unix(1000, 0), 7 * time.Minute, time.Unix(840, 0).UTC()},
		{"before_epoch", utc(1969, 12, 31, 23, 30, 0), time.Hour, utc(1969, 12, 31, 23, 0, 0)},
		{"sub_second", time.Date(2026, 6, 1, 10, 0, 0, 999, time.UTC), time.Hour, utc(2026, 6, 1, 10, 0, 0)},
		{"no_window", utc(2026, 6, 1, 10, 20, 30), 0, time.Time{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := atlassian.WindowStart(tc.now, tc.window)
			if !got.Equal(tc.want) || got.Location() != time.UTC {
				t.Errorf("WindowStart(%s, %s) = %s, want %s (UTC)", tc.now, tc.window, got, tc.want)
			}
		})
	}
}

func TestMemoryBudget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	hour := func(scope string, units, limit int64) atlassian.Charge {
		return atlassian.Charge{Scope: scope, Units: units, Limit: limit, Window: time.Hour}
	}
	nextHour := time.Date(2026, 6, 1, 11, 0, 0, 0, time.UTC)

	t.Run("OK_then_ErrWindowFull", func(t *testing.T) {
		t.Parallel()
		b := atlassian.NewMemoryBudget()
		if err := b.Reserve(ctx, t0, []atlassian.Charge{hour("s", 60, 100)}); err != nil {
			t.Fatal(err)
		}
		err := b.Reserve(ctx, t0.Add(time.Minute), []atlassian.Charge{hour("s", 41, 100)})
		want := &atlassian.BudgetError{Scope: "s", Limit: 100, Used: 60, Wanted: 41, ResetAt: nextHour, Reason: atlassian.ReasonWindowFull}
		var got *atlassian.BudgetError
		if !errors.As(err, &got) {
			t.Fatalf("err = %v, want *BudgetError", err)
		}
		if d := diff(want, got); d != "" {
			t.Error(d)
		}
		if err := b.Reserve(ctx, t0, []atlassian.Charge{hour("s", 40, 100)}); err != nil {
			t.Errorf("exact fit refused: %v", err)
		}
	})

	t.Run("all_or_nothing", func(t *testing.T) {
		t.Parallel()
		b := atlassian.NewMemoryBudget()
		err := b.Reserve(ctx, t0, []atlassian.Charge{hour("a", 10, 100), hour("b", 10, 5), hour("c", 10, 1)})
		var be *atlassian.BudgetError
		if !errors.As(err, &be) || be.Scope != "b" {
			t.Fatalf("err = %v, want BudgetError for the first failing scope b", err)
		}
		if n := usage(t, b, t0, "a"); n != 0 {
			t.Errorf("scope a used %d after a refused reservation, want 0", n)
		}
	})

	t.Run("same_scope_summed", func(t *testing.T) {
		t.Parallel()
		b := atlassian.NewMemoryBudget()
		err := b.Reserve(ctx, t0, []atlassian.Charge{hour("s", 6, 10), hour("s", 6, 10)})
		var be *atlassian.BudgetError
		if !errors.As(err, &be) || be.Wanted != 12 {
			t.Fatalf("err = %v, want BudgetError wanting 12", err)
		}
	})

	t.Run("limit_zero_counts_only", func(t *testing.T) {
		t.Parallel()
		b := atlassian.NewMemoryBudget()
		for range 3 {
			if err := b.Reserve(ctx, t0, []atlassian.Charge{hour("s", 1e6, 0)}); err != nil {
				t.Fatal(err)
			}
		}
		if n := usage(t, b, t0, "s"); n != 3e6 {
			t.Errorf("usage = %d, want 3000000", n)
		}
	})

	t.Run("ErrOverLimit_has_no_reset", func(t *testing.T) {
		t.Parallel()
		b := atlassian.NewMemoryBudget()
		err := b.Reserve(ctx, t0, []atlassian.Charge{hour("s", 101, 100)})
		var be *atlassian.BudgetError
		if !errors.As(err, &be) || !be.ResetAt.IsZero() || be.Reason != atlassian.ReasonOverLimit {
			t.Fatalf("err = %#v, want over-limit BudgetError without ResetAt", err)
		}
		if _, ok := atlassian.RetryAt(err); ok {
			t.Error("RetryAt reports a retry time for a charge that can never fit")
		}
	})

	t.Run("new_window_starts_empty", func(t *testing.T) {
		t.Parallel()
		b := atlassian.NewMemoryBudget()
		if err := b.Reserve(ctx, t0, []atlassian.Charge{hour("s", 100, 100)}); err != nil {
			t.Fatal(err)
		}
		if err := b.Reserve(ctx, nextHour, []atlassian.Charge{hour("s", 100, 100)}); err != nil {
			t.Errorf("next window refused: %v", err)
		}
		if n := usage(t, b, nextHour.Add(-time.Nanosecond), "s"); n != 100 {
			t.Errorf("old window usage = %d, want 100", n)
		}
	})

	t.Run("adjust_never_below_zero", func(t *testing.T) {
		t.Parallel()
		b := atlassian.NewMemoryBudget()
		c := hour("s", 10, 100)
		if err := b.Reserve(ctx, t0, []atlassian.Charge{c}); err != nil {
			t.Fatal(err)
		}
		if err := b.Adjust(ctx, t0, c, 5); err != nil {
			t.Fatal(err)
		}
		if n := usage(t, b, t0, "s"); n != 15 {
			t.Errorf("usage after +5 = %d, want 15", n)
		}
		if err := b.Adjust(ctx, t0, c, -100); err != nil {
			t.Fatal(err)
		}
		if n := usage(t, b, t0, "s"); n != 0 {
			t.Errorf("usage after -100 = %d, want 0", n)
		}
	})

	t.Run("pause_keeps_latest", func(t *testing.T) {
		t.Parallel()
		b := atlassian.NewMemoryBudget()
		late, early := t0.Add(time.Hour), t0.Add(time.Minute)
		for _, until := range []time.Time{late, early} {
			if err := b.Pause(ctx, "s", until, "jira-quota-global-based"); err != nil {
				t.Fatal(err)
			}
		}
		got, err := b.PausedUntil(ctx, "s")
		if err != nil || !got.Equal(late) {
			t.Errorf("PausedUntil = %s, %v; want %s", got, err, late)
		}
		if r := b.PauseReason("s"); r != "jira-quota-global-based" {
			t.Errorf("PauseReason = %q", r)
		}
		if got, _ := b.PausedUntil(ctx, "other"); !got.IsZero() {
			t.Errorf("unpaused scope reports %s", got)
		}
	})

	t.Run("ErrInvalidCharge", func(t *testing.T) {
		t.Parallel()
		b := atlassian.NewMemoryBudget()
		for _, c := range []atlassian.Charge{{Units: 1}, hour("s", -1, 10), hour("s", 1, -1)} {
			err := b.Reserve(ctx, t0, []atlassian.Charge{c})
			var be *atlassian.BudgetError
			if err == nil || errors.As(err, &be) {
				t.Errorf("Reserve(%+v) = %v, want a plain validation error", c, err)
			}
		}
	})
}

func TestBudgetError_Error(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		err  *atlassian.BudgetError
		want []string
	}{
		{"full", &atlassian.BudgetError{Scope: "points:app", Limit: 100, Used: 60, Wanted: 41, ResetAt: t0, Reason: atlassian.ReasonWindowFull}, []string{`"points:app"`, "60", "41", "100", "2026-06-01T10:20:00Z"}},
		{"paused", &atlassian.BudgetError{Scope: "points:app", ResetAt: t0, Paused: true, Reason: atlassian.ReasonScopePaused}, []string{"paused until 2026-06-01T10:20:00Z"}},
		{"over_limit", &atlassian.BudgetError{Scope: "s", Limit: 1, Wanted: 2, Reason: atlassian.ReasonOverLimit}, []string{"exceeds", "wanted 2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, w := range tc.want {
				if !strings.Contains(tc.err.Error(), w) {
					t.Errorf("%q does not contain %q", tc.err.Error(), w)
				}
			}
		})
	}
}

// TestMemoryBudget_ConcurrentReserve hammers one budget from many goroutines
// (run with -race): the limit is never exceeded, and multi-scope
// reservations stay atomic (both scopes always move together).
func TestMemoryBudget_ConcurrentReserve(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := atlassian.NewMemoryBudget()
	const limit = 1000
	var granted atomic.Int64
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Go(func() {
			for i := range 50 {
				units := int64(1 + (g+i)%3)
				charges := []atlassian.Charge{
					{Scope: "app", Units: units, Limit: limit, Window: time.Hour},
					{Scope: "tenant", Units: units, Limit: limit + 500, Window: time.Hour},
				}
				err := b.Reserve(ctx, t0, charges)
				var be *atlassian.BudgetError
				switch {
				case err == nil:
					granted.Add(units)
				case !errors.As(err, &be):
					t.Errorf("Reserve: %v", err)
					return
				}
				if i%10 == 0 { // refunds race with reservations too
					_ = b.Adjust(ctx, t0, charges[0], 0)
				}
			}
		})
	}
	wg.Wait()
	app, tenant := usage(t, b, t0, "app"), usage(t, b, t0, "tenant")
	if app > limit || app != granted.Load() || tenant != app {
		t.Errorf("app usage %d, tenant usage %d, granted %d; want equal and <= %d", app, tenant, granted.Load(), limit)
	}
	if app < limit-2 {
		t.Errorf("app usage %d: the budget refused work it had room for", app)
	}
}
