package schedule

import (
	"context"
	"database/sql"

	"github.com/lapsehq/lapse/app"
)

// RunNow queues a scan of the tenant for an admin ("run now") and returns
// it, status queued; a worker of any replica runs it shortly. The scan row,
// its audit event and its job are written in one transaction. While
// another scan of the site is active it answers ECONFLICT together with
// that scan; a site not connected to its organization gets ECONFLICT and
// a disabled or uninstalled one EFORBIDDEN (store.QueueScan decides).
func (s *Scheduler) RunNow(ctx context.Context, tenantID string, actor app.Actor) (*app.ScanRun, error) {
	return s.store.QueueScan(ctx, tenantID, app.TriggerManual, actor, func(tx *sql.Tx, scanID string) error {
		return s.insertTx(ctx, tx, ScanArgs{TenantID: tenantID, ScanID: scanID, Trigger: app.TriggerManual})
	})
}

// Decide records an admin's approval or rejection of a held scan. An
// approval also queues the job that carries out the scan's removals, in
// the same transaction; it is refused with ECONFLICT while another scan
// of the site is active.
func (s *Scheduler) Decide(ctx context.Context, tenantID, scanID string, approve bool, actor app.Actor) (*app.ScanRun, error) {
	return s.store.DecideHeldScan(ctx, tenantID, scanID, approve, actor, func(tx *sql.Tx, scanID string) error {
		return s.insertTx(ctx, tx, ScanArgs{TenantID: tenantID, ScanID: scanID, Trigger: app.TriggerManual, Approved: true})
	})
}

// insertTx inserts a scan job in the caller's transaction.
func (s *Scheduler) insertTx(ctx context.Context, tx *sql.Tx, args ScanArgs) error {
	_, err := s.client.InsertTx(ctx, tx, args, nil)
	return err
}
