package schedule_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/atlassian"
	"github.com/lapsehq/lapse/app/inventory"
	"github.com/lapsehq/lapse/app/schedule"
	"github.com/lapsehq/lapse/app/store"
	"github.com/lapsehq/lapse/app/store/storetest"
)

// TestScheduler_RunNow: "run now" returns the queued scan and a worker
// runs it once; a second "run now" while it is active is refused; a
// transaction that rolls back leaves no job behind.
func TestScheduler_RunNow(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := storetest.Open(t, d)
			runner := newCountingRunner(t, st, "r1", "today", time.Millisecond)
			runner.gate = make(chan struct{})
			s := startScheduler(t, schedule.Config{Store: st, PlanInterval: -1, Runner: runner})
			tenant := newTenant(t, st, "acme", true, "", "", 0)

			run, err := s.RunNow(ctx, tenant, admin)
			if err != nil || run.Status != app.ScanQueued || run.Trigger != app.TriggerManual {
				t.Fatalf("RunNow = %+v, %v", run, err)
			}
			again, err := s.RunNow(ctx, tenant, admin)
			if app.ErrorCode(err) != app.ECONFLICT || again == nil || again.ID != run.ID {
				t.Fatalf("second RunNow while active = %+v, %v; want ECONFLICT with the active scan", again, err)
			}
			runner.gate <- struct{}{}
			waitStatus(t, st, tenant, run.ID, app.ScanCompleted)
			if n := runner.calls.Load(); n != 1 {
				t.Fatalf("the runner ran %d times, want 1", n)
			}
			if n := countRows(t, st, "SELECT count(*) FROM river_job WHERE kind = 'scan'"); n != 1 {
				t.Fatalf("%d scan jobs, want 1", n)
			}

			// The job is inserted, then the transaction rolls back: neither
			// the scan nor the job remains.
			boom := errors.New("boom")
			_, err = st.QueueScan(ctx, tenant, app.TriggerManual, admin, func(tx *sql.Tx, scanID string) error {
				if err := s.InsertScanTx(ctx, tx, schedule.ScanArgs{TenantID: tenant, ScanID: scanID, Trigger: app.TriggerManual}); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("QueueScan = %v, want boom", err)
			}
			if n := countRows(t, st, "SELECT count(*) FROM river_job WHERE kind = 'scan'"); n != 1 {
				t.Fatalf("%d scan jobs after a rolled-back transaction, want 1", n)
			}
			if scans, _ := st.ListScans(ctx, tenant, 10); len(scans) != 1 {
				t.Fatalf("%d scans after a rolled-back transaction, want 1", len(scans))
			}

			unconnected := newTenant(t, st, "loose", false, "", "", 0)
			if _, err := s.RunNow(ctx, unconnected, admin); app.ErrorCode(err) != app.ECONFLICT {
				t.Fatalf("RunNow without an org connection = %v, want ECONFLICT", err)
			}
		})
	}
}

