package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm/clause"

	"github.com/lapsehq/lapse/app"
)

type forgeInvocationRow struct {
	ID         int64 `gorm:"primaryKey"`
	TenantID   string
	Kind       string
	ModuleKey  string
	EventType  string
	TraceID    string
	ReceivedAt time.Time
}

func (forgeInvocationRow) TableName() string { return "forge_invocations" }

type systemTokenRow struct {
	TenantID  string `gorm:"primaryKey"`
	TokenEnc  []byte
	ExpiresAt time.Time
	UpdatedAt time.Time
}

func (systemTokenRow) TableName() string { return "forge_system_tokens" }

func systemTokenBinding(tenantID string) string { return "tenant:" + tenantID + ":forge_system_token" }

// ResolveForgeTenant returns the tenant of a verified Forge installation,
// creating it when Lapse has not seen the installation before. A verified
// invocation token proves the installation exists, and Forge has no
// uninstall event and may deliver the installed event late or not at all,
// so the first verified call is as good a birth certificate as any.
func (s *Store) ResolveForgeTenant(ctx context.Context, fi app.ForgeInstallation) (*app.Tenant, error) {
	var out *app.Tenant
	err := s.retryOnConflict(ctx, func(tx *Store) error {
		row, err := tx.findTenantRow(ctx, "installation_id = ?", fi.InstallationID)
		if err != nil {
			return err
		}
		if row == nil {
			row, err = tx.createForgeTenant(ctx, fi)
			if err != nil {
				return err
			}
		} else if err := tx.refreshForgeRow(ctx, row, fi); err != nil {
			return err
		}
		out, err = tx.toTenant(row)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: resolve forge tenant: %w", err)
	}
	return out, nil
}

func (s *Store) createForgeTenant(ctx context.Context, fi app.ForgeInstallation) (*tenantRow, error) {
	if !fi.Product.Valid() {
		return nil, app.Errorf(app.EINVALID, "the invocation does not name a Jira or Confluence site")
	}
	now := s.nowUTC()
	row := &tenantRow{
		ID:             uuid.NewString(),
		InstallationID: ptr(fi.InstallationID),
		CloudID:        fi.CloudID,
		BaseURL:        fi.SiteURL,
		APIBaseURL:     fi.APIBaseURL,
		Product:        string(fi.Product),
		State:          string(app.TenantInstalled),
		InstalledAt:    &now,
		CreatedAt:      now,
		UpdatedAt:      now,
	}
	if err := s.db.WithContext(ctx).Create(row).Error; err != nil {
		return nil, err
	}
	data := map[string]any{"installationId": fi.InstallationID, "cloudId": fi.CloudID, "product": fi.Product, "apiBaseUrl": fi.APIBaseURL}
	return row, s.appendAudit(ctx, row.ID, app.Actor{Type: app.ActorAtlassian}, app.AuditTenantInstalled, data)
}

// refreshForgeRow fills in what a later invocation knows and the row does
// not (cloud id, API base URL, site URL), without overwriting Connect data.
func (s *Store) refreshForgeRow(ctx context.Context, row *tenantRow, fi app.ForgeInstallation) error {
	changed := false
	set := func(dst *string, v string) {
		if v != "" && *dst != v {
			*dst, changed = v, true
		}
	}
	set(&row.CloudID, fi.CloudID)
	set(&row.APIBaseURL, fi.APIBaseURL)
	if row.BaseURL == "" {
		set(&row.BaseURL, fi.SiteURL)
	}
	if !changed {
		return nil
	}
	row.UpdatedAt = s.nowUTC()
	return s.db.WithContext(ctx).Save(row).Error
}

// RecordForgeInvocation stores one verified Forge event or trigger call and
// the system token that came with it, in one transaction. The installed
// event re-activates a tenant that Connect had marked uninstalled: Forge
// only sends it for a live installation.
func (s *Store) RecordForgeInvocation(ctx context.Context, tenantID string, inv app.ForgeInvocation, tok *app.SystemToken, actor app.Actor) (*app.ForgeInvocation, error) {
	row := forgeInvocationRow{TenantID: tenantID, Kind: inv.Kind, ModuleKey: inv.ModuleKey, EventType: inv.EventType, TraceID: inv.TraceID, ReceivedAt: s.nowUTC()}
	err := s.inTx(ctx, func(tx *Store) error {
		if err := tx.db.WithContext(ctx).Create(&row).Error; err != nil {
			return err
		}
		if err := tx.saveSystemToken(ctx, tenantID, tok); err != nil {
			return err
		}
		return tx.auditForgeEvent(ctx, tenantID, inv, actor)
	})
	if err != nil {
		return nil, fmt.Errorf("store: record forge invocation: %w", err)
	}
	inv.ID, inv.TenantID, inv.ReceivedAt = row.ID, tenantID, row.ReceivedAt
	return &inv, nil
}

func (s *Store) auditForgeEvent(ctx context.Context, tenantID string, inv app.ForgeInvocation, actor app.Actor) error {
	var action string
	switch inv.EventType {
	case app.ForgeEventInstalled:
		action = app.AuditForgeInstalled
		row, err := s.findTenantRow(ctx, "id = ?", tenantID)
		if err != nil {
			return err
		}
		if row != nil && app.TenantState(row.State) == app.TenantUninstalled {
			if _, err := s.setState(ctx, row, app.TenantInstalled, actor, app.AuditTenantInstalled); err != nil {
				return err
			}
		}
	case app.ForgeEventUpgraded:
		action = app.AuditForgeUpgraded
	default:
		return nil
	}
	return s.appendAudit(ctx, tenantID, actor, action, map[string]any{"eventType": inv.EventType, "traceId": inv.TraceID})
}

// saveSystemToken keeps the freshest system token of a tenant. Deliveries
// can arrive out of order, so a token never replaces one that lives longer.
func (s *Store) saveSystemToken(ctx context.Context, tenantID string, tok *app.SystemToken) error {
	if tok == nil || tok.Token == "" {
		return nil
	}
	enc, err := s.box.Seal([]byte(tok.Token), systemTokenBinding(tenantID))
	if err != nil {
		return err
	}
	row := systemTokenRow{TenantID: tenantID, TokenEnc: enc, ExpiresAt: tok.ExpiresAt.UTC(), UpdatedAt: s.nowUTC()}
	return s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "tenant_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"token_enc", "expires_at", "updated_at"}),
		Where:     clause.Where{Exprs: []clause.Expression{clause.Expr{SQL: "forge_system_tokens.expires_at <= excluded.expires_at"}}},
	}).Create(&row).Error
}

