package app

import (
	"time"
)

// Product is the Atlassian product a tenant installation belongs to.
type Product string

// Products Lapse installs into.
const (
	ProductJira       Product = "jira"
	ProductConfluence Product = "confluence"
)

// Valid reports whether p is a product Lapse supports.
func (p Product) Valid() bool { return p == ProductJira || p == ProductConfluence }

// PolicyProducts are the product keys (Admin API productAccess keys) a
// tenant of this product governs by default: the Jira family on a Jira
// installation, Confluence on a Confluence one.
func (p Product) PolicyProducts() []string {
	if p == ProductConfluence {
		return []string{"confluence"}
	}
	return []string{"jira-software", "jira-servicedesk"}
}

// TenantState is where an installation is in its lifecycle.
type TenantState string

// Tenant states. A tenant is never deleted when uninstalled: its audit trail
// must outlive the installation (a later retention job purges it).
const (
	TenantInstalled   TenantState = "installed"
	TenantEnabled     TenantState = "enabled"
	TenantDisabled    TenantState = "disabled"
	TenantUninstalled TenantState = "uninstalled"
)

// Active reports whether requests from a tenant in this state are served.
// "installed" counts as active because Connect-on-Forge apps never receive
// the enabled callback (PLATFORM.md §1.3); a disabled or uninstalled tenant
// is refused.
func (s TenantState) Active() bool { return s == TenantInstalled || s == TenantEnabled }

// Tenant is one installation of Lapse: one site × one product. The same
// tenant may be known through its Connect identity (ClientKey), its Forge
// identity (InstallationID), or both when Connect runs on Forge.
type Tenant struct {
	ID             string      `json:"id"`
	ClientKey      string      `json:"clientKey,omitempty"`
	InstallationID string      `json:"installationId,omitempty"`
	CloudID        string      `json:"cloudId,omitempty"`
	BaseURL        string      `json:"baseUrl"`
	DisplayURL     string      `json:"displayUrl,omitempty"`
	APIBaseURL     string      `json:"apiBaseUrl,omitempty"` // Forge: where product API calls go
	Product        Product     `json:"product"`
	State          TenantState `json:"state"`
	OAuthClientID  string      `json:"oauthClientId,omitempty"`
	// SharedSecret is the Connect HS256 secret, decrypted. It never leaves
	// the process: the JSON tag keeps it out of every response.
	SharedSecret  []byte     `json:"-"`
	InstalledAt   *time.Time `json:"installedAt,omitempty"`
	EnabledAt     *time.Time `json:"enabledAt,omitempty"`
	DisabledAt    *time.Time `json:"disabledAt,omitempty"`
	UninstalledAt *time.Time `json:"uninstalledAt,omitempty"`
	CreatedAt     time.Time  `json:"createdAt"`
	UpdatedAt     time.Time  `json:"updatedAt"`
}

// HasConnect reports whether the tenant has a Connect identity.
func (t *Tenant) HasConnect() bool { return t.ClientKey != "" }

// ConnectInstall is the verified content of a Connect installed callback.
type ConnectInstall struct {
	ClientKey      string
	BaseURL        string
	DisplayURL     string
	Product        Product
	SharedSecret   []byte
	OAuthClientID  string
	InstallationID string // normalised Forge installation id, Connect-on-Forge only
	Description    string
	ActorAccountID string // sub of the signed-install token, when present
}

// ForgeInstallation is what a verified Forge invocation tells about its
// installation.
type ForgeInstallation struct {
	InstallationID string
	CloudID        string
	APIBaseURL     string
	SiteURL        string // the site's URL when the invocation context names it
	Product        Product
}

// ForgeInvocation is one recorded Forge event or scheduled-trigger call.
type ForgeInvocation struct {
	ID         int64     `json:"id"`
	TenantID   string    `json:"tenantId"`
	Kind       string    `json:"kind"`
	ModuleKey  string    `json:"moduleKey,omitempty"`
	EventType  string    `json:"eventType,omitempty"`
	TraceID    string    `json:"traceId,omitempty"`
	ReceivedAt time.Time `json:"receivedAt"`
}

// Forge lifecycle event types (PLATFORM.md §7.4). There is no uninstall event.
const (
	ForgeEventInstalled = "avi:forge:installed:app"
	ForgeEventUpgraded  = "avi:forge:upgraded:app"
)

// Forge invocation kinds.
const (
	InvocationLifecycle = "lifecycle"
	InvocationScheduled = "scheduled"
)

// SystemToken is a Forge app system token with its expiry, decrypted.
type SystemToken struct {
	Token     string
	ExpiresAt time.Time
}

// Activity sources: how a tenant's last-active dates are read.
const (
	ActivityBulk    = "bulk"     // Admin API v2 users/search, expand productAccess
	ActivityPerUser = "per_user" // Admin API v1 last-active-dates, one request per user
)

// OrgConnection links a tenant to its Atlassian organization through an org
// admin API key.
type OrgConnection struct {
	TenantID        string     `json:"tenantId"`
	OrgID           string     `json:"orgId"`
	APIKey          string     `json:"-"` // decrypted; never serialised
	ActivitySource  string     `json:"activitySource,omitempty"`
	ActivityChecked *time.Time `json:"activityChecked,omitempty"`
	CreatedAt       time.Time  `json:"createdAt"`
	UpdatedAt       time.Time  `json:"updatedAt"`
}