// TestScheduler_Plan drives the planner with a fixed clock across two
// days and three time zones (all scanning at 03:00 local, no jitter).
func TestScheduler_Plan(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			clk := newClock(time.Date(2026, 3, 10, 2, 0, 0, 0, time.UTC))
			st := storetest.Open(t, d, storetest.Options{NowFunc: clk.Now})
			// Not started: Plan is called directly and scans are finished
			// by hand, so each step sees exactly what the planner queued.
			s := newScheduler(t, schedule.Config{Store: st, PlanInterval: -1, Runner: newCountingRunner(t, st, "r1", "", 0), NowFunc: clk.Now})
			utc := newTenant(t, st, "london", true, "UTC", "03:00", 0)
			ny := newTenant(t, st, "newyork", true, "America/New_York", "03:00", 0)
			tokyo := newTenant(t, st, "tokyo", true, "Asia/Tokyo", "03:00", 0)
			newTenant(t, st, "unconnected", false, "UTC", "03:00", 0)
			off := newTenant(t, st, "disabled", true, "UTC", "03:00", 0)
			if _, err := st.SetTenantEnabled(ctx, off, false, admin); err != nil {
				t.Fatal(err)
			}
			name := map[string]string{utc: "utc", ny: "ny", tokyo: "tokyo"}

			plan := func(at time.Time, want ...string) {
				t.Helper()
				clk.Set(at)
				before := jobKeys(t, s, name)
				rep, err := s.Plan(ctx)
				if err != nil {
					t.Fatal(err)
				}
				got := newKeys(before, jobKeys(t, s, name))
				if rep.Candidates != 3 || rep.Enqueued != len(want) || !slices.Equal(got, want) {
					t.Fatalf("plan at %s: report %+v, queued %v; want %v", at.Format(time.RFC3339), rep, got, want)
				}
			}

			// First pass: each tenant owes its latest due day. At 02:00 UTC
			// London and New York owe yesterday; Tokyo (11:00) owes today.
			plan(clk.Now(), "ny:2026-03-09", "tokyo:2026-03-10", "utc:2026-03-09")
			plan(clk.Now()) // queued, not yet run: nothing new
			finishAll(t, st, utc, ny, tokyo)

			at0301 := time.Date(2026, 3, 10, 3, 0, 30, 0, time.UTC)
			plan(at0301, "utc:2026-03-10")
			plan(at0301) // again the same day: nothing
			finishAll(t, st, utc, ny, tokyo)
			plan(time.Date(2026, 3, 10, 6, 59, 0, 0, time.UTC)) // New York is at 02:59 EDT

			// 03:00 in New York (EDT since 8 March): a Forge scheduled
			// trigger gets there first; the planner then has nothing to do.
			clk.Set(time.Date(2026, 3, 10, 7, 0, 30, 0, time.UTC))
			if err := s.TriggerDue(ctx, ny); err != nil {
				t.Fatal(err)
			}
			if err := s.TriggerDue(ctx, ny); err != nil {
				t.Fatal(err)
			}
			if scans, _ := st.ListScans(ctx, ny, 10); len(scans) != 2 || scans[0].Trigger != app.TriggerForge {
				t.Fatalf("after two Forge triggers New York has %d scans (latest %+v), want 2, the latest by forge", len(scans), scans[0])
			}
			plan(clk.Now())
			finishAll(t, st, utc, ny, tokyo)

			// 03:00 in Tokyo is 18:00 UTC, and already 11 March there.
			plan(time.Date(2026, 3, 10, 18, 0, 30, 0, time.UTC), "tokyo:2026-03-11")
			finishAll(t, st, utc, ny, tokyo)

			// The next day in London: a manual scan is active at the due
			// time, so the planner waits for it, then queues the day.
			clk.Set(time.Date(2026, 3, 11, 3, 0, 30, 0, time.UTC))
			if _, err := s.RunNow(ctx, utc, admin); err != nil {
				t.Fatal(err)
			}
			if rep, _ := s.Plan(ctx); rep.Busy != 1 || rep.Enqueued != 0 {
				t.Fatalf("plan with a manual scan active: %+v, want busy 1", rep)
			}
			finishAll(t, st, utc, ny, tokyo)
			plan(clk.Now(), "utc:2026-03-11")
			finishAll(t, st, utc, ny, tokyo)

			// River's unique key alone refuses a second job for the day, and
			// the scan queued with it is rolled back.
			n := len(mustScans(t, st, utc))
			if err := s.QueueDue(ctx, utc, "2026-03-11"); !errors.Is(err, schedule.ErrPlanned) {
				t.Fatalf("second job for the day: %v, want ErrPlanned", err)
			}
			if got := len(mustScans(t, st, utc)); got != n {
				t.Fatalf("the refused job left a scan behind: %d scans, want %d", got, n)
			}
		})
	}
}

// waitJob waits until the only scan job reaches state and returns it.
func waitJob(t *testing.T, s *schedule.Scheduler, state string) schedule.ScanJob {
	t.Helper()
	var jobs []schedule.ScanJob
	waitFor(t, 10*time.Second, "job "+state, func() bool {
		jobs, _ = s.ScanJobs(context.Background())
		return len(jobs) == 1 && jobs[0].State == state
	})
	return jobs[0]
}

// jobKeys returns "name:day" of every scheduled scan job.
func jobKeys(t *testing.T, s *schedule.Scheduler, name map[string]string) []string {
	t.Helper()
	jobs, err := s.ScanJobs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, j := range jobs {
		if j.Args.Day != "" {
			out = append(out, name[j.Args.TenantID]+":"+j.Args.Day)
		}
	}
	slices.Sort(out)
	return out
}

