// Package schedule runs scans in the background through River, a job
// queue that lives in Lapse's own database (STYLE.md §5.7, option B):
// riverdatabasesql on PostgreSQL and riversqlite on SQLite, both over the
// store's *sql.DB, so a job is inserted in the same transaction as the
// queued scan it runs and one code path serves both databases.
//
// Three things put scans in the queue:
//
//   - the daily planner, a River periodic job that the elected leader
//     enqueues every PlanInterval and any replica works: it queues each
//     active, connected tenant whose local scan time (plus a per-tenant
//     jitter) has passed, once per tenant and local day;
//   - an admin's "run now" (RunNow) and approval of a held scan (Decide);
//   - a Forge scheduled trigger (TriggerDue), which takes the planner's path.
//
// Any replica sharing the database works any job. A scan job is delivered
// to one worker at a time; a job cut short by a shutdown goes back to the
// queue at once, and one whose process died is rescued by the leader after
// RescueStuckJobsAfter. Budget and rate-limit stops snooze the job until the
// budget resets; other errors are retried with River's backoff.
package schedule

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/store"
	"github.com/lapsehq/lapse/app/warnings"
)

// Defaults of Config.
const (
	PlanIntervalDefault      = 5 * time.Minute
	FetchPollIntervalDefault = time.Second
	MaxWorkersDefault        = 4
	JobTimeoutDefault        = 30 * time.Minute
)

// ScanRunner runs one scan of a tenant. *scan.Runner implements it.
type ScanRunner interface {
	Run(ctx context.Context, tenantID, scanID string, trigger app.ScanTrigger) (*app.ScanRun, error)
	// Settle completes, by reading back, the open removal intents of a
	// scan an admin cancelled.
	Settle(ctx context.Context, tenantID, scanID string) error
}

// Config configures New. Zero values mean the defaults.
type Config struct {
	Store  *store.Store // required
	Runner ScanRunner   // required
	Logger *slog.Logger // default slog.Default()
	// NowFunc is the planner's clock. Default time.Now. River keeps its own
	// (real) time for when jobs become available.
	NowFunc func() time.Time
	// PlanInterval is how often the planner looks for due tenants. A
	// negative value turns the periodic planner off (Plan and TriggerDue
	// still work), for tests and for replicas that should only work jobs.
	PlanInterval time.Duration
	// FetchPollInterval is how often a replica polls for available jobs:
	// the drivers used here do not LISTEN, so it bounds how soon a queued
	// job starts. Tests use ~50ms.
	FetchPollInterval time.Duration
	// MaxWorkers is how many scans one replica runs at once.
	MaxWorkers int
	// JobTimeout bounds one attempt of a scan.
	JobTimeout time.Duration
	// RescueStuckJobsAfter is how long a job may stay running before the
	// leader presumes its process dead and puts it back in the queue. It
	// must exceed JobTimeout. Default: River's (an hour more than
	// JobTimeout when that is longer than an hour, else an hour).
	RescueStuckJobsAfter time.Duration
	// Replica names this process in logs. Default: the host name.
	Replica string
	// Warnings, when set, delivers queued warning e-mails: a periodic job
	// every WarningInterval (default a minute) that any replica works.
	Warnings        WarningMailer
	WarningInterval time.Duration
}

// WarningMailer delivers the warning e-mails scans queue.
// *warnings.Deliverer implements it.
type WarningMailer interface {
	DeliverDue(ctx context.Context) (warnings.Counts, error)
}

// Scheduler is the background scan service of one replica. Start it once;
// the service methods (RunNow, Decide, TriggerDue) also work on a
// scheduler that is not started, which then only enqueues.
type Scheduler struct {
	store  *store.Store
	runner ScanRunner
	log    *slog.Logger
	now    func() time.Time
	cfg    Config
	driver riverdriver.Driver[*sql.Tx]
	client *river.Client[*sql.Tx]
}

