package devsite

import (
	"net/http"
	"time"
)

// LedgerEntry records one membership change made through the site's APIs,
// so a run can be reconciled against what Lapse recorded.
type LedgerEntry struct {
	Seq       int64     `json:"seq"`
	Time      time.Time `json:"time"`
	Op        string    `json:"op"` // LedgerRemove or LedgerAdd
	AccountID string    `json:"accountId"`
	GroupID   string    `json:"groupId"`
	GroupName string    `json:"groupName"`
	Products  []string  `json:"products"` // product ARIs the group grants
	API       string    `json:"api"`      // admin | jira | confluence
	Caller    string    `json:"caller"`   // credential kind and identity
	RequestID string    `json:"requestId,omitempty"`
}

// Ledger operations.
const (
	LedgerRemove = "remove"
	LedgerAdd    = "add"
)

// recordWrite appends a membership change to the ledger and marks the call
// applied. The caller holds s.mu and has already changed the org.
func (s *Server) recordWrite(c *call, r *http.Request, op, accountID string, g *Group) {
	var products []string
	for _, ra := range g.Roles {
		products = append(products, ra.ResourceID)
	}
	s.ledger = append(s.ledger, LedgerEntry{
		Seq: int64(len(s.ledger) + 1), Time: s.now().UTC(), Op: op, AccountID: accountID,
		GroupID: g.ID, GroupName: g.Name, Products: products, API: c.API,
		Caller: c.Caller.Kind + ":" + c.Caller.ID, RequestID: r.Header.Get("X-Request-Id"),
	})
	c.Applied = true
}

// Ledger returns a copy of the write ledger.
func (s *Server) Ledger() []LedgerEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]LedgerEntry(nil), s.ledger...)
}
