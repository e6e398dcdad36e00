package store_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/store"
	"github.com/lapsehq/lapse/app/store/storetest"
)

// TestStore_CancelScan: queued and running scans can be cancelled (audited
// in the same transaction), finished and held ones cannot, another tenant's
// scan is not found, and a worker finishing a cancelled scan leaves it
// cancelled while recording its summary.
func TestStore_CancelScan(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			s := storetest.Open(t, d)
			ctx := context.Background()
			admin := app.Actor{Type: app.ActorAdmin, ID: "admin-1"}
			a, _ := s.InstallConnect(ctx, app.ConnectInstall{ClientKey: "ck-a", BaseURL: "https://a.atlassian.net", Product: app.ProductJira, SharedSecret: []byte("s")})
			b, _ := s.InstallConnect(ctx, app.ConnectInstall{ClientKey: "ck-b", BaseURL: "https://b.atlassian.net", Product: app.ProductJira, SharedSecret: []byte("s")})
			pol, _ := s.Policy(ctx, a.ID, nil)

			run, err := s.StartScan(ctx, a.ID, "", app.TriggerManual, pol)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.CancelScan(ctx, b.ID, run.ID, admin); app.ErrorCode(err) != app.ENOTFOUND {
				t.Fatalf("tenant b cancelling a's scan: %v, want not found", err)
			}
			cancelled, err := s.CancelScan(ctx, a.ID, run.ID, admin)
			if err != nil || cancelled.Status != app.ScanCancelled || cancelled.FinishedAt == nil {
				t.Fatalf("cancel running = %+v, %v", cancelled, err)
			}
			if yes, err := s.ScanCancelled(ctx, a.ID, run.ID); err != nil || !yes {
				t.Fatalf("ScanCancelled = %v, %v", yes, err)
			}
			finished, err := s.FinishScan(ctx, a.ID, run.ID, app.ScanCompleted, map[string]any{"removalsDone": 3}, "")
			if err != nil || finished.Status != app.ScanCancelled || string(finished.Summary) != `{"removalsDone":3}` {
				t.Fatalf("finish after cancel = %+v, %v; want still cancelled with the summary", finished, err)
			}
			if _, err := s.CancelScan(ctx, a.ID, run.ID, admin); app.ErrorCode(err) != app.ECONFLICT {
				t.Fatalf("cancelling twice: %v, want conflict", err)
			}

			held, _ := s.StartScan(ctx, a.ID, "", app.TriggerManual, pol)
			_, _ = s.FinishScan(ctx, a.ID, held.ID, app.ScanHeld, map[string]any{}, "")
			if _, err := s.CancelScan(ctx, a.ID, held.ID, admin); app.ErrorCode(err) != app.ECONFLICT {
				t.Fatalf("cancelling a held scan: %v, want conflict (reject it)", err)
			}

			evs, _ := s.ListAuditEvents(ctx, a.ID, 100)
			n := 0
			for _, e := range evs {
				if e.Action == app.AuditScanCancelled {
					n++
					if e.Actor != admin {
						t.Fatalf("cancel audited as %+v", e.Actor)
					}
				}
			}
			if n != 1 {
				t.Fatalf("%d scan.cancelled events, want 1", n)
			}
			if v, err := s.VerifyAuditChain(ctx, a.ID); err != nil || !v.OK {
				t.Fatalf("chain: %+v, %v", v, err)
			}
		})
	}
}

// TestStore_RetryScanStopsAnInactiveTenantsScan: a job delivered for a scan
// of a tenant that is no longer active (its state changed without the
// lifecycle call that stops its scans, as before this check existed) cancels
// the scan with the reason, audited, instead of readying it to run.
func TestStore_RetryScanStopsAnInactiveTenantsScan(t *testing.T) {
	t.Parallel()
	storetest.EachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		tn, _ := s.InstallConnect(ctx, app.ConnectInstall{ClientKey: "ck-a", BaseURL: "https://a.atlassian.net", Product: app.ProductJira, SharedSecret: []byte("s")})
		if _, err := s.SetOrgConnection(ctx, tn.ID, "org", "key", adminActor); err != nil {
			t.Fatal(err)
		}
		run, err := s.QueueScan(ctx, tn.ID, app.TriggerManual, adminActor, nil)
		if err != nil {
			t.Fatal(err)
		}
		exec(t, s, "UPDATE tenants SET state = 'uninstalled' WHERE id = $1", tn.ID)
		scheduler := app.Actor{Type: app.ActorSystem, ID: "scheduler"}
		got, err := s.RetryScan(ctx, tn.ID, run.ID, false, scheduler)
		if err != nil || got.Status != app.ScanCancelled || got.Error != "stopped: tenant uninstalled" {
			t.Fatalf("retry = %+v, %v; want cancelled, stopped: tenant uninstalled", got, err)
		}
		evs := events(t, s, tn.ID)
		last := evs[len(evs)-1]
		var data app.ScanStopEvidence
		_ = json.Unmarshal(last.Data, &data)
		if last.Action != app.AuditScanCancelled || data.ScanID != run.ID || data.Reason != "tenant uninstalled" || data.StatusBefore != app.ScanQueued || last.Actor != scheduler {
			t.Fatalf("last audit event %s %s by %+v", last.Action, last.Data, last.Actor)
		}
		if _, err := s.StartScan(ctx, tn.ID, "", app.TriggerManual, &app.Policy{}); app.ErrorCode(err) != app.EFORBIDDEN {
			t.Fatalf("starting a scan of an uninstalled tenant = %v, want EFORBIDDEN", err)
		}
	})
}