// Queues. Planning has its own queue of one worker so that it is never
// stuck behind a replica's long scans.
const (
	queueScans = river.QueueDefault
	queuePlan  = "plan"
	queueMail  = "mail"
)

// retention keeps finished jobs for three days: a scheduled job's unique
// key (tenant, local day) must outlive the day it covers, and a day is up
// to 25 hours long.
const retention = 72 * time.Hour

// New builds a scheduler. It does not touch the database: call Migrate,
// then Start.
func New(cfg Config) (*Scheduler, error) {
	if cfg.Store == nil || cfg.Runner == nil {
		return nil, errors.New("schedule: Store and Runner are required")
	}
	cfg = withDefaults(cfg)
	sqlDB, err := cfg.Store.SQLDB()
	if err != nil {
		return nil, fmt.Errorf("schedule: %w", err)
	}
	s := &Scheduler{store: cfg.Store, runner: cfg.Runner, now: cfg.NowFunc, cfg: cfg,
		log: cfg.Logger.With("service", "scheduler", "replica", cfg.Replica)}
	s.driver = newDriver(cfg.Store.Dialect(), sqlDB)
	s.client, err = river.NewClient(s.driver, s.riverConfig())
	if err != nil {
		return nil, fmt.Errorf("schedule: river client: %w", err)
	}
	return s, nil
}

func withDefaults(cfg Config) Config {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.NowFunc == nil {
		cfg.NowFunc = time.Now
	}
	if cfg.PlanInterval == 0 {
		cfg.PlanInterval = PlanIntervalDefault
	}
	if cfg.FetchPollInterval <= 0 {
		cfg.FetchPollInterval = FetchPollIntervalDefault
	}
	if cfg.MaxWorkers <= 0 {
		cfg.MaxWorkers = MaxWorkersDefault
	}
	if cfg.JobTimeout <= 0 {
		cfg.JobTimeout = JobTimeoutDefault
	}
	if cfg.Replica == "" {
		cfg.Replica, _ = os.Hostname()
	}
	if cfg.WarningInterval <= 0 {
		cfg.WarningInterval = time.Minute
	}
	return cfg
}

// newDriver picks River's driver for the store's database. Both are
// Driver[*sql.Tx], so jobs can be inserted with the *sql.Tx of a GORM
// transaction. Neither LISTENs (riverdatabasesql.New is poll-only), which
// also keeps River working behind a transaction-mode connection pooler.
func newDriver(d store.Dialect, db *sql.DB) riverdriver.Driver[*sql.Tx] {
	if d == store.Postgres {
		return riverdatabasesql.New(db)
	}
	return riversqlite.New(db)
}

func (s *Scheduler) riverConfig() *river.Config {
	workers := river.NewWorkers()
	river.AddWorker(workers, &scanWorker{s: s})
	river.AddWorker(workers, &planWorker{s: s})
	var periodic []*river.PeriodicJob
	if s.cfg.PlanInterval > 0 {
		periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(s.cfg.PlanInterval),
			func() (river.JobArgs, *river.InsertOpts) { return PlanArgs{}, nil },
			&river.PeriodicJobOpts{ID: PlanArgs{}.Kind(), RunOnStart: true}))
	}
	queues := map[string]river.QueueConfig{
		queueScans: {MaxWorkers: s.cfg.MaxWorkers},
		queuePlan:  {MaxWorkers: 1},
	}
	if s.cfg.Warnings != nil {
		river.AddWorker(workers, &mailWorker{mailer: s.cfg.Warnings, log: s.log})
		periodic = append(periodic, river.NewPeriodicJob(river.PeriodicInterval(s.cfg.WarningInterval),
			func() (river.JobArgs, *river.InsertOpts) { return DeliverWarningsArgs{}, nil },
			&river.PeriodicJobOpts{ID: DeliverWarningsArgs{}.Kind(), RunOnStart: true}))
		queues[queueMail] = river.QueueConfig{MaxWorkers: 1}
	}
	return &river.Config{
		Queues:       queues,
		Workers:      workers,
		PeriodicJobs: periodic,
		// River refuses a poll interval shorter than the fetch cooldown.
		FetchCooldown:               min(100*time.Millisecond, s.cfg.FetchPollInterval),
		FetchPollInterval:           s.cfg.FetchPollInterval,
		JobTimeout:                  s.cfg.JobTimeout,
		RescueStuckJobsAfter:        s.cfg.RescueStuckJobsAfter,
		MaxAttempts:                 scanMaxAttempts,
		CompletedJobRetentionPeriod: retention,
		CancelledJobRetentionPeriod: retention,
		DiscardedJobRetentionPeriod: 2 * retention,
		Logger:                      s.log.With("component", "river"),
	}
}

