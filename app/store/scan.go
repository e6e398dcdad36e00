package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/lapsehq/lapse/app"
)

type scanRow struct {
	ID            string `gorm:"primaryKey"`
	TenantID      string
	Status        app.ScanStatus
	TriggerKind   app.ScanTrigger
	PolicyVersion int
	Mode          app.PolicyMode
	StartedAt     time.Time
	FinishedAt    *time.Time
	Summary       string
	Error         string
	// What the scan spent on Atlassian's APIs, over all its attempts: added
	// to as it runs (AddScanUsage), so a killed attempt's requests count.
	APIRequests    int64 `gorm:"column:api_requests"`
	APIRateLimited int64 `gorm:"column:api_rate_limited"`
	APIPoints      int64 `gorm:"column:api_points"`
}

func (scanRow) TableName() string { return "scans" }

type scanAccountRow struct {
	ScanID    string `gorm:"primaryKey"`
	TenantID  string
	AccountID string `gorm:"primaryKey"`
	Facts     string
	Decisions string
}

func (scanAccountRow) TableName() string { return "scan_accounts" }

type scanActionRow struct {
	ScanID    string `gorm:"primaryKey"`
	TenantID  string
	AccountID string `gorm:"primaryKey"`
	GroupID   string `gorm:"primaryKey"`
	Product   string
	State     app.ActionState
	Outcome   string
	UpdatedAt time.Time
}

func (scanActionRow) TableName() string { return "scan_actions" }

func toScan(r *scanRow) *app.ScanRun {
	return &app.ScanRun{ID: r.ID, TenantID: r.TenantID, Status: r.Status, Trigger: r.TriggerKind, PolicyVersion: r.PolicyVersion,
		Mode: r.Mode, StartedAt: r.StartedAt.UTC(), FinishedAt: utcPtr(r.FinishedAt), Summary: json.RawMessage(r.Summary), Error: r.Error}
}

// activeStatuses are the states in which a scan still owns the tenant.
var activeStatuses = []app.ScanStatus{app.ScanQueued, app.ScanRunning, app.ScanApproved}

// QueueScan records a scan waiting for a worker and, in the same
// transaction, runs enqueue (which inserts the job with the transaction's
// *sql.Tx), so a rolled-back queue never leaves a job and a committed one
// always has one. One scan per tenant at a time: when another is queued or
// running it answers ECONFLICT with that scan.
func (s *Store) QueueScan(ctx context.Context, tenantID string, trigger app.ScanTrigger, actor app.Actor, enqueue func(tx *sql.Tx, scanID string) error) (*app.ScanRun, error) {
	var out *app.ScanRun
	err := s.inTx(ctx, func(tx *Store) error {
		// Serialise the tenant's scan bookkeeping across replicas, so two
		// callers never both find "no active scan".
		if err := tx.lockScans(ctx, tenantID); err != nil {
			return err
		}
		if err := tx.requireScannable(ctx, tenantID); err != nil {
			return err
		}
		active, err := tx.activeScan(ctx, tenantID)
		if err != nil {
			return err
		}
		if active != nil {
			out = toScan(active)
			return app.Errorf(app.ECONFLICT, "scan %s is already %s for this site", active.ID, active.Status)
		}
		row := scanRow{ID: uuid.NewString(), TenantID: tenantID, Status: app.ScanQueued, TriggerKind: trigger, StartedAt: s.nowUTC(), Summary: "{}"}
		if err := tx.db.WithContext(ctx).Create(&row).Error; err != nil {
			return err
		}
		out = toScan(&row)
		if err := tx.appendAudit(ctx, tenantID, actor, app.AuditScanQueued, map[string]any{"scanId": row.ID, "trigger": trigger}); err != nil {
			return err
		}
		if enqueue == nil {
			return nil
		}
		sqlTx, err := tx.SQLTx()
		if err != nil {
			return err
		}
		return enqueue(sqlTx, row.ID)
	})
	if err != nil {
		return out, fmt.Errorf("store: queue scan: %w", err)
	}
	return out, nil
}

