package app

import (
	"encoding/json"
	"time"
)

// ActorType names who caused an audited change.
type ActorType string

// Actor types.
const (
	ActorInstaller ActorType = "installer" // the account that installed or uninstalled the app
	ActorAtlassian ActorType = "atlassian" // a lifecycle event or trigger sent by Atlassian without a user
	ActorAdmin     ActorType = "admin"     // a site admin acting through the admin page or API
	ActorScan      ActorType = "scan"      // a scan run
	ActorSystem    ActorType = "system"    // Lapse itself (retention, migrations)
)

// Actor is who caused an audited change.
type Actor struct {
	Type ActorType `json:"type"`
	ID   string    `json:"id,omitempty"`
}

// Audit actions recorded by the platform layer. Later features add theirs.
const (
	AuditTenantInstalled   = "tenant.installed"
	AuditTenantReinstalled = "tenant.reinstalled"
	AuditTenantUninstalled = "tenant.uninstalled"
	AuditTenantEnabled     = "tenant.enabled"
	AuditTenantDisabled    = "tenant.disabled"
	AuditTenantLinked      = "tenant.forge_linked"
	AuditTenantMerged      = "tenant.merged"
	AuditForgeInstalled    = "forge.installed"
	AuditForgeUpgraded     = "forge.upgraded"
	AuditOrgConnected      = "org.connected"
	AuditPolicyChanged     = "policy.changed"
)

// AuditEvent is one append-only entry of a tenant's audit trail. Seq,
// PrevHash and Hash link it into the tenant's hash chain (store
// VerifyAuditChain), so a copy of the trail can be checked on its own.
type AuditEvent struct {
	ID         int64     `json:"id"`
	TenantID   string    `json:"tenantId"`
	Seq        int64     `json:"seq"`
	OccurredAt time.Time `json:"occurredAt"`
	Actor      Actor     `json:"actor"`
	Action     string    `json:"action"`
	// TargetAccountID is data.accountId when the event is about an account.
	TargetAccountID string          `json:"targetAccountId,omitempty"`
	Data            json.RawMessage `json:"data"`
	PrevHash        string          `json:"prevHash"`
	Hash            string          `json:"hash"`
}
