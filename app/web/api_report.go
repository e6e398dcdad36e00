package web

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/audit"
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
	RemovalDue    *time.Time      `json:"removalDue,omitempty"`
	PolicyVersion int             `json:"policyVersion"`
	BillablePath  []app.GrantPath `json:"billablePath"`
	HandoffGroups []app.GrantPath `json:"handoffGroups,omitempty"`
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
		Rule: d.Rule, LastActive: d.LastActive, DaysInactive: d.DaysInactive, RemovalDue: d.RemovalDue,
		PolicyVersion: d.PolicyVersion, BillablePath: path, HandoffGroups: d.HandoffGroups,
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

// reportQuery is a parsed report request: the filter and the scan whose
// snapshot it reads (nil when no scan has finished evaluating yet).
type reportQuery struct {
	filter store.ReportFilter
	scan   *app.ScanRun
}

// parseReportQuery reads scanId, outcome, product and after, shared by the
// paged report and its export, and finds the scan.
func (s *Server) parseReportQuery(c *gin.Context) (reportQuery, error) {
	caller := callerOf(c)
	ctx := c.Request.Context()
	q := reportQuery{filter: store.ReportFilter{Outcome: c.Query("outcome"), Product: c.Query("product")}}
	var problems []string
	if q.filter.Outcome != "" && !slices.Contains(reportOutcomes, q.filter.Outcome) {
		problems = append(problems, "outcome must be one of "+strings.Join(reportOutcomes, ", "))
	}
	if q.filter.Product != "" && !validProductKey(q.filter.Product) {
		problems = append(problems, "product must be a product key such as jira-software or confluence")
	}
	if err := problemsError("invalid report query", problems); err != nil {
		return q, err
	}
	scanID := c.Query("scanId")
	if raw := c.Query("after"); raw != "" {
		var cur reportCursor
		if err := decodeCursor(raw, &cur); err != nil || cur.ScanID == "" || cur.AccountID == "" || cur.Index < 0 {
			return q, app.Errorf(app.EINVALID, "after must be a cursor returned as next by this route")
		}
		if scanID != "" && scanID != cur.ScanID {
			return q, app.Errorf(app.EINVALID, "after continues another scan's report than scanId names; drop one of them")
		}
		scanID, q.filter.AfterAccountID, q.filter.AfterIndex = cur.ScanID, cur.AccountID, cur.Index
	}
	var err error
	switch {
	case scanID == "":
		q.scan, err = s.store.LatestReportScan(ctx, caller.Tenant.ID)
		if app.ErrorCode(err) == app.ENOTFOUND {
			return q, nil
		}
	case !validToken(scanID, maxScanIDLen):
		err = app.Errorf(app.ENOTFOUND, "scan not found")
	default:
		q.scan, err = s.store.Scan(ctx, caller.Tenant.ID, scanID)
	}
	return q, err
}

// handleReportList returns a page of the access report of one scan's
// snapshot: by default the latest scan that finished evaluating
// (completed, held, approved or rejected), filtered by outcome and product.
func (s *Server) handleReportList(c *gin.Context) {
	caller := callerOf(c)
	limit, err := queryLimit(c, reportDefault, reportMax)
	if err != nil {
		s.fail(c, err)
		return
	}
	q, err := s.parseReportQuery(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if q.scan == nil {
		c.JSON(http.StatusOK, reportView{Rows: []reportRowView{}})
		return
	}
	q.filter.Limit = limit + 1
	rows, err := s.store.ScanReport(c.Request.Context(), caller.Tenant.ID, q.scan.ID, q.filter)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := reportView{Scan: q.scan, Rows: make([]reportRowView, 0, min(len(rows), limit))}
	if len(rows) > limit {
		rows = rows[:limit]
		last := rows[limit-1]
		next := encodeCursor(reportCursor{ScanID: q.scan.ID, AccountID: last.Account.AccountID, Index: last.Index})
		out.Next = &next
	}
	for _, r := range rows {
		out.Rows = append(out.Rows, newReportRowView(r))
	}
	c.JSON(http.StatusOK, out)
}

// handleReportExport streams the whole access report of one scan (the same
// filters as the paged report) as CSV or NDJSON, a page of rows at a time.
// Filtered to outcome=handoff it is the hand-off list for the identity
// provider's owner.
func (s *Server) handleReportExport(c *gin.Context) {
	caller := callerOf(c)
	format := c.DefaultQuery("format", "csv")
	if format != "csv" && format != "ndjson" {
		s.fail(c, app.Errorf(app.EINVALID, `format must be "csv" or "ndjson"`))
		return
	}
	if _, ok := c.GetQuery("limit"); ok {
		s.fail(c, app.Errorf(app.EINVALID, "an export has no limit: it is the whole report; narrow it with outcome and product"))
		return
	}
	q, err := s.parseReportQuery(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if q.scan == nil {
		s.fail(c, app.Errorf(app.ENOTFOUND, "no scan has finished evaluating this site yet: run one first"))
		return
	}
	name := "lapse-report-" + truncate(q.scan.ID, 8)
	if q.filter.Outcome != "" {
		name += "-" + q.filter.Outcome
	}
	dl := &download{c: c, contentType: exportContentType(format), filename: name + "." + format}
	enc := newReportEncoder(format, dl)
	s.sendDownload(c, dl, "report export", enc.flush, func(row func() error) error {
		return s.store.ScanReportRows(c.Request.Context(), caller.Tenant.ID, q.scan.ID, q.filter, func(r store.ReportRow) error {
			if err := enc.encode(r); err != nil {
				return err
			}
			return row()
		})
	})
}

// reportEncoder writes report rows in one format.
type reportEncoder struct {
	encode func(store.ReportRow) error
	flush  func() error
}

func newReportEncoder(format string, w io.Writer) reportEncoder {
	if format == "csv" {
		e := audit.NewReportCSVEncoder(w)
		return reportEncoder{encode: func(r store.ReportRow) error { return e.Encode(r.Account, r.Decision) }, flush: e.Flush}
	}
	bw := bufio.NewWriter(w)
	je := json.NewEncoder(bw)
	return reportEncoder{encode: func(r store.ReportRow) error { return je.Encode(newReportRowView(r)) }, flush: bw.Flush}
}
