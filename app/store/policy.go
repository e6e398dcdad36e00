package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/lapsehq/lapse/app"
)

type policyRow struct {
	TenantID  string `gorm:"primaryKey"`
	Version   int    `gorm:"primaryKey"`
	Body      string
	CreatedAt time.Time
	CreatedBy string
}

func (policyRow) TableName() string { return "policies" }

// Policy returns the tenant's current policy: the latest saved version, or
// the default (version 0, dry run) when none was saved. products seeds the
// default's product rules.
func (s *Store) Policy(ctx context.Context, tenantID string, products []string) (*app.Policy, error) {
	var rows []policyRow
	err := s.db.WithContext(ctx).Scopes(forTenant(tenantID)).Order("version DESC").Limit(1).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: policy: %w", err)
	}
	if len(rows) == 0 {
		p := app.DefaultPolicy(tenantID, products)
		return &p, nil
	}
	return toPolicy(&rows[0])
}

// PolicyVersion returns one saved version of a tenant's policy.
func (s *Store) PolicyVersion(ctx context.Context, tenantID string, version int) (*app.Policy, error) {
	var rows []policyRow
	err := s.db.WithContext(ctx).Scopes(forTenant(tenantID)).Where("version = ?", version).Limit(1).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: policy version: %w", err)
	}
	if len(rows) == 0 {
		return nil, app.Errorf(app.ENOTFOUND, "policy version %d not found", version)
	}
	return toPolicy(&rows[0])
}

// toPolicy reads a stored version. Versions saved before the brake had its
// explicit off switch have no "brake" and may hold a limit of 0, which then
// meant "no limit" by accident: such a version reads with the brake on and
// the default limit in place of the 0, the safe reading. The stored body
// stays as it was saved (it is what the audit trail recorded).
func toPolicy(r *policyRow) (*app.Policy, error) {
	var p app.Policy
	if err := json.Unmarshal([]byte(r.Body), &p); err != nil {
		return nil, fmt.Errorf("store: policy %s v%d: %w", r.TenantID, r.Version, err)
	}
	p.MaxRemovals, p.MaxRemovalShare = p.BrakeLimits()
	p.TenantID, p.Version, p.UpdatedAt, p.UpdatedBy = r.TenantID, r.Version, r.CreatedAt.UTC(), r.CreatedBy
	return &p, nil
}

// SavePolicy validates p and saves it as the next version of the tenant's
// policy. baseVersion is the version the admin edited: when another change
// was saved in between, the save is refused with ECONFLICT instead of
// silently overwriting it. The audit event carrying the before and after is
// written in the same transaction.
func (s *Store) SavePolicy(ctx context.Context, tenantID string, p app.Policy, baseVersion int, actor app.Actor, products []string) (*app.Policy, error) {
	p.TenantID = tenantID
	if err := p.Validate(); err != nil {
		return nil, err
	}
	var saved *app.Policy
	err := s.inTx(ctx, func(tx *Store) error {
		before, err := tx.Policy(ctx, tenantID, products)
		if err != nil {
			return err
		}
		if before.Version != baseVersion {
			return app.Errorf(app.ECONFLICT, "the policy changed since version %d (now %d); reload it and apply your change again", baseVersion, before.Version)
		}
		p.Version = before.Version + 1
		body, err := json.Marshal(policyBody(p))
		if err != nil {
			return err
		}
		row := policyRow{TenantID: tenantID, Version: p.Version, Body: string(body), CreatedAt: s.nowUTC(), CreatedBy: actor.ID}
		if err := tx.db.WithContext(ctx).Create(&row).Error; err != nil {
			// On PostgreSQL a concurrent save read the same version and
			// committed the next one first: the same conflict as above.
			if isUniqueViolation(err) {
				return app.Errorf(app.ECONFLICT, "the policy changed since version %d (another change was saved at the same time); reload it and apply your change again", baseVersion)
			}
			return err
		}
		if saved, err = toPolicy(&row); err != nil {
			return err
		}
		return tx.appendAudit(ctx, tenantID, actor, app.AuditPolicyChanged, map[string]any{
			"versionBefore": before.Version, "versionAfter": p.Version, "before": policyBody(*before), "after": policyBody(p),
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: save policy: %w", err)
	}
	return saved, nil
}

// policyBody is the stored form: the rules only, without the identity and
// bookkeeping fields the row carries itself.
func policyBody(p app.Policy) app.Policy {
	p.TenantID, p.Version, p.UpdatedAt, p.UpdatedBy = "", 0, time.Time{}, ""
	return p
}
