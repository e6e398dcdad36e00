package schedule_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/adminapi"
	"github.com/lapsehq/lapse/app/atlassian"
	"github.com/lapsehq/lapse/app/devsite"
	"github.com/lapsehq/lapse/app/notify"
	"github.com/lapsehq/lapse/app/notify/notifytest"
	"github.com/lapsehq/lapse/app/scan"
	"github.com/lapsehq/lapse/app/schedule"
	"github.com/lapsehq/lapse/app/store"
	"github.com/lapsehq/lapse/app/store/storetest"
	"github.com/lapsehq/lapse/app/warnings"
)

// TestScheduler_RealRunner wires the real scan.Runner to the simulated
// Atlassian organization (app/devsite) for a handful of tenants: the
// planner queues each tenant's scan on start, any worker runs it through
// the Admin API, and a "run now" afterwards runs too. Nothing is faked on
// Lapse's side.
func TestScheduler_RealRunner(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			site, apiURL := startDevsite(t)
			st := storetest.Open(t, d)
			var orgID, key string
			site.WithOrg(func(o *devsite.Org) { orgID, key = o.ID, o.APIKey })
			var tenants []string
			for _, in := range []struct{ site, product string }{{"acme", "jira"}, {"acme", "confluence"}, {"acme2", "jira"}} {
				tn, err := st.InstallConnect(ctx, app.ConnectInstall{ClientKey: in.site + "-" + in.product,
					BaseURL: site.SiteURL(in.site, in.product), Product: app.Product(in.product), SharedSecret: []byte("s")})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := st.SetOrgConnection(ctx, tn.ID, orgID, key, admin); err != nil {
					t.Fatal(err)
				}
				tenants = append(tenants, tn.ID)
			}
			runner := &scan.Runner{Store: st, Client: devsiteClient(st, apiURL), Logger: testLogger()}
			s := startScheduler(t, schedule.Config{Store: st, Runner: runner, MaxWorkers: 2})

			for _, id := range tenants {
				var scans []*app.ScanRun
				waitFor(t, 30*time.Second, "the scheduled scan of "+id, func() bool {
					scans, _ = st.ListScans(ctx, id, 10)
					return len(scans) == 1 && scans[0].Status == app.ScanCompleted
				})
				var sum scan.Summary
				if err := json.Unmarshal(scans[0].Summary, &sum); err != nil || scans[0].Trigger != app.TriggerSchedule || sum.Accounts == 0 {
					t.Fatalf("scheduled scan %+v (summary %+v, %v): want a completed scan that read accounts", scans[0], sum, err)
				}
			}
			run, err := s.RunNow(ctx, tenants[0], admin)
			if err != nil {
				t.Fatal(err)
			}
			waitStatus(t, st, tenants[0], run.ID, app.ScanCompleted)
			if rep, err := s.Plan(ctx); err != nil || rep.Candidates != len(tenants) || rep.Due != 0 {
				t.Fatalf("planning again: %+v, %v; want nothing due", rep, err)
			}
			if n := len(site.Ledger()); n != 0 {
				t.Fatalf("dry-run scans changed %d memberships", n)
			}
		})
	}
}

