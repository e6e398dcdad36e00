package schedule_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/schedule"
	"github.com/lapsehq/lapse/app/store"
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
			r := &scriptedRunner{st: st, outcome: func(int) (app.ScanStatus, error) { return app.ScanCompleted, nil }}
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

// TestScheduler_InactiveTenantsJobsDoNotStart: the queued scans of a site
// that is then uninstalled or disabled never run — their jobs only settle
// what they left — and each is cancelled with the reason, audited; such a
// site cannot queue another scan either.
func TestScheduler_InactiveTenantsJobsDoNotStart(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		st := storetest.Open(t, d)
		r := &scriptedRunner{st: st, outcome: func(int) (app.ScanStatus, error) { return app.ScanCompleted, nil }}
		s := newScheduler(t, schedule.Config{Store: st, PlanInterval: -1, Runner: r})
		installer := app.Actor{Type: app.ActorInstaller, ID: "557058:installer"}
		gone := newTenant(t, st, "gone", true, "", "", 0)
		off := newTenant(t, st, "off", true, "", "", 0)
		queued := map[string]string{}
		for _, tenant := range []string{gone, off} {
			run, err := s.RunNow(ctx, tenant, admin) // queued; no worker yet
			if err != nil {
				t.Fatal(err)
			}
			queued[tenant] = run.ID
		}
		if _, err := st.UninstallConnect(ctx, "ck-gone", installer); err != nil {
			t.Fatal(err)
		}
		if _, err := st.SetTenantEnabled(ctx, off, false, installer); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RunNow(ctx, off, admin); app.ErrorCode(err) != app.EFORBIDDEN {
			t.Fatalf("RunNow on a disabled site = %v, want EFORBIDDEN", err)
		}
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			stopCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			_ = s.Stop(stopCtx)
		})
		waitFor(t, 20*time.Second, "the stopped scans' jobs", func() bool { return r.settled.Load() == 2 })
		if n := r.calls.Load(); n != 0 {
			t.Fatalf("scans of inactive sites ran %d times", n)
		}
		for tenant, reason := range map[string]string{gone: "tenant uninstalled", off: "tenant disabled"} {
			got, _ := st.Scan(ctx, tenant, queued[tenant])
			if got.Status != app.ScanCancelled || !strings.Contains(got.Error, reason) {
				t.Fatalf("scan of the %s site: %s %q", reason, got.Status, got.Error)
			}
			evs, _ := st.ListAuditEvents(ctx, tenant, 100)
			audited := false
			for _, e := range evs {
				audited = audited || (e.Action == app.AuditScanCancelled && strings.Contains(string(e.Data), reason))
			}
			if !audited {
				t.Fatalf("no scan.cancelled with reason %q", reason)
			}
		}
	})
}
