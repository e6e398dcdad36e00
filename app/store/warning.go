package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm/clause"

	"github.com/lapsehq/lapse/app"
)

type warningRow struct {
	ID            string `gorm:"primaryKey"`
	TenantID      string
	ScanID        string
	AccountID     string
	Product       string
	RemovalDueDay string
	RemovalDue    time.Time
	LastActive    *time.Time
	Email         string
	DisplayName   string
	SiteURL       string
	State         string
	Attempts      int
	LastError     string
	NextAttemptAt time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

func (warningRow) TableName() string { return "warning_notices" }

func toWarning(r *warningRow) app.WarningNotice {
	return app.WarningNotice{
		ID: r.ID, TenantID: r.TenantID, ScanID: r.ScanID, AccountID: r.AccountID, Product: r.Product,
		RemovalDue: r.RemovalDue.UTC(), LastActive: utcPtr(r.LastActive), Email: r.Email, DisplayName: r.DisplayName,
		SiteURL: r.SiteURL, State: r.State, Attempts: r.Attempts, LastError: r.LastError,
	}
}

// QueueWarnings queues warning e-mails of a scan and returns how many are
// new. A notice for the same account, product and removal day is queued
// once, however many daily scans of the warning period see it.
func (s *Store) QueueWarnings(ctx context.Context, tenantID, scanID string, notices []app.WarningNotice) (int, error) {
	if len(notices) == 0 {
		return 0, nil
	}
	now := s.nowUTC()
	rows := make([]warningRow, 0, len(notices))
	for _, n := range notices {
		due := n.RemovalDue.UTC().Truncate(time.Microsecond)
		rows = append(rows, warningRow{
			ID: uuid.NewString(), TenantID: tenantID, ScanID: scanID, AccountID: n.AccountID, Product: n.Product,
			RemovalDueDay: due.Format(time.DateOnly), RemovalDue: due, LastActive: utcPtr(n.LastActive), Email: n.Email,
			DisplayName: n.DisplayName, SiteURL: n.SiteURL, State: app.WarningQueued, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now,
		})
	}
	res := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(rows, 200)
	if res.Error != nil {
		return 0, fmt.Errorf("store: queue warnings: %w", res.Error)
	}
	return int(res.RowsAffected), nil
}

// ClaimWarnings claims up to limit notices due for delivery, across
// tenants, for the delivery job: queued ones whose next attempt is due, and
// ones left "sending" for longer than staleAfter by a process that died
// (those may go out twice: delivery is at least once). Each claim is a
// conditional update, so two replicas never claim the same notice.
func (s *Store) ClaimWarnings(ctx context.Context, limit int, staleAfter time.Duration) ([]app.WarningNotice, error) {
	now := s.nowUTC()
	var rows []warningRow
	err := s.db.WithContext(ctx).
		Where("(state = ? AND next_attempt_at <= ?) OR (state = ? AND updated_at < ?)",
			app.WarningQueued, now, app.WarningSending, now.Add(-staleAfter)).
		Order("next_attempt_at, id").Limit(clampLimit(limit)).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: claim warnings: %w", err)
	}
	var out []app.WarningNotice
	for i := range rows {
		r := &rows[i]
		res := s.db.WithContext(ctx).Model(&warningRow{}).
			Where("id = ? AND state = ? AND attempts = ?", r.ID, r.State, r.Attempts). // attempts is the row's version
			Updates(map[string]any{"state": app.WarningSending, "attempts": r.Attempts + 1, "updated_at": now})
		if res.Error != nil {
			return out, fmt.Errorf("store: claim warning: %w", res.Error)
		}
		if res.RowsAffected == 1 {
			r.State, r.Attempts = app.WarningSending, r.Attempts+1
			out = append(out, toWarning(r))
		}
	}
	return out, nil
}

// WarningSent records a delivered notice and its audit event in one
// transaction.
func (s *Store) WarningSent(ctx context.Context, n app.WarningNotice) error {
	return s.finishWarning(ctx, n, app.WarningSent, "", app.AuditWarningSent)
}

// WarningFailed records a notice that will not be delivered (a permanent
// SMTP refusal, or the last attempt failed) and its audit event.
func (s *Store) WarningFailed(ctx context.Context, n app.WarningNotice, reason string) error {
	return s.finishWarning(ctx, n, app.WarningFailed, reason, app.AuditWarningFailed)
}

func (s *Store) finishWarning(ctx context.Context, n app.WarningNotice, state, reason, action string) error {
	err := s.inTx(ctx, func(tx *Store) error {
		res := tx.db.WithContext(ctx).Model(&warningRow{}).Scopes(forTenant(n.TenantID)).
			Where("id = ? AND state = ?", n.ID, app.WarningSending).
			Updates(map[string]any{"state": state, "last_error": reason, "updated_at": s.nowUTC()})
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error // already finished by another replica: no second event
		}
		data := map[string]any{
			"accountId": n.AccountID, "product": n.Product, "removalDue": n.RemovalDue, "email": n.Email,
			"displayName": n.DisplayName, "scanId": n.ScanID, "attempts": n.Attempts, "noticeId": n.ID,
		}
		if reason != "" {
			data["reason"] = reason
		}
		return tx.appendAudit(ctx, n.TenantID, app.Actor{Type: app.ActorSystem, ID: "mailer"}, action, data)
	})
	if err != nil {
		return fmt.Errorf("store: finish warning: %w", err)
	}
	return nil
}

// RetryWarning puts a notice whose delivery failed for now back in the
// queue for another attempt at next.
func (s *Store) RetryWarning(ctx context.Context, n app.WarningNotice, next time.Time, reason string) error {
	err := s.db.WithContext(ctx).Model(&warningRow{}).Scopes(forTenant(n.TenantID)).
		Where("id = ? AND state = ?", n.ID, app.WarningSending).
		Updates(map[string]any{"state": app.WarningQueued, "next_attempt_at": next.UTC(), "last_error": reason, "updated_at": s.nowUTC()}).Error
	if err != nil {
		return fmt.Errorf("store: retry warning: %w", err)
	}
	return nil
}

// Warnings lists a tenant's notices, newest first, for the admin API.
func (s *Store) Warnings(ctx context.Context, tenantID string, limit int) ([]app.WarningNotice, error) {
	var rows []warningRow
	err := s.db.WithContext(ctx).Scopes(forTenant(tenantID)).Order("created_at DESC, id").Limit(clampLimit(limit)).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: warnings: %w", err)
	}
	out := make([]app.WarningNotice, len(rows))
	for i := range rows {
		out[i] = toWarning(&rows[i])
	}
	return out, nil
}
