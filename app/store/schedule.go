package store

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"time"

	"gorm.io/gorm"

	"github.com/lapsehq/lapse/app"
)

// This file holds what the scheduler (app/schedule) needs from the
// database beyond QueueScan and DecideHeldScan: which tenants it may scan,
// when each was last scanned on schedule, a per-tenant lock that makes
// queueing a scan safe across replicas, and the step that readies a
// deferred or failed scan for its job's next attempt.

// ScheduleCandidate is a tenant the scheduler may scan: installed or
// enabled, and connected to its Atlassian organization.
type ScheduleCandidate struct {
	TenantID string
	// Policy is the tenant's current policy (the default when none was
	// saved); the scheduler reads its TimeZone, ScanTime and JitterMinutes.
	Policy *app.Policy
	// LastScheduledAt is when the tenant's latest scan triggered by the
	// schedule or by a Forge scheduled trigger was queued or, once it
	// started, started; zero when there was none since the lookback bound.
	LastScheduledAt time.Time
}

// scheduledTriggers are the triggers that count as the daily scan.
var scheduledTriggers = []app.ScanTrigger{app.TriggerSchedule, app.TriggerForge}

// scheduleStates are the tenant states the scheduler scans.
var scheduleStates = []string{string(app.TenantInstalled), string(app.TenantEnabled)}

const schedulePageSize = 500

// SchedulableTenants streams every tenant the scheduler may scan, in id
// order, a page at a time; since bounds how far back LastScheduledAt is
// looked for. It is a cross-tenant read that exists for the daily planner.
// No cursor stays open while the caller handles a candidate, so the caller
// may write (queue scans) in between, even on SQLite's single connection.
func (s *Store) SchedulableTenants(ctx context.Context, since time.Time) iter.Seq2[*ScheduleCandidate, error] {
	return func(yield func(*ScheduleCandidate, error) bool) {
		after := ""
		for {
			var ids []string
			err := s.schedulableQuery(ctx).Where("tenants.id > ?", after).Order("tenants.id").Limit(schedulePageSize).Pluck("tenants.id", &ids).Error
			if err != nil {
				yield(nil, fmt.Errorf("store: schedulable tenants: %w", err))
				return
			}
			cands, err := s.scheduleCandidates(ctx, ids, since)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, c := range cands {
				if !yield(c, nil) {
					return
				}
			}
			if len(ids) < schedulePageSize {
				return
			}
			after = ids[len(ids)-1]
		}
	}
}

// SchedulableTenant returns one tenant as a schedule candidate, or
// ENOTFOUND when the scheduler may not scan it (unknown, disabled,
// uninstalled or not connected to its organization).
func (s *Store) SchedulableTenant(ctx context.Context, tenantID string, since time.Time) (*ScheduleCandidate, error) {
	var ids []string
	if err := s.schedulableQuery(ctx).Where("tenants.id = ?", tenantID).Pluck("tenants.id", &ids).Error; err != nil {
		return nil, fmt.Errorf("store: schedulable tenant: %w", err)
	}
	if len(ids) == 0 {
		return nil, app.Errorf(app.ENOTFOUND, "the site is not active or not connected to an Atlassian organization")
	}
	cands, err := s.scheduleCandidates(ctx, ids, since)
	if err != nil {
		return nil, err
	}
	return cands[0], nil
}

func (s *Store) schedulableQuery(ctx context.Context) *gorm.DB {
	return s.db.WithContext(ctx).Table("tenants").
		Joins("JOIN org_connections ON org_connections.tenant_id = tenants.id").
		Where("tenants.state IN ?", scheduleStates)
}