// requireScannable refuses to queue a scan of the tenant unless it is
// active (requireActive) and connected to its organization (ECONFLICT):
// the one place that checks the org connection before a scan.
func (s *Store) requireScannable(ctx context.Context, tenantID string) error {
	if err := s.requireActive(ctx, tenantID); err != nil {
		return err
	}
	var n int64
	if err := s.db.WithContext(ctx).Model(&orgConnectionRow{}).Where("tenant_id = ?", tenantID).Count(&n).Error; err != nil {
		return err
	}
	if n == 0 {
		return app.Errorf(app.ECONFLICT, "connect this site to its Atlassian organization first (PUT /api/v1/org-connection, or lapse connect-org): scans read users and last-active dates through the organization's API")
	}
	return nil
}

// requireActive refuses (EFORBIDDEN) to make a scan of a disabled or
// uninstalled tenant active. Call it under lockScans, so that the
// lifecycle change that stops the tenant's scans (stopTenantScans) cannot
// slip in between the check and the scan it allows.
func (s *Store) requireActive(ctx context.Context, tenantID string) error {
	var rows []tenantRow
	if err := s.db.WithContext(ctx).Select("state").Where("id = ?", tenantID).Limit(1).Find(&rows).Error; err != nil {
		return err
	}
	if len(rows) == 0 {
		return app.Errorf(app.ENOTFOUND, "tenant not found")
	}
	if st := app.TenantState(rows[0].State); !st.Active() {
		return app.Errorf(app.EFORBIDDEN, "the site is %s: Lapse scans only installed or enabled sites", st)
	}
	return nil
}

// SQLTx returns the *sql.Tx of a store bound to a transaction (inside
// inTx), for libraries that insert rows in the same transaction (River).
func (s *Store) SQLTx() (*sql.Tx, error) {
	switch p := s.db.Statement.ConnPool.(type) {
	case *sql.Tx:
		return p, nil
	case *gorm.PreparedStmtTX:
		if t, ok := p.Tx.(*sql.Tx); ok {
			return t, nil
		}
	}
	return nil, fmt.Errorf("store: not in a transaction (%T)", s.db.Statement.ConnPool)
}

// lockedScan takes the tenant's scan lock, which serialises its scan
// bookkeeping across replicas (so two callers never both find "no active
// scan"), and reads one scan of the tenant. Call it inside a transaction.
func (s *Store) lockedScan(ctx context.Context, tenantID, scanID string) (*scanRow, error) {
	if err := s.lockScans(ctx, tenantID); err != nil {
		return nil, fmt.Errorf("lock scans: %w", err)
	}
	var row scanRow
	if err := s.db.WithContext(ctx).Scopes(forTenant(tenantID)).Where("id = ?", scanID).Take(&row).Error; err != nil {
		return nil, notFound(err, "scan")
	}
	return &row, nil
}

func (s *Store) activeScan(ctx context.Context, tenantID string) (*scanRow, error) {
	var rows []scanRow
	err := s.db.WithContext(ctx).Scopes(forTenant(tenantID)).Where("status IN ?", activeStatuses).Limit(1).Find(&rows).Error
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return &rows[0], nil
}

