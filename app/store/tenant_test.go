package store_test

import (
	"bytes"
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/store"
	"github.com/lapsehq/lapse/app/store/storetest"
)

func connectInstall(clientKey, secret string) app.ConnectInstall {
	return app.ConnectInstall{
		ClientKey:      clientKey,
		BaseURL:        "https://acme.atlassian.net",
		Product:        app.ProductJira,
		SharedSecret:   []byte(secret),
		OAuthClientID:  "oauth-1",
		ActorAccountID: "557058:admin",
	}
}

func actions(t *testing.T, s *store.Store, tenantID string) []string {
	t.Helper()
	evs, err := s.ListAuditEvents(context.Background(), tenantID, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, e.Action)
	}
	return out
}

func eachDialect(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	for _, d := range storetest.Dialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			fn(t, storetest.Open(t, d))
		})
	}
}

func TestStore_InstallConnect(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		got, err := s.InstallConnect(ctx, connectInstall("ck-1", "secret-1"))
		if err != nil {
			t.Fatal(err)
		}
		if got.ID == "" || got.ClientKey != "ck-1" || got.State != app.TenantInstalled || string(got.SharedSecret) != "secret-1" || got.InstalledAt == nil {
			t.Fatalf("unexpected tenant %+v", got)
		}
		found, err := s.FindTenantByClientKey(ctx, "ck-1")
		if err != nil || found.ID != got.ID || string(found.SharedSecret) != "secret-1" || found.OAuthClientID != "oauth-1" {
			t.Fatalf("FindTenantByClientKey = %+v, %v", found, err)
		}
		if a := actions(t, s, got.ID); len(a) != 1 || a[0] != app.AuditTenantInstalled {
			t.Fatalf("audit actions = %v", a)
		}
	})
}

func TestStore_ReinstallNewSecretWins(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		first, _ := s.InstallConnect(ctx, connectInstall("ck-1", "old"))
		in := connectInstall("ck-1", "new")
		in.BaseURL = "https://renamed.atlassian.net"
		second, err := s.InstallConnect(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if second.ID != first.ID || string(second.SharedSecret) != "new" || second.BaseURL != "https://renamed.atlassian.net" {
			t.Fatalf("reinstall: got %+v", second)
		}
		if a := actions(t, s, first.ID); len(a) != 2 || a[1] != app.AuditTenantReinstalled {
			t.Fatalf("audit actions = %v", a)
		}
	})
}

func TestStore_UninstallKeepsDataAndReinstallRevives(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		tn, _ := s.InstallConnect(ctx, connectInstall("ck-1", "s"))
		un, err := s.UninstallConnect(ctx, "ck-1", app.Actor{Type: app.ActorInstaller})
		if err != nil || un.State != app.TenantUninstalled || un.UninstalledAt == nil {
			t.Fatalf("uninstall = %+v, %v", un, err)
		}
		// A disabled that races or follows uninstalled changes nothing.
		dis, err := s.SetTenantEnabled(ctx, tn.ID, false, app.Actor{Type: app.ActorAtlassian})
		if err != nil || dis.State != app.TenantUninstalled {
			t.Fatalf("disable after uninstall = %+v, %v", dis, err)
		}
		re, err := s.InstallConnect(ctx, connectInstall("ck-1", "s2"))
		if err != nil || re.ID != tn.ID || re.State != app.TenantInstalled || re.UninstalledAt != nil {
			t.Fatalf("reinstall after uninstall = %+v, %v", re, err)
		}
		want := []string{app.AuditTenantInstalled, app.AuditTenantUninstalled, app.AuditTenantReinstalled}
		if a := actions(t, s, tn.ID); !slices.Equal(a, want) {
			t.Fatalf("audit actions = %v, want %v", a, want)
		}
	})
}

func TestStore_UninstallUnknown(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, s *store.Store) {
		_, err := s.UninstallConnect(context.Background(), "nobody", app.Actor{Type: app.ActorInstaller})
		if app.ErrorCode(err) != app.ENOTFOUND {
			t.Fatalf("err = %v, want not_found", err)
		}
	})
}

