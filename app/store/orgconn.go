package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/lapsehq/lapse/app"
)

type orgConnectionRow struct {
	TenantID        string `gorm:"primaryKey"`
	OrgID           string
	APIKeyEnc       []byte `gorm:"column:api_key_enc"`
	ActivitySource  string
	ActivityChecked *time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

func (orgConnectionRow) TableName() string { return "org_connections" }

func apiKeyBinding(tenantID string) string { return "tenant:" + tenantID + ":org_api_key" }

// SetOrgConnection stores (or replaces) a tenant's org id and API key. A new
// key resets the detected activity source, since it may reach another org.
// The change is audited without the key.
func (s *Store) SetOrgConnection(ctx context.Context, tenantID, orgID, apiKey string, actor app.Actor) (*app.OrgConnection, error) {
	if orgID == "" || apiKey == "" {
		return nil, app.Errorf(app.EINVALID, "orgId and apiKey are required")
	}
	enc, err := s.box.Seal([]byte(apiKey), apiKeyBinding(tenantID))
	if err != nil {
		return nil, err
	}
	now := s.nowUTC()
	row := orgConnectionRow{TenantID: tenantID, OrgID: orgID, APIKeyEnc: enc, CreatedAt: now, UpdatedAt: now}
	err = s.inTx(ctx, func(tx *Store) error {
		var existing []orgConnectionRow
		if err := tx.db.WithContext(ctx).Where("tenant_id = ?", tenantID).Limit(1).Find(&existing).Error; err != nil {
			return err
		}
		if len(existing) > 0 {
			row.CreatedAt = existing[0].CreatedAt
		}
		if err := tx.db.WithContext(ctx).Save(&row).Error; err != nil {
			return err
		}
		return tx.appendAudit(ctx, tenantID, actor, app.AuditOrgConnected, map[string]any{"orgId": orgID, "replaced": len(existing) > 0})
	})
	if err != nil {
		return nil, fmt.Errorf("store: set org connection: %w", err)
	}
	return s.toOrgConnection(&row)
}

// OrgConnection returns a tenant's org connection with its key decrypted.
func (s *Store) OrgConnection(ctx context.Context, tenantID string) (*app.OrgConnection, error) {
	var row orgConnectionRow
	err := s.db.WithContext(ctx).Where("tenant_id = ?", tenantID).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, app.Errorf(app.ENOTFOUND, "the site is not connected to an Atlassian organization")
	}
	if err != nil {
		return nil, fmt.Errorf("store: org connection: %w", err)
	}
	return s.toOrgConnection(&row)
}

// SetActivitySource records which way a tenant's last-active dates are read.
func (s *Store) SetActivitySource(ctx context.Context, tenantID, source string) error {
	now := s.nowUTC()
	err := s.db.WithContext(ctx).Model(&orgConnectionRow{}).Where("tenant_id = ?", tenantID).
		Updates(map[string]any{"activity_source": source, "activity_checked": now, "updated_at": now}).Error
	if err != nil {
		return fmt.Errorf("store: set activity source: %w", err)
	}
	return nil
}

func (s *Store) toOrgConnection(r *orgConnectionRow) (*app.OrgConnection, error) {
	key, err := s.box.Open(r.APIKeyEnc, apiKeyBinding(r.TenantID))
	if err != nil {
		return nil, fmt.Errorf("store: org api key of tenant %s: %w", r.TenantID, err)
	}
	return &app.OrgConnection{TenantID: r.TenantID, OrgID: r.OrgID, APIKey: string(key), ActivitySource: r.ActivitySource,
		ActivityChecked: utcPtr(r.ActivityChecked), CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}, nil
}