// Migrate creates or updates River's tables (river_job, river_leader, …)
// for this scheduler's store; see MigrateRiver.
func (s *Scheduler) Migrate(ctx context.Context) error {
	_, err := MigrateRiver(ctx, s.store, s.log)
	return err
}

// MigrateRiver creates or updates River's tables in st's database and
// returns how many River migrations it applied. They are River's own,
// versioned by River apart from Lapse's goose migrations; processes that
// migrate at the same time take turns. `lapse migrate` calls it without a
// Scheduler.
func MigrateRiver(ctx context.Context, st *store.Store, log *slog.Logger) (int, error) {
	if log == nil {
		log = slog.Default()
	}
	m, err := migrator(st, log)
	if err != nil {
		return 0, err
	}
	var applied int
	err = st.WithMigrationLock(ctx, func(ctx context.Context) error {
		res, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
		if err != nil {
			return fmt.Errorf("schedule: migrate river: %w", err)
		}
		applied = len(res.Versions)
		return nil
	})
	if err == nil {
		log.InfoContext(ctx, "river migrated", "applied", applied)
	}
	return applied, err
}

// RiverSchemaCurrent reports whether River's tables are up to date, for a
// replica that must not migrate on start.
func RiverSchemaCurrent(ctx context.Context, st *store.Store) (bool, error) {
	m, err := migrator(st, slog.New(slog.DiscardHandler))
	if err != nil {
		return false, err
	}
	res, err := m.Validate(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("schedule: validate river schema: %w", err)
	}
	return res.OK, nil
}

func migrator(st *store.Store, log *slog.Logger) (*rivermigrate.Migrator[*sql.Tx], error) {
	sqlDB, err := st.SQLDB()
	if err != nil {
		return nil, fmt.Errorf("schedule: %w", err)
	}
	m, err := rivermigrate.New(newDriver(st.Dialect(), sqlDB), &rivermigrate.Config{Logger: log.With("component", "rivermigrate")})
	if err != nil {
		return nil, fmt.Errorf("schedule: river migrator: %w", err)
	}
	return m, nil
}

// Start starts fetching and working jobs, and planning when this replica
// is elected leader. The scheduler's life is not tied to ctx: call Stop,
// which lets running scans finish first.
func (s *Scheduler) Start(ctx context.Context) error {
	if err := s.client.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("schedule: start: %w", err)
	}
	s.log.InfoContext(ctx, "scheduler started", "max_workers", s.cfg.MaxWorkers, "plan_interval", s.cfg.PlanInterval,
		"warning_emails", s.cfg.Warnings != nil,
		"fetch_poll_interval", s.cfg.FetchPollInterval)
	return nil
}

// Stop stops fetching new jobs and waits for running scans to finish
// until ctx ends; then it cancels the scans still running and waits for
// them to return. A cancelled scan's job goes back to the queue at once,
// for another replica (or this one's next start) to resume.
func (s *Scheduler) Stop(ctx context.Context) error {
	err := s.client.Stop(ctx)
	if err == nil || ctx.Err() == nil {
		return err
	}
	s.log.WarnContext(ctx, "scans still running at the stop deadline; cancelling them")
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := s.client.StopAndCancel(cctx); err != nil {
		return fmt.Errorf("schedule: stop: %w", err)
	}
	return nil
}