// StartScan begins a scan under policy p: the queued scan scanID when
// given, or a new one. A queued scan that is no longer queued (another
// worker took it, or it finished) answers ECONFLICT, so a job delivered
// twice does not run twice.
func (s *Store) StartScan(ctx context.Context, tenantID, scanID string, trigger app.ScanTrigger, p *app.Policy) (*app.ScanRun, error) {
	var out *app.ScanRun
	err := s.inTx(ctx, func(tx *Store) error {
		// Serialise the tenant's scan bookkeeping across replicas, so two
		// callers never both find "no active scan".
		if err := tx.lockScans(ctx, tenantID); err != nil {
			return err
		}
		if err := tx.requireActive(ctx, tenantID); err != nil {
			return err
		}
		row, err := tx.claimScan(ctx, tenantID, scanID, trigger)
		if err != nil {
			return err
		}
		row.Status, row.PolicyVersion, row.Mode, row.StartedAt = app.ScanRunning, p.Version, p.Mode, s.nowUTC()
		if err := tx.db.WithContext(ctx).Save(row).Error; err != nil {
			return err
		}
		out = toScan(row)
		return tx.appendAudit(ctx, tenantID, app.Actor{Type: app.ActorScan, ID: row.ID}, app.AuditScanStarted,
			map[string]any{"scanId": row.ID, "trigger": row.TriggerKind, "policyVersion": p.Version, "mode": p.Mode})
	})
	if err != nil {
		return out, fmt.Errorf("store: start scan: %w", err)
	}
	return out, nil
}

func (s *Store) claimScan(ctx context.Context, tenantID, scanID string, trigger app.ScanTrigger) (*scanRow, error) {
	active, err := s.activeScan(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	if scanID == "" {
		if active != nil {
			return nil, app.Errorf(app.ECONFLICT, "scan %s is already %s for this site", active.ID, active.Status)
		}
		row := &scanRow{ID: uuid.NewString(), TenantID: tenantID, TriggerKind: trigger, Summary: "{}"}
		return row, s.db.WithContext(ctx).Create(row).Error
	}
	if active == nil || active.ID != scanID || active.Status != app.ScanQueued {
		return nil, app.Errorf(app.ECONFLICT, "scan %s is not waiting to run", scanID)
	}
	return active, nil
}

// ListScans returns a tenant's scans, newest first.
func (s *Store) ListScans(ctx context.Context, tenantID string, limit int) ([]*app.ScanRun, error) {
	var rows []scanRow
	if err := s.db.WithContext(ctx).Scopes(forTenant(tenantID)).Order("started_at DESC, id").Limit(clampLimit(limit)).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: list scans: %w", err)
	}
	out := make([]*app.ScanRun, len(rows))
	for i := range rows {
		out[i] = toScan(&rows[i])
	}
	return out, nil
}

// DecideHeldScan records an admin's approval or rejection of a held scan,
// audited in the same transaction. Only a held scan can be decided. An
// approval makes the held scan active again, so it is refused with
// ECONFLICT (and the active scan) while another scan of the tenant is
// active: two scans would otherwise change the same site at once.
func (s *Store) DecideHeldScan(ctx context.Context, tenantID, scanID string, approve bool, actor app.Actor, enqueue func(tx *sql.Tx, scanID string) error) (*app.ScanRun, error) {
	var out *app.ScanRun
	err := s.inTx(ctx, func(tx *Store) error {
		row, err := tx.lockedScan(ctx, tenantID, scanID)
		if err != nil {
			return err
		}
		if row.Status != app.ScanHeld {
			return app.Errorf(app.ECONFLICT, "scan %s is %s, not held", scanID, row.Status)
		}
		if approve {
			if err := tx.requireActive(ctx, tenantID); err != nil {
				return err
			}
			active, err := tx.activeScan(ctx, tenantID)
			if err != nil {
				return err
			}
			if active != nil {
				out = toScan(active)
				return app.Errorf(app.ECONFLICT, "scan %s is %s for this site; approve the held scan once it has finished", active.ID, active.Status)
			}
		}
		status, action := app.ScanApproved, app.AuditScanApproved
		if !approve {
			now := s.nowUTC()
			status, action, row.FinishedAt = app.ScanRejected, app.AuditScanRejected, &now
		}
		row.Status = status
		if err := tx.db.WithContext(ctx).Save(row).Error; err != nil {
			return err
		}
		out = toScan(row)
		if err := tx.appendAudit(ctx, tenantID, actor, action, map[string]any{"scanId": scanID}); err != nil {
			return err
		}
		if !approve || enqueue == nil {
			return nil
		}
		sqlTx, err := tx.SQLTx()
		if err != nil {
			return err
		}
		return enqueue(sqlTx, scanID)
	})
	if err != nil {
		return out, fmt.Errorf("store: decide held scan: %w", err)
	}
	return out, nil
}

