package schedule

import (
	"context"
	"database/sql"
	"errors"
	"hash/fnv"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/store"
)

// DayFormat is the layout of ScanArgs.Day: a tenant's local date.
const DayFormat = "2006-01-02"

// lookback bounds the search for a tenant's latest scheduled scan. A day's
// due time is at most a day and four hours (the largest jitter) after the
// day starts, so three days always reach the scan that matters.
const lookback = 72 * time.Hour

// PlanReport counts what one planning pass did.
type PlanReport struct {
	Candidates int // active tenants connected to their organization
	Due        int // of which past their due time and not scanned on schedule since
	Enqueued   int // scans queued
	Busy       int // skipped: another scan of the site is active; retried next pass
	Planned    int // skipped: the day's job already exists
	Failed     int // errors, logged; retried next pass
}

// errPlanned rolls back a queued scan whose day's job already exists.
var errPlanned = errors.New("the day's scheduled scan is already queued")

// Plan queues a scan of every tenant that is due: installed or enabled,
// connected to its organization, past its daily scan time in its own time
// zone, and not scanned on schedule since. The planner job calls it; tests
// call it directly. One tenant's error does not stop the pass.
func (s *Scheduler) Plan(ctx context.Context) (PlanReport, error) {
	now := s.now()
	var rep PlanReport
	locs := map[string]*time.Location{}
	for c, err := range s.store.SchedulableTenants(ctx, now.Add(-lookback)) {
		if err != nil {
			return rep, err
		}
		rep.Candidates++
		day, ok := s.dueDay(c, now, locs)
		if !ok {
			continue
		}
		rep.Due++
		rep.add(s.queueDue(ctx, c.TenantID, day, app.TriggerSchedule, schedulerActor))
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
	}
	lvl := slog.LevelDebug
	if rep.Enqueued > 0 || rep.Failed > 0 {
		lvl = slog.LevelInfo
	}
	s.log.Log(ctx, lvl, "planned scans", "candidates", rep.Candidates, "due", rep.Due, "enqueued", rep.Enqueued,
		"busy", rep.Busy, "already_planned", rep.Planned, "failed", rep.Failed)
	return rep, nil
}

// add counts the outcome of queueing one due tenant.
func (r *PlanReport) add(err error) {
	switch {
	case err == nil:
		r.Enqueued++
	case errors.Is(err, errPlanned):
		r.Planned++
	case app.ErrorCode(err) == app.ECONFLICT:
		r.Busy++
	default:
		r.Failed++
	}
}

// TriggerDue handles a Forge scheduled trigger: it queues the tenant's
// scan if it is due and was not queued yet, exactly as the planner would,
// so the trigger and the planner never both scan the site that day. A
// tenant that is not due, busy, inactive or not connected is no error.
func (s *Scheduler) TriggerDue(ctx context.Context, tenantID string) error {
	now := s.now()
	c, err := s.store.SchedulableTenant(ctx, tenantID, now.Add(-lookback))
	if app.ErrorCode(err) == app.ENOTFOUND {
		s.log.DebugContext(ctx, "forge trigger: site not schedulable", "tenant_id", tenantID)
		return nil
	}
	if err != nil {
		return err
	}
	day, ok := s.dueDay(c, now, nil)
	if !ok {
		return nil
	}
	err = s.queueDue(ctx, tenantID, day, app.TriggerForge, app.Actor{Type: app.ActorAtlassian, ID: "forge-scheduled-trigger"})
	if err == nil || errors.Is(err, errPlanned) || app.ErrorCode(err) == app.ECONFLICT {
		return nil
	}
	return err
}

// dueDay returns the local day whose scan tenant c owes at now: the latest
// day whose due time has passed, unless a scheduled scan was queued or
// started since that due time. A scan of an earlier day that only started
// after the due time covers the day too: it read the site after it.
func (s *Scheduler) dueDay(c *store.ScheduleCandidate, now time.Time, locs map[string]*time.Location) (string, bool) {
	loc, err := location(c.Policy.TimeZone, locs)
	if err != nil {
		s.log.Warn("invalid time zone; using UTC", "tenant_id", c.TenantID, "time_zone", c.Policy.TimeZone)
		loc = time.UTC
	}
	day, at, ok := LatestDue(c.Policy.ScanTime, c.Policy.JitterMinutes, loc, c.TenantID, now)
	if !ok || !c.LastScheduledAt.Before(at) {
		return "", false
	}
	return day, true
}