func TestStore_EnableDisableIdempotent(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		tn, _ := s.InstallConnect(ctx, connectInstall("ck-1", "s"))
		actor := app.Actor{Type: app.ActorAtlassian}
		for range 2 {
			if got, err := s.SetTenantEnabled(ctx, tn.ID, true, actor); err != nil || got.State != app.TenantEnabled {
				t.Fatalf("enable = %+v, %v", got, err)
			}
		}
		got, err := s.SetTenantEnabled(ctx, tn.ID, false, actor)
		if err != nil || got.State != app.TenantDisabled || got.State.Active() {
			t.Fatalf("disable = %+v, %v", got, err)
		}
		// An upgrade re-sends installed; a disabled app stays disabled.
		re, _ := s.InstallConnect(ctx, connectInstall("ck-1", "s"))
		if re.State != app.TenantDisabled {
			t.Fatalf("installed re-sent while disabled: state %s, want disabled", re.State)
		}
		want := []string{app.AuditTenantInstalled, app.AuditTenantEnabled, app.AuditTenantDisabled, app.AuditTenantReinstalled}
		if a := actions(t, s, tn.ID); !slices.Equal(a, want) {
			t.Fatalf("audit actions = %v, want %v", a, want)
		}
	})
}

func TestStore_SiteImportIsNewTenant(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a, _ := s.InstallConnect(ctx, connectInstall("ck-old", "s"))
		b, err := s.InstallConnect(ctx, connectInstall("ck-new", "s")) // same baseUrl
		if err != nil || a.ID == b.ID {
			t.Fatalf("site import must create a new tenant: %v %v (%v)", a.ID, b.ID, err)
		}
	})
}

func TestStore_ConcurrentFirstInstall(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var wg sync.WaitGroup
		ids := make([]string, 4)
		errs := make([]error, 4)
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tn, err := s.InstallConnect(ctx, connectInstall("ck-race", "s"))
				errs[i] = err
				if tn != nil {
					ids[i] = tn.ID
				}
			}()
		}
		wg.Wait()
		for i := range ids {
			if errs[i] != nil {
				t.Fatalf("install %d: %v", i, errs[i])
			}
			if ids[i] != ids[0] {
				t.Fatalf("concurrent installs produced two tenants: %v", ids)
			}
		}
	})
}

func forgeInstallation(id string) app.ForgeInstallation {
	return app.ForgeInstallation{InstallationID: id, CloudID: "cloud-1", APIBaseURL: "https://api.atlassian.com/ex/jira/cloud-1", Product: app.ProductJira}
}

// TestStore_ConnectOnForgeLinking covers both arrival orders of a
// Connect-on-Forge install: they end in one tenant either way.
func TestStore_ConnectOnForgeLinking(t *testing.T) {
	t.Parallel()
	t.Run("forge_first", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, s *store.Store) {
			ctx := context.Background()
			ft, err := s.ResolveForgeTenant(ctx, forgeInstallation("inst-1"))
			if err != nil {
				t.Fatal(err)
			}
			in := connectInstall("ck-1", "s")
			in.InstallationID = "inst-1"
			ct, err := s.InstallConnect(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if ct.ID != ft.ID || ct.InstallationID != "inst-1" || ct.ClientKey != "ck-1" || ct.CloudID != "cloud-1" {
				t.Fatalf("connect install did not land in the forge tenant: forge %s, connect %+v", ft.ID, ct)
			}
		})
	})
	t.Run("connect_first", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, s *store.Store) {
			ctx := context.Background()
			in := connectInstall("ck-1", "s")
			in.InstallationID = "inst-1"
			ct, _ := s.InstallConnect(ctx, in)
			ft, err := s.ResolveForgeTenant(ctx, forgeInstallation("inst-1"))
			if err != nil || ft.ID != ct.ID || ft.CloudID != "cloud-1" || ft.ClientKey != "ck-1" {
				t.Fatalf("forge resolved %+v, %v; want connect tenant %s with cloud id filled in", ft, err, ct.ID)
			}
		})
	})
	t.Run("separate_then_linked", func(t *testing.T) {
		t.Parallel()
		eachDialect(t, func(t *testing.T, s *store.Store) {
			ctx := context.Background()
			ct, _ := s.InstallConnect(ctx, connectInstall("ck-1", "s")) // pre-Forge Connect tenant
			ft, _ := s.ResolveForgeTenant(ctx, forgeInstallation("inst-1"))
			tok := &app.SystemToken{Token: "sys-token", ExpiresAt: time.Now().Add(time.Hour).UTC().Truncate(time.Second)}
			if _, err := s.RecordForgeInvocation(ctx, ft.ID, app.ForgeInvocation{Kind: app.InvocationScheduled}, tok, app.Actor{Type: app.ActorAtlassian}); err != nil {
				t.Fatal(err)
			}
			in := connectInstall("ck-1", "s")
			in.InstallationID = "inst-1"
			linked, err := s.InstallConnect(ctx, in)
			if err != nil || linked.ID != ct.ID || linked.InstallationID != "inst-1" {
				t.Fatalf("link = %+v, %v", linked, err)
			}
			retired, err := s.FindTenantByID(ctx, ft.ID)
			if err != nil || retired.State != app.TenantUninstalled || retired.InstallationID == "inst-1" {
				t.Fatalf("the forge-only tenant should be retired, got %+v, %v", retired, err)
			}
			if byInst, _ := s.FindTenantByInstallationID(ctx, "inst-1"); byInst == nil || byInst.ID != ct.ID {
				t.Fatalf("the installation resolves to %+v, want the Connect tenant", byInst)
			}
			if evs, _ := s.ListAuditEvents(ctx, ft.ID, 10); len(evs) == 0 || evs[len(evs)-1].Action != app.AuditTenantMerged {
				t.Fatalf("the retired tenant's audit trail: %+v", evs)
			}
			invs, _ := s.ListForgeInvocations(ctx, ct.ID, 10)
			got, _ := s.SystemToken(ctx, ct.ID)
			if len(invs) != 1 || got == nil || got.Token != "sys-token" {
				t.Fatalf("merged tenant lost data: invocations %d, token %+v", len(invs), got)
			}
		})
	})
}

