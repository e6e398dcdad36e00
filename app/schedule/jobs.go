package schedule

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/scan"
)

// ScanArgs is the job that runs one queued scan.
type ScanArgs struct {
	TenantID string          `json:"tenant_id" river:"unique"`
	ScanID   string          `json:"scan_id"`
	Trigger  app.ScanTrigger `json:"trigger"`
	// Day is the tenant's local date (YYYY-MM-DD) a scheduled scan covers;
	// "" for manual scans. Scheduled jobs are unique by (TenantID, Day).
	Day string `json:"day,omitempty" river:"unique"`
	// Approved marks the job that carries out an admin's approval of a held
	// scan: if it is retried, the scan goes back to approved, not queued.
	Approved bool `json:"approved,omitempty"`
}

// Kind implements river.JobArgs.
func (ScanArgs) Kind() string { return "scan" }

// scanMaxAttempts bounds the retries of a failing scan. Snoozes (budget
// stops) do not count. With River's backoff (attempt⁴ seconds) the last
// attempt runs about six minutes after the first.
const scanMaxAttempts = 5

// InsertOpts implements river.JobArgsWithInsertOpts.
func (ScanArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queueScans, MaxAttempts: scanMaxAttempts}
}

// dailyUnique makes a scheduled job unique per (tenant, day) — the fields
// tagged river:"unique" — in every state, finished ones included: a day's
// scan that completed, failed for good or was cancelled is not queued again
// that day. River enforces it with a unique index, so it holds across
// replicas and concurrent transactions, not only within one planner run.
var dailyUnique = river.UniqueOpts{ByArgs: true, ByState: rivertype.JobStates()}

// oneAtATime keeps a periodic job from piling up: at most one waits or runs.
var oneAtATime = river.UniqueOpts{ByState: []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
	rivertype.JobStateRunning, rivertype.JobStateScheduled,
}}

// PlanArgs is the job that queues the scans that are due. River's leader
// enqueues it every PlanInterval (and at start); any replica works it.
type PlanArgs struct{}

// Kind implements river.JobArgs.
func (PlanArgs) Kind() string { return "plan_scans" }

// InsertOpts implements river.JobArgsWithInsertOpts. At most one plan job
// waits or runs at a time; a slow run is not followed by a pile-up.
func (PlanArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queuePlan, MaxAttempts: 3, UniqueOpts: oneAtATime}
}

type planWorker struct {
	river.WorkerDefaults[PlanArgs]
	s *Scheduler
}

// Work runs one planning pass.
func (w *planWorker) Work(ctx context.Context, _ *river.Job[PlanArgs]) error {
	_, err := w.s.Plan(ctx)
	return err
}

// DeliverWarningsArgs is the job that sends the queued warning e-mails.
type DeliverWarningsArgs struct{}

// Kind implements river.JobArgs.
func (DeliverWarningsArgs) Kind() string { return "deliver_warnings" }

// InsertOpts implements river.JobArgsWithInsertOpts: one delivery job at a
// time, on its own queue so mail never waits behind scans.
func (DeliverWarningsArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queueMail, MaxAttempts: 1, UniqueOpts: oneAtATime}
}

type mailWorker struct {
	river.WorkerDefaults[DeliverWarningsArgs]
	mailer WarningMailer
	log    *slog.Logger
}

// Work sends the warnings that are due. A failed round is not retried by
// River (the next periodic run picks the notices up); the notices keep
// their own attempts and backoff.
func (w *mailWorker) Work(ctx context.Context, _ *river.Job[DeliverWarningsArgs]) error {
	c, err := w.mailer.DeliverDue(ctx)
	if c.Sent+c.Retried+c.Failed > 0 {
		w.log.InfoContext(ctx, "warning e-mails delivered", "sent", c.Sent, "retried", c.Retried, "failed", c.Failed)
	}
	return err
}

type scanWorker struct {
	river.WorkerDefaults[ScanArgs]
	s *Scheduler
}

// Timeout bounds one attempt of a scan.
func (w *scanWorker) Timeout(*river.Job[ScanArgs]) time.Duration { return w.s.cfg.JobTimeout }

// schedulerActor is who Lapse's own scheduling steps are audited as.
var schedulerActor = app.Actor{Type: app.ActorSystem, ID: "scheduler"}

// Work runs the job's scan. It first readies the scan (store.RetryScan),
// so that a job delivered again — retried after an error, woken from a
// snooze, rescued from a dead replica — continues its own scan, and one
// whose scan already finished does nothing.
func (w *scanWorker) Work(ctx context.Context, job *river.Job[ScanArgs]) error {
	a := job.Args
	log := w.s.log.With("tenant_id", a.TenantID, "scan_id", a.ScanID, "job_id", job.ID, "attempt", job.Attempt)
	run, err := w.s.store.RetryScan(ctx, a.TenantID, a.ScanID, a.Approved, schedulerActor)
	switch {
	case app.ErrorCode(err) == app.ECONFLICT:
		log.InfoContext(ctx, "scan superseded by another scan of the site", "err", err)
		return nil
	case app.ErrorCode(err) == app.ENOTFOUND:
		return river.JobCancel(err)
	case err != nil:
		return err
	case run.Status == app.ScanCancelled:
		// Cancelled by an admin, or stopped because the site was disabled or
		// uninstalled (RetryScan stops a scan of such a site itself). Its
		// worker may have died mid-removal, or it was deferred: settle what
		// it left open, by reading back, never by writing.
		log.InfoContext(ctx, "scan cancelled; settling its open removals", "reason", run.Error)
		return w.s.runner.Settle(ctx, a.TenantID, a.ScanID)
	case !runnable(run.Status):
		log.InfoContext(ctx, "scan already finished", "status", run.Status)
		return nil
	}
	start := time.Now()
	run, err = w.s.runner.Run(ctx, a.TenantID, a.ScanID, a.Trigger)
	log = log.With("duration_ms", time.Since(start).Milliseconds())
	return w.settle(ctx, log, job, run, err)
}

