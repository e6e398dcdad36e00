package schedule_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/internal/testclock"
	"github.com/lapsehq/lapse/app/schedule"
	"github.com/lapsehq/lapse/app/store"
)

var admin = app.Actor{Type: app.ActorAdmin, ID: "557058:admin"}

// newClock is a settable clock shared by a store and a scheduler.
func newClock(t time.Time) *testclock.Clock { return testclock.New(t) }

// testLogger shows warnings and errors on stderr (go test prints them for
// failing or -v runs), everything when LAPSE_TEST_LOG=debug.
func testLogger() *slog.Logger {
	lvl := slog.LevelWarn
	if os.Getenv("LAPSE_TEST_LOG") == "debug" {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

// newTenant installs a Jira tenant, connects it to an organization unless
// connect is false, and saves its schedule when tz is not "".
func newTenant(t testing.TB, st *store.Store, name string, connect bool, tz, scanTime string, jitter int) string {
	t.Helper()
	ctx := context.Background()
	tn, err := st.InstallConnect(ctx, app.ConnectInstall{ClientKey: "ck-" + name, BaseURL: "https://" + name + ".atlassian.net",
		Product: app.ProductJira, SharedSecret: []byte("secret-" + name)})
	if err != nil {
		t.Fatal(err)
	}
	if connect {
		if _, err := st.SetOrgConnection(ctx, tn.ID, "org-"+name, "key-"+name, admin); err != nil {
			t.Fatal(err)
		}
	}
	if tz != "" {
		p, err := st.Policy(ctx, tn.ID, []string{"jira-software"})
		if err != nil {
			t.Fatal(err)
		}
		p.TimeZone, p.ScanTime, p.JitterMinutes = tz, scanTime, jitter
		if _, err := st.SavePolicy(ctx, tn.ID, *p, p.Version, admin, nil); err != nil {
			t.Fatal(err)
		}
	}
	return tn.ID
}

// startScheduler builds, migrates and starts a scheduler with test
// settings, stopped at the end of the test.
func startScheduler(t testing.TB, cfg schedule.Config) *schedule.Scheduler {
	t.Helper()
	s := newScheduler(t, cfg)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return s
}

// newScheduler builds and migrates a scheduler that is not started.
func newScheduler(t testing.TB, cfg schedule.Config) *schedule.Scheduler {
	t.Helper()
	if cfg.FetchPollInterval == 0 {
		cfg.FetchPollInterval = 50 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	s, err := schedule.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitStatus waits until the scan reaches status.
func waitStatus(t testing.TB, st *store.Store, tenantID, scanID string, status app.ScanStatus) *app.ScanRun {
	t.Helper()
	var run *app.ScanRun
	waitFor(t, 20*time.Second, "scan "+string(status), func() bool {
		var err error
		run, err = st.Scan(context.Background(), tenantID, scanID)
		return err == nil && run.Status == status
	})
	return run
}

// sqlDB returns the store's *sql.DB and a rebind function that turns ?
// placeholders into the dialect's.
func sqlDB(t testing.TB, st *store.Store) (*sql.DB, func(string) string) {
	t.Helper()
	db, err := st.SQLDB()
	if err != nil {
		t.Fatal(err)
	}
	return db, rebindFor(st.Dialect())
}

func rebindFor(d store.Dialect) func(string) string {
	if d == store.SQLite {
		return func(q string) string { return q }
	}
	return func(q string) string {
		var b strings.Builder
		n := 0
		for _, r := range q {
			if r == '?' {
				n++
				fmt.Fprintf(&b, "$%d", n)
				continue
			}
			b.WriteRune(r)
		}
		return b.String()
	}
}

// countRows runs a count query.
func countRows(t testing.TB, st *store.Store, q string, args ...any) int {
	t.Helper()
	db, rebind := sqlDB(t, st)
	var n int
	if err := db.QueryRow(rebind(q), args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// countingRunner is a test double of our own scan worker (scan.Runner),
// not of the network: it moves the scan through the store as the real
// runner does (start or resume, then finish; finished as failed when its
// context is cancelled), and records each scan it completes in a table
// with a UNIQUE (tenant_id, day), so a second scan of a tenant on one day
// is caught by the database itself.
type countingRunner struct {
	st      *store.Store
	db      *sql.DB
	rebind  func(string) string
	replica string
	day     string
	delay   time.Duration
	gate    chan struct{} // when set, each run waits for a value
	hold    atomic.Bool   // when set, runs that start wait until cancelled
	calls   atomic.Int64
	done    atomic.Int64
	cut     atomic.Int64 // runs cancelled midway
	busy    atomic.Int64 // runs in progress
	dupes   atomic.Int64
}

const scanLogDDL = `CREATE TABLE IF NOT EXISTS test_scan_log (
	tenant_id TEXT NOT NULL,
	day       TEXT NOT NULL,
	scan_id   TEXT NOT NULL,
	replica   TEXT NOT NULL,
	UNIQUE (tenant_id, day)
)`

func newCountingRunner(t testing.TB, st *store.Store, replica, day string, delay time.Duration) *countingRunner {
	t.Helper()
	db, rebind := sqlDB(t, st)
	if _, err := db.Exec(scanLogDDL); err != nil {
		t.Fatal(err)
	}
	return &countingRunner{st: st, db: db, rebind: rebind, replica: replica, day: day, delay: delay}
}

func (r *countingRunner) Run(ctx context.Context, tenantID, scanID string, trigger app.ScanTrigger) (*app.ScanRun, error) {
	r.calls.Add(1)
	run, err := r.begin(ctx, tenantID, scanID, trigger)
	if err != nil {
		return run, err
	}
	if err := r.work(ctx); err != nil {
		r.cut.Add(1)
		_, ferr := r.st.FinishScan(context.WithoutCancel(ctx), tenantID, run.ID, app.ScanFailed, map[string]any{}, err.Error())
		return nil, fmt.Errorf("%w (finish: %v)", err, ferr)
	}
	if err := r.record(ctx, tenantID, run.ID); err != nil {
		return nil, err
	}
	r.done.Add(1)
	return r.st.FinishScan(context.WithoutCancel(ctx), tenantID, run.ID, app.ScanCompleted, map[string]any{"replica": r.replica}, "")
}

// begin starts the queued scan, or picks up one left running or
// approved, as scan.Runner does.
func (r *countingRunner) begin(ctx context.Context, tenantID, scanID string, trigger app.ScanTrigger) (*app.ScanRun, error) {
	existing, err := r.st.Scan(ctx, tenantID, scanID)
	if err != nil {
		return nil, err
	}
	if existing.Status == app.ScanRunning || existing.Status == app.ScanApproved {
		return existing, nil
	}
	pol, err := r.st.Policy(ctx, tenantID, nil)
	if err != nil {
		return nil, err
	}
	return r.st.StartScan(ctx, tenantID, scanID, trigger, pol)
}

func (r *countingRunner) work(ctx context.Context) error {
	r.busy.Add(1)
	defer r.busy.Add(-1)
	if r.hold.Load() {
		<-ctx.Done()
		return ctx.Err()
	}
	if r.gate != nil {
		select {
		case <-r.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	select {
	case <-time.After(r.delay):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// record logs the scan. A resumed scan finds its own row (same scan id)
// and carries on; any other row is a duplicate scan of the day. Without a
// day, every scan has its own row.
func (r *countingRunner) record(ctx context.Context, tenantID, scanID string) error {
	// The scan's work is done: it is recorded even when the replica is
	// being stopped. With the caller's context a cancellation could let the
	// insert commit while the client reports an error, and the check below
	// fail to read, which is no evidence of a duplicate.
	ctx = context.WithoutCancel(ctx)
	db, rebind := r.db, r.rebind
	day := r.day
	if day == "" {
		day = scanID
	}
	_, err := db.ExecContext(ctx, rebind("INSERT INTO test_scan_log (tenant_id, day, scan_id, replica) VALUES (?, ?, ?, ?)"),
		tenantID, day, scanID, r.replica)
	if err == nil {
		return nil
	}
	var prev string
	if qerr := db.QueryRowContext(ctx, rebind("SELECT scan_id FROM test_scan_log WHERE tenant_id = ? AND day = ?"), tenantID, day).Scan(&prev); qerr != nil {
		return fmt.Errorf("record scan of tenant %s: %w (and reading the log: %v)", tenantID, err, qerr)
	}
	if prev == scanID {
		return nil
	}
	r.dupes.Add(1)
	return fmt.Errorf("duplicate scan of tenant %s on %s: %s already scanned it: %w", tenantID, day, prev, err)
}
