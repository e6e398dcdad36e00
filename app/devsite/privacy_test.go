package devsite_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app/connect"
	"github.com/lapsehq/lapse/app/devsite"
)

func TestPrivacy_ReportAccounts(t *testing.T) {
	t.Parallel()
	f := newSiteFixture(t)
	tok := f.forgeToken(t, "jira")
	var ids []string
	f.srv.WithOrg(func(o *devsite.Org) {
		for _, u := range o.Users[:4] {
			ids = append(ids, u.AccountID)
		}
		o.User(ids[0]).AccountStatus = "closed"
	})
	fresh := time.Now().UTC().Format(time.RFC3339)
	old := time.Now().Add(-8 * 24 * time.Hour).UTC().Format(time.RFC3339)
	report := func(t *testing.T, path string, accounts ...map[string]string) answer {
		return send(t, "POST", f.ts.URL+path, map[string]any{"accounts": accounts}, func(r *http.Request) {
			r.Header.Set("Authorization", "Bearer "+tok)
		})
	}
	acct := func(id, at string) map[string]string { return map[string]string{"accountId": id, "updatedAt": at} }

	t.Run("closed_and_updated", func(t *testing.T) {
		a := report(t, devsite.ReportAccountsPath,
			acct(ids[0], fresh), acct(ids[1], old), acct(ids[2], fresh), acct("unknown-account", old),
			acct(devsite.PrivacyTestClosedAccount, fresh), acct(ids[1], old))
		wantStatus(t, a, 200)
		if a.Header.Get("Cycle-Period") != "P7D" {
			t.Fatalf("Cycle-Period %q", a.Header.Get("Cycle-Period"))
		}
		var out struct {
			Accounts []struct{ AccountID, Status string }
		}
		a.decode(t, &out)
		want := []struct{ AccountID, Status string }{
			{ids[0], "closed"}, {ids[1], "updated"}, {devsite.PrivacyTestClosedAccount, "closed"},
		}
		if !slices.Equal(out.Accounts, want) {
			t.Fatalf("accounts %+v, want %+v", out.Accounts, want)
		}
	})
	t.Run("nothing_to_do", func(t *testing.T) {
		a := report(t, "/app/report-accounts", acct(ids[2], fresh), acct(ids[3], fresh))
		wantStatus(t, a, 204)
		if len(a.Body) != 0 || a.Header.Get("Cycle-Period") != "P7D" {
			t.Fatalf("204 with body %q, Cycle-Period %q", a.Body, a.Header.Get("Cycle-Period"))
		}
	})
	t.Run("limits", func(t *testing.T) {
		var many []map[string]string
		for i := range 91 {
			many = append(many, acct(fmt.Sprintf("acct-%d", i), fresh))
		}
		wantStatus(t, report(t, devsite.ReportAccountsPath, many...), 400)
		wantStatus(t, report(t, devsite.ReportAccountsPath, many[:90]...), 204)
		wantStatus(t, report(t, devsite.ReportAccountsPath), 400)
		wantStatus(t, report(t, devsite.ReportAccountsPath, acct(ids[0], "yesterday")), 400)
		wantStatus(t, report(t, devsite.ReportAccountsPath, acct("", fresh)), 400)
	})
}

func TestPrivacy_Auth(t *testing.T) {
	t.Parallel()
	f := newSiteFixture(t)
	app := f.installConnect(t, "jira", "READ")
	body := map[string]any{"accounts": []map[string]string{{"accountId": devsite.PrivacyTestClosedAccount, "updatedAt": time.Now().UTC().Format(time.RFC3339)}}}
	target := f.ts.URL + devsite.ReportAccountsPath
	sign := func(key, secret string) func(*http.Request) {
		return func(r *http.Request) {
			if err := (connect.Signer{AppKey: key}).Sign(r, f.ts.URL, []byte(secret)); err != nil {
				t.Fatal(err)
			}
		}
	}
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	cases := []struct {
		name string
		auth func(*http.Request)
		want int
	}{
		{"connect_jwt", sign(app.key, app.install.SharedSecret), 200},
		{"connect_wrong_secret", sign(app.key, "not-the-secret"), 401},
		{"connect_unknown_app", sign("com.example.other", app.install.SharedSecret), 401},
		{"forge_token", bearer(f.forgeToken(t, "confluence")), 200},
		{"expired_forge_token", bearer(f.srv.MintSystemToken(f.site, "jira", "i", -time.Minute)), 401},
		{"org_key", bearer(f.orgKey()), 401},
		{"none", nil, 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantStatus(t, send(t, "POST", target, body, tc.auth), tc.want)
		})
	}
	t.Run("qsh_must_match", func(t *testing.T) {
		// A token signed for another path does not authorize this one.
		req, _ := http.NewRequest("POST", f.ts.URL+"/app/other", nil)
		sign(app.key, app.install.SharedSecret)(req)
		a := send(t, "POST", target, body, func(r *http.Request) { r.Header.Set("Authorization", req.Header.Get("Authorization")) })
		wantStatus(t, a, 401)
	})
}