func location(name string, cache map[string]*time.Location) (*time.Location, error) {
	if loc, ok := cache[name]; ok {
		return loc, nil
	}
	loc, err := time.LoadLocation(name)
	if err == nil && cache != nil {
		cache[name] = loc
	}
	return loc, err
}

// queueDue queues the scheduled scan of tenantID for day: the scan row,
// its audit event and its job in one transaction. The job is unique per
// (tenant, day); when River finds the day's job already there, the queued
// scan is rolled back (errPlanned).
func (s *Scheduler) queueDue(ctx context.Context, tenantID, day string, trigger app.ScanTrigger, actor app.Actor) error {
	run, err := s.store.QueueScan(ctx, tenantID, trigger, actor, func(tx *sql.Tx, scanID string) error {
		args := ScanArgs{TenantID: tenantID, ScanID: scanID, Trigger: trigger, Day: day}
		res, err := s.client.InsertTx(ctx, tx, args, &river.InsertOpts{UniqueOpts: dailyUnique})
		if err != nil {
			return err
		}
		if res.UniqueSkippedAsDuplicate {
			return errPlanned
		}
		return nil
	})
	log := s.log.With("tenant_id", tenantID, "day", day, "trigger", trigger)
	switch {
	case err == nil:
		log.InfoContext(ctx, "scheduled scan queued", "scan_id", run.ID)
	case errors.Is(err, errPlanned):
		log.DebugContext(ctx, "scheduled scan already queued")
	case app.ErrorCode(err) == app.ECONFLICT:
		log.DebugContext(ctx, "scheduled scan postponed: another scan is active", "err", err)
	default:
		log.ErrorContext(ctx, "scheduled scan not queued", "err", err)
	}
	return err
}

// LatestDue returns the latest local day whose scheduled scan is due at
// now, and when it became due: the day's scanTime ("HH:MM"; the default
// when invalid) in loc plus the tenant's jitter. ok is false only if none
// of the last three days is due, which a jitter under a day rules out.
func LatestDue(scanTime string, jitterMinutes int, loc *time.Location, tenantID string, now time.Time) (day string, at time.Time, ok bool) {
	y, m, d := now.In(loc).Date()
	// The jitter can push a late scan time past midnight, so the latest
	// due day may be yesterday or the day before.
	for back := 0; back <= 2; back++ {
		at = dueAt(y, m, d-back, scanTime, jitterMinutes, loc, tenantID)
		if !at.After(now) {
			// Civil date arithmetic in UTC: a local midnight can fall in a
			// DST gap and be normalised into the day before.
			return time.Date(y, m, d-back, 12, 0, 0, 0, time.UTC).Format(DayFormat), at, true
		}
	}
	return "", time.Time{}, false
}

// NextDue returns when the tenant's next scheduled scan becomes due after
// now, for display.
func NextDue(scanTime string, jitterMinutes int, loc *time.Location, tenantID string, now time.Time) time.Time {
	y, m, d := now.In(loc).Date()
	for back := 2; ; back-- {
		if at := dueAt(y, m, d-back, scanTime, jitterMinutes, loc, tenantID); at.After(now) {
			return at
		}
	}
}

// dueAt is when the scan of local day (y, m, d) is due. time.Date
// normalises a day out of range and a wall time that a DST change skips.
func dueAt(y int, m time.Month, d int, scanTime string, jitterMinutes int, loc *time.Location, tenantID string) time.Time {
	hm, err := time.Parse("15:04", scanTime)
	if err != nil {
		hm, _ = time.Parse("15:04", app.DefaultScanTime)
	}
	return time.Date(y, m, d, hm.Hour(), hm.Minute(), 0, 0, loc).Add(Jitter(tenantID, jitterMinutes))
}

// Jitter is the tenant's fixed offset from its scan time, in [0,
// minutes): a hash of the tenant id, to the second, so that tenants with
// the same scan time spread over the window, and each one keeps the same
// time every day.
func Jitter(tenantID string, minutes int) time.Duration {
	if minutes <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(tenantID))
	return time.Duration(h.Sum64()%uint64(minutes*60)) * time.Second
}
