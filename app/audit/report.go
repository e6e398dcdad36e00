package audit

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/lapsehq/lapse/app"
)

// ReportCSVHeader names the columns of the access report CSV, in order: one
// row per account and product of a scan's snapshot. billable_path lists the
// groups that grant the product; handoff_groups the IdP-synced ones that
// the identity provider must change (Lapse never edits them), so the report
// filtered to outcome "handoff" is the hand-off list for the IdP's owner.
var ReportCSVHeader = []string{
	"account_id", "name", "email", "account_type", "account_status", "claim_status", "product", "resource_id",
	"outcome", "reason", "rule", "policy_version", "last_active", "days_inactive", "removal_due",
	"billable_path", "handoff_groups",
}

// ReportCSVEncoder writes access report rows as CSV under a header row.
type ReportCSVEncoder struct {
	w      *csv.Writer
	header bool
}

// NewReportCSVEncoder returns an encoder writing to w. Call Flush at the end.
func NewReportCSVEncoder(w io.Writer) *ReportCSVEncoder {
	return &ReportCSVEncoder{w: csv.NewWriter(w)}
}

// Encode writes one account's decision on one product. Every text cell is
// neutralised against formula injection: names, e-mails and group names
// come from the customer's directory.
func (e *ReportCSVEncoder) Encode(a *app.AccountFacts, d app.Decision) error {
	if err := e.writeHeader(); err != nil {
		return err
	}
	cells := []string{
		a.AccountID, a.Name, a.Email, a.AccountType, a.AccountStatus, a.ClaimStatus, d.Product, d.ResourceID,
		d.Outcome, d.Reason, d.Rule, strconv.Itoa(d.PolicyVersion), timeCell(d.LastActive), strconv.Itoa(d.DaysInactive),
		timeCell(d.RemovalDue), pathsCell(d.BillablePath), pathsCell(d.HandoffGroups),
	}
	for i, c := range cells {
		cells[i] = neutralise(c)
	}
	return e.w.Write(cells)
}

// Flush writes buffered rows, and the header when no row was encoded.
func (e *ReportCSVEncoder) Flush() error {
	if err := e.writeHeader(); err != nil {
		return err
	}
	e.w.Flush()
	return e.w.Error()
}

func (e *ReportCSVEncoder) writeHeader() error {
	if e.header {
		return nil
	}
	e.header = true
	return e.w.Write(ReportCSVHeader)
}

// timeCell is a UTC RFC 3339 time, or "" for none (a product never used,
// or no removal due).
func timeCell(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// pathsCell lists grant paths as "group name (group id) → product", with
// " [synced]" for IdP-synced groups, separated by "; ".
func pathsCell(paths []app.GrantPath) string {
	parts := make([]string, 0, len(paths))
	for _, p := range paths {
		s := p.GroupName + " (" + p.GroupID + ") → " + p.Product
		if p.Synced {
			s += " [synced]"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}
