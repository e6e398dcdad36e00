package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/lapsehq/lapse/app"
)

// AuditEventByID returns one of a tenant's audit events.
func (s *Store) AuditEventByID(ctx context.Context, tenantID string, id int64) (*app.AuditEvent, error) {
	var row auditRow
	if err := s.db.WithContext(ctx).Scopes(forTenant(tenantID)).Where("id = ?", id).Take(&row).Error; err != nil {
		return nil, notFound(err, "audit event")
	}
	return &app.AuditEvent{ID: row.ID, TenantID: row.TenantID, OccurredAt: row.OccurredAt.UTC(),
		Actor: app.Actor{Type: app.ActorType(row.ActorType), ID: row.ActorID}, Action: row.Action, Data: json.RawMessage(row.Data)}, nil
}

// RecordRestore audits the restore of the removal event ev.RestoredEventID
// for ev.AccountID. It refuses a second restore of the same removal (ECONFLICT):
// the membership is back already, and the trail must say so once. The check
// and the append run under the tenant's audit-chain lock, so two concurrent
// restores cannot both pass it.
func (s *Store) RecordRestore(ctx context.Context, tenantID string, ev app.RestoreEvidence, actor app.Actor) (*app.AuditEvent, error) {
	eventID, accountID := ev.RestoredEventID, ev.AccountID
	var out *app.AuditEvent
	err := s.inTx(ctx, func(tx *Store) error {
		if err := tx.lockAuditChain(ctx, tenantID); err != nil {
			return err
		}
		var rows []auditRow
		if err := tx.db.WithContext(ctx).Scopes(forTenant(tenantID)).
			Where("action = ? AND target_account_id = ?", app.AuditRestore, accountID).Find(&rows).Error; err != nil {
			return err
		}
		for _, r := range rows {
			var d app.RestoreEvidence
			if json.Unmarshal([]byte(r.Data), &d) == nil && d.RestoredEventID == eventID {
				return app.Errorf(app.ECONFLICT, "audit event %d was already restored", eventID)
			}
		}
		if err := tx.appendAudit(ctx, tenantID, actor, app.AuditRestore, ev); err != nil {
			return err
		}
		var row auditRow
		if err := tx.db.WithContext(ctx).Scopes(forTenant(tenantID)).Order("seq DESC").Take(&row).Error; err != nil {
			return err
		}
		var err error
		out, err = tx.AuditEventByID(ctx, tenantID, row.ID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: record restore: %w", err)
	}
	return out, nil
}