// cancellableStatuses are the scans an admin may cancel: not yet finished
// and not held (a held scan is rejected instead).
var cancellableStatuses = []app.ScanStatus{app.ScanQueued, app.ScanRunning, app.ScanApproved, app.ScanDeferred}

// CancelScan stops a scan at an admin's request, audited in the same
// transaction. A queued or deferred scan never runs; a running one stops at
// its next check, between two removals (never between a removal's intent and
// its outcome), and FinishScan keeps it cancelled.
func (s *Store) CancelScan(ctx context.Context, tenantID, scanID string, actor app.Actor) (*app.ScanRun, error) {
	var out *app.ScanRun
	err := s.inTx(ctx, func(tx *Store) error {
		row, err := tx.lockedScan(ctx, tenantID, scanID)
		if err != nil {
			return err
		}
		out = toScan(row)
		if !slices.Contains(cancellableStatuses, row.Status) {
			hint := ""
			if row.Status == app.ScanHeld {
				hint = "; reject a held scan instead"
			}
			return app.Errorf(app.ECONFLICT, "scan %s is %s and cannot be cancelled%s", scanID, row.Status, hint)
		}
		if err := tx.stopScan(ctx, row, actor, "cancelled by an administrator", ""); err != nil {
			return err
		}
		out = toScan(row)
		return nil
	})
	if err != nil {
		if app.ErrorCode(err) == app.ECONFLICT || app.ErrorCode(err) == app.ENOTFOUND {
			return out, err
		}
		return out, fmt.Errorf("store: cancel scan: %w", err)
	}
	return out, nil
}

// stopScan cancels row (a scan in a cancellable status) and audits it as
// scan.cancelled, with reason when something else than an administrator's
// cancel stopped it. Call it inside a transaction holding lockScans.
func (s *Store) stopScan(ctx context.Context, row *scanRow, actor app.Actor, scanErr, reason string) error {
	before, now := row.Status, s.nowUTC()
	row.Status, row.FinishedAt, row.Error = app.ScanCancelled, &now, scanErr
	if err := s.saveScanState(ctx, row); err != nil {
		return err
	}
	return s.appendAudit(ctx, row.TenantID, actor, app.AuditScanCancelled,
		app.ScanStopEvidence{ScanID: row.ID, StatusBefore: before, Reason: reason})
}

// stopTenantScans cancels every scan of the tenant that is not finished
// (queued, running, approved or deferred), each audited with reason, in the
// caller's transaction: the lifecycle change that disables or uninstalls
// the tenant. A running scan sees the cancel at its next check, before its
// next removal (RecordIntent refuses a cancelled scan), so it stops between
// two removals as an admin's cancel does; a queued or deferred one never
// runs. A later enable does not revive them: cancelled is final.
func (s *Store) stopTenantScans(ctx context.Context, tenantID string, actor app.Actor, reason string) error {
	if err := s.lockScans(ctx, tenantID); err != nil {
		return err
	}
	var rows []scanRow
	if err := s.db.WithContext(ctx).Scopes(forTenant(tenantID)).Where("status IN ?", cancellableStatuses).Order("id").Find(&rows).Error; err != nil {
		return err
	}
	for i := range rows {
		if err := s.stopScan(ctx, &rows[i], actor, "stopped: "+reason, reason); err != nil {
			return err
		}
	}
	return nil
}

// ErrScanCancelled is returned by RecordIntent for a scan that has been
// cancelled (by an admin, or by the tenant's uninstall or disable): the
// engine stops instead of making the removal.
var ErrScanCancelled = errors.New("store: the scan was cancelled")