func startDevsite(t *testing.T) (*devsite.Server, string) {
	t.Helper()
	site, err := devsite.NewServer(devsite.Config{Params: devsite.Params{Seed: 7, Users: 120, Sites: 2}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(site.Handler())
	t.Cleanup(ts.Close)
	site.SetBaseURL(ts.URL)
	req, _ := http.NewRequest(http.MethodPatch, ts.URL+"/_devsite/limits", strings.NewReader(`{"adminRequestsPerMinute": 100000}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("devsite limits: %v %v", resp, err)
	}
	resp.Body.Close()
	return site, ts.URL
}

// devsiteClient builds each tenant's Admin API client against the devsite,
// as cmd/lapse does against Atlassian.
func devsiteClient(st *store.Store, apiURL string) scan.ClientFunc {
	return func(ctx context.Context, t *app.Tenant, conn *app.OrgConnection) (*adminapi.Client, error) {
		return adminapi.New(adminapi.Config{BaseURL: apiURL, APIKey: conn.APIKey, OrgID: conn.OrgID, TenantID: t.ID,
			RequestsPerMinute: 100000, Budget: st.Budget(), HTTPClient: &http.Client{Timeout: 10 * time.Second, Transport: ownTransport},
			Retry: atlassian.RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}})
	}
}

// TestScheduler_WarningEmails: a scheduled scan in enforce mode with a
// warning period queues the warnings of the accounts pending removal, and
// the periodic delivery job sends each of them, once, over real SMTP to the
// address the Admin API reported, audited as warning.sent.
func TestScheduler_WarningEmails(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			site, apiURL := startDevsite(t)
			st := storetest.Open(t, d)
			var orgID, key string
			site.WithOrg(func(o *devsite.Org) { orgID, key = o.ID, o.APIKey })
			tn, err := st.InstallConnect(ctx, app.ConnectInstall{ClientKey: "acme-jira", BaseURL: site.SiteURL("acme", "jira"),
				Product: app.ProductJira, SharedSecret: []byte("s")})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.SetOrgConnection(ctx, tn.ID, orgID, key, admin); err != nil {
				t.Fatal(err)
			}
			pol, _ := st.Policy(ctx, tn.ID, tn.Product.PolicyProducts())
			pol.Mode, pol.WarningDays = app.ModeEnforce, 30
			pol.Brake = app.Brake{Off: true, OffJustification: "test: every inactive account is removed"}
			if _, err := st.SavePolicy(ctx, tn.ID, *pol, pol.Version, admin, nil); err != nil {
				t.Fatal(err)
			}
			smtpSrv := notifytest.Start(t, notifytest.Options{Mode: notifytest.Plain})
			mailer, err := notify.NewSMTP(notify.SMTPConfig{URL: smtpSrv.URL("smtp+insecure", ""), From: "lapse@example.com"})
			if err != nil {
				t.Fatal(err)
			}
			runner := &scan.Runner{Store: st, Client: devsiteClient(st, apiURL), Logger: testLogger(), QueueWarnings: true}
			startScheduler(t, schedule.Config{Store: st, Runner: runner, MaxWorkers: 1,
				Warnings: &warnings.Deliverer{Store: st, Sender: mailer}, WarningInterval: 200 * time.Millisecond})

			var scans []*app.ScanRun
			waitFor(t, 30*time.Second, "the scheduled scan", func() bool {
				scans, _ = st.ListScans(ctx, tn.ID, 10)
				return len(scans) == 1 && scans[0].Status == app.ScanCompleted
			})
			want := map[string]bool{}
			_ = st.ScanAccounts(ctx, tn.ID, scans[0].ID, func(a app.ScanAccount) error {
				for _, dec := range a.Decisions {
					if dec.Outcome == app.OutcomePending && a.Facts.Email != "" {
						want[a.Facts.Email] = true
					}
				}
				return nil
			})
			if len(want) == 0 {
				t.Fatal("no account is pending removal on the simulated site: the test proves nothing")
			}
			waitFor(t, 30*time.Second, "the warning e-mails", func() bool { return len(smtpSrv.Messages()) >= len(want) })
			time.Sleep(500 * time.Millisecond) // two more delivery rounds: nothing more may go out
			got := map[string]int{}
			for _, m := range smtpSrv.Messages() {
				for _, to := range m.To {
					got[to]++
				}
			}
			for addr := range want {
				if got[addr] != 1 {
					t.Errorf("%s received %d warnings, want 1", addr, got[addr])
				}
			}
			if len(got) != len(want) {
				t.Errorf("warnings went to %d addresses, want the %d pending accounts", len(got), len(want))
			}
			evs, _ := st.ListAuditEvents(ctx, tn.ID, 1000)
			sent := 0
			for _, e := range evs {
				if e.Action == app.AuditWarningSent {
					sent++
				}
			}
			if sent != len(want) {
				t.Fatalf("%d warning.sent events, want %d", sent, len(want))
			}
		})
	}
}

// ownTransport keeps this package's Admin API requests out of
// http.DefaultTransport's pool, whose idle connections httptest.Server.Close
// in a parallel test closes.
var ownTransport = http.DefaultTransport.(*http.Transport).Clone()
