package app

import "time"

// The evidence a scan and a restore write into the audit chain, as the data
// of their events. The JSON field names are those stored since the first
// release: a chain hashes the data as it was written, and restore reads old
// removals, so a field is only ever added (with omitempty where older events
// lack it), never renamed.

// RemovalEvidence is the data of an access.removed event: one group
// membership a scan took away, the account as seen, and why.
type RemovalEvidence struct {
	ScanID    string `json:"scanId"`
	AccountID string `json:"accountId"`
	GroupID   string `json:"groupId"`
	// GroupName is absent when the snapshot no longer names the group (an
	// intent settled after its account dropped out of the inventory).
	GroupName string `json:"groupName,omitempty"`
	// AlreadyRemoved: the membership was gone when Lapse got there (a
	// resumed scan whose earlier attempt's answer was lost).
	AlreadyRemoved bool `json:"alreadyRemoved"`
	// ReadBack: the outcome was established by reading the membership back.
	ReadBack bool                     `json:"readBack"`
	Products []RemovedProductEvidence `json:"products"`
}

// RemovedProductEvidence is one product a removed membership granted: the
// decision that removed it.
type RemovedProductEvidence struct {
	Product       string      `json:"product"`
	ResourceID    string      `json:"resourceId"`
	Rule          string      `json:"rule"`
	Reason        string      `json:"reason"`
	PolicyVersion int         `json:"policyVersion"`
	LastActive    *time.Time  `json:"lastActive"`
	DaysInactive  int         `json:"daysInactive"`
	BillablePath  []GrantPath `json:"billablePath"`
}

// RemovalEvidenceOf is the evidence of removing membership a of an account
// whose remove decisions are ds: the products the group granted it.
func RemovalEvidenceOf(a ScanAction, alreadyRemoved, readBack bool, ds []Decision) RemovalEvidence {
	ev := RemovalEvidence{ScanID: a.ScanID, AccountID: a.AccountID, GroupID: a.GroupID, AlreadyRemoved: alreadyRemoved, ReadBack: readBack}
	for _, d := range ds {
		for _, g := range d.RemoveGroups {
			if g.GroupID != a.GroupID {
				continue
			}
			ev.GroupName = g.GroupName
			ev.Products = append(ev.Products, RemovedProductEvidence{Product: d.Product, ResourceID: d.ResourceID, Rule: d.Rule,
				Reason: d.Reason, PolicyVersion: d.PolicyVersion, LastActive: d.LastActive, DaysInactive: d.DaysInactive,
				BillablePath: d.BillablePath})
		}
	}
	return ev
}

// RestoreEvidence is the data of an access.restored event: a membership
// re-added from the access.removed event RestoredEventID.
type RestoreEvidence struct {
	AccountID       string `json:"accountId"`
	GroupID         string `json:"groupId"`
	GroupName       string `json:"groupName"`
	RemovedByScan   string `json:"removedByScan"`
	RestoredEventID int64  `json:"restoredEventId"`
	AlreadyMember   bool   `json:"alreadyMember"`
	ReadBack        bool   `json:"readBack"`
}

// HandoffEvidence is the data of an access.handoff event: the accounts a
// scan could not act on because only IdP-synced groups grant their access.
type HandoffEvidence struct {
	ScanID   string           `json:"scanId"`
	Accounts []HandoffAccount `json:"accounts"`
	Count    int              `json:"count"`
}

// HandoffAccount is one account and product of a hand-off, with the synced
// groups the identity provider's owner must change.
type HandoffAccount struct {
	AccountID    string     `json:"accountId"`
	Product      string     `json:"product"`
	Groups       []string   `json:"groups"`
	LastActive   *time.Time `json:"lastActive"`
	DaysInactive int        `json:"daysInactive"`
	Rule         string     `json:"rule"`
}

// ScanStopEvidence is the data of a scan.cancelled event: who or what
// stopped the scan, from which status.
type ScanStopEvidence struct {
	ScanID       string     `json:"scanId"`
	StatusBefore ScanStatus `json:"statusBefore"`
	// Reason is set when the scan stopped for another reason than an
	// administrator's cancel: the tenant was uninstalled or disabled.
	Reason string `json:"reason,omitempty"`
}
