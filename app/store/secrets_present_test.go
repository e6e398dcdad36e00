package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/secret"
	"github.com/lapsehq/lapse/app/store"
	"github.com/lapsehq/lapse/app/store/storetest"
)

func boxOf(t *testing.T, keys ...string) *secret.Box {
	t.Helper()
	raw, err := secret.ParseKeys(strings.Join(keys, ","))
	if err != nil {
		t.Fatal(err)
	}
	b, err := secret.NewBox(raw...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newKey(t *testing.T) string {
	t.Helper()
	k, err := secret.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func openWith(t *testing.T, url string, box *secret.Box) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), store.Config{URL: url, Box: box})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestStore_SealedSecrets: an unmigrated or empty database holds no sealed
// secret; each kind of sealed secret (Connect shared secret, org API key,
// Forge system token) counts, opens with the key that sealed it, and is
// reported, by kind and tenant, to a store holding another key.
func TestStore_SealedSecrets(t *testing.T) {
	t.Parallel()
	seed := map[string]func(t *testing.T, s *store.Store) string{
		"Connect shared secret": func(t *testing.T, s *store.Store) string {
			tn, err := s.InstallConnect(context.Background(), connectInstall("ck-1", "shared-secret"))
			if err != nil {
				t.Fatal(err)
			}
			return tn.ID
		},
		"organization API key": func(t *testing.T, s *store.Store) string {
			tn, err := s.ResolveForgeTenant(context.Background(), forgeInstallation("inst-1"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.SetOrgConnection(context.Background(), tn.ID, "org-1", "api-key", app.Actor{Type: app.ActorSystem, ID: "test"}); err != nil {
				t.Fatal(err)
			}
			return tn.ID
		},
		"Forge system token": func(t *testing.T, s *store.Store) string {
			tn, err := s.ResolveForgeTenant(context.Background(), forgeInstallation("inst-1"))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.SaveSystemToken(context.Background(), tn.ID, &app.SystemToken{Token: "sys-token", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			return tn.ID
		},
	}
	for kind, add := range seed {
		t.Run(strings.ReplaceAll(kind, " ", "_"), func(t *testing.T) {
			t.Parallel()
			storetest.Each(t, func(t *testing.T, d store.Dialect) {
				ctx := context.Background()
				url, key := storetest.URL(t, d), newKey(t)
				s := openWith(t, url, boxOf(t, key))
				if held, err := s.HoldsSealedSecrets(ctx); err != nil || held {
					t.Fatalf("unmigrated database: held = %v, %v", held, err)
				}
				if _, err := s.Migrate(ctx); err != nil {
					t.Fatal(err)
				}
				if held, err := s.HoldsSealedSecrets(ctx); err != nil || held {
					t.Fatalf("empty database: held = %v, %v", held, err)
				}
				tenantID := add(t, s)
				if held, err := s.HoldsSealedSecrets(ctx); err != nil || !held {
					t.Fatalf("database with a %s: held = %v, %v", kind, held, err)
				}
				if err := s.CheckSealedSecrets(ctx); err != nil {
					t.Fatalf("the sealing key: %v", err)
				}

				other := openWith(t, url, boxOf(t, newKey(t)))
				err := other.CheckSealedSecrets(ctx)
				if !errors.Is(err, secret.ErrDecrypt) || !strings.Contains(err.Error(), kind) || !strings.Contains(err.Error(), tenantID) {
					t.Fatalf("another key: err = %v, want ErrDecrypt naming the %s of tenant %s", err, kind, tenantID)
				}
			})
		})
	}
}

// TestStore_CheckSealedSecrets_Rotation: after a rotation the check tries
// each key that sealed something, so dropping the old key too early is
// caught even when the newest secret opens.
func TestStore_CheckSealedSecrets_Rotation(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		url, oldKey, newKeyValue := storetest.URL(t, d), newKey(t), newKey(t)
		before := openWith(t, url, boxOf(t, oldKey))
		if _, err := before.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := before.InstallConnect(ctx, connectInstall("ck-old", "s1")); err != nil {
			t.Fatal(err)
		}
		rotated := openWith(t, url, boxOf(t, newKeyValue, oldKey))
		if _, err := rotated.InstallConnect(ctx, connectInstall("ck-new", "s2")); err != nil {
			t.Fatal(err)
		}
		if err := rotated.CheckSealedSecrets(ctx); err != nil {
			t.Fatalf("new key first, old key kept: %v", err)
		}
		dropped := openWith(t, url, boxOf(t, newKeyValue))
		if err := dropped.CheckSealedSecrets(ctx); !errors.Is(err, secret.ErrDecrypt) {
			t.Fatalf("old key dropped while a secret still uses it: err = %v", err)
		}
	})
}
