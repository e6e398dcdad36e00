package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/store"
	"github.com/lapsehq/lapse/app/store/storetest"
)

// reportSnapshot: n accounts, each with a jira-software decision ("remove"
// for even accounts, else "keep") and a confluence decision ("exempt").
func reportSnapshot(n int) []app.ScanAccount {
	out := make([]app.ScanAccount, n)
	for i := range n {
		id := fmt.Sprintf("acc-%03d", i)
		sw := app.Decision{AccountID: id, Product: "jira-software", Outcome: app.OutcomeKeep}
		if i%2 == 0 {
			sw.Outcome = app.OutcomeRemove
		}
		out[i] = app.ScanAccount{
			Facts:     app.AccountFacts{AccountID: id, Name: "User " + id},
			Decisions: []app.Decision{sw, {AccountID: id, Product: "confluence", Outcome: app.OutcomeExempt}},
		}
	}
	return out
}

func TestStore_ScanReport(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			s := storetest.Open(t, d)
			ctx := context.Background()
			a, _ := s.InstallConnect(ctx, app.ConnectInstall{ClientKey: "ck-a", BaseURL: "https://a.atlassian.net", Product: app.ProductJira, SharedSecret: []byte("s")})
			b, _ := s.InstallConnect(ctx, app.ConnectInstall{ClientKey: "ck-b", BaseURL: "https://b.atlassian.net", Product: app.ProductJira, SharedSecret: []byte("s")})
			if _, err := s.LatestReportScan(ctx, a.ID); app.ErrorCode(err) != app.ENOTFOUND {
				t.Fatalf("latest before any scan: %v", err)
			}
			pol, _ := s.Policy(ctx, a.ID, nil)
			run, err := s.StartScan(ctx, a.ID, "", app.TriggerManual, pol)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.SaveScanAccounts(ctx, a.ID, run.ID, reportSnapshot(250)); err != nil {
				t.Fatal(err)
			}
			if _, err := s.LatestReportScan(ctx, a.ID); app.ErrorCode(err) != app.ENOTFOUND {
				t.Fatalf("a running scan is not a report: %v", err)
			}
			if _, err := s.FinishScan(ctx, a.ID, run.ID, app.ScanCompleted, map[string]any{}, ""); err != nil {
				t.Fatal(err)
			}
			if latest, err := s.LatestReportScan(ctx, a.ID); err != nil || latest.ID != run.ID {
				t.Fatalf("latest = %+v, %v", latest, err)
			}

			walk := func(f store.ReportFilter) []store.ReportRow {
				var all []store.ReportRow
				for {
					page, err := s.ScanReport(ctx, a.ID, run.ID, f)
					if err != nil {
						t.Fatal(err)
					}
					all = append(all, page...)
					if len(page) < f.Limit {
						return all
					}
					last := page[len(page)-1]
					f.AfterAccountID, f.AfterIndex = last.Account.AccountID, last.Index
				}
			}
			// Pages of 7 cross the store's internal batches of 100 accounts.
			rows := walk(store.ReportFilter{Limit: 7})
			if len(rows) != 500 {
				t.Fatalf("rows = %d, want 500", len(rows))
			}
			for i := 1; i < len(rows); i++ {
				p, c := rows[i-1], rows[i]
				if p.Account.AccountID > c.Account.AccountID || (p.Account.AccountID == c.Account.AccountID && p.Index >= c.Index) {
					t.Fatalf("rows out of keyset order at %d", i)
				}
			}
			if r := walk(store.ReportFilter{Limit: 9, Outcome: app.OutcomeRemove}); len(r) != 125 || r[0].Decision.Product != "jira-software" {
				t.Fatalf("remove rows = %d", len(r))
			}
			if r := walk(store.ReportFilter{Limit: 50, Outcome: app.OutcomeExempt, Product: "confluence"}); len(r) != 250 || r[0].Index != 1 {
				t.Fatalf("exempt confluence rows = %d", len(r))
			}
			if r := walk(store.ReportFilter{Limit: 50, Outcome: app.OutcomeExempt, Product: "jira-software"}); len(r) != 0 {
				t.Fatalf("outcome and product must match one decision: %d rows", len(r))
			}
			if _, err := s.ScanReport(ctx, a.ID, run.ID, store.ReportFilter{Limit: store.MaxReportLimit + 1}); app.ErrorCode(err) != app.EINVALID {
				t.Fatalf("over-large limit: %v", err)
			}

			// Tenant B never reads A's snapshot, even naming A's scan.
			if r, err := s.ScanReport(ctx, b.ID, run.ID, store.ReportFilter{}); err != nil || len(r) != 0 {
				t.Fatalf("B reads A's report: %d rows, %v", len(r), err)
			}
			if _, err := s.LatestReportScan(ctx, b.ID); app.ErrorCode(err) != app.ENOTFOUND {
				t.Fatalf("B's latest scan: %v", err)
			}
		})
	}
}
