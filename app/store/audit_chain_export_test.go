package store

import (
	"context"

	"github.com/lapsehq/lapse/app"
)

// Small pages make every audit test cross page boundaries.
func init() { auditPageSize = 4 }

// AppendAuditForTest appends one event in its own transaction, as a store
// method would inside its own.
func (s *Store) AppendAuditForTest(ctx context.Context, tenantID string, actor app.Actor, action string, data any) error {
	return s.inTx(ctx, func(tx *Store) error { return tx.appendAudit(ctx, tenantID, actor, action, data) })
}

// AuditHashForTest computes an event's hash, so tests can forge rows that
// carry a valid hash, as an attacker with database access could.
func AuditHashForTest(e *app.AuditEvent) string {
	return auditHash(&auditRow{TenantID: e.TenantID, Seq: e.Seq, OccurredAt: e.OccurredAt, ActorType: string(e.Actor.Type),
		ActorID: e.Actor.ID, Action: e.Action, Data: string(e.Data), PrevHash: e.PrevHash})
}