// ScanCancelled reports whether the scan has been cancelled (by an admin,
// or because its tenant was uninstalled or disabled): the scan engine asks
// between steps.
func (s *Store) ScanCancelled(ctx context.Context, tenantID, scanID string) (bool, error) {
	var rows []scanRow
	err := s.db.WithContext(ctx).Scopes(forTenant(tenantID)).Select("status").Where("id = ?", scanID).Limit(1).Find(&rows).Error
	if err != nil {
		return false, fmt.Errorf("store: scan status: %w", err)
	}
	return len(rows) == 1 && rows[0].Status == app.ScanCancelled, nil
}

// Scan returns one scan of a tenant.
func (s *Store) Scan(ctx context.Context, tenantID, scanID string) (*app.ScanRun, error) {
	var row scanRow
	if err := s.db.WithContext(ctx).Scopes(forTenant(tenantID)).Where("id = ?", scanID).Take(&row).Error; err != nil {
		return nil, notFound(err, "scan")
	}
	return toScan(&row), nil
}

// SaveScanAccounts stores a batch of the scan's snapshot. Saving an account
// twice (a resumed scan re-reading a page) keeps the first.
func (s *Store) SaveScanAccounts(ctx context.Context, tenantID, scanID string, accounts []app.ScanAccount) error {
	if len(accounts) == 0 {
		return nil
	}
	rows := make([]scanAccountRow, 0, len(accounts))
	for _, a := range accounts {
		facts, err := json.Marshal(a.Facts)
		if err != nil {
			return err
		}
		decisions, err := json.Marshal(a.Decisions)
		if err != nil {
			return err
		}
		rows = append(rows, scanAccountRow{ScanID: scanID, TenantID: tenantID, AccountID: a.Facts.AccountID, Facts: string(facts), Decisions: string(decisions)})
	}
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(rows, 200).Error
	if err != nil {
		return fmt.Errorf("store: save scan accounts: %w", err)
	}
	return nil
}

// ScanAccounts streams a scan's snapshot in account order, a page at a time.
func (s *Store) ScanAccounts(ctx context.Context, tenantID, scanID string, fn func(app.ScanAccount) error) error {
	after := ""
	for {
		var rows []scanAccountRow
		err := s.db.WithContext(ctx).Scopes(forTenant(tenantID)).Where("scan_id = ? AND account_id > ?", scanID, after).
			Order("account_id").Limit(500).Find(&rows).Error
		if err != nil {
			return fmt.Errorf("store: scan accounts: %w", err)
		}
		for _, r := range rows {
			var a app.ScanAccount
			if err := json.Unmarshal([]byte(r.Facts), &a.Facts); err != nil {
				return err
			}
			if err := json.Unmarshal([]byte(r.Decisions), &a.Decisions); err != nil {
				return err
			}
			if err := fn(a); err != nil {
				return err
			}
		}
		if len(rows) < 500 {
			return nil
		}
		after = rows[len(rows)-1].AccountID
	}
}

// RecordIntent writes the intent of a removal before Lapse calls
// Atlassian. Recording it twice is harmless. It answers ErrScanCancelled,
// and records nothing, once the scan is cancelled: the check and the intent
// share the tenant's scan lock with CancelScan and the lifecycle change that
// stops a tenant's scans, so no removal is begun after either commits.
func (s *Store) RecordIntent(ctx context.Context, tenantID string, a app.ScanAction) error {
	err := s.inTx(ctx, func(tx *Store) error {
		if err := tx.lockScans(ctx, tenantID); err != nil {
			return err
		}
		cancelled, err := tx.ScanCancelled(ctx, tenantID, a.ScanID)
		if err != nil {
			return err
		}
		if cancelled {
			return ErrScanCancelled
		}
		row := scanActionRow{ScanID: a.ScanID, TenantID: tenantID, AccountID: a.AccountID, GroupID: a.GroupID, Product: a.Product,
			State: app.ActionIntent, UpdatedAt: s.nowUTC()}
		return tx.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error
	})
	if err != nil {
		return fmt.Errorf("store: record intent: %w", err)
	}
	return nil
}

