package scan_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/scan"
	"github.com/lapsehq/lapse/app/store"
	"github.com/lapsehq/lapse/app/store/storetest"
)

// setFaults replaces the simulated site's fault configuration.
func (f *fixture) setFaults(t *testing.T, body string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, f.srv.BaseURL()+"/_devsite/faults", strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("faults: %v %v", resp, err)
	}
	resp.Body.Close()
}

// waitLedger waits until the site has made at least n membership changes.
func (f *fixture) waitLedger(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for len(f.srv.Ledger()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the site made %d changes, waited for %d", len(f.srv.Ledger()), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

type runResult struct {
	run *app.ScanRun
	err error
}

func (f *fixture) runAsync(ctx context.Context, scanID string) <-chan runResult {
	done := make(chan runResult, 1)
	go func() {
		run, err := f.runner.Run(ctx, f.tenant.ID, scanID, app.TriggerManual)
		done <- runResult{run, err}
	}()
	return done
}

// auditData is the part of an audit event's data the tests below read, as
// the chain stores it.
type auditData struct {
	ScanID string `json:"scanId"`
	Reason string `json:"reason"`
}

// TestScan_InactiveTenantStopsBetweenRemovals: a tenant uninstalled or
// disabled while its enforce scan removes memberships stops the scan, in
// the lifecycle transaction: no removal begins after the tenant's
// lifecycle event (at most the one whose call was already on the wire
// completes, and is audited), the scan ends cancelled with the reason
// audited right after the lifecycle event, every removal the site made is
// audited, and a later enable does not resume it.
func TestScan_InactiveTenantStopsBetweenRemovals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, action, reason string
		stop                 func(ctx context.Context, f *fixture) error
	}{
		{"uninstalled", app.AuditTenantUninstalled, "tenant uninstalled", func(ctx context.Context, f *fixture) error {
			_, err := f.st.UninstallConnect(ctx, f.tenant.ClientKey, app.Actor{Type: app.ActorInstaller, ID: "admin-account"})
			return err
		}},
		{"disabled", app.AuditTenantDisabled, "tenant disabled", func(ctx context.Context, f *fixture) error {
			_, err := f.st.SetTenantEnabled(ctx, f.tenant.ID, false, app.Actor{Type: app.ActorInstaller, ID: "admin-account"})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			storetest.Each(t, func(t *testing.T, d store.Dialect) {
				f := setup(t, d, 400)
				ctx := context.Background()
				f.savePolicy(t, func(p *app.Policy) { p.Mode = app.ModeEnforce; brakeOff(p) })
				f.setFaults(t, `{"fixedLatency": "20ms"}`)
				done := f.runAsync(ctx, "")
				f.waitLedger(t, 3)
				if err := tc.stop(ctx, f); err != nil {
					t.Fatal(err)
				}
				atStop := len(f.srv.Ledger())
				res := <-done
				if res.err != nil || res.run.Status != app.ScanCancelled || !strings.Contains(res.run.Error, tc.reason) {
					t.Fatalf("run = %v, %v; want cancelled for %q", statusOf(res.run), res.err, tc.reason)
				}
				ledger := f.srv.Ledger()
				var sum scan.Summary
				_ = json.Unmarshal(res.run.Summary, &sum)
				if len(ledger) >= sum.RemovalsPlanned {
					t.Fatalf("the site made %d of %d planned removals: the scan did not stop", len(ledger), sum.RemovalsPlanned)
				}
				// At most the removal on the wire when the tenant stopped.
				if len(ledger) > atStop+1 {
					t.Fatalf("%d removals after the tenant was %s (%d before)", len(ledger)-atStop, tc.name, atStop)
				}
				evs, err := f.st.ListAuditEvents(ctx, f.tenant.ID, 10000)
				if err != nil {
					t.Fatal(err)
				}
				lifecycleAt, stoppedAt, removed, removedAfter := -1, -1, 0, 0
				for i, e := range evs {
					var data auditData
					_ = json.Unmarshal(e.Data, &data)
					switch e.Action {
					case tc.action:
						lifecycleAt = i
					case app.AuditScanCancelled:
						if data.ScanID == res.run.ID && data.Reason == tc.reason {
							stoppedAt = i
						}
					case app.AuditAccessRemove:
						removed++
						if lifecycleAt >= 0 {
							removedAfter++
						}
					}
				}
				if lifecycleAt < 0 || stoppedAt != lifecycleAt+1 {
					t.Fatalf("%s at %d, the scan's stop with reason %q at %d: want it right after, in the same transaction", tc.action, lifecycleAt, tc.reason, stoppedAt)
				}
				if removed != len(ledger) || removedAfter > 1 {
					t.Fatalf("%d access.removed for %d site removals, %d of them after %s", removed, len(ledger), removedAfter, tc.action)
				}
				// The site's own clock agrees: at most the removal on the wire
				// landed after the lifecycle event was recorded.
				landedAfter := 0
				for _, e := range ledger {
					if e.Time.After(evs[lifecycleAt].OccurredAt) {
						landedAfter++
					}
				}
				if landedAfter > 1 {
					t.Fatalf("the site made %d removals after %s at %s", landedAfter, tc.action, evs[lifecycleAt].OccurredAt)
				}
				// The site is enabled again: the stopped scan stays stopped,
				// and its job, delivered again, does not start it.
				if _, err := f.st.SetTenantEnabled(ctx, f.tenant.ID, true, app.Actor{Type: app.ActorInstaller, ID: "admin-account"}); err != nil {
					t.Fatal(err)
				}
				again, err := f.st.RetryScan(ctx, f.tenant.ID, res.run.ID, false, app.Actor{Type: app.ActorSystem, ID: "scheduler"})
				if err != nil || again.Status != app.ScanCancelled {
					t.Fatalf("after enabled, the job's retry = %+v, %v; want it cancelled", again, err)
				}
				if _, err := f.runner.Run(ctx, f.tenant.ID, res.run.ID, app.TriggerManual); err == nil {
					t.Fatal("the stopped scan ran again after enabled")
				}
				if n := len(f.srv.Ledger()); n != len(ledger) {
					t.Fatalf("the site made %d more removals after enabled", n-len(ledger))
				}
			})
		})
	}
}

