package scan

import (
	"context"
	"encoding/json"

	"github.com/lapsehq/lapse/app"
)

// Restore re-adds the group membership that a removal event took away,
// and audits the restore (once per removal). Only access.removed events
// can be restored; they are read as app.RemovalEvidence, the type the scan
// writes them with, which also reads the events of earlier releases.
func (r *Runner) Restore(ctx context.Context, tenantID string, eventID int64, actor app.Actor) (*app.AuditEvent, error) {
	ev, err := r.Store.AuditEventByID(ctx, tenantID, eventID)
	if err != nil {
		return nil, err
	}
	if ev.Action != app.AuditAccessRemove {
		return nil, app.Errorf(app.EINVALID, "audit event %d is a %s, not a removal; only removals can be restored", eventID, ev.Action)
	}
	var removed app.RemovalEvidence
	if err := json.Unmarshal(ev.Data, &removed); err != nil || removed.AccountID == "" || removed.GroupID == "" {
		return nil, app.Errorf(app.EINVALID, "audit event %d does not name the account and group it removed", eventID)
	}
	client, err := r.tenantClient(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	res, err := client.AddMembership(ctx, removed.GroupID, removed.AccountID)
	if err != nil {
		return nil, err
	}
	return r.Store.RecordRestore(ctx, tenantID, app.RestoreEvidence{AccountID: removed.AccountID, GroupID: removed.GroupID,
		GroupName: removed.GroupName, RemovedByScan: removed.ScanID, RestoredEventID: eventID,
		AlreadyMember: res.AlreadyMember, ReadBack: res.ReadBack}, actor)
}