// moveSystemToken re-keys a tenant's stored system token to another tenant
// (re-encrypting it, since the ciphertext is bound to the tenant id).
func (s *Store) moveSystemToken(ctx context.Context, fromID, toID string) error {
	tok, err := s.SystemToken(ctx, fromID)
	if err != nil || tok == nil {
		return err
	}
	if err := s.db.WithContext(ctx).Delete(&systemTokenRow{}, "tenant_id = ?", fromID).Error; err != nil {
		return err
	}
	return s.saveSystemToken(ctx, toID, tok)
}

// SystemToken returns the stored Forge system token of a tenant, or nil.
func (s *Store) SystemToken(ctx context.Context, tenantID string) (*app.SystemToken, error) {
	var rows []systemTokenRow
	if err := s.db.WithContext(ctx).Where("tenant_id = ?", tenantID).Limit(1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: system token: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	pt, err := s.box.Open(rows[0].TokenEnc, systemTokenBinding(tenantID))
	if err != nil {
		return nil, fmt.Errorf("store: system token: %w", err)
	}
	return &app.SystemToken{Token: string(pt), ExpiresAt: rows[0].ExpiresAt.UTC()}, nil
}

// ListForgeInvocations returns a tenant's most recent invocations, newest
// first.
func (s *Store) ListForgeInvocations(ctx context.Context, tenantID string, limit int) ([]*app.ForgeInvocation, error) {
	var rows []forgeInvocationRow
	err := s.db.WithContext(ctx).Scopes(forTenant(tenantID)).Order("id DESC").Limit(clampLimit(limit)).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: list forge invocations: %w", err)
	}
	out := make([]*app.ForgeInvocation, len(rows))
	for i, r := range rows {
		out[i] = &app.ForgeInvocation{ID: r.ID, TenantID: r.TenantID, Kind: r.Kind, ModuleKey: r.ModuleKey, EventType: r.EventType, TraceID: r.TraceID, ReceivedAt: r.ReceivedAt.UTC()}
	}
	return out, nil
}

// SaveSystemToken keeps a Forge system token that arrived with a UI
// invocation (Custom UI calls the remote with one too), so the site-admin
// check and scans of Forge-only tenants do not depend on the hourly
// events alone. An older token never replaces a newer one.
func (s *Store) SaveSystemToken(ctx context.Context, tenantID string, tok *app.SystemToken) error {
	if err := s.saveSystemToken(ctx, tenantID, tok); err != nil {
		return fmt.Errorf("store: save system token: %w", err)
	}
	return nil
}