func newKeys(before, after []string) []string {
	var out []string
	for _, k := range after {
		if !slices.Contains(before, k) {
			out = append(out, k)
		}
	}
	return out
}

func mustScans(t *testing.T, st *store.Store, tenantID string) []*app.ScanRun {
	t.Helper()
	scans, err := st.ListScans(context.Background(), tenantID, 100)
	if err != nil {
		t.Fatal(err)
	}
	return scans
}

// finishAll completes every queued scan of the tenants, as a worker would.
func finishAll(t *testing.T, st *store.Store, tenants ...string) {
	t.Helper()
	ctx := context.Background()
	for _, id := range tenants {
		for _, sc := range mustScans(t, st, id) {
			if sc.Status != app.ScanQueued {
				continue
			}
			pol, _ := st.Policy(ctx, id, nil)
			if _, err := st.StartScan(ctx, id, sc.ID, sc.Trigger, pol); err != nil {
				t.Fatal(err)
			}
			if _, err := st.FinishScan(ctx, id, sc.ID, app.ScanCompleted, map[string]any{}, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestLatestDue(t *testing.T) {
	t.Parallel()
	ny, _ := time.LoadLocation("America/New_York")
	cases := []struct {
		name     string
		scanTime string
		loc      *time.Location
		now      time.Time
		wantDay  string
		wantAt   time.Time
	}{
		{"before_today_s_time", "03:00", time.UTC, time.Date(2026, 3, 10, 2, 59, 59, 0, time.UTC), "2026-03-09", time.Date(2026, 3, 9, 3, 0, 0, 0, time.UTC)},
		{"at_today_s_time", "03:00", time.UTC, time.Date(2026, 3, 10, 3, 0, 0, 0, time.UTC), "2026-03-10", time.Date(2026, 3, 10, 3, 0, 0, 0, time.UTC)},
		{"local_day_differs_from_utc", "22:00", ny, time.Date(2026, 3, 11, 2, 30, 0, 0, time.UTC), "2026-03-10", time.Date(2026, 3, 11, 2, 0, 0, 0, time.UTC)},
		// 02:30 does not exist on 8 March 2026 in New York: the scan runs at
		// the instant time.Date picks for it, on its own day.
		{"dst_gap", "02:30", ny, time.Date(2026, 3, 8, 7, 31, 0, 0, time.UTC), "2026-03-08", time.Date(2026, 3, 8, 2, 30, 0, 0, ny)},
		{"invalid_time_uses_default", "25:99", time.UTC, time.Date(2026, 3, 10, 4, 0, 0, 0, time.UTC), "2026-03-10", time.Date(2026, 3, 10, 3, 0, 0, 0, time.UTC)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			day, at, ok := schedule.LatestDue(tc.scanTime, 0, tc.loc, "t1", tc.now)
			if !ok || day != tc.wantDay || !at.Equal(tc.wantAt) {
				t.Fatalf("LatestDue = %s %s %v, want %s %s", day, at, ok, tc.wantDay, tc.wantAt)
			}
		})
	}
}

// TestLatestDue_JitterPastMidnight: a late scan time plus up to four
// hours of jitter lands on the next calendar day but still counts for its
// own day, and NextDue agrees with LatestDue.
func TestLatestDue_JitterPastMidnight(t *testing.T) {
	t.Parallel()
	for i := range 50 {
		id := fmt.Sprintf("tenant-%d", i)
		j := schedule.Jitter(id, 240)
		due := time.Date(2026, 3, 10, 23, 50, 0, 0, time.UTC).Add(j)
		if day, _, _ := schedule.LatestDue("23:50", 240, time.UTC, id, due.Add(-time.Second)); day != "2026-03-09" {
			t.Fatalf("%s a second before its due time %s: day %s, want 2026-03-09", id, due, day)
		}
		if day, at, _ := schedule.LatestDue("23:50", 240, time.UTC, id, due); day != "2026-03-10" || !at.Equal(due) {
			t.Fatalf("%s at its due time %s: day %s at %s, want 2026-03-10", id, due, day, at)
		}
		if next := schedule.NextDue("23:50", 240, time.UTC, id, due.Add(-time.Second)); !next.Equal(due) {
			t.Fatalf("%s: NextDue = %s, want %s", id, next, due)
		}
	}
}

// TestJitter: deterministic, within [0, minutes), and spread evenly.
func TestJitter(t *testing.T) {
	t.Parallel()
	const n, minutes = 1200, 30
	buckets := make([]int, 6) // 5-minute buckets
	for i := range n {
		id := fmt.Sprintf("%08x-tenant", i*7919)
		j := schedule.Jitter(id, minutes)
		if j < 0 || j >= minutes*time.Minute || j != schedule.Jitter(id, minutes) {
			t.Fatalf("Jitter(%s) = %s", id, j)
		}
		buckets[int(j/(5*time.Minute))]++
	}
	for i, c := range buckets {
		if c < n/6*7/10 || c > n/6*13/10 {
			t.Fatalf("bucket %d holds %d of %d tenants (%v): not spread", i, c, n, buckets)
		}
	}
	if schedule.Jitter("x", 0) != 0 {
		t.Fatal("zero minutes must mean no jitter")
	}
}

// scriptedRunner runs scans like countingRunner but lets each call decide
// the outcome.
type scriptedRunner struct {
	st    *store.Store
	calls atomic.Int64
	mu    sync.Mutex
	at    []time.Time
	// outcome returns the status to finish the scan with and the error to
	// return, for the n-th call (1-based).
	outcome func(n int) (app.ScanStatus, error)
	settled atomic.Int64 // Settle calls
}

// Settle implements schedule.ScanRunner.
func (r *scriptedRunner) Settle(context.Context, string, string) error {
	r.settled.Add(1)
	return nil
}

func (r *scriptedRunner) Run(ctx context.Context, tenantID, scanID string, trigger app.ScanTrigger) (*app.ScanRun, error) {
	n := int(r.calls.Add(1))
	r.mu.Lock()
	r.at = append(r.at, time.Now())
	r.mu.Unlock()
	pol, err := r.st.Policy(ctx, tenantID, nil)
	if err != nil {
		return nil, err
	}
	if _, err := r.st.StartScan(ctx, tenantID, scanID, trigger, pol); err != nil {
		return nil, err
	}
	status, runErr := r.outcome(n)
	errText := ""
	if runErr != nil {
		errText = runErr.Error()
	}
	run, err := r.st.FinishScan(ctx, tenantID, scanID, status, map[string]any{}, errText)
	if err != nil {
		return nil, err
	}
	return run, runErr
}

// TestScheduler_DeferredScanIsSnoozed: a scan stopped by an exhausted
// budget is deferred; its job sleeps until the budget resets and then
// continues the same scan to completion, without spending an attempt.
func TestScheduler_DeferredScanIsSnoozed(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := storetest.Open(t, d)
			var resetAt time.Time
			r := &scriptedRunner{st: st}
			r.outcome = func(n int) (app.ScanStatus, error) {
				if n > 1 {
					return app.ScanCompleted, nil
				}
				resetAt = time.Now().Add(1500 * time.Millisecond)
				be := &atlassian.BudgetError{Scope: "admin:org:o1", Limit: 10, Used: 10, Wanted: 1, ResetAt: resetAt, Reason: atlassian.ReasonWindowFull}
				return app.ScanDeferred, &inventory.IncompleteError{Done: 3, RetryAt: resetAt, Err: be}
			}
			s := startScheduler(t, schedule.Config{Store: st, PlanInterval: -1, Runner: r})
			tenant := newTenant(t, st, "acme", true, "", "", 0)
			run, err := s.RunNow(ctx, tenant, admin)
			if err != nil {
				t.Fatal(err)
			}
			waitStatus(t, st, tenant, run.ID, app.ScanDeferred)
			waitStatus(t, st, tenant, run.ID, app.ScanCompleted)
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.calls.Load() != 2 || r.at[1].Before(resetAt) {
				t.Fatalf("runs at %v; want 2, the second after the reset at %s", r.at, resetAt)
			}
			job := waitJob(t, s, "completed")
			if job.Errors != 0 {
				t.Fatalf("job = %+v, want no errors: a snooze is no failed attempt", job)
			}
			wantAudit(t, st, tenant, "scan.queued", "scan.started", "scan.finished", "scan.queued", "scan.started", "scan.finished")
		})
	}
}

