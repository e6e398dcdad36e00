package schedule_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/schedule"
	"github.com/lapsehq/lapse/app/store"
	"github.com/lapsehq/lapse/app/store/storetest"
)

// replicaTenants is the simulated population of the replica test.
const replicaTenants = 1000

// TestScheduler_ReplicasScanEveryTenantOnce runs three scheduler replicas
// ("lapse serve" processes: each its own connection pool and River client)
// on one PostgreSQL database with 1,000 due tenants, stops one abruptly
// while it is working, and checks that every tenant was scanned exactly
// once that day: one scheduled scan each, completed, one job each, and no
// second entry in a log whose UNIQUE (tenant, day) would refuse it.
//
// SQLite is skipped: it is an embedded, single-writer database opened by
// one process, so one "lapse serve" serves it and there are no replicas to
// share the work (the other tests cover the scheduler on SQLite).
//
// It is not parallel: it measures itself, and runs alone before the
// parallel tests resume.
func TestScheduler_ReplicasScanEveryTenantOnce(t *testing.T) {
	if os.Getenv(storetest.EnvDatabaseURL) == "" {
		t.Skip("replica test SKIPPED: it needs PostgreSQL (set " + storetest.EnvDatabaseURL + "); SQLite is single-writer and served by one process")
	}
	ctx := context.Background()
	clk := newClock(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)) // every tenant's 03:00 (+ ≤30 min) has passed
	const day = "2026-03-10"
	url := storetest.URL(t, store.Postgres)
	box := storetest.Box(t)
	open := func() *store.Store {
		st, err := store.Open(ctx, store.Config{URL: url, Box: box, NowFunc: clk.Now, MaxOpenConns: 10})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return st
	}
	setupStart := time.Now()
	st0 := open()
	if _, err := st0.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	tenants := createTenants(t, st0, replicaTenants)
	setup := time.Since(setupStart)

	const n = 3
	var (
		scheds  [n]*schedule.Scheduler
		runners [n]*countingRunner
		wg      sync.WaitGroup
	)
	for i := range n {
		st := open()
		runners[i] = newCountingRunner(t, st, fmt.Sprintf("r%d", i), day, 20*time.Millisecond)
		s, err := schedule.New(schedule.Config{Store: st, Runner: runners[i], NowFunc: clk.Now, Logger: testLogger(),
			PlanInterval: time.Hour, FetchPollInterval: 50 * time.Millisecond, MaxWorkers: 4, Replica: runners[i].replica})
		if err != nil {
			t.Fatal(err)
		}
		scheds[i] = s
	}
	// The replicas migrate River at the same moment, as they would on a
	// rolling start; the migration lock makes them take turns.
	for _, s := range scheds {
		wg.Go(func() {
			if err := s.Migrate(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	start := time.Now()
	for _, s := range scheds {
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}

	done := func() int {
		return countRows(t, st0, "SELECT count(*) FROM scans WHERE trigger_kind = 'schedule' AND status = 'completed'")
	}
	// Stop replica 1 abruptly once a third of the day's scans are done,
	// while it is in the middle of scans: they are cancelled, and it is not
	// waited for.
	waitFor(t, 40*time.Second, "a third of the scans", func() bool { return done() >= replicaTenants/3 })
	// From here r1's new runs hang until r1 is stopped, so the stop is sure
	// to cut scans short (the case this test is about) however the two
	// cores schedule the goroutines.
	runners[1].hold.Store(true)
	waitFor(t, 10*time.Second, "replica r1 busy", func() bool { return runners[1].busy.Load() >= 2 })
	killedAt := time.Since(start)
	killedDone := runners[1].done.Load()
	stopped, cancel := context.WithCancel(ctx)
	cancel()
	killErr := make(chan error, 1)
	go func() { killErr <- scheds[1].Stop(stopped) }()

	waitFor(t, 50*time.Second, "every tenant scanned", func() bool { return done() >= replicaTenants })
	elapsed := time.Since(start)
	for _, i := range []int{0, 2} {
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		if err := scheds[i].Stop(sctx); err != nil {
			t.Errorf("stop replica %d: %v", i, err)
		}
		cancel()
	}
	if err := <-killErr; err != nil {
		t.Errorf("stop of the killed replica: %v", err)
	}

	assertScannedOnce(t, st0, tenants, day)
	var calls, cut, dupes int64
	for i, r := range runners {
		calls, cut, dupes = calls+r.calls.Load(), cut+r.cut.Load(), dupes+r.dupes.Load()
		t.Logf("replica r%d: %d scans completed, %d cut short", i, r.done.Load(), r.cut.Load())
	}
	if dupes != 0 {
		t.Fatalf("%d duplicate scans refused by the log's UNIQUE (tenant, day)", dupes)
	}
	if runners[1].done.Load() == 0 || runners[0].done.Load() == 0 || runners[2].done.Load() == 0 {
		t.Fatal("a replica did no work: the test does not show the work shared")
	}
	if runners[1].cut.Load() == 0 {
		t.Fatal("the stopped replica had no scan cut short: the test does not show interrupted scans resumed")
	}
	t.Logf("%d tenants, 3 replicas: setup %s; all scanned in %s; replica r1 stopped at %s after %d scans, %d of its scans cut short and resumed elsewhere; %d runs in all",
		replicaTenants, setup.Round(time.Millisecond), elapsed.Round(time.Millisecond), killedAt.Round(time.Millisecond), killedDone, cut, calls)

	// A later planning pass the same day finds nothing to do.
	clk.Set(clk.Now().Add(6 * time.Hour))
	if rep, err := scheds[0].Plan(ctx); err != nil || rep.Candidates != replicaTenants || rep.Due != 0 {
		t.Fatalf("planning again the same day: %+v, %v; want %d candidates, none due", rep, err, replicaTenants)
	}
}

// createTenants installs and connects n tenants, eight at a time.
func createTenants(t *testing.T, st *store.Store, n int) []string {
	t.Helper()
	ids := make([]string, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ctx := context.Background()
			name := fmt.Sprintf("site%04d", i)
			tn, err := st.InstallConnect(ctx, app.ConnectInstall{ClientKey: "ck-" + name, BaseURL: "https://" + name + ".atlassian.net",
				Product: app.ProductJira, SharedSecret: []byte("s")})
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := st.SetOrgConnection(ctx, tn.ID, "org-"+name, "key", admin); err != nil {
				t.Error(err)
			}
			ids[i] = tn.ID
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return ids
}

// assertScannedOnce checks, straight in the tables, that every tenant has
// exactly one scheduled scan, completed, exactly one scan job, and one
// entry in the scan log for day.
func assertScannedOnce(t *testing.T, st *store.Store, tenants []string, day string) {
	t.Helper()
	db, rebind := sqlDB(t, st)
	per := func(q string, args ...any) map[string]int {
		rows, err := db.Query(rebind(q), args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		out := map[string]int{}
		for rows.Next() {
			var id string
			var c int
			if err := rows.Scan(&id, &c); err != nil {
				t.Fatal(err)
			}
			out[id] = c
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	scans := per("SELECT tenant_id, count(*) FROM scans GROUP BY tenant_id")
	completed := per("SELECT tenant_id, count(*) FROM scans WHERE trigger_kind = 'schedule' AND status = 'completed' GROUP BY tenant_id")
	jobs := per("SELECT args->>'tenant_id', count(*) FROM river_job WHERE kind = 'scan' AND args->>'day' = ? GROUP BY 1", day)
	logged := per("SELECT tenant_id, count(*) FROM test_scan_log WHERE day = ? GROUP BY tenant_id", day)
	var bad []string
	for _, id := range tenants {
		if scans[id] != 1 || completed[id] != 1 || jobs[id] != 1 || logged[id] != 1 {
			bad = append(bad, fmt.Sprintf("%s: %d scans, %d completed, %d jobs, %d logged", id, scans[id], completed[id], jobs[id], logged[id]))
		}
	}
	if len(bad) > 0 || len(scans) != len(tenants) || len(logged) != len(tenants) {
		t.Fatalf("%d of %d tenants not scanned exactly once (%d with scans, %d logged): %v", len(bad), len(tenants), len(scans), len(logged), bad[:min(len(bad), 10)])
	}
}
