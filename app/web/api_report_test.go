package web_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/store"
)

// snapshot builds n accounts with a jira-software and a jira-servicedesk
// decision each: jira-software is "remove" for even accounts and "keep"
// for odd ones; jira-servicedesk is "exempt" for every third account and
// "out_of_scope" otherwise.
func snapshot(n int, prefix string) []app.ScanAccount {
	last := time.Date(2025, 11, 1, 9, 30, 0, 0, time.UTC)
	out := make([]app.ScanAccount, n)
	for i := range n {
		id := fmt.Sprintf("%s%03d", prefix, i)
		path := []app.GrantPath{{GroupID: "g-jsw", GroupName: "jira-software-users", ResourceID: "ari:cloud:jira-software::site/c1", Product: "jira-software", Roles: []string{"atlassian/user"}}}
		sw := app.Decision{AccountID: id, Product: "jira-software", ResourceID: "ari:cloud:jira-software::site/c1", Outcome: app.OutcomeKeep,
			Reason: "active_recently", Rule: "products.jira-software.inactiveDays=90", LastActive: &last, DaysInactive: 20, BillablePath: path}
		if i%2 == 0 {
			sw.Outcome, sw.Reason, sw.DaysInactive = app.OutcomeRemove, "inactive", 120
		}
		sd := app.Decision{AccountID: id, Product: "jira-servicedesk", Outcome: app.OutcomeOutOfScope, Reason: "product_not_in_policy"}
		if i%3 == 0 {
			sd.Outcome, sd.Reason = app.OutcomeExempt, "exempt_group"
		}
		out[i] = app.ScanAccount{
			Facts: app.AccountFacts{AccountID: id, Name: "User " + id, Email: id + "@example.com", AccountType: "atlassian",
				AccountStatus: "active", ClaimStatus: "managed", GroupIDs: []string{"g-jsw"}, ActivityKnown: true},
			Decisions: []app.Decision{sw, sd},
		}
	}
	return out
}

type reportPage struct {
	Scan *app.ScanRun `json:"scan"`
	Rows []struct {
		AccountID    string          `json:"accountId"`
		Name         string          `json:"name"`
		Email        string          `json:"email"`
		AccountType  string          `json:"accountType"`
		ClaimStatus  string          `json:"claimStatus"`
		Product      string          `json:"product"`
		Outcome      string          `json:"outcome"`
		Reason       string          `json:"reason"`
		Rule         string          `json:"rule"`
		LastActive   *time.Time      `json:"lastActive"`
		DaysInactive int             `json:"daysInactive"`
		BillablePath []app.GrantPath `json:"billablePath"`
	} `json:"rows"`
	Next *string `json:"next"`
}