func runnable(status app.ScanStatus) bool {
	return status == app.ScanQueued || status == app.ScanRunning || status == app.ScanApproved
}

// settle turns the runner's outcome into what River does with the job.
func (w *scanWorker) settle(ctx context.Context, log *slog.Logger, job *river.Job[ScanArgs], run *app.ScanRun, err error) error {
	a := job.Args
	switch {
	case err == nil:
		log.InfoContext(ctx, "scan finished", "status", run.Status)
		return nil
	case ctx.Err() != nil:
		// Shutdown or timeout. On shutdown River puts the job straight back
		// in the queue (without spending an attempt) when the error is
		// context.Canceled; a timeout counts as a failed attempt.
		log.WarnContext(ctx, "scan interrupted", "err", err)
		return fmt.Errorf("scan %s interrupted: %w", a.ScanID, ctx.Err())
	case isDeferred(run, err):
		d := w.s.snoozeFor(a.TenantID, err)
		log.InfoContext(ctx, "scan deferred; job snoozed", "snooze", d, "err", err)
		return river.JobSnooze(d)
	case app.ErrorCode(err) == app.ECONFLICT:
		return w.conflict(ctx, log, a, err)
	case permanent(err):
		log.WarnContext(ctx, "scan cannot run; job cancelled", "err", err)
		w.abandon(ctx, log, a, err)
		return river.JobCancel(err)
	case job.Attempt >= job.MaxAttempts:
		log.ErrorContext(ctx, "scan failed; no attempts left", "err", err)
		w.abandon(ctx, log, a, err)
		return err
	default:
		log.WarnContext(ctx, "scan failed; will retry", "err", err)
		return err
	}
}

// conflictSnooze is how long a job waits when its scan is queued behind
// another active scan of the same site.
const conflictSnooze = time.Minute

// conflict handles the runner's ECONFLICT: the scan is no longer waiting
// to run. Usually another delivery of this job took it or it finished, and
// the job is done. If the scan is still queued, another scan of the site
// holds it, and this one waits its turn instead of being stranded.
func (w *scanWorker) conflict(ctx context.Context, log *slog.Logger, a ScanArgs, err error) error {
	cur, gerr := w.s.store.Scan(ctx, a.TenantID, a.ScanID)
	if gerr == nil && cur.Status == app.ScanQueued {
		log.InfoContext(ctx, "scan waits for another scan of the site", "err", err)
		return river.JobSnooze(conflictSnooze)
	}
	log.InfoContext(ctx, "scan already taken or finished", "err", err)
	return nil
}

// permanent reports errors that no retry can fix: the tenant, its org
// connection or the scan is gone, or the request is invalid.
func permanent(err error) bool {
	switch app.ErrorCode(err) {
	case app.ENOTFOUND, app.EINVALID, app.EFORBIDDEN, app.EUNAUTHORIZED:
		return true
	}
	return false
}

// abandon finishes the job's scan as failed when the job gives up while
// the scan is still active (it failed before the runner could record an
// outcome), so the site is not blocked by a scan nobody will run.
func (w *scanWorker) abandon(ctx context.Context, log *slog.Logger, a ScanArgs, cause error) {
	ctx = context.WithoutCancel(ctx)
	cur, err := w.s.store.Scan(ctx, a.TenantID, a.ScanID)
	if err != nil || !runnable(cur.Status) {
		return
	}
	if _, err := w.s.store.FinishScan(ctx, a.TenantID, a.ScanID, app.ScanFailed, cur.Summary, cause.Error()); err != nil {
		log.ErrorContext(ctx, "abandoned scan not finished", "err", err)
	}
}

// isDeferred reports a stop for budget or rate limit: the runner ended the
// scan as deferred, or the error says when to try again.
func isDeferred(run *app.ScanRun, err error) bool {
	if run != nil && run.Status == app.ScanDeferred {
		return true
	}
	_, ok := scan.ResumeAt(err)
	return ok
}

// Snooze bounds. The upper bound caps how long a wrong or far-off reset
// time can park a scan; the scan simply defers again if the budget is
// still short when it wakes.
const (
	minSnooze     = time.Second
	maxSnooze     = time.Hour
	unknownSnooze = 15 * time.Minute
)

// snoozeFor is how long a deferred scan's job sleeps: until the budget
// resets, bounded, plus a per-tenant offset of up to a tenth of the wait
// (at most 30s), so that the sites of one organization, deferred by the
// same exhausted budget, do not all wake in the same instant.
func (s *Scheduler) snoozeFor(tenantID string, err error) time.Duration {
	d := unknownSnooze
	if at, ok := scan.ResumeAt(err); ok {
		d = at.Sub(s.now())
	}
	d = min(max(d, minSnooze), maxSnooze)
	if spread := min(d/10, 30*time.Second); spread > 0 {
		h := fnv.New64a()
		h.Write([]byte(tenantID))
		d += time.Duration(h.Sum64() % uint64(spread))
	}
	return d
}
