package store_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app/atlassian"
	"github.com/lapsehq/lapse/app/store"
	"github.com/lapsehq/lapse/app/store/storetest"
)

var budgetNow = time.Date(2026, 11, 25, 14, 20, 0, 0, time.UTC)

func points(scope string, units, limit int64) atlassian.Charge {
	return atlassian.Charge{Scope: scope, Units: units, Limit: limit, Window: time.Hour}
}

func TestBudget_ReserveWithinAndBeyondLimit(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx, b := context.Background(), s.Budget()
		if err := b.Reserve(ctx, budgetNow, []atlassian.Charge{points("points:app", 60, 100)}); err != nil {
			t.Fatal(err)
		}
		err := b.Reserve(ctx, budgetNow, []atlassian.Charge{points("points:app", 41, 100)})
		var be *atlassian.BudgetError
		if !errors.As(err, &be) || be.Used != 60 || be.Wanted != 41 || !be.ResetAt.Equal(time.Date(2026, 11, 25, 15, 0, 0, 0, time.UTC)) {
			t.Fatalf("over the limit: %v (%+v)", err, be)
		}
		if err := b.Reserve(ctx, budgetNow, []atlassian.Charge{points("points:app", 40, 100)}); err != nil {
			t.Fatalf("exactly to the limit: %v", err)
		}
		// The next UTC hour is a new window.
		if err := b.Reserve(ctx, budgetNow.Add(time.Hour), []atlassian.Charge{points("points:app", 100, 100)}); err != nil {
			t.Fatalf("next window: %v", err)
		}
		if err := b.Reserve(ctx, budgetNow, []atlassian.Charge{points("points:app", 101, 100)}); !errors.As(err, &be) || be.Reason != atlassian.ReasonOverLimit || !be.ResetAt.IsZero() {
			t.Fatalf("a charge above the limit itself: %v", err)
		}
	})
}

// TestBudget_AllOrNothing: when one scope refuses, no scope is charged.
func TestBudget_AllOrNothing(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx, b := context.Background(), s.Budget()
		_ = b.Reserve(ctx, budgetNow, []atlassian.Charge{points("points:tenant:a", 10, 10)})
		err := b.Reserve(ctx, budgetNow, []atlassian.Charge{points("points:app", 5, 100), points("points:tenant:a", 5, 10)})
		if err == nil {
			t.Fatal("the tenant scope is full; the reservation must fail")
		}
		if used, _ := b.Usage(ctx, budgetNow, "points:app", time.Hour); used != 0 {
			t.Fatalf("the app scope was charged %d by a refused reservation", used)
		}
	})
}

func TestBudget_AdjustAndCountOnly(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx, b := context.Background(), s.Budget()
		c := points("points:app", 201, 0) // limit 0 counts only
		for range 3 {
			if err := b.Reserve(ctx, budgetNow, []atlassian.Charge{c}); err != nil {
				t.Fatal(err)
			}
		}
		_ = b.Adjust(ctx, budgetNow, c, -200) // settle: 1 object instead of 100
		_ = b.Adjust(ctx, budgetNow, c, 7)
		if used, _ := b.Usage(ctx, budgetNow, "points:app", time.Hour); used != 603-200+7 {
			t.Fatalf("usage = %d", used)
		}
		_ = b.Adjust(ctx, budgetNow, c, -10_000)
		if used, _ := b.Usage(ctx, budgetNow, "points:app", time.Hour); used != 0 {
			t.Fatalf("usage went below zero: %d", used)
		}
	})
}

func TestBudget_PauseKeepsLatest(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx, b := context.Background(), s.Budget()
		if got, _ := b.PausedUntil(ctx, "points:app"); !got.IsZero() {
			t.Fatalf("fresh scope paused until %v", got)
		}
		late, early := budgetNow.Add(40*time.Minute), budgetNow.Add(5*time.Minute)
		_ = b.Pause(ctx, "points:app", late, "jira-quota-global-based")
		_ = b.Pause(ctx, "points:app", early, "jira-quota-global-based")
		if got, _ := b.PausedUntil(ctx, "points:app"); !got.Equal(late) {
			t.Fatalf("paused until %v, want %v", got, late)
		}
	})
}

// TestBudget_ReplicasNeverOverspend: several stores on one database (as
// replicas are) reserve concurrently; the total taken never exceeds the
// limit and exactly the limit's worth of requests succeeds.
func TestBudget_ReplicasNeverOverspend(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			u := storetest.URL(t, d)
			box := storetest.Box(t)
			var replicas []*store.Store
			for range 3 {
				s, err := store.Open(context.Background(), store.Config{URL: u, Box: box})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				replicas = append(replicas, s)
			}
			if _, err := replicas[0].Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
			const limit, workers, attempts = 50, 6, 20
			var ok atomic.Int64
			var wg sync.WaitGroup
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					b := replicas[w%len(replicas)].Budget()
					for range attempts {
						if err := b.Reserve(context.Background(), budgetNow, []atlassian.Charge{points("points:app", 1, limit)}); err == nil {
							ok.Add(1)
						} else if !errors.As(err, new(*atlassian.BudgetError)) {
							t.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			used, _ := replicas[0].Budget().Usage(context.Background(), budgetNow, "points:app", time.Hour)
			if ok.Load() != limit || used != limit {
				t.Fatalf("%d reservations succeeded, usage %d; want exactly %d", ok.Load(), used, limit)
			}
		})
	}
}