func TestStore_SystemTokenKeepsFreshest(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		tn, _ := s.ResolveForgeTenant(ctx, forgeInstallation("inst-1"))
		later := time.Date(2030, 1, 1, 2, 0, 0, 0, time.UTC)
		earlier := later.Add(-time.Hour)
		record := func(tok string, exp time.Time) {
			t.Helper()
			if _, err := s.RecordForgeInvocation(ctx, tn.ID, app.ForgeInvocation{Kind: app.InvocationScheduled}, &app.SystemToken{Token: tok, ExpiresAt: exp}, app.Actor{Type: app.ActorAtlassian}); err != nil {
				t.Fatal(err)
			}
		}
		record("fresh", later)
		record("stale", earlier) // delivered out of order
		got, err := s.SystemToken(ctx, tn.ID)
		if err != nil || got.Token != "fresh" || !got.ExpiresAt.Equal(later) {
			t.Fatalf("SystemToken = %+v, %v; want fresh token expiring %v", got, err, later)
		}
	})
}

func TestStore_ForgeInstalledEventRevives(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		in := connectInstall("ck-1", "s")
		in.InstallationID = "inst-1"
		tn, _ := s.InstallConnect(ctx, in)
		_, _ = s.UninstallConnect(ctx, "ck-1", app.Actor{Type: app.ActorInstaller})
		inv := app.ForgeInvocation{Kind: app.InvocationLifecycle, EventType: app.ForgeEventInstalled}
		if _, err := s.RecordForgeInvocation(ctx, tn.ID, inv, nil, app.Actor{Type: app.ActorInstaller, ID: "acc"}); err != nil {
			t.Fatal(err)
		}
		got, _ := s.FindTenantByID(ctx, tn.ID)
		if got.State != app.TenantInstalled {
			t.Fatalf("state after forge installed event = %s", got.State)
		}
	})
}

func TestStore_ResolveForgeTenantRejectsUnknownProduct(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, s *store.Store) {
		fi := forgeInstallation("inst-x")
		fi.Product = ""
		if _, err := s.ResolveForgeTenant(context.Background(), fi); app.ErrorCode(err) != app.EINVALID {
			t.Fatalf("err = %v, want invalid", err)
		}
	})
}

// TestStore_SecretsEncryptedAtRest reads the raw columns and checks that
// neither the shared secret nor the system token is stored in plaintext,
// and that the store cannot read them with another key.
func TestStore_SecretsEncryptedAtRest(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			u := storetest.URL(t, d)
			ctx := context.Background()
			s, err := store.Open(ctx, store.Config{URL: u, Box: storetest.Box(t)})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			_, _ = s.Migrate(ctx)
			in := connectInstall("ck-1", "plain-shared-secret")
			in.InstallationID = "inst-1"
			tn, _ := s.InstallConnect(ctx, in)
			_, _ = s.RecordForgeInvocation(ctx, tn.ID, app.ForgeInvocation{Kind: app.InvocationScheduled}, &app.SystemToken{Token: "plain-system-token", ExpiresAt: time.Now().Add(time.Hour)}, app.Actor{Type: app.ActorAtlassian})

			db, _ := s.SQLDB()
			var secretCol, tokenCol []byte
			if err := db.QueryRowContext(ctx, "SELECT shared_secret_enc FROM tenants WHERE id = $1", tn.ID).Scan(&secretCol); err != nil {
				t.Fatal(err)
			}
			if err := db.QueryRowContext(ctx, "SELECT token_enc FROM forge_system_tokens WHERE tenant_id = $1", tn.ID).Scan(&tokenCol); err != nil {
				t.Fatal(err)
			}
			if len(secretCol) == 0 || bytes.Contains(secretCol, []byte("plain-shared-secret")) || bytes.Contains(tokenCol, []byte("plain-system-token")) {
				t.Fatal("a secret is stored in plaintext")
			}

			other, err := store.Open(ctx, store.Config{URL: u, Box: storetest.Box(t)})
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			if _, err := other.FindTenantByID(ctx, tn.ID); err == nil {
				t.Fatal("a store with another key read the shared secret")
			}
		})
	}
}

