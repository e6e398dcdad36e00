package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/lapsehq/lapse/app"
)

type auditRow struct {
	ID         int64 `gorm:"primaryKey"`
	TenantID   string
	OccurredAt time.Time
	ActorType  string
	ActorID    string
	Action     string
	Data       string
}

func (auditRow) TableName() string { return "audit_events" }

// forTenant scopes a query to one tenant. Every tenant-owned query goes
// through it, so forgetting the filter is a visible omission.
func forTenant(tenantID string) func(*gorm.DB) *gorm.DB {
	return func(db *gorm.DB) *gorm.DB { return db.Where("tenant_id = ?", tenantID) }
}

func clampLimit(n int) int {
	if n <= 0 || n > 1000 {
		return 100
	}
	return n
}

// appendAudit writes one audit event. It is called only inside the
// transaction of the change it records.
func (s *Store) appendAudit(ctx context.Context, tenantID string, actor app.Actor, action string, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("audit data: %w", err)
	}
	row := auditRow{TenantID: tenantID, OccurredAt: s.nowUTC(), ActorType: string(actor.Type), ActorID: actor.ID, Action: action, Data: string(raw)}
	return s.db.WithContext(ctx).Create(&row).Error
}

// ListAuditEvents returns a tenant's audit events in the order they were
// written, oldest first.
func (s *Store) ListAuditEvents(ctx context.Context, tenantID string, limit int) ([]*app.AuditEvent, error) {
	var rows []auditRow
	err := s.db.WithContext(ctx).Scopes(forTenant(tenantID)).Order("id ASC").Limit(clampLimit(limit)).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: list audit events: %w", err)
	}
	out := make([]*app.AuditEvent, len(rows))
	for i, r := range rows {
		out[i] = &app.AuditEvent{ID: r.ID, TenantID: r.TenantID, OccurredAt: r.OccurredAt.UTC(), Actor: app.Actor{Type: app.ActorType(r.ActorType), ID: r.ActorID}, Action: r.Action, Data: json.RawMessage(r.Data)}
	}
	return out, nil
}
