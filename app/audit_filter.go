package app

import "time"

// AuditFilter selects a tenant's audit events for an export. Zero fields
// select everything; events always come in chain order (Seq).
type AuditFilter struct {
	// From and To bound OccurredAt: From inclusive, To exclusive, so
	// consecutive periods never share or skip an event.
	From *time.Time `json:"from,omitempty"`
	To   *time.Time `json:"to,omitempty"`
	// Actions keeps events whose action is one of these.
	Actions []string `json:"actions,omitempty"`
	// AccountID keeps events about one Atlassian account (their
	// data.accountId).
	AccountID string `json:"accountId,omitempty"`
	// AfterSeq resumes an export after the last event a client received.
	AfterSeq int64 `json:"afterSeq,omitempty"`
	// Limit caps the number of events; 0 means no cap.
	Limit int `json:"limit,omitempty"`
}

// Validate reports a filter that can select nothing by mistake.
func (f AuditFilter) Validate() error {
	switch {
	case f.From != nil && f.To != nil && !f.To.After(*f.From):
		return Errorf(EINVALID, "the end of the period must be after its start")
	case f.AfterSeq < 0:
		return Errorf(EINVALID, "afterSeq must not be negative")
	case f.Limit < 0:
		return Errorf(EINVALID, "limit must not be negative")
	}
	return nil
}
