package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/lapsehq/lapse/app"
)

type auditRow struct {
	ID              int64 `gorm:"primaryKey"`
	TenantID        string
	Seq             int64
	OccurredAt      time.Time
	ActorType       string
	ActorID         string
	Action          string
	Data            string
	TargetAccountID *string
	PrevHash        string
	Hash            string
}

func (auditRow) TableName() string { return "audit_events" }

// auditPageSize is how many rows export, verification and sealing read at a
// time, so that no chain is ever held in memory whole. A variable so tests
// can make pages small enough to cross their boundaries.
var auditPageSize = 500

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

// appendAudit writes one audit event as the next link of the tenant's hash
// chain and moves the tenant's head to it. It is called only inside the
// transaction of the change it records, so the event, its link and the head
// commit or roll back with the change.
//
// Appends to one chain are serialised by lockAuditChain, held to the end of
// the caller's transaction. The unique (tenant_id, seq) index is the
// backstop: an insert that still finds its seq taken (a writer that skipped
// the lock) does nothing instead of failing, which on PostgreSQL would abort
// the caller's whole transaction, and the append retries on the new tip.
// Under the default READ COMMITTED isolation the retry sees the row that won.
func (s *Store) appendAudit(ctx context.Context, tenantID string, actor app.Actor, action string, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("audit data: %w", err)
	}
	canon, v := canonicalData(raw)
	if err := s.lockAuditChain(ctx, tenantID); err != nil {
		return fmt.Errorf("audit: lock chain: %w", err)
	}
	const attempts = 3
	for range attempts {
		tip, err := s.auditTip(ctx, tenantID)
		if err != nil {
			return fmt.Errorf("audit: chain tip: %w", err)
		}
		row := auditRow{TenantID: tenantID, Seq: tip.seq + 1, OccurredAt: s.nowUTC(), ActorType: string(actor.Type), ActorID: actor.ID,
			Action: action, Data: string(canon), TargetAccountID: ptr(accountIDOf(v)), PrevHash: tip.hash}
		row.Hash = auditHash(&row)
		ok, err := s.insertAuditRow(ctx, &row)
		switch {
		case err != nil:
			return err
		case !ok:
			continue // the seq was taken: read the new tip
		case tip.headless:
			return nil
		}
		return s.setAuditHead(ctx, tenantID, row.Seq, row.Hash)
	}
	return fmt.Errorf("audit: seq of tenant %s still taken after %d attempts", tenantID, attempts)
}

// insertAuditRow inserts row unless its (tenant_id, seq) is taken, and
// reports whether it did.
func (s *Store) insertAuditRow(ctx context.Context, row *auditRow) (bool, error) {
	res := s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "tenant_id"}, {Name: "seq"}},
		DoNothing: true,
	}).Create(row)
	if res.Error != nil {
		return false, fmt.Errorf("audit: insert: %w", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// ListAuditEvents returns a tenant's audit events in chain order, oldest
// first.
func (s *Store) ListAuditEvents(ctx context.Context, tenantID string, limit int) ([]*app.AuditEvent, error) {
	var rows []auditRow
	err := s.db.WithContext(ctx).Scopes(forTenant(tenantID)).Order("seq ASC").Limit(clampLimit(limit)).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: list audit events: %w", err)
	}
	out := make([]*app.AuditEvent, len(rows))
	for i := range rows {
		out[i] = toAuditEvent(&rows[i])
	}
	return out, nil
}

// AuditEvents streams the tenant's events that match f to fn, in chain
// order, reading one page at a time with keyset paging on seq, so an export
// of any size runs in constant memory and never skips or repeats an event
// that is appended meanwhile. An error from fn stops the export and is
// returned as it is.
func (s *Store) AuditEvents(ctx context.Context, tenantID string, f app.AuditFilter, fn func(*app.AuditEvent) error) error {
	if err := f.Validate(); err != nil {
		return err
	}
	after, sent := f.AfterSeq, 0
	for {
		n := auditPageSize
		if f.Limit > 0 {
			n = min(n, f.Limit-sent)
		}
		if n <= 0 {
			return nil
		}
		var rows []auditRow
		err := s.db.WithContext(ctx).Scopes(forTenant(tenantID), auditFilter(f)).
			Where("seq > ?", after).Order("seq ASC").Limit(n).Find(&rows).Error
		if err != nil {
			return fmt.Errorf("store: audit events: %w", err)
		}
		for i := range rows {
			if err := fn(toAuditEvent(&rows[i])); err != nil {
				return err
			}
		}
		if len(rows) < n {
			return nil
		}
		sent += len(rows)
		after = rows[len(rows)-1].Seq
	}
}

// auditFilter applies an export filter. Times are compared in UTC: SQLite
// compares the stored text, which is UTC for every row Lapse writes.
func auditFilter(f app.AuditFilter) func(*gorm.DB) *gorm.DB {
	return func(db *gorm.DB) *gorm.DB {
		if f.From != nil {
			db = db.Where("occurred_at >= ?", f.From.UTC())
		}
		if f.To != nil {
			db = db.Where("occurred_at < ?", f.To.UTC())
		}
		if len(f.Actions) > 0 {
			db = db.Where("action IN ?", f.Actions)
		}
		if f.AccountID != "" {
			db = db.Where("target_account_id = ?", f.AccountID)
		}
		return db
	}
}

// toAuditEvent converts a row. Data is returned in canonical form, the
// bytes the hash covers, so anyone holding an export can recompute it.
func toAuditEvent(r *auditRow) *app.AuditEvent {
	canon, _ := canonicalData([]byte(r.Data))
	return &app.AuditEvent{ID: r.ID, TenantID: r.TenantID, Seq: r.Seq, OccurredAt: r.OccurredAt.UTC(),
		Actor: app.Actor{Type: app.ActorType(r.ActorType), ID: r.ActorID}, Action: r.Action,
		TargetAccountID: deref(r.TargetAccountID), Data: json.RawMessage(canon), PrevHash: r.PrevHash, Hash: r.Hash}
}
