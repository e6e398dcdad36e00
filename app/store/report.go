package store

import (
	"context"
	"encoding/json"
	"fmt"

	"gorm.io/gorm"

	"github.com/lapsehq/lapse/app"
)

// ReportFilter selects rows of a scan's access report: one row per
// decision (an account's access to one product). Rows come in keyset order
// (account id, then the decision's position in the account's list), so
// pages never skip or repeat a row.
type ReportFilter struct {
	// Outcome keeps decisions with this outcome (app.Outcome*); "" keeps all.
	Outcome string
	// Product keeps decisions about this product key; "" keeps all.
	Product string
	// AfterAccountID and AfterIndex resume after the row (AfterAccountID,
	// AfterIndex) of a previous page. With AfterAccountID "" the report
	// starts at its first row.
	AfterAccountID string
	AfterIndex     int
	// Limit caps the rows: for ScanReport 1 to MaxReportLimit, 0 meaning
	// DefaultReportLimit; for ScanReportRows 0 means every row.
	Limit int
}

// Report page sizes.
const (
	DefaultReportLimit = 50
	MaxReportLimit     = 1000
)

// ReportRow is one decision of a scan's snapshot with the account it is
// about. Rows of one account share Account.
type ReportRow struct {
	Account  *app.AccountFacts
	Decision app.Decision
	// Index is the decision's position in the account's list; with
	// Account.AccountID it is the row's keyset position.
	Index int
}

// reportScanStatuses are the scans whose snapshot is whole: evaluation
// finished (a held, approved or rejected run was evaluated in full too).
var reportScanStatuses = []app.ScanStatus{app.ScanCompleted, app.ScanHeld, app.ScanApproved, app.ScanRejected}

// LatestReportScan returns the tenant's most recent scan whose snapshot is
// complete (completed, held, approved or rejected), or ENOTFOUND when there
// is none yet.
func (s *Store) LatestReportScan(ctx context.Context, tenantID string) (*app.ScanRun, error) {
	var rows []scanRow
	err := s.db.WithContext(ctx).Scopes(forTenant(tenantID)).Where("status IN ?", reportScanStatuses).
		Order("started_at DESC, id DESC").Limit(1).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: latest report scan: %w", err)
	}
	if len(rows) == 0 {
		return nil, app.Errorf(app.ENOTFOUND, "no scan has finished evaluating this site yet")
	}
	return toScan(&rows[0]), nil
}

// ScanReport returns a page of a scan's access report: f.Limit rows (1 to
// MaxReportLimit; 0 means DefaultReportLimit).
func (s *Store) ScanReport(ctx context.Context, tenantID, scanID string, f ReportFilter) ([]ReportRow, error) {
	switch {
	case f.Limit == 0:
		f.Limit = DefaultReportLimit
	case f.Limit < 0 || f.Limit > MaxReportLimit:
		return nil, app.Errorf(app.EINVALID, "limit must be between 1 and %d", MaxReportLimit)
	}
	out := make([]ReportRow, 0, f.Limit)
	err := s.ScanReportRows(ctx, tenantID, scanID, f, func(r ReportRow) error {
		out = append(out, r)
		return nil
	})
	return out, err
}

// ScanReportRows calls fn for each row of a scan's access report that
// matches f, in keyset order after f's cursor, reading the snapshot in
// batches; f.Limit > 0 stops after that many rows, 0 streams them all (an
// export). Accounts without a matching decision are skipped in SQL (a JSON
// test that differs per dialect), so a selective filter does not drag the
// whole snapshot through the process.
func (s *Store) ScanReportRows(ctx context.Context, tenantID, scanID string, f ReportFilter, fn func(ReportRow) error) error {
	if f.Limit < 0 {
		return app.Errorf(app.EINVALID, "limit must not be negative")
	}
	batch := 500
	if f.Limit > 0 {
		batch = min(max(f.Limit, 100), 500)
	}
	sent := 0
	after, inclusive := f.AfterAccountID, f.AfterAccountID != ""
	for {
		q := s.db.WithContext(ctx).Scopes(forTenant(tenantID), s.decisionMatches(f.Outcome, f.Product)).Where("scan_id = ?", scanID)
		if inclusive {
			// The cursor's account may have rows left after AfterIndex.
			q = q.Where("account_id >= ?", after)
		} else {
			q = q.Where("account_id > ?", after)
		}
		var rows []scanAccountRow
		if err := q.Order("account_id").Limit(batch).Find(&rows).Error; err != nil {
			return fmt.Errorf("store: scan report: %w", err)
		}
		for i := range rows {
			r := &rows[i]
			var facts app.AccountFacts
			var decisions []app.Decision
			if err := json.Unmarshal([]byte(r.Facts), &facts); err != nil {
				return fmt.Errorf("store: scan report: account %s: %w", r.AccountID, err)
			}
			if err := json.Unmarshal([]byte(r.Decisions), &decisions); err != nil {
				return fmt.Errorf("store: scan report: account %s: %w", r.AccountID, err)
			}
			facts.AccountID = r.AccountID
			for idx, d := range decisions {
				if inclusive && r.AccountID == f.AfterAccountID && idx <= f.AfterIndex {
					continue
				}
				if (f.Outcome != "" && d.Outcome != f.Outcome) || (f.Product != "" && d.Product != f.Product) {
					continue
				}
				if err := fn(ReportRow{Account: &facts, Decision: d, Index: idx}); err != nil {
					return err
				}
				if sent++; sent == f.Limit {
					return nil
				}
			}
		}
		if len(rows) < batch {
			return nil
		}
		after, inclusive = rows[len(rows)-1].AccountID, false
	}
}

// decisionMatches keeps accounts with at least one decision that has the
// outcome and product asked for (both on the same decision). The JSON
// array is stored as JSONB on PostgreSQL and as text on SQLite.
func (s *Store) decisionMatches(outcome, product string) func(db *gorm.DB) *gorm.DB {
	return func(db *gorm.DB) *gorm.DB {
		if outcome == "" && product == "" {
			return db
		}
		var field func(name string) string
		var from string
		if s.dialect == Postgres {
			from = "jsonb_array_elements(scan_accounts.decisions) AS d(value)"
			field = func(name string) string { return "d.value->>'" + name + "'" }
		} else {
			from = "json_each(scan_accounts.decisions) AS d"
			field = func(name string) string { return "json_extract(d.value, '$." + name + "')" }
		}
		cond, args := "", []any{}
		add := func(name, v string) {
			if v == "" {
				return
			}
			if cond != "" {
				cond += " AND "
			}
			cond += field(name) + " = ?"
			args = append(args, v)
		}
		add("outcome", outcome)
		add("product", product)
		return db.Where("EXISTS (SELECT 1 FROM "+from+" WHERE "+cond+")", args...)
	}
}