// TestScan_CountsSurviveAnInterruptedAttempt: an enforce scan whose
// attempt is cut short mid-removal (its context cancelled, as a shutdown,
// a job timeout or a dead worker leaves it) and then resumed records
// counts that agree with the audit log and with what the site counted:
// removalsDone equals the access.removed events carrying the scan's id,
// and requests, 429 answers and points equal the site's own counts.
func TestScan_CountsSurviveAnInterruptedAttempt(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		f := setup(t, d, 400)
		f.savePolicy(t, func(p *app.Policy) { p.Mode = app.ModeEnforce; brakeOff(p) })
		f.setFaults(t, `{"fixedLatency": "10ms"}`)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		first := f.runAsync(ctx, "")
		f.waitLedger(t, 20)
		// Cut the attempt while a request is inside the site (in its latency
		// wait), not at the instant one is being written: a request whose
		// connection is torn down as it is written may or may not reach a
		// server, and neither side can tell.
		f.setFaults(t, `{"fixedLatency": "500ms"}`)
		time.Sleep(150 * time.Millisecond)
		cancel()
		res := <-first
		if res.err == nil || res.run == nil || res.run.Status != app.ScanRunning {
			t.Fatalf("interrupted attempt = %v, %v; want it left running", statusOf(res.run), res.err)
		}
		f.setFaults(t, `{"fixedLatency": "10ms", "retryAfter": "1s", "seed": 3, "admin": {"status429": 0.01}}`)
		// Resumed, and deferred by the injected 429s as often as they stop
		// it, each deferral followed by the job's retry once the pause ends.
		for attempt := 2; ; attempt++ {
			res = <-f.runAsync(context.Background(), res.run.ID)
			if res.err == nil && res.run.Status == app.ScanCompleted {
				break
			}
			if res.run == nil || res.run.Status != app.ScanDeferred || attempt > 40 {
				t.Fatalf("attempt %d = %v, %v", attempt, statusOf(res.run), res.err)
			}
			time.Sleep(1100 * time.Millisecond)
			if _, err := f.st.RetryScan(context.Background(), f.tenant.ID, res.run.ID, false, app.Actor{Type: app.ActorSystem, ID: "scheduler"}); err != nil {
				t.Fatal(err)
			}
		}
		var sum scan.Summary
		if err := json.Unmarshal(res.run.Summary, &sum); err != nil {
			t.Fatal(err)
		}
		evs, err := f.st.ListAuditEvents(context.Background(), f.tenant.ID, 10000)
		if err != nil {
			t.Fatal(err)
		}
		audited := 0
		for _, e := range evs {
			var data auditData
			_ = json.Unmarshal(e.Data, &data)
			if e.Action == app.AuditAccessRemove && data.ScanID == res.run.ID {
				audited++
			}
		}
		ledger := f.srv.Ledger()
		if sum.RemovalsDone != audited || audited != len(ledger) || audited == 0 {
			t.Fatalf("summary removalsDone %d, access.removed with the scan's id %d, site removals %d", sum.RemovalsDone, audited, len(ledger))
		}
		var requests, limited, points int64
		for _, st := range f.srv.Stats() {
			requests += st.Requests
			limited += st.Statuses[http.StatusText(http.StatusTooManyRequests)]
			points += st.Points
		}
		if sum.API.Requests != requests || sum.API.RateLimited != limited || sum.API.Points != points {
			t.Fatalf("summary api %+v; the site counted %d requests, %d 429s, %d points", sum.API, requests, limited, points)
		}
		t.Logf("removals %d, requests %d, 429s %d", audited, requests, limited)
	})
}

// statusOf shows a scan's status and error in a failure message.
func statusOf(run *app.ScanRun) string {
	if run == nil {
		return "no scan"
	}
	return string(run.Status) + " " + run.Error
}
