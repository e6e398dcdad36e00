package app

import (
	"encoding/json"
	"time"
)

// ScanStatus is where a scan is in its life.
type ScanStatus string

// Scan statuses.
const (
	ScanQueued    ScanStatus = "queued" // waiting for a worker
	ScanRunning   ScanStatus = "running"
	ScanHeld      ScanStatus = "held"      // the safety brake stopped it: an admin approves or rejects
	ScanCompleted ScanStatus = "completed" // evaluated, and in enforce mode acted on
	ScanFailed    ScanStatus = "failed"
	ScanDeferred  ScanStatus = "deferred" // out of API budget: continues later
	ScanRejected  ScanStatus = "rejected" // a held run an admin rejected
	ScanApproved  ScanStatus = "approved" // a held run an admin approved; its removals are under way
	// ScanCancelled: an admin stopped it, or the tenant was disabled or
	// uninstalled (its Error says which); what it did before is recorded.
	ScanCancelled ScanStatus = "cancelled"
)

// ScanTrigger is what started a scan.
type ScanTrigger string

// Scan triggers.
const (
	TriggerSchedule ScanTrigger = "schedule"
	TriggerManual   ScanTrigger = "manual"
	TriggerForge    ScanTrigger = "forge"
)

// Audit actions of scans.
const (
	AuditScanStarted   = "scan.started"
	AuditScanFinished  = "scan.finished"
	AuditScanHeld      = "scan.held"
	AuditScanQueued    = "scan.queued"
	AuditScanApproved  = "scan.approved"
	AuditScanRejected  = "scan.rejected"
	AuditScanCancelled = "scan.cancelled"
	AuditRestore       = "access.restored"
	AuditAccessRemove  = "access.removed"
	AuditHandoff       = "access.handoff"
)

// ScanRun is one scan of a tenant.
type ScanRun struct {
	ID            string          `json:"id"`
	TenantID      string          `json:"tenantId"`
	Status        ScanStatus      `json:"status"`
	Trigger       ScanTrigger     `json:"trigger"`
	PolicyVersion int             `json:"policyVersion"`
	Mode          PolicyMode      `json:"mode"`
	StartedAt     time.Time       `json:"startedAt"`
	FinishedAt    *time.Time      `json:"finishedAt,omitempty"`
	Summary       json.RawMessage `json:"summary"`
	Error         string          `json:"error,omitempty"`
}

// ScanAccount is one account of a scan's snapshot: what Lapse saw and what
// the policy decided.
type ScanAccount struct {
	Facts     AccountFacts `json:"facts"`
	Decisions []Decision   `json:"decisions"`
}

// ActionState is where one removal of a scan is: the intent is recorded
// before Lapse calls Atlassian, the outcome after.
type ActionState string

// Action states.
const (
	ActionIntent    ActionState = "intent"
	ActionDone      ActionState = "done"
	ActionFailed    ActionState = "failed"
	ActionCancelled ActionState = "cancelled" // the scan was cancelled and the read-back found the membership still there
)

// Outcomes of a done action (ScanAction.Outcome; a failed or cancelled
// one carries the error or the reason instead).
const (
	ActionOutcomeRemoved             = "removed"
	ActionOutcomeAlreadyRemoved      = "already_removed"       // the membership was gone when Lapse got there
	ActionOutcomeRemovedBeforeCancel = "removed_before_cancel" // settled by read-back after a cancel
)

// ScanActionCounts counts a scan's recorded removals by state.
type ScanActionCounts struct {
	Recorded       int // every action recorded, in any state
	Done           int // removed (each one an access.removed event)
	AlreadyRemoved int // of Done: gone when Lapse got there
	Failed         int
	Cancelled      int
	Open           int // intents without an outcome yet
}

// APIUsage is what a scan spent on Atlassian's APIs: requests sent
// (retries included), 429 answers among them, Jira/Confluence points.
type APIUsage struct {
	Requests    int64 `json:"requests"`
	RateLimited int64 `json:"rateLimited"`
	Points      int64 `json:"points"`
}

// Add returns the sum of u and v.
func (u APIUsage) Add(v APIUsage) APIUsage {
	return APIUsage{Requests: u.Requests + v.Requests, RateLimited: u.RateLimited + v.RateLimited, Points: u.Points + v.Points}
}

// Sub returns u minus v.
func (u APIUsage) Sub(v APIUsage) APIUsage {
	return APIUsage{Requests: u.Requests - v.Requests, RateLimited: u.RateLimited - v.RateLimited, Points: u.Points - v.Points}
}

// ScanAction is one membership removal a scan makes.
type ScanAction struct {
	ScanID    string      `json:"scanId"`
	AccountID string      `json:"accountId"`
	GroupID   string      `json:"groupId"`
	Product   string      `json:"product"`
	State     ActionState `json:"state"`
	Outcome   string      `json:"outcome,omitempty"`
}