// CompleteAction records a removal's outcome and its audit event in one
// transaction, so the log and the action never disagree. Completing an
// action that is already done changes nothing and writes no second event.
func (s *Store) CompleteAction(ctx context.Context, tenantID string, a app.ScanAction, evidence *app.RemovalEvidence) error {
	err := s.inTx(ctx, func(tx *Store) error {
		res := tx.db.WithContext(ctx).Model(&scanActionRow{}).Scopes(forTenant(tenantID)).
			Where("scan_id = ? AND account_id = ? AND group_id = ? AND state = ?", a.ScanID, a.AccountID, a.GroupID, app.ActionIntent).
			Updates(map[string]any{"state": a.State, "outcome": a.Outcome, "updated_at": s.nowUTC()})
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		if a.State != app.ActionDone {
			return nil
		}
		if evidence == nil {
			return errors.New("a done removal needs its evidence")
		}
		return tx.appendAudit(ctx, tenantID, app.Actor{Type: app.ActorScan, ID: a.ScanID}, app.AuditAccessRemove, evidence)
	})
	if err != nil {
		return fmt.Errorf("store: complete action: %w", err)
	}
	return nil
}

// ScanActions returns a scan's actions in a given state ("" = all).
func (s *Store) ScanActions(ctx context.Context, tenantID, scanID string, state app.ActionState) ([]app.ScanAction, error) {
	q := s.db.WithContext(ctx).Scopes(forTenant(tenantID)).Where("scan_id = ?", scanID)
	if state != "" {
		q = q.Where("state = ?", state)
	}
	var rows []scanActionRow
	if err := q.Order("account_id, group_id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: scan actions: %w", err)
	}
	out := make([]app.ScanAction, len(rows))
	for i, r := range rows {
		out[i] = app.ScanAction{ScanID: r.ScanID, AccountID: r.AccountID, GroupID: r.GroupID, Product: r.Product, State: r.State, Outcome: r.Outcome}
	}
	return out, nil
}

// FinishScan sets a scan's final status and summary and audits it; held
// scans are audited as held.
func (s *Store) FinishScan(ctx context.Context, tenantID, scanID string, status app.ScanStatus, summary any, scanErr string) (*app.ScanRun, error) {
	raw, err := json.Marshal(summary)
	if err != nil {
		return nil, err
	}
	var out *app.ScanRun
	err = s.inTx(ctx, func(tx *Store) error {
		var row scanRow
		if err := tx.db.WithContext(ctx).Scopes(forTenant(tenantID)).Where("id = ?", scanID).Take(&row).Error; err != nil {
			return notFound(err, "scan")
		}
		now := s.nowUTC()
		if row.Status == app.ScanCancelled {
			// An admin cancelled it while it ran: it stays cancelled, and
			// the summary records what it did before it stopped.
			status, scanErr = app.ScanCancelled, row.Error
		}
		row.Status, row.Summary, row.Error = status, string(raw), scanErr
		if status != app.ScanHeld {
			row.FinishedAt = &now
		}
		if err := tx.db.WithContext(ctx).Save(&row).Error; err != nil {
			return err
		}
		out = toScan(&row)
		action := app.AuditScanFinished
		if status == app.ScanHeld {
			action = app.AuditScanHeld
		}
		return tx.appendAudit(ctx, tenantID, app.Actor{Type: app.ActorScan, ID: scanID}, action,
			map[string]any{"scanId": scanID, "status": status, "summary": json.RawMessage(raw), "error": scanErr})
	})
	if err != nil {
		return nil, fmt.Errorf("store: finish scan: %w", err)
	}
	return out, nil
}