// scheduleCandidates loads the current policy and the latest scheduled
// scan of each tenant in ids, in two queries for the whole page.
func (s *Store) scheduleCandidates(ctx context.Context, ids []string, since time.Time) ([]*ScheduleCandidate, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var pols []policyRow
	err := s.db.WithContext(ctx).
		Where("(tenant_id, version) IN (SELECT tenant_id, MAX(version) FROM policies WHERE tenant_id IN ? GROUP BY tenant_id)", ids).
		Find(&pols).Error
	if err != nil {
		return nil, fmt.Errorf("store: schedule policies: %w", err)
	}
	var scans []scanRow
	err = s.db.WithContext(ctx).Select("tenant_id", "started_at").
		Where("tenant_id IN ? AND trigger_kind IN ? AND started_at >= ?", ids, scheduledTriggers, since.UTC()).
		Find(&scans).Error
	if err != nil {
		return nil, fmt.Errorf("store: scheduled scans: %w", err)
	}
	byTenant := make(map[string]*ScheduleCandidate, len(ids))
	out := make([]*ScheduleCandidate, len(ids))
	for i, id := range ids {
		p := app.DefaultPolicy(id, nil)
		out[i] = &ScheduleCandidate{TenantID: id, Policy: &p}
		byTenant[id] = out[i]
	}
	for i := range pols {
		p, err := toPolicy(&pols[i])
		if err != nil {
			return nil, err
		}
		byTenant[pols[i].TenantID].Policy = p
	}
	for _, r := range scans {
		if c := byTenant[r.TenantID]; r.StartedAt.After(c.LastScheduledAt) {
			c.LastScheduledAt = r.StartedAt.UTC()
		}
	}
	return out, nil
}

// scanLockClass namespaces the per-tenant scan locks among PostgreSQL
// advisory locks ("lasc"), as auditLockClass does for the audit chains.
const scanLockClass = 0x6c617363

// lockScans serialises, until the end of the current transaction, every
// writer that checks "no other scan is active" before it makes a scan
// active. Without it two replicas queueing a scan of one tenant at the
// same moment (the planner and an admin's "run now") both pass QueueScan's
// check under READ COMMITTED and leave two active scans. PostgreSQL: a
// transaction-scoped advisory lock. SQLite has one writer at a time; a
// no-op UPDATE makes this transaction that writer now.
func (s *Store) lockScans(ctx context.Context, tenantID string) error {
	if s.dialect == Postgres {
		return s.db.WithContext(ctx).Exec("SELECT pg_advisory_xact_lock(?::integer, hashtext(?))", scanLockClass, tenantID).Error
	}
	return s.db.WithContext(ctx).Exec("UPDATE tenants SET updated_at = updated_at WHERE id = ?", tenantID).Error
}

// RetryScan readies a scan for another attempt of the job that runs it.
// A scan that is queued, running (its worker died) or approved is returned
// as it is: the runner picks it up. A deferred or failed scan is made
// runnable again — approved when the job carries out an admin's approval,
// queued otherwise — and the retry is audited. Any other status is final
// for the job and returned unchanged.
//
// When another scan of the tenant has become active in the meantime, that
// scan supersedes this one: a deferred scan is finished as failed (saying
// by which scan), so that it does not claim to continue later when nothing
// will continue it, and RetryScan answers ECONFLICT.
func (s *Store) RetryScan(ctx context.Context, tenantID, scanID string, approved bool, actor app.Actor) (*app.ScanRun, error) {
	var out *app.ScanRun
	var superseded *scanRow
	err := s.inTx(ctx, func(tx *Store) error {
		row, err := tx.lockedScan(ctx, tenantID, scanID)
		if err != nil {
			return err
		}
		out = toScan(row)
		if stopped, err := tx.stopIfInactive(ctx, row, actor); err != nil || stopped {
			out = toScan(row)
			return err
		}
		if row.Status != app.ScanDeferred && row.Status != app.ScanFailed {
			return nil
		}
		active, err := tx.activeScan(ctx, tenantID)
		if err != nil {
			return err
		}
		if active != nil {
			superseded = active
			return tx.supersede(ctx, row, active.ID)
		}
		before, status := row.Status, app.ScanQueued
		if approved {
			status = app.ScanApproved
		}
		row.Status, row.FinishedAt, row.Error = status, nil, ""
		if err := tx.saveScanState(ctx, row); err != nil {
			return err
		}
		out = toScan(row)
		return tx.appendAudit(ctx, tenantID, actor, app.AuditScanQueued,
			map[string]any{"scanId": scanID, "trigger": row.TriggerKind, "retry": true, "statusBefore": before})
	})
	if err != nil {
		return out, fmt.Errorf("store: retry scan: %w", err)
	}
	if superseded != nil {
		return toScan(superseded), app.Errorf(app.ECONFLICT, "scan %s is %s for this site and supersedes scan %s", superseded.ID, superseded.Status, scanID)
	}
	return out, nil
}

