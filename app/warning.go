package app

import "time"

// WarningNotice is an e-mail telling an account it will lose a product's
// access on RemovalDue unless it uses the product: the policy's warning
// period made visible to the person, not only to the admin's report.
type WarningNotice struct {
	ID          string     `json:"id"`
	TenantID    string     `json:"tenantId"`
	ScanID      string     `json:"scanId"`
	AccountID   string     `json:"accountId"`
	Product     string     `json:"product"`
	RemovalDue  time.Time  `json:"removalDue"`
	LastActive  *time.Time `json:"lastActive,omitempty"`
	Email       string     `json:"email"`
	DisplayName string     `json:"displayName,omitempty"`
	SiteURL     string     `json:"siteUrl,omitempty"`
	State       string     `json:"state"`
	Attempts    int        `json:"attempts"`
	LastError   string     `json:"lastError,omitempty"`
}

// Warning notice states: queued by a scan, claimed by a delivery job
// (sending), then sent or failed (permanently, or after the last attempt).
const (
	WarningQueued  = "queued"
	WarningSending = "sending"
	WarningSent    = "sent"
	WarningFailed  = "failed"
)

// Audit actions of warning e-mails.
const (
	AuditWarningSent   = "warning.sent"
	AuditWarningFailed = "warning.failed"
)
