package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/lapsehq/lapse/app"
)

type tenantRow struct {
	ID              string `gorm:"primaryKey"`
	ClientKey       *string
	InstallationID  *string
	CloudID         string
	BaseURL         string
	DisplayURL      string
	APIBaseURL      string `gorm:"column:api_base_url"`
	Product         string
	State           string
	OAuthClientID   string `gorm:"column:oauth_client_id"`
	Description     string
	SharedSecretEnc []byte
	InstalledAt     *time.Time
	EnabledAt       *time.Time
	DisabledAt      *time.Time
	UninstalledAt   *time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

func (tenantRow) TableName() string { return "tenants" }

func sharedSecretBinding(tenantID string) string { return "tenant:" + tenantID + ":shared_secret" }

func (s *Store) toTenant(r *tenantRow) (*app.Tenant, error) {
	t := &app.Tenant{
		ID:            r.ID,
		ClientKey:     deref(r.ClientKey),
		CloudID:       r.CloudID,
		BaseURL:       r.BaseURL,
		DisplayURL:    r.DisplayURL,
		APIBaseURL:    r.APIBaseURL,
		Product:       app.Product(r.Product),
		State:         app.TenantState(r.State),
		OAuthClientID: r.OAuthClientID,
		InstalledAt:   utcPtr(r.InstalledAt),
		EnabledAt:     utcPtr(r.EnabledAt),
		DisabledAt:    utcPtr(r.DisabledAt),
		UninstalledAt: utcPtr(r.UninstalledAt),
		CreatedAt:     r.CreatedAt.UTC(),
		UpdatedAt:     r.UpdatedAt.UTC(),
	}
	t.InstallationID = deref(r.InstallationID)
	secret, err := s.box.Open(r.SharedSecretEnc, sharedSecretBinding(r.ID))
	if err != nil {
		return nil, fmt.Errorf("store: tenant %s: shared secret: %w", r.ID, err)
	}
	t.SharedSecret = secret
	return t, nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func ptr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// FindTenantByID returns a tenant by Lapse's own id.
func (s *Store) FindTenantByID(ctx context.Context, id string) (*app.Tenant, error) {
	return s.findTenant(ctx, "id = ?", id)
}

// FindTenantByClientKey returns the tenant of a Connect clientKey.
func (s *Store) FindTenantByClientKey(ctx context.Context, clientKey string) (*app.Tenant, error) {
	return s.findTenant(ctx, "client_key = ?", clientKey)
}

// FindTenantByInstallationID returns the tenant of a Forge installation id
// (normalised, without the ARI prefix).
func (s *Store) FindTenantByInstallationID(ctx context.Context, installationID string) (*app.Tenant, error) {
	return s.findTenant(ctx, "installation_id = ?", installationID)
}

func (s *Store) findTenant(ctx context.Context, where string, arg string) (*app.Tenant, error) {
	var row tenantRow
	if err := s.db.WithContext(ctx).Where(where, arg).Take(&row).Error; err != nil {
		return nil, notFound(err, "tenant")
	}
	return s.toTenant(&row)
}

func (s *Store) findTenantRow(ctx context.Context, where string, arg string) (*tenantRow, error) {
	var row tenantRow
	err := s.db.WithContext(ctx).Where(where, arg).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &row, nil
}

// InstallConnect records a verified Connect installed callback: a new tenant,
// or new credentials for a known clientKey (reinstall, upgrade, secret
// rotation, site rename). Signed installs are authentic, so the new shared
// secret always wins. When the payload names a Forge installation
// (Connect on Forge), that installation is linked to the same tenant.
func (s *Store) InstallConnect(ctx context.Context, in app.ConnectInstall) (*app.Tenant, error) {
	var out *app.Tenant
	err := s.retryOnConflict(ctx, func(tx *Store) error {
		t, err := tx.installConnect(ctx, in)
		out = t
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: install connect: %w", err)
	}
	return out, nil
}

// retryOnConflict runs fn in a transaction and runs it once more when two
// concurrent first installs of one clientKey collide on its unique index:
// the second attempt then finds the row the first one created.
func (s *Store) retryOnConflict(ctx context.Context, fn func(tx *Store) error) error {
	err := s.inTx(ctx, fn)
	if isUniqueViolation(err) {
		err = s.inTx(ctx, fn)
	}
	return err
}

func (s *Store) installConnect(ctx context.Context, in app.ConnectInstall) (*app.Tenant, error) {
	now := s.nowUTC()
	row, err := s.findTenantRow(ctx, "client_key = ?", in.ClientKey)
	if err != nil {
		return nil, err
	}
	action := app.AuditTenantReinstalled
	if row == nil {
		action = app.AuditTenantInstalled
		if row, err = s.adoptForgeRow(ctx, in.InstallationID); err != nil {
			return nil, err
		}
	}
	if row == nil {
		row = &tenantRow{ID: uuid.NewString(), CreatedAt: now, Product: string(in.Product)}
	}
	before, baseURLBefore := row.State, row.BaseURL
	applyConnectInstall(row, in, now)
	if row.SharedSecretEnc, err = s.box.Seal(in.SharedSecret, sharedSecretBinding(row.ID)); err != nil {
		return nil, err
	}
	if err := s.linkInstallation(ctx, row, in.InstallationID); err != nil {
		return nil, err
	}
	if err := s.db.WithContext(ctx).Save(row).Error; err != nil {
		return nil, err
	}
	actor := app.Actor{Type: app.ActorInstaller, ID: in.ActorAccountID}
	data := map[string]any{"clientKey": in.ClientKey, "baseUrl": in.BaseURL, "product": in.Product, "stateBefore": before, "stateAfter": row.State}
	if in.InstallationID != "" {
		data["installationId"] = in.InstallationID
	}
	// A reinstall may move a tenant to another URL (site rename, or an
	// attacker's host if anything upstream failed): every later API call
	// goes there, so the move is on the record with both ends.
	if action == app.AuditTenantReinstalled && baseURLBefore != in.BaseURL {
		data["baseUrlBefore"], data["baseUrlAfter"] = baseURLBefore, in.BaseURL
	}
	if err := s.appendAudit(ctx, row.ID, actor, action, data); err != nil {
		return nil, err
	}
	return s.toTenant(row)
}

// applyConnectInstall copies an installed payload onto a row. A reinstall
// of an uninstalled tenant makes it installed again; a disabled tenant stays
// disabled, because Atlassian re-sends installed on upgrades and renames
// without enabling the app.
func applyConnectInstall(row *tenantRow, in app.ConnectInstall, now time.Time) {
	row.ClientKey = ptr(in.ClientKey)
	row.BaseURL = in.BaseURL
	row.DisplayURL = in.DisplayURL
	row.Product = string(in.Product)
	row.OAuthClientID = in.OAuthClientID
	row.Description = in.Description
	row.UpdatedAt = now
	switch app.TenantState(row.State) {
	case app.TenantDisabled, app.TenantEnabled:
	default:
		row.State = string(app.TenantInstalled)
	}
	if row.InstalledAt == nil || row.UninstalledAt != nil {
		row.InstalledAt = &now
	}
	row.UninstalledAt = nil
}

// adoptForgeRow returns the Forge-only tenant of installationID, if one
// exists, so a Connect install that arrives after the Forge installed event
// lands in the same tenant instead of creating a second one.
func (s *Store) adoptForgeRow(ctx context.Context, installationID string) (*tenantRow, error) {
	if installationID == "" {
		return nil, nil
	}
	row, err := s.findTenantRow(ctx, "installation_id = ?", installationID)
	if err != nil || row == nil || row.ClientKey != nil {
		return nil, err
	}
	return row, nil
}

// linkInstallation attaches a Forge installation to row. If another tenant
// holds it, that tenant is Forge-only and was created by an invocation that
// came before this Connect install: its records move to row and it is
// retired, so one installation never maps to two tenants.
func (s *Store) linkInstallation(ctx context.Context, row *tenantRow, installationID string) error {
	if installationID == "" || deref(row.InstallationID) == installationID {
		return nil
	}
	other, err := s.findTenantRow(ctx, "installation_id = ?", installationID)
	if err != nil {
		return err
	}
	if other != nil && other.ID != row.ID {
		if err := s.absorbTenant(ctx, row, other); err != nil {
			return err
		}
	}
	row.InstallationID = ptr(installationID)
	return nil
}

func (s *Store) absorbTenant(ctx context.Context, into, from *tenantRow) error {
	db := s.db.WithContext(ctx)
	if from.ClientKey != nil {
		// Another Connect tenant claims the installation (for example after a
		// site import): it loses the link but keeps its own data.
		return db.Model(&tenantRow{}).Where("id = ?", from.ID).Update("installation_id", nil).Error
	}
	if into.CloudID == "" {
		into.CloudID = from.CloudID
	}
	if into.APIBaseURL == "" {
		into.APIBaseURL = from.APIBaseURL
	}
	if err := db.Table("forge_invocations").Where("tenant_id = ?", from.ID).Update("tenant_id", into.ID).Error; err != nil {
		return err
	}
	if err := s.moveSystemToken(ctx, from.ID, into.ID); err != nil {
		return err
	}
	// The Forge-only tenant is retired, not deleted: its audit trail is a
	// hash chain of its own and must stay whole. It gives up the
	// installation id (kept, marked, for the record) and is uninstalled.
	now := s.nowUTC()
	retired := "merged-into:" + into.ID + ":" + deref(from.InstallationID)
	err := db.Model(&tenantRow{}).Where("id = ?", from.ID).Updates(map[string]any{
		"installation_id": retired, "state": string(app.TenantUninstalled), "uninstalled_at": now, "updated_at": now}).Error
	if err != nil {
		return err
	}
	if err := s.appendAudit(ctx, from.ID, app.Actor{Type: app.ActorAtlassian}, app.AuditTenantMerged,
		map[string]any{"installationId": deref(from.InstallationID), "mergedIntoTenantId": into.ID}); err != nil {
		return err
	}
	// The row must exist before its audit event references it.
	if err := db.Save(into).Error; err != nil {
		return err
	}
	return s.appendAudit(ctx, into.ID, app.Actor{Type: app.ActorAtlassian}, app.AuditTenantLinked,
		map[string]any{"installationId": deref(from.InstallationID), "mergedTenantId": from.ID})
}

// UninstallConnect marks the tenant of clientKey uninstalled. Its data stays
// for the audit trail. It returns ENOTFOUND for an unknown clientKey.
func (s *Store) UninstallConnect(ctx context.Context, clientKey string, actor app.Actor) (*app.Tenant, error) {
	var out *app.Tenant
	err := s.inTx(ctx, func(tx *Store) error {
		var err error
		out, err = tx.uninstallConnect(ctx, clientKey, actor)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: uninstall connect: %w", err)
	}
	return out, nil
}

func (s *Store) uninstallConnect(ctx context.Context, clientKey string, actor app.Actor) (*app.Tenant, error) {
	row, err := s.findTenantRow(ctx, "client_key = ?", clientKey)
	if err != nil {
		return nil, err
	}
	if row == nil {
		return nil, app.Errorf(app.ENOTFOUND, "tenant not found")
	}
	return s.setState(ctx, row, app.TenantUninstalled, actor, app.AuditTenantUninstalled)
}

// SetTenantEnabled records the Connect enabled or disabled callback. It is a
// no-op for an uninstalled tenant: Atlassian may deliver disabled after, or
// at the same time as, uninstalled (PLATFORM.md §1.3).
func (s *Store) SetTenantEnabled(ctx context.Context, tenantID string, enabled bool, actor app.Actor) (*app.Tenant, error) {
	var out *app.Tenant
	err := s.inTx(ctx, func(tx *Store) error {
		row, err := tx.findTenantRow(ctx, "id = ?", tenantID)
		if err != nil {
			return err
		}
		if row == nil {
			return app.Errorf(app.ENOTFOUND, "tenant not found")
		}
		if app.TenantState(row.State) == app.TenantUninstalled {
			out, err = tx.toTenant(row)
			return err
		}
		state, action := app.TenantEnabled, app.AuditTenantEnabled
		if !enabled {
			state, action = app.TenantDisabled, app.AuditTenantDisabled
		}
		out, err = tx.setState(ctx, row, state, actor, action)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: set tenant enabled: %w", err)
	}
	return out, nil
}

// setState moves row to state and audits the move, unless it is already
// there: duplicate deliveries of one callback leave a single audit entry.
func (s *Store) setState(ctx context.Context, row *tenantRow, state app.TenantState, actor app.Actor, action string) (*app.Tenant, error) {
	if app.TenantState(row.State) == state {
		return s.toTenant(row)
	}
	if !state.Active() {
		// The scan lock first, as every scan writer takes it before the
		// audit chain's.
		if err := s.lockScans(ctx, row.ID); err != nil {
			return nil, err
		}
	}
	now := s.nowUTC()
	before := row.State
	row.State = string(state)
	row.UpdatedAt = now
	switch state {
	case app.TenantUninstalled:
		row.UninstalledAt = &now
	case app.TenantEnabled:
		row.EnabledAt = &now
	case app.TenantDisabled:
		row.DisabledAt = &now
	case app.TenantInstalled:
		row.InstalledAt = &now
		row.UninstalledAt = nil
	}
	if err := s.db.WithContext(ctx).Save(row).Error; err != nil {
		return nil, err
	}
	if err := s.appendAudit(ctx, row.ID, actor, action, map[string]any{"stateBefore": before, "stateAfter": state}); err != nil {
		return nil, err
	}
	if !state.Active() {
		// Lapse must not go on changing a site that disabled or removed it:
		// its unfinished scans stop, in this transaction, after the event.
		if err := s.stopTenantScans(ctx, row.ID, actor, "tenant "+string(state)); err != nil {
			return nil, err
		}
	}
	return s.toTenant(row)
}

// FindTenantByRef finds a tenant by any of its identities: Lapse's id, the
// Connect clientKey or the Forge installation id. It serves operators'
// commands, where any of them may be at hand.
func (s *Store) FindTenantByRef(ctx context.Context, ref string) (*app.Tenant, error) {
	for _, col := range []string{"id", "client_key", "installation_id"} {
		t, err := s.findTenant(ctx, col+" = ?", ref)
		if app.ErrorCode(err) != app.ENOTFOUND {
			return t, err
		}
	}
	return nil, app.Errorf(app.ENOTFOUND, "no tenant has the id, clientKey or installation id %q", ref)
}

// SetTenantCloudID records a tenant's cloud id once it is known (Connect
// installs do not carry it; the Admin API's workspaces do).
func (s *Store) SetTenantCloudID(ctx context.Context, tenantID, cloudID string) error {
	err := s.db.WithContext(ctx).Model(&tenantRow{}).Where("id = ? AND cloud_id = ''", tenantID).
		Updates(map[string]any{"cloud_id": cloudID, "updated_at": s.nowUTC()}).Error
	if err != nil {
		return fmt.Errorf("store: set tenant cloud id: %w", err)
	}
	return nil
}