// RecordHandoff audits the accounts a scan could not act on because their
// access comes only through IdP-synced groups: the list the identity
// provider's owner must work through.
func (s *Store) RecordHandoff(ctx context.Context, tenantID, scanID string, entries []app.HandoffAccount) error {
	if len(entries) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(tx *Store) error {
		return tx.appendAudit(ctx, tenantID, app.Actor{Type: app.ActorScan, ID: scanID}, app.AuditHandoff,
			app.HandoffEvidence{ScanID: scanID, Accounts: entries, Count: len(entries)})
	})
	if err != nil {
		return fmt.Errorf("store: record handoff: %w", err)
	}
	return nil
}

// ScanActionCounts counts a scan's recorded removals by outcome: the
// durable record a summary's removal counts are taken from, however many
// attempts the scan took. Done equals the scan's access.removed events
// (CompleteAction writes both in one transaction).
func (s *Store) ScanActionCounts(ctx context.Context, tenantID, scanID string) (app.ScanActionCounts, error) {
	var rows []struct {
		State   app.ActionState
		Outcome string
		N       int
	}
	err := s.db.WithContext(ctx).Model(&scanActionRow{}).Scopes(forTenant(tenantID)).Where("scan_id = ?", scanID).
		Select("state, outcome, COUNT(*) AS n").Group("state, outcome").Scan(&rows).Error
	if err != nil {
		return app.ScanActionCounts{}, fmt.Errorf("store: scan action counts: %w", err)
	}
	var c app.ScanActionCounts
	for _, r := range rows {
		c.Recorded += r.N
		switch r.State {
		case app.ActionDone:
			c.Done += r.N
			if r.Outcome == app.ActionOutcomeAlreadyRemoved {
				c.AlreadyRemoved += r.N
			}
		case app.ActionFailed:
			c.Failed += r.N
		case app.ActionCancelled:
			c.Cancelled += r.N
		case app.ActionIntent:
			c.Open += r.N
		}
	}
	return c, nil
}

// AddScanUsage adds what an attempt of the scan spent on Atlassian's APIs
// since its last call, and returns the scan's totals over all attempts.
func (s *Store) AddScanUsage(ctx context.Context, tenantID, scanID string, delta app.APIUsage) (app.APIUsage, error) {
	var out app.APIUsage
	err := s.inTx(ctx, func(tx *Store) error {
		q := tx.db.WithContext(ctx).Model(&scanRow{}).Scopes(forTenant(tenantID)).Where("id = ?", scanID)
		if delta != (app.APIUsage{}) {
			err := q.Updates(map[string]any{
				"api_requests":     gorm.Expr("api_requests + ?", delta.Requests),
				"api_rate_limited": gorm.Expr("api_rate_limited + ?", delta.RateLimited),
				"api_points":       gorm.Expr("api_points + ?", delta.Points),
			}).Error
			if err != nil {
				return err
			}
		}
		var row scanRow
		if err := tx.db.WithContext(ctx).Scopes(forTenant(tenantID)).Select("api_requests, api_rate_limited, api_points").
			Where("id = ?", scanID).Take(&row).Error; err != nil {
			return notFound(err, "scan")
		}
		out = app.APIUsage{Requests: row.APIRequests, RateLimited: row.APIRateLimited, Points: row.APIPoints}
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("store: add scan usage: %w", err)
	}
	return out, nil
}

// UpdateScanSummary replaces the summary of a finished scan whose records
// changed after it finished: the open removals of a cancelled scan, settled
// by reading them back. The settled removals are audited themselves.
func (s *Store) UpdateScanSummary(ctx context.Context, tenantID, scanID string, summary any) error {
	raw, err := json.Marshal(summary)
	if err != nil {
		return err
	}
	err = s.db.WithContext(ctx).Model(&scanRow{}).Scopes(forTenant(tenantID)).Where("id = ?", scanID).Update("summary", string(raw)).Error
	if err != nil {
		return fmt.Errorf("store: update scan summary: %w", err)
	}
	return nil
}