func (e *apiEnv) report(auth string, q url.Values) reportPage {
	e.t.Helper()
	r := e.call("GET", "/api/v1/report?"+q.Encode(), auth, nil)
	e.ok(r, 200)
	var p reportPage
	if err := json.Unmarshal(r.body, &p); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// walk follows next links and returns "account/product/outcome" of every
// row, checking that no row repeats.
func (e *apiEnv) walk(auth string, q url.Values) (rows []string, scanID string, pages int) {
	e.t.Helper()
	seen := map[string]bool{}
	for {
		p := e.report(auth, q)
		pages++
		if p.Scan != nil {
			scanID = p.Scan.ID
		}
		for _, r := range p.Rows {
			k := r.AccountID + "/" + r.Product + "/" + r.Outcome
			if seen[k] {
				e.t.Fatalf("row %s repeated", k)
			}
			seen[k] = true
			rows = append(rows, k)
		}
		if p.Next == nil {
			return rows, scanID, pages
		}
		q = cloneValues(q)
		q.Set("after", *p.Next)
		if pages > 100 {
			e.t.Fatal("paging does not end")
		}
	}
}

func cloneValues(q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}

func TestAPI_Report(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, d store.Dialect) {
		e := newAPIEnv(t, d)
		jira := e.installConnect(e.site1, "jira")
		auth := e.as(jira, e.admin)

		t.Run("no_scan_yet", func(t *testing.T) {
			p := e.report(auth, nil)
			if p.Scan != nil || len(p.Rows) != 0 || p.Next != nil {
				t.Fatalf("before any scan: %+v", p)
			}
		})

		first := e.finishedScan(jira.ID, app.ScanCompleted, snapshot(7, "acc-"))

		t.Run("rows", func(t *testing.T) {
			p := e.report(auth, url.Values{"limit": {"1"}})
			if p.Scan == nil || p.Scan.ID != first.ID || len(p.Rows) != 1 || p.Next == nil {
				t.Fatalf("first page: %+v", p)
			}
			r := p.Rows[0]
			if r.AccountID != "acc-000" || r.Name != "User acc-000" || r.Email != "acc-000@example.com" || r.AccountType != "atlassian" ||
				r.ClaimStatus != "managed" || r.Product != "jira-software" || r.Outcome != app.OutcomeRemove || r.Reason != "inactive" ||
				r.Rule != "products.jira-software.inactiveDays=90" || r.DaysInactive != 120 || r.LastActive == nil ||
				len(r.BillablePath) != 1 || r.BillablePath[0].GroupName != "jira-software-users" {
				t.Fatalf("row: %+v", r)
			}
		})
		t.Run("paging_covers_every_row_once", func(t *testing.T) {
			for _, limit := range []string{"1", "3", "14", "500"} {
				rows, scanID, pages := e.walk(auth, url.Values{"limit": {limit}})
				if len(rows) != 14 || scanID != first.ID {
					t.Fatalf("limit %s: %d rows of scan %s: %v", limit, len(rows), scanID, rows)
				}
				if limit == "3" && pages != 5 {
					t.Fatalf("limit 3: %d pages", pages)
				}
			}
		})
		t.Run("filters", func(t *testing.T) {
			rows, _, _ := e.walk(auth, url.Values{"outcome": {"remove"}, "limit": {"1"}})
			if len(rows) != 4 || rows[0] != "acc-000/jira-software/remove" || rows[3] != "acc-006/jira-software/remove" {
				t.Fatalf("outcome=remove: %v", rows)
			}
			rows, _, _ = e.walk(auth, url.Values{"product": {"jira-servicedesk"}, "limit": {"2"}})
			if len(rows) != 7 {
				t.Fatalf("product=jira-servicedesk: %v", rows)
			}
			// Both filters must hold on the same decision.
			rows, _, _ = e.walk(auth, url.Values{"product": {"jira-servicedesk"}, "outcome": {"exempt"}})
			if len(rows) != 3 || rows[1] != "acc-003/jira-servicedesk/exempt" {
				t.Fatalf("exempt jira-servicedesk: %v", rows)
			}
			rows, _, _ = e.walk(auth, url.Values{"product": {"jira-servicedesk"}, "outcome": {"remove"}})
			if len(rows) != 0 {
				t.Fatalf("remove on jira-servicedesk: %v", rows)
			}
			if p := e.report(auth, url.Values{"product": {"confluence"}}); len(p.Rows) != 0 || p.Next != nil || p.Scan == nil {
				t.Fatalf("product=confluence: %+v", p)
			}
		})

		// A scan still running does not replace the report; a held one does.
		running := e.startedScan(jira.ID)
		if p := e.report(auth, nil); p.Scan.ID != first.ID {
			t.Fatalf("a running scan replaced the report: %s", p.Scan.ID)
		}
		t.Run("explicit_scan", func(t *testing.T) {
			p := e.report(auth, url.Values{"scanId": {running.ID}})
			if p.Scan.ID != running.ID || p.Scan.Status != app.ScanRunning || len(p.Rows) != 0 {
				t.Fatalf("running scan's report: %+v", p)
			}
		})
		page1 := e.report(auth, url.Values{"limit": {"2"}})
		e.finishScan(jira.ID, running.ID, app.ScanHeld, snapshot(3, "new-"))
		t.Run("latest_is_the_held_scan", func(t *testing.T) {
			p := e.report(auth, nil)
			if p.Scan.ID != running.ID || len(p.Rows) != 6 || p.Rows[0].AccountID != "new-000" {
				t.Fatalf("after a held scan: %+v", p)
			}
			if p := e.report(auth, url.Values{"scanId": {first.ID}}); p.Scan.ID != first.ID || len(p.Rows) != 14 {
				t.Fatalf("the older scan by id: %d rows", len(p.Rows))
			}
		})
		t.Run("cursor_stays_on_its_scan", func(t *testing.T) {
			p := e.report(auth, url.Values{"limit": {"2"}, "after": {*page1.Next}})
			if p.Scan.ID != first.ID || p.Rows[0].AccountID != "acc-001" {
				t.Fatalf("a cursor of the old scan jumped to %s: %+v", p.Scan.ID, p.Rows)
			}
			wantError(t, e.call("GET", "/api/v1/report?scanId="+running.ID+"&after="+url.QueryEscape(*page1.Next), auth, nil), 400, "invalid", "another scan's report")
		})
	})
}

func (e *apiEnv) startedScan(tenantID string) *app.ScanRun {
	e.t.Helper()
	pol, err := e.store.Policy(e.t.Context(), tenantID, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	run, err := e.store.StartScan(e.t.Context(), tenantID, "", app.TriggerSchedule, pol)
	if err != nil {
		e.t.Fatal(err)
	}
	return run
}

func (e *apiEnv) finishScan(tenantID, scanID string, status app.ScanStatus, accounts []app.ScanAccount) {
	e.t.Helper()
	if err := e.store.SaveScanAccounts(e.t.Context(), tenantID, scanID, accounts); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.store.FinishScan(e.t.Context(), tenantID, scanID, status, map[string]any{}, ""); err != nil {
		e.t.Fatal(err)
	}
}
