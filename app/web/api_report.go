package web

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/store"
)

// Report page sizes.
const (
	reportDefault = 50
	reportMax     = 500
)

// reportOutcomes are the outcomes the report may be filtered by.
var reportOutcomes = []string{
	app.OutcomeKeep, app.OutcomeRemove, app.OutcomePending, app.OutcomeExempt, app.OutcomeHandoff,
	app.OutcomeReportOnly, app.OutcomeUnknown, app.OutcomeOutOfScope,
}

// reportRowView is one row of the access report: one account's access to
// one product, what the policy decided and the group path it rests on.
type reportRowView struct {
	AccountID     string          `json:"accountId"`
	Name          string          `json:"name"`
	Email         string          `json:"email,omitempty"`
	AccountType   string          `json:"accountType"`
	AccountStatus string          `json:"accountStatus,omitempty"`
	ClaimStatus   string          `json:"claimStatus"`
	Product       string          `json:"product"`
	ResourceID    string          `json:"resourceId,omitempty"`
	Outcome       string          `json:"outcome"`
	Reason        string          `json:"reason"`
	Rule          string          `json:"rule"`
	LastActive    *time.Time      `json:"lastActive"`
	DaysInactive  int             `json:"daysInactive"`
	BillablePath  []app.GrantPath `json:"billablePath"`
}

func newReportRowView(r store.ReportRow) reportRowView {
	a, d := r.Account, r.Decision
	path := d.BillablePath
	if path == nil {
		path = []app.GrantPath{}
	}
	return reportRowView{
		AccountID: a.AccountID, Name: a.Name, Email: a.Email, AccountType: a.AccountType, AccountStatus: a.AccountStatus,
		ClaimStatus: a.ClaimStatus, Product: d.Product, ResourceID: d.ResourceID, Outcome: d.Outcome, Reason: d.Reason,
		Rule: d.Rule, LastActive: d.LastActive, DaysInactive: d.DaysInactive, BillablePath: path,
	}
}

type reportView struct {
	// Scan is the scan whose snapshot the rows come from; null when no
	// scan has finished evaluating the site yet.
	Scan *app.ScanRun    `json:"scan"`
	Rows []reportRowView `json:"rows"`
	// Next is the after value of the next page; null on the last page.
	Next *string `json:"next"`
}

// reportCursor is the position after a report row. It carries its scan,
// so a page fetched after a newer scan finished still continues the
// report it started.
type reportCursor struct {
	ScanID    string `json:"s"`
	AccountID string `json:"a"`
	Index     int    `json:"i"`
}

// handleReportList returns a page of the access report of one scan's
// snapshot: by default the latest scan that finished evaluating
// (completed, held, approved or rejected), filtered by outcome and product.
func (s *Server) handleReportList(c *gin.Context) {
	caller := callerOf(c)
	ctx := c.Request.Context()
	limit, err := queryLimit(c, reportDefault, reportMax)
	if err != nil {
		s.fail(c, err)
		return
	}
	f := store.ReportFilter{Outcome: c.Query("outcome"), Product: c.Query("product"), Limit: limit + 1}
	var problems []string
	if f.Outcome != "" && !slices.Contains(reportOutcomes, f.Outcome) {
		problems = append(problems, "outcome must be one of "+strings.Join(reportOutcomes, ", "))
	}
	if f.Product != "" && !validProductKey(f.Product) {
		problems = append(problems, "product must be a product key such as jira-software or confluence")
	}
	if err := problemsError("invalid report query", problems); err != nil {
		s.fail(c, err)
		return
	}
	scanID := c.Query("scanId")
	if raw := c.Query("after"); raw != "" {
		var cur reportCursor
		if err := decodeCursor(raw, &cur); err != nil || cur.ScanID == "" || cur.AccountID == "" || cur.Index < 0 {
			s.fail(c, app.Errorf(app.EINVALID, "after must be a cursor returned as next by this route"))
			return
		}
		if scanID != "" && scanID != cur.ScanID {
			s.fail(c, app.Errorf(app.EINVALID, "after continues another scan's report than scanId names; drop one of them"))
			return
		}
		scanID, f.AfterAccountID, f.AfterIndex = cur.ScanID, cur.AccountID, cur.Index
	}
	var scan *app.ScanRun
	switch {
	case scanID == "":
		scan, err = s.store.LatestReportScan(ctx, caller.Tenant.ID)
		if app.ErrorCode(err) == app.ENOTFOUND {
			c.JSON(http.StatusOK, reportView{Rows: []reportRowView{}})
			return
		}
	case !validToken(scanID, maxScanIDLen):
		err = app.Errorf(app.ENOTFOUND, "scan not found")
	default:
		scan, err = s.store.Scan(ctx, caller.Tenant.ID, scanID)
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	rows, err := s.store.ScanReport(ctx, caller.Tenant.ID, scan.ID, f)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := reportView{Scan: scan, Rows: make([]reportRowView, 0, min(len(rows), limit))}
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[limit-1]
		next := encodeCursor(reportCursor{ScanID: scan.ID, AccountID: last.Account.AccountID, Index: last.Index})
		out.Next = &next
	}
	for _, r := range rows {
		out.Rows = append(out.Rows, newReportRowView(r))
	}
	c.JSON(http.StatusOK, out)
}
