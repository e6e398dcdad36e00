package store

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/lapsehq/lapse/app"
)

type seenInstallTokenRow struct {
	TokenHash string `gorm:"primaryKey"`
	BodyHash  string
	ExpiresAt time.Time
	CreatedAt time.Time
}

func (seenInstallTokenRow) TableName() string { return "seen_install_tokens" }

// SignedDelivery identifies one signed lifecycle callback (installed or
// uninstalled): its token, its body, and when the token stops verifying.
// The signed-install token binds clientKey, app and route but not the body,
// so the store lets each token act once.
type SignedDelivery struct {
	TokenHash string    // hex SHA-256 of the token
	BodyHash  string    // hex SHA-256 of the request body as received
	ExpiresAt time.Time // token exp plus the verifier's leeway
}

// ErrInstallTokenReused is returned when a signed lifecycle token that has
// already been acted on comes back with a different body.
var ErrInstallTokenReused = errors.New("store: signed lifecycle token already used with a different body")

// InstallConnectSigned is InstallConnect for a verified signed-install
// delivery. A delivery seen before with the same body is a retry: it
// changes nothing and reports replayed. With another body it fails with
// ErrInstallTokenReused. The delivery is recorded in the install's own
// transaction, so a failed install can be retried with the same token.
func (s *Store) InstallConnectSigned(ctx context.Context, in app.ConnectInstall, d SignedDelivery) (t *app.Tenant, replayed bool, err error) {
	s.pruneSeenInstallTokens(ctx)
	err = s.retryOnConflict(ctx, func(tx *Store) error {
		replayed, err = tx.claimDelivery(ctx, d)
		if err != nil || replayed {
			return err
		}
		t, err = tx.installConnect(ctx, in)
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("store: install connect: %w", err)
	}
	return t, replayed, nil
}

// UninstallConnectSigned is UninstallConnect for a verified signed
// delivery, with the replay rules of InstallConnectSigned. Without them a
// captured uninstall token could undo a reinstall that followed it.
func (s *Store) UninstallConnectSigned(ctx context.Context, clientKey string, actor app.Actor, d SignedDelivery) (replayed bool, err error) {
	s.pruneSeenInstallTokens(ctx)
	err = s.retryOnConflict(ctx, func(tx *Store) error {
		replayed, err = tx.claimDelivery(ctx, d)
		if err != nil || replayed {
			return err
		}
		_, err = tx.uninstallConnect(ctx, clientKey, actor)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store: uninstall connect: %w", err)
	}
	return replayed, nil
}

// claimDelivery records d, or reports that the same delivery was recorded
// before. Two replicas claiming one token at once both insert; the unique
// key fails one of them, and retryOnConflict runs it again to find the row.
func (s *Store) claimDelivery(ctx context.Context, d SignedDelivery) (replayed bool, err error) {
	if d.TokenHash == "" || d.BodyHash == "" {
		return false, errors.New("store: signed delivery needs token and body hashes")
	}
	db := s.db.WithContext(ctx)
	var seen seenInstallTokenRow
	err = db.Where("token_hash = ?", d.TokenHash).Take(&seen).Error
	switch {
	case err == nil:
		if subtle.ConstantTimeCompare([]byte(seen.BodyHash), []byte(d.BodyHash)) == 1 {
			return true, nil
		}
		return false, ErrInstallTokenReused
	case !errors.Is(err, gorm.ErrRecordNotFound):
		return false, err
	}
	return false, db.Create(&seenInstallTokenRow{
		TokenHash: d.TokenHash, BodyHash: d.BodyHash, ExpiresAt: d.ExpiresAt.UTC(), CreatedAt: s.nowUTC(),
	}).Error
}

// pruneSeenInstallTokens deletes tokens that can no longer verify. It runs
// outside the install transaction so that concurrent installs never wait
// on each other's deletes; a failure only leaves rows for the next prune.
func (s *Store) pruneSeenInstallTokens(ctx context.Context) {
	s.db.WithContext(ctx).Where("expires_at < ?", s.nowUTC()).Delete(&seenInstallTokenRow{})
}
