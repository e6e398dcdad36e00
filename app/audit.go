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
	AuditForgeInstalled    = "forge.installed"
	AuditForgeUpgraded     = "forge.upgraded"
	AuditOrgConnected      = "org.connected"
)

// AuditEvent is one append-only entry of a tenant's audit trail.
type AuditEvent struct {
	ID         int64           `json:"id"`
	TenantID   string          `json:"tenantId"`
	OccurredAt time.Time       `json:"occurredAt"`
	Actor      Actor           `json:"actor"`
	Action     string          `json:"action"`
	Data       json.RawMessage `json:"data"`
}