// TestStore_TenantIsolation writes data for two tenants and checks that every
// tenant-scoped read as A returns only A's rows.
func TestStore_TenantIsolation(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		a, _ := s.ResolveForgeTenant(ctx, forgeInstallation("inst-a"))
		b, _ := s.ResolveForgeTenant(ctx, forgeInstallation("inst-b"))
		actor := app.Actor{Type: app.ActorAtlassian}
		for _, tn := range []*app.Tenant{a, b, b} {
			tok := &app.SystemToken{Token: "tok-" + tn.ID, ExpiresAt: time.Now().Add(time.Hour)}
			if _, err := s.RecordForgeInvocation(ctx, tn.ID, app.ForgeInvocation{Kind: app.InvocationLifecycle, EventType: app.ForgeEventUpgraded}, tok, actor); err != nil {
				t.Fatal(err)
			}
		}
		invs, _ := s.ListForgeInvocations(ctx, a.ID, 100)
		evs, _ := s.ListAuditEvents(ctx, a.ID, 100)
		tok, _ := s.SystemToken(ctx, a.ID)
		if len(invs) != 1 || len(evs) != 2 || tok.Token != "tok-"+a.ID {
			t.Fatalf("tenant A sees %d invocations, %d audit events, token %q", len(invs), len(evs), tok.Token)
		}
		for _, inv := range invs {
			if inv.TenantID != a.ID {
				t.Fatalf("tenant A read tenant %s's invocation", inv.TenantID)
			}
		}
		for _, ev := range evs {
			if ev.TenantID != a.ID {
				t.Fatalf("tenant A read tenant %s's audit event", ev.TenantID)
			}
		}
	})
}

func TestStore_OrgConnection(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		tn, _ := s.InstallConnect(ctx, connectInstall("ck-1", "s"))
		other, _ := s.InstallConnect(ctx, connectInstall("ck-2", "s"))
		if _, err := s.OrgConnection(ctx, tn.ID); app.ErrorCode(err) != app.ENOTFOUND {
			t.Fatalf("unconnected tenant: %v", err)
		}
		admin := app.Actor{Type: app.ActorAdmin, ID: "557058:admin"}
		if _, err := s.SetOrgConnection(ctx, tn.ID, "org-1", "", admin); app.ErrorCode(err) != app.EINVALID {
			t.Fatalf("empty key: %v", err)
		}
		if _, err := s.SetOrgConnection(ctx, tn.ID, "org-1", "key-one", admin); err != nil {
			t.Fatal(err)
		}
		_ = s.SetActivitySource(ctx, tn.ID, app.ActivityBulk)
		c, err := s.SetOrgConnection(ctx, tn.ID, "org-1", "key-two", admin)
		if err != nil || c.APIKey != "key-two" || c.ActivitySource != "" {
			t.Fatalf("replaced connection = %+v, %v", c, err)
		}
		got, err := s.OrgConnection(ctx, tn.ID)
		if err != nil || got.APIKey != "key-two" || got.OrgID != "org-1" {
			t.Fatalf("OrgConnection = %+v, %v", got, err)
		}
		if _, err := s.OrgConnection(ctx, other.ID); app.ErrorCode(err) != app.ENOTFOUND {
			t.Fatal("tenant B sees tenant A's org connection")
		}
		db, _ := s.SQLDB()
		var raw []byte
		_ = db.QueryRowContext(ctx, "SELECT api_key_enc FROM org_connections WHERE tenant_id = $1", tn.ID).Scan(&raw)
		if len(raw) == 0 || bytes.Contains(raw, []byte("key-two")) {
			t.Fatal("the API key is not encrypted at rest")
		}
		evs, _ := s.ListAuditEvents(ctx, tn.ID, 100)
		if last := evs[len(evs)-1]; last.Action != app.AuditOrgConnected || bytes.Contains(last.Data, []byte("key-")) {
			t.Fatalf("audit event %+v", last)
		}
	})
}
