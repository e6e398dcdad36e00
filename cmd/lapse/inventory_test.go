package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/devsite"
	"github.com/lapsehq/lapse/app/inventory"
	"github.com/lapsehq/lapse/app/secret"
	"github.com/lapsehq/lapse/app/store"
)

// TestConnectOrgAndInventory connects a Connect tenant (which knows no cloud
// id) to the simulated org and inventories it from the command line: the
// site is found by URL, the activity source is detected and recorded, and
// every account with Jira access is listed once.
func TestConnectOrgAndInventory(t *testing.T) {
	t.Parallel()
	srv, err := devsite.NewServer(devsite.Config{Params: devsite.Params{Seed: 4, Users: 400}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	srv.SetBaseURL(ts.URL)
	var orgID, key string
	var wantAccounts int
	srv.WithOrg(func(o *devsite.Org) {
		orgID, key = o.ID, o.APIKey
		for _, u := range o.Users {
			for _, ari := range o.ProductAccess(u) {
				if strings.Contains(ari, ":jira-") {
					wantAccounts++
					break
				}
			}
		}
	})

	dbPath := filepath.Join(t.TempDir(), "lapse.db")
	vars := map[string]string{"LAPSE_DATABASE_URL": dbPath, "LAPSE_ENCRYPTION_KEY": testKey, "LAPSE_ADMIN_API_URL": ts.URL, "LAPSE_LOG_LEVEL": "error"}
	ctx := context.Background()
	keys, _ := secret.ParseKeys(testKey)
	box, _ := secret.NewBox(keys...)
	st, err := store.Open(ctx, store.Config{URL: dbPath, Box: box})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	tn, err := st.InstallConnect(ctx, app.ConnectInstall{ClientKey: "ck-inv", BaseURL: srv.SiteURL("acme", "jira"), Product: app.ProductJira, SharedSecret: []byte("s")})
	if err != nil {
		t.Fatal(err)
	}

	var out, errOut bytes.Buffer
	if err := runConnectOrg(ctx, []string{"--tenant", "ck-inv", "--org", orgID}, env(vars), strings.NewReader(key+"\n"), &out, &errOut); err != nil {
		t.Fatalf("connect-org: %v\n%s", err, errOut.String())
	}
	if strings.Contains(out.String()+errOut.String(), key) {
		t.Fatal("the API key was printed")
	}
	out.Reset()
	if err := runInventory(ctx, []string{"--tenant", tn.ID, "--json"}, env(vars), &out, &errOut); err != nil {
		t.Fatalf("inventory: %v\n%s", err, errOut.String())
	}
	seen := map[string]bool{}
	sc := bufio.NewScanner(&out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var acc inventory.Account
		if err := json.Unmarshal(sc.Bytes(), &acc); err != nil {
			t.Fatal(err)
		}
		if seen[acc.AccountID] || len(acc.Access) == 0 {
			t.Fatalf("account %s listed twice or without access", acc.AccountID)
		}
		for _, a := range acc.Access {
			if !strings.HasPrefix(a.Product, "jira-") {
				t.Fatalf("a Jira tenant's inventory lists %s", a.Product)
			}
		}
		seen[acc.AccountID] = true
	}
	if len(seen) != wantAccounts {
		t.Fatalf("inventory listed %d accounts, the site has %d with Jira access", len(seen), wantAccounts)
	}
	got, _ := st.FindTenantByID(ctx, tn.ID)
	conn, _ := st.OrgConnection(ctx, tn.ID)
	srv.WithOrg(func(o *devsite.Org) {
		if got.CloudID != o.Sites[0].CloudID || conn.ActivitySource != app.ActivityBulk {
			t.Errorf("cloud id %q, activity source %q not recorded", got.CloudID, conn.ActivitySource)
		}
	})

	out.Reset()
	if err := runInventory(ctx, []string{"--tenant", "ck-inv"}, env(vars), &out, &errOut); err != nil || !strings.Contains(out.String(), "accounts with access: ") {
		t.Fatalf("summary: %v %q", err, out.String())
	}
}

func TestInventory_Errors(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"LAPSE_DATABASE_URL": filepath.Join(t.TempDir(), "lapse.db"), "LAPSE_ENCRYPTION_KEY": testKey}
	var out, errOut bytes.Buffer
	ctx := context.Background()
	if err := runMigrate(ctx, env(vars), &out, &errOut); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		run  func() error
		want string
	}{
		{"no_tenant_flag", func() error { return runInventory(ctx, nil, env(vars), &out, &errOut) }, "--tenant"},
		{"unknown_tenant", func() error { return runInventory(ctx, []string{"--tenant", "nope"}, env(vars), &out, &errOut) }, "no tenant"},
		{"no_key", func() error {
			return runConnectOrg(ctx, []string{"--tenant", "x", "--org", "o"}, env(vars), strings.NewReader(""), &out, &errOut)
		}, "no API key"},
	}
	for _, tc := range cases {
		if err := tc.run(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}