// stopIfInactive cancels an unfinished scan of a tenant that is disabled
// or uninstalled, audited with the reason, so that its job does not start
// it: the lifecycle change stops the scans it finds, and this catches any
// job that was already on its way.
func (s *Store) stopIfInactive(ctx context.Context, row *scanRow, actor app.Actor) (bool, error) {
	if !slices.Contains(cancellableStatuses, row.Status) {
		return false, nil
	}
	var t tenantRow
	if err := s.db.WithContext(ctx).Select("state").Where("id = ?", row.TenantID).Take(&t).Error; err != nil {
		return false, err
	}
	if st := app.TenantState(t.State); !st.Active() {
		reason := "tenant " + string(st)
		return true, s.stopScan(ctx, row, actor, "stopped: "+reason, reason)
	}
	return false, nil
}

// supersede finishes a deferred scan that another scan replaced. A failed
// scan is already finished and stays as it is.
func (s *Store) supersede(ctx context.Context, row *scanRow, by string) error {
	if row.Status != app.ScanDeferred {
		return nil
	}
	now := s.nowUTC()
	row.Status, row.FinishedAt, row.Error = app.ScanFailed, &now, "superseded by scan "+by
	if err := s.saveScanState(ctx, row); err != nil {
		return err
	}
	return s.appendAudit(ctx, row.TenantID, app.Actor{Type: app.ActorScan, ID: row.ID}, app.AuditScanFinished,
		map[string]any{"scanId": row.ID, "status": row.Status, "error": row.Error, "supersededBy": by})
}

func (s *Store) saveScanState(ctx context.Context, row *scanRow) error {
	return s.db.WithContext(ctx).Model(&scanRow{}).Scopes(forTenant(row.TenantID)).Where("id = ?", row.ID).
		Updates(map[string]any{"status": row.Status, "finished_at": row.FinishedAt, "error": row.Error}).Error
}

// migrationLockClass namespaces the lock WithMigrationLock takes ("lami").
const migrationLockClass = 0x6c616d69

// WithMigrationLock runs fn while holding a lock that serialises schema
// changes made outside goose (River's own migrations) across processes
// that start at the same time: a session advisory lock on PostgreSQL, the
// migration lock file beside the database on SQLite. It must not be called
// from inside Migrate.
func (s *Store) WithMigrationLock(ctx context.Context, fn func(ctx context.Context) error) error {
	if s.dialect != Postgres {
		if s.path == ":memory:" {
			return fn(ctx)
		}
		unlock, err := lockFile(s.path + ".migrate-lock")
		if err != nil {
			return fmt.Errorf("store: migration lock: %w", err)
		}
		defer unlock()
		return fn(ctx)
	}
	sqlDB, err := s.db.DB()
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: migration lock: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1::integer, hashtext('river'))", migrationLockClass); err != nil {
		return fmt.Errorf("store: migration lock: %w", err)
	}
	// Unlock on a context that is not cancelled, or the session would keep
	// the lock until the pool closes the connection.
	defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1::integer, hashtext('river'))", migrationLockClass) //nolint:errcheck
	return fn(ctx)
}
