package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/store"
	"github.com/lapsehq/lapse/app/store/storetest"
)

func delivery(token, body string, expires time.Time) store.SignedDelivery {
	return store.SignedDelivery{TokenHash: "tok-" + token, BodyHash: "body-" + body, ExpiresAt: expires}
}

// TestStore_SignedInstallOnce: a signed install token acts once; the same
// delivery again has no effect, the same token with another body is
// refused and changes nothing.
func TestStore_SignedInstallOnce(t *testing.T) {
	t.Parallel()
	storetest.EachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		exp := time.Now().Add(time.Hour)
		first, replayed, err := s.InstallConnectSigned(ctx, connectInstall("ck-1", "secret-1"), delivery("a", "1", exp))
		if err != nil || replayed {
			t.Fatalf("first install: replayed=%v err=%v", replayed, err)
		}
		_, replayed, err = s.InstallConnectSigned(ctx, connectInstall("ck-1", "secret-1"), delivery("a", "1", exp))
		if err != nil || !replayed {
			t.Fatalf("retried delivery: replayed=%v err=%v, want replayed", replayed, err)
		}
		rebound := connectInstall("ck-1", "attacker-secret")
		rebound.BaseURL = "https://acme.atlassian.net:8443"
		if _, _, err := s.InstallConnectSigned(ctx, rebound, delivery("a", "2", exp)); !errors.Is(err, store.ErrInstallTokenReused) {
			t.Fatalf("same token, other body: err = %v, want ErrInstallTokenReused", err)
		}
		got, err := s.FindTenantByClientKey(ctx, "ck-1")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.SharedSecret, []byte("secret-1")) || got.BaseURL != first.BaseURL {
			t.Fatalf("tenant changed by a replay: secret %q, baseUrl %q", got.SharedSecret, got.BaseURL)
		}
		if acts := actions(t, s, got.ID); len(acts) != 1 {
			t.Fatalf("audit = %v, want the one install", acts)
		}

		// Uninstall follows the same rule: a replayed uninstall token cannot
		// undo a later reinstall.
		if replayed, err := s.UninstallConnectSigned(ctx, "ck-1", app.Actor{Type: app.ActorInstaller}, delivery("u", "1", exp)); err != nil || replayed {
			t.Fatalf("uninstall: replayed=%v err=%v", replayed, err)
		}
		if _, _, err := s.InstallConnectSigned(ctx, connectInstall("ck-1", "secret-2"), delivery("b", "3", exp)); err != nil {
			t.Fatal(err)
		}
		if replayed, err := s.UninstallConnectSigned(ctx, "ck-1", app.Actor{Type: app.ActorInstaller}, delivery("u", "1", exp)); err != nil || !replayed {
			t.Fatalf("replayed uninstall: replayed=%v err=%v, want replayed", replayed, err)
		}
		if got, _ := s.FindTenantByClientKey(ctx, "ck-1"); got.State != app.TenantInstalled {
			t.Fatalf("state after replayed uninstall = %s, want installed", got.State)
		}
	})
}

// TestStore_SignedInstallConcurrentReplicas: the same delivery arriving at
// several replicas at once installs once.
func TestStore_SignedInstallConcurrentReplicas(t *testing.T) {
	t.Parallel()
	storetest.EachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		exp := time.Now().Add(time.Hour)
		var wg sync.WaitGroup
		results := make([]bool, 4)
		errs := make([]error, 4)
		for i := range results {
			wg.Go(func() {
				_, results[i], errs[i] = s.InstallConnectSigned(ctx, connectInstall("ck-c", "s"), delivery("c", "1", exp))
			})
		}
		wg.Wait()
		applied := 0
		for i := range results {
			if errs[i] != nil {
				t.Fatalf("delivery %d: %v", i, errs[i])
			}
			if !results[i] {
				applied++
			}
		}
		tn, err := s.FindTenantByClientKey(ctx, "ck-c")
		if err != nil {
			t.Fatal(err)
		}
		if acts := actions(t, s, tn.ID); applied != 1 || len(acts) != 1 {
			t.Fatalf("applied %d times, audit %v; want once", applied, acts)
		}
	})
}

// TestStore_SeenInstallTokensExpire: a token is remembered until it can no
// longer verify, and then pruned.
func TestStore_SeenInstallTokensExpire(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		now := time.Now().UTC()
		clock := func() time.Time { return now }
		s := storetest.Open(t, d, storetest.Options{NowFunc: func() time.Time { return clock() }})
		ctx := context.Background()
		if _, _, err := s.InstallConnectSigned(ctx, connectInstall("ck-e", "s"), delivery("e", "1", now.Add(time.Minute))); err != nil {
			t.Fatal(err)
		}
		now = now.Add(2 * time.Minute)
		// Another install prunes the expired row; the old token would no
		// longer be remembered (and no longer verify either).
		if _, _, err := s.InstallConnectSigned(ctx, connectInstall("ck-f", "s"), delivery("f", "1", now.Add(time.Minute))); err != nil {
			t.Fatal(err)
		}
		if _, replayed, err := s.InstallConnectSigned(ctx, connectInstall("ck-e", "s"), delivery("e", "2", now.Add(time.Minute))); err != nil || replayed {
			t.Fatalf("pruned token: replayed=%v err=%v, want a fresh claim", replayed, err)
		}
	})
}

// TestStore_ReinstallAuditsBaseURLMove: a reinstall that changes baseUrl
// records both ends.
func TestStore_ReinstallAuditsBaseURLMove(t *testing.T) {
	t.Parallel()
	storetest.EachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		first, err := s.InstallConnect(ctx, connectInstall("ck-r", "s"))
		if err != nil {
			t.Fatal(err)
		}
		moved := connectInstall("ck-r", "s")
		moved.BaseURL = "https://renamed.atlassian.net"
		if _, err := s.InstallConnect(ctx, moved); err != nil {
			t.Fatal(err)
		}
		evs, err := s.ListAuditEvents(ctx, first.ID, 10)
		if err != nil {
			t.Fatal(err)
		}
		var data map[string]any
		for _, ev := range evs {
			if ev.Action == app.AuditTenantReinstalled {
				if err := json.Unmarshal(ev.Data, &data); err != nil {
					t.Fatal(err)
				}
			}
		}
		if data["baseUrlBefore"] != "https://acme.atlassian.net" || data["baseUrlAfter"] != "https://renamed.atlassian.net" {
			t.Fatalf("tenant.reinstalled data = %v, want baseUrlBefore and baseUrlAfter", data)
		}
	})
}
