package schedule_test

import (
	"context"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/schedule"
	"github.com/lapsehq/lapse/app/store/storetest"
)

// Settle implements schedule.ScanRunner: counting runs leave no intents.
func (r *countingRunner) Settle(context.Context, string, string) error { return nil }

// TestScheduler_CancelledScanIsSettledNotRun: a scan cancelled while queued
// never runs; its job only settles what the scan left open.
func TestScheduler_CancelledScanIsSettledNotRun(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := storetest.Open(t, d)
			r := &scriptedRunner{st: st, outcome: func(int) (string, error) { return app.ScanCompleted, nil }}
			s := newScheduler(t, schedule.Config{Store: st, PlanInterval: -1, Runner: r})
			tenant := newTenant(t, st, "acme", true, "", "", 0)
			run, err := s.RunNow(ctx, tenant, admin) // queued; no worker yet
			if err != nil {
				t.Fatal(err)
			}
			if c, err := st.CancelScan(ctx, tenant, run.ID, admin); err != nil || c.Status != app.ScanCancelled {
				t.Fatalf("cancel = %+v, %v", c, err)
			}
			if err := s.Start(ctx); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				stopCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				_ = s.Stop(stopCtx)
			})
			waitFor(t, 20*time.Second, "the cancelled scan's job", func() bool { return r.settled.Load() == 1 })
			if n := r.calls.Load(); n != 0 {
				t.Fatalf("a cancelled scan ran %d times", n)
			}
			if got, _ := st.Scan(ctx, tenant, run.ID); got.Status != app.ScanCancelled {
				t.Fatalf("status %s, want cancelled", got.Status)
			}
		})
	}
}
