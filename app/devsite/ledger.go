package devsite

import "time"

// LedgerEntry records one membership change made through the site's APIs.
type LedgerEntry struct {
	Seq       int64     `json:"seq"`
	Time      time.Time `json:"time"`
	Op        string    `json:"op"` // "remove" | "add"
	AccountID string    `json:"accountId"`
	GroupID   string    `json:"groupId"`
	GroupName string    `json:"groupName"`
	Products  []string  `json:"products"` // product ARIs the group grants
	API       string    `json:"api"`      // admin | jira | confluence
	Caller    string    `json:"caller"`   // credential identity
	RequestID string    `json:"requestId,omitempty"`
}