// TestScheduler_RetriesFailedScan: a failed attempt is retried with
// River's backoff and continues the same scan.
func TestScheduler_RetriesFailedScan(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := storetest.Open(t, d)
			r := &scriptedRunner{st: st, outcome: func(n int) (app.ScanStatus, error) {
				if n == 1 {
					return app.ScanFailed, errors.New("connection reset by peer")
				}
				return app.ScanCompleted, nil
			}}
			s := startScheduler(t, schedule.Config{Store: st, PlanInterval: -1, Runner: r})
			tenant := newTenant(t, st, "acme", true, "", "", 0)
			run, err := s.RunNow(ctx, tenant, admin)
			if err != nil {
				t.Fatal(err)
			}
			waitStatus(t, st, tenant, run.ID, app.ScanCompleted)
			if r.calls.Load() != 2 {
				t.Fatalf("%d runs, want 2", r.calls.Load())
			}
			if job := waitJob(t, s, "completed"); job.Attempt != 2 || job.Errors != 1 {
				t.Fatalf("job = %+v, want it completed on its second attempt", job)
			}
		})
	}
}

// TestScheduler_CancelsHopelessJob: an error no retry can fix cancels the
// job and finishes the scan as failed, so the site is not left blocked by
// a queued scan nobody will run.
func TestScheduler_CancelsHopelessJob(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := storetest.Open(t, d)
			gone := &goneRunner{}
			s := startScheduler(t, schedule.Config{Store: st, PlanInterval: -1, Runner: gone})
			tenant := newTenant(t, st, "acme", true, "", "", 0)
			run, err := s.RunNow(ctx, tenant, admin)
			if err != nil {
				t.Fatal(err)
			}
			failed := waitStatus(t, st, tenant, run.ID, app.ScanFailed)
			if gone.calls.Load() != 1 || failed.Error == "" {
				t.Fatalf("%d runs, scan %+v; want one run and a failed scan with its reason", gone.calls.Load(), failed)
			}
			waitJob(t, s, "cancelled")
			if _, err := s.RunNow(ctx, tenant, admin); err != nil {
				t.Fatalf("the site stays blocked after a cancelled job: %v", err)
			}
		})
	}
}

// goneRunner fails before the scan starts, as scan.Runner does when the
// tenant or its org connection has disappeared.
type goneRunner struct{ calls atomic.Int64 }

func (r *goneRunner) Run(context.Context, string, string, app.ScanTrigger) (*app.ScanRun, error) {
	r.calls.Add(1)
	return nil, app.Errorf(app.ENOTFOUND, "the site is not connected to an Atlassian organization")
}

func (r *goneRunner) Settle(context.Context, string, string) error { return nil }

func wantAudit(t *testing.T, st *store.Store, tenantID string, want ...string) {
	t.Helper()
	evs, err := st.ListAuditEvents(context.Background(), tenantID, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		if len(e.Action) > 5 && e.Action[:5] == "scan." {
			got = append(got, e.Action)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("scan audit events %v, want %v", got, want)
	}
}

// TestScheduler_ResumesScanLeftRunning: a job whose scan a dead worker
// left running (River's rescuer hands the job to another replica) resumes
// that scan instead of refusing it.
func TestScheduler_ResumesScanLeftRunning(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := storetest.Open(t, d)
			runner := newCountingRunner(t, st, "r1", "today", 0)
			cfg := schedule.Config{Store: st, PlanInterval: -1, Runner: runner}
			tenant := newTenant(t, st, "acme", true, "", "", 0)
			run, err := newScheduler(t, cfg).RunNow(ctx, tenant, admin)
			if err != nil {
				t.Fatal(err)
			}
			pol, _ := st.Policy(ctx, tenant, nil)
			if _, err := st.StartScan(ctx, tenant, run.ID, run.Trigger, pol); err != nil { // the worker that died
				t.Fatal(err)
			}
			startScheduler(t, cfg)
			waitStatus(t, st, tenant, run.ID, app.ScanCompleted)
			if runner.calls.Load() != 1 || runner.done.Load() != 1 {
				t.Fatalf("%d runs, %d completed; want the running scan resumed once", runner.calls.Load(), runner.done.Load())
			}
		})
	}
}

// TestScheduler_Decide: approving a held scan queues the job that carries
// it out; approval waits while another scan is active; a rejection queues
// nothing.
func TestScheduler_Decide(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := storetest.Open(t, d)
			runner := newCountingRunner(t, st, "r1", "", 0)
			runner.gate = make(chan struct{}, 10)
			s := startScheduler(t, schedule.Config{Store: st, PlanInterval: -1, Runner: runner})
			tenant := newTenant(t, st, "acme", true, "", "", 0)
			held := heldScan(t, st, tenant)

			busy, err := s.RunNow(ctx, tenant, admin)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Decide(ctx, tenant, held.ID, true, admin); app.ErrorCode(err) != app.ECONFLICT {
				t.Fatalf("approval while another scan is active: %v, want ECONFLICT", err)
			}
			runner.gate <- struct{}{}
			waitStatus(t, st, tenant, busy.ID, app.ScanCompleted)

			approved, err := s.Decide(ctx, tenant, held.ID, true, admin)
			if err != nil || approved.Status != app.ScanApproved {
				t.Fatalf("Decide(approve) = %+v, %v", approved, err)
			}
			runner.gate <- struct{}{}
			waitStatus(t, st, tenant, held.ID, app.ScanCompleted)

			other := heldScan(t, st, tenant)
			rejected, err := s.Decide(ctx, tenant, other.ID, false, admin)
			if err != nil || rejected.Status != app.ScanRejected {
				t.Fatalf("Decide(reject) = %+v, %v", rejected, err)
			}
			if jobs, _ := s.ScanJobs(ctx); len(jobs) != 2 {
				t.Fatalf("%d scan jobs, want 2 (run now, approval)", len(jobs))
			}
		})
	}
}

// heldScan makes a scan that the safety brake held.
func heldScan(t *testing.T, st *store.Store, tenantID string) *app.ScanRun {
	t.Helper()
	ctx := context.Background()
	pol, _ := st.Policy(ctx, tenantID, nil)
	run, err := st.StartScan(ctx, tenantID, "", app.TriggerSchedule, pol)
	if err != nil {
		t.Fatal(err)
	}
	if run, err = st.FinishScan(ctx, tenantID, run.ID, app.ScanHeld, map[string]any{}, ""); err != nil {
		t.Fatal(err)
	}
	return run
}

// TestScheduler_ConcurrentQueueing: "run now" and the planner racing on
// one tenant from several connections leave exactly one active scan (the
// per-tenant scan lock), never two.
func TestScheduler_ConcurrentQueueing(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := storetest.Open(t, d)
			s := newScheduler(t, schedule.Config{Store: st, PlanInterval: -1, Runner: newCountingRunner(t, st, "r1", "", 0)})
			tenant := newTenant(t, st, "acme", true, "", "", 0)
			var ok, conflict atomic.Int64
			var wg sync.WaitGroup
			for i := range 16 {
				wg.Go(func() {
					var err error
					if i%2 == 0 {
						_, err = s.RunNow(ctx, tenant, admin)
					} else {
						err = s.QueueDue(ctx, tenant, "2026-03-10")
					}
					switch {
					case err == nil:
						ok.Add(1)
					case app.ErrorCode(err) == app.ECONFLICT:
						conflict.Add(1)
					default:
						t.Error(err)
					}
				})
			}
			wg.Wait()
			active := 0
			for _, sc := range mustScans(t, st, tenant) {
				if sc.Status == app.ScanQueued {
					active++
				}
			}
			if ok.Load() != 1 || active != 1 {
				t.Fatalf("%d queued, %d refused, %d active scans; want exactly one", ok.Load(), conflict.Load(), active)
			}
		})
	}
}

// TestMigrateRiver: River's tables are created once; a second run and a
// schema check find them current.
func TestMigrateRiver(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := storetest.Open(t, d)
			if ok, err := schedule.RiverSchemaCurrent(ctx, st); err != nil || ok {
				t.Fatalf("before migrating: current = %v, %v; want false", ok, err)
			}
			if n, err := schedule.MigrateRiver(ctx, st, testLogger()); err != nil || n == 0 {
				t.Fatalf("MigrateRiver = %d, %v", n, err)
			}
			if n, err := schedule.MigrateRiver(ctx, st, testLogger()); err != nil || n != 0 {
				t.Fatalf("second MigrateRiver = %d, %v; want 0", n, err)
			}
			if ok, err := schedule.RiverSchemaCurrent(ctx, st); err != nil || !ok {
				t.Fatalf("after migrating: current = %v, %v; want true", ok, err)
			}
		})
	}
}
