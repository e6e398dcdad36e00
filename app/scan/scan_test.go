package scan_test

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
	"github.com/lapsehq/lapse/app/scan"
	"github.com/lapsehq/lapse/app/store"
	"github.com/lapsehq/lapse/app/store/storetest"
)

type fixture struct {
	srv    *devsite.Server
	st     *store.Store
	runner *scan.Runner
	tenant *app.Tenant
}

func setup(t *testing.T, d store.Dialect, users int) *fixture {
	return setupParams(t, d, devsite.Params{Seed: 21, Users: users})
}

func setupParams(t *testing.T, d store.Dialect, params devsite.Params) *fixture {
	t.Helper()
	srv, err := devsite.NewServer(devsite.Config{Params: params})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	srv.SetBaseURL(ts.URL)
	st := storetest.Open(t, d)
	ctx := context.Background()
	tn, err := st.InstallConnect(ctx, app.ConnectInstall{ClientKey: "ck", BaseURL: srv.SiteURL("acme", "jira"), Product: app.ProductJira, SharedSecret: []byte("s")})
	if err != nil {
		t.Fatal(err)
	}
	var orgID, key string
	srv.WithOrg(func(o *devsite.Org) { orgID, key = o.ID, o.APIKey })
	if _, err := st.SetOrgConnection(ctx, tn.ID, orgID, key, app.Actor{Type: app.ActorAdmin, ID: "admin"}); err != nil {
		t.Fatal(err)
	}
	client := func(ctx context.Context, t *app.Tenant, conn *app.OrgConnection) (*adminapi.Client, error) {
		return adminapi.New(adminapi.Config{BaseURL: ts.URL, APIKey: conn.APIKey, OrgID: conn.OrgID, TenantID: t.ID,
			RequestsPerMinute: 100000, Budget: st.Budget(), HTTPClient: &http.Client{Timeout: 10 * time.Second, Transport: ownTransport},
			Retry: atlassian.RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: time.Millisecond}})
	}
	req, _ := http.NewRequest(http.MethodPatch, ts.URL+"/_devsite/limits", strings.NewReader(`{"adminRequestsPerMinute": 100000}`))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("limits: %v %v", resp, err)
	}
	return &fixture{srv: srv, st: st, tenant: tn, runner: &scan.Runner{Store: st, Client: client}}
}

func (f *fixture) savePolicy(t *testing.T, mod func(*app.Policy)) {
	t.Helper()
	ctx := context.Background()
	p, _ := f.st.Policy(ctx, f.tenant.ID, []string{"jira-software", "jira-servicedesk"})
	mod(p)
	if _, err := f.st.SavePolicy(ctx, f.tenant.ID, *p, p.Version, app.Actor{Type: app.ActorAdmin, ID: "admin"}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestScan_DryRunChangesNothing(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			f := setup(t, d, 400)
			f.savePolicy(t, brakeOff)
			run, err := f.runner.Run(context.Background(), f.tenant.ID, "", app.TriggerManual)
			if err != nil || run.Status != app.ScanCompleted || run.Mode != app.ModeDryRun {
				t.Fatalf("run = %+v, %v", run, err)
			}
			if n := len(f.srv.Ledger()); n != 0 {
				t.Fatalf("a dry run changed %d memberships", n)
			}
			var accounts int
			_ = f.st.ScanAccounts(context.Background(), f.tenant.ID, run.ID, func(app.ScanAccount) error { accounts++; return nil })
			if accounts == 0 {
				t.Fatal("no snapshot stored")
			}
			// The summary records what the scan spent: every request the site
			// received, no 429s, no Jira/Confluence points (Admin API only).
			var onSite int64
			for _, es := range f.srv.Stats() {
				onSite += es.Requests
			}
			var sum scan.Summary
			if err := json.Unmarshal(run.Summary, &sum); err != nil || sum.API.Requests == 0 || sum.API.Requests != onSite ||
				sum.API.RateLimited != 0 || sum.API.Points != 0 {
				t.Fatalf("summary api = %+v (%v), site saw %d requests", sum.API, err, onSite)
			}
		})
	}
}

// TestScan_EnforceRemovesExactlyThePlannedMemberships: in enforce mode the
// site's ledger holds exactly one removal per planned (account, group), none
// in a synced group or of an admin, and each has its audit event.
func TestScan_EnforceRemovesExactlyThePlannedMemberships(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			f := setup(t, d, 400)
			f.savePolicy(t, func(p *app.Policy) { p.Mode = app.ModeEnforce; brakeOff(p) })
			ctx := context.Background()
			run, err := f.runner.Run(ctx, f.tenant.ID, "", app.TriggerManual)
			if err != nil || run.Status != app.ScanCompleted {
				t.Fatalf("run = %+v, %v", run, err)
			}
			want := map[[2]string]bool{}
			_ = f.st.ScanAccounts(ctx, f.tenant.ID, run.ID, func(a app.ScanAccount) error {
				for _, dec := range a.Decisions {
					if dec.Outcome == app.OutcomeRemove {
						for _, g := range dec.RemoveGroups {
							want[[2]string{dec.AccountID, g.GroupID}] = true
						}
					}
				}
				return nil
			})
			ledger := f.srv.Ledger()
			if len(want) == 0 || len(ledger) != len(want) {
				t.Fatalf("ledger has %d removals, the scan planned %d", len(ledger), len(want))
			}
			f.srv.WithOrg(func(o *devsite.Org) {
				for _, e := range ledger {
					g, u := o.Group(e.GroupID), o.User(e.AccountID)
					if e.Op != devsite.LedgerRemove || !want[[2]string{e.AccountID, e.GroupID}] || g.Synced || len(u.PlatformRoles) > 0 {
						t.Fatalf("unexpected ledger entry %+v (synced %v, roles %v)", e, g.Synced, u.PlatformRoles)
					}
				}
			})
			evs, _ := f.st.ListAuditEvents(ctx, f.tenant.ID, 1000)
			removed, handoffs := 0, 0
			for _, e := range evs {
				switch e.Action {
				case app.AuditAccessRemove:
					removed++
				case app.AuditHandoff:
					handoffs++
				}
			}
			if handoffs != 1 || run.Summary == nil || !strings.Contains(string(run.Summary), `"handoffAccounts"`) {
				t.Fatalf("hand-off list not audited once (%d events)", handoffs)
			}
			if removed != len(ledger) {
				t.Fatalf("%d access.removed audit events for %d ledger removals", removed, len(ledger))
			}
			// A second run finds nothing left to remove.
			again, err := f.runner.Run(ctx, f.tenant.ID, "", app.TriggerManual)
			if err != nil || len(f.srv.Ledger()) != len(ledger) {
				t.Fatalf("second run: %+v %v, ledger %d", again, err, len(f.srv.Ledger()))
			}
		})
	}
}

// TestScan_BrakeHoldsTheRun: with the default brake a run that would remove
// more than allowed is held and removes nothing.
func TestScan_BrakeHoldsTheRun(t *testing.T) {
	t.Parallel()
	f := setup(t, store.SQLite, 400)
	f.savePolicy(t, func(p *app.Policy) { p.Mode, p.MaxRemovals = app.ModeEnforce, 5 })
	run, err := f.runner.Run(context.Background(), f.tenant.ID, "", app.TriggerManual)
	if err != nil || run.Status != app.ScanHeld {
		t.Fatalf("run = %+v, %v", run, err)
	}
	if n := len(f.srv.Ledger()); n != 0 {
		t.Fatalf("a held run removed %d memberships", n)
	}
}

// TestScan_HeldThenApproved: a held run removes nothing until an admin
// approves it; then exactly its planned removals happen, from the snapshot.
func TestScan_HeldThenApproved(t *testing.T) {
	t.Parallel()
	f := setup(t, store.SQLite, 300)
	f.savePolicy(t, func(p *app.Policy) { p.Mode, p.MaxRemovals = app.ModeEnforce, 3 })
	ctx := context.Background()
	held, err := f.runner.Run(ctx, f.tenant.ID, "", app.TriggerManual)
	if err != nil || held.Status != app.ScanHeld || len(f.srv.Ledger()) != 0 {
		t.Fatalf("held run = %+v, %v, ledger %d", held, err, len(f.srv.Ledger()))
	}
	admin := app.Actor{Type: app.ActorAdmin, ID: "557058:admin"}
	if _, err := f.st.DecideHeldScan(ctx, f.tenant.ID, held.ID, true, admin, nil); err != nil {
		t.Fatal(err)
	}
	done, err := f.runner.Run(ctx, f.tenant.ID, held.ID, app.TriggerManual)
	if err != nil || done.Status != app.ScanCompleted {
		t.Fatalf("approved run = %+v, %v", done, err)
	}
	var planned int
	_ = f.st.ScanAccounts(ctx, f.tenant.ID, held.ID, func(a app.ScanAccount) error {
		for _, d := range a.Decisions {
			if d.Outcome == app.OutcomeRemove {
				planned += len(d.RemoveGroups)
			}
		}
		return nil
	})
	if planned <= 3 || len(f.srv.Ledger()) != planned {
		t.Fatalf("approved run removed %d memberships, the snapshot planned %d", len(f.srv.Ledger()), planned)
	}
	if _, err := f.st.DecideHeldScan(ctx, f.tenant.ID, held.ID, false, admin, nil); app.ErrorCode(err) != app.ECONFLICT {
		t.Fatalf("deciding a finished scan: %v", err)
	}
}

// TestScan_ResumesAfterDeadWorker: a worker died after a removal took
// effect on the site but before Lapse recorded it. The resumed scan reads
// the membership back, records the removal once (marked already removed)
// and does not send it again.
func TestScan_ResumesAfterDeadWorker(t *testing.T) {
	t.Parallel()
	f := setup(t, store.SQLite, 300)
	f.savePolicy(t, func(p *app.Policy) { p.Mode = app.ModeEnforce; brakeOff(p) })
	ctx := context.Background()
	pol, _ := f.st.Policy(ctx, f.tenant.ID, nil)
	run, err := f.st.StartScan(ctx, f.tenant.ID, "", app.TriggerSchedule, pol)
	if err != nil {
		t.Fatal(err)
	}
	// Pick a removable membership: a member of a default, not synced group.
	var account, group string
	f.srv.WithOrg(func(o *devsite.Org) {
		for _, g := range o.Groups {
			if !g.Synced && len(g.DefaultFor) > 0 && len(g.Members()) > 0 {
				group, account = g.ID, g.Members()[0]
				return
			}
		}
	})
	intent := app.ScanAction{ScanID: run.ID, AccountID: account, GroupID: group, Product: "jira-software"}
	if err := f.st.RecordIntent(ctx, f.tenant.ID, intent); err != nil {
		t.Fatal(err)
	}
	conn, _ := f.st.OrgConnection(ctx, f.tenant.ID)
	c, _ := f.runner.Client(ctx, f.tenant, conn)
	if _, err := c.RemoveMembership(ctx, group, account); err != nil { // the call that "died" before its outcome was saved
		t.Fatal(err)
	}

	done, err := f.runner.Run(ctx, f.tenant.ID, run.ID, app.TriggerSchedule)
	if err != nil || done.Status != app.ScanCompleted {
		t.Fatalf("resumed run = %+v, %v", done, err)
	}
	pairs := map[[2]string]int{}
	for _, e := range f.srv.Ledger() {
		pairs[[2]string{e.AccountID, e.GroupID}]++
	}
	if pairs[[2]string{account, group}] != 1 {
		t.Fatalf("the interrupted removal is in the ledger %d times", pairs[[2]string{account, group}])
	}
	for p, n := range pairs {
		if n != 1 {
			t.Fatalf("removal %v sent %d times", p, n)
		}
	}
	acts, _ := f.st.ScanActions(ctx, f.tenant.ID, run.ID, app.ActionIntent)
	if len(acts) != 0 {
		t.Fatalf("%d intents left unreconciled", len(acts))
	}
	evs, _ := f.st.ListAuditEvents(ctx, f.tenant.ID, 1000)
	found := false
	for _, e := range evs {
		if e.Action == app.AuditAccessRemove && strings.Contains(string(e.Data), account) && strings.Contains(string(e.Data), `"alreadyRemoved":true`) {
			found = true
		}
	}
	if !found {
		t.Fatal("the reconciled removal has no audit event marked already removed")
	}
	if len(f.srv.Ledger()) != len(pairs) {
		t.Fatal("duplicate ledger entries")
	}
}

// TestScan_Restore re-adds a removed membership from its audit entry, once.
func TestScan_Restore(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			f := setup(t, d, 300)
			f.savePolicy(t, func(p *app.Policy) { p.Mode = app.ModeEnforce; brakeOff(p) })
			ctx := context.Background()
			if _, err := f.runner.Run(ctx, f.tenant.ID, "", app.TriggerManual); err != nil {
				t.Fatal(err)
			}
			evs, _ := f.st.ListAuditEvents(ctx, f.tenant.ID, 1000)
			var removal, other *app.AuditEvent
			for _, e := range evs {
				switch {
				case e.Action == app.AuditAccessRemove && removal == nil:
					removal = e
				case e.Action == app.AuditPolicyChanged:
					other = e
				}
			}
			if removal == nil || other == nil {
				t.Fatal("no removal to restore")
			}
			var rm struct{ AccountID, GroupID string }
			_ = json.Unmarshal(removal.Data, &rm)
			admin := app.Actor{Type: app.ActorAdmin, ID: "557058:admin"}
			restored, err := f.runner.Restore(ctx, f.tenant.ID, removal.ID, admin)
			if err != nil || restored.Action != app.AuditRestore || restored.Actor != admin {
				t.Fatalf("restore = %+v, %v", restored, err)
			}
			var member bool
			f.srv.WithOrg(func(o *devsite.Org) { member = o.IsMember(rm.GroupID, rm.AccountID) })
			last := f.srv.Ledger()[len(f.srv.Ledger())-1]
			if !member || last.Op != devsite.LedgerAdd || last.AccountID != rm.AccountID || last.GroupID != rm.GroupID {
				t.Fatalf("membership not restored: member %v, last ledger %+v", member, last)
			}
			if _, err := f.runner.Restore(ctx, f.tenant.ID, removal.ID, admin); app.ErrorCode(err) != app.ECONFLICT {
				t.Fatalf("second restore: %v", err)
			}
			if _, err := f.runner.Restore(ctx, f.tenant.ID, other.ID, admin); app.ErrorCode(err) != app.EINVALID {
				t.Fatalf("restoring a policy change: %v", err)
			}
			if _, err := f.runner.Restore(ctx, f.tenant.ID, 999999, admin); app.ErrorCode(err) != app.ENOTFOUND {
				t.Fatalf("restoring an unknown event: %v", err)
			}
		})
	}
}

// TestScan_BadActivityDataIsHeld: when the activity source (bulk or
// per-user) says every user never used the product, an enforced run
// with the brake off for counts is still held by the data-sanity check and
// removes nothing.
func TestScan_BadActivityDataIsHeld(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		params   devsite.Params
		behavior devsite.AdminBehavior
	}{
		{"everyone_never_active", devsite.Params{Seed: 5, Users: 300, NeverActiveShare: 1}, devsite.AdminBehavior{}},
		// users/search carries no productAccess, so the scan falls back to
		// per-user last-active-dates, which come back empty for everyone.
		{"per_user_path_empty", devsite.Params{Seed: 5, Users: 300, NeverActiveShare: 1}, devsite.AdminBehavior{ProductAccess: devsite.ProductAccessOmitted}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := setupParams(t, store.SQLite, tc.params)
			f.srv.SetAdminBehavior(tc.behavior)
			f.savePolicy(t, func(p *app.Policy) { p.Mode, p.GraceDays = app.ModeEnforce, 0; brakeOff(p) })
			run, err := f.runner.Run(context.Background(), f.tenant.ID, "", app.TriggerManual)
			if err != nil {
				t.Fatal(err)
			}
			if n := len(f.srv.Ledger()); n != 0 {
				t.Fatalf("bad activity data removed %d memberships (status %s, summary %s)", n, run.Status, run.Summary)
			}
			if run.Status != app.ScanHeld {
				t.Fatalf("status %s, want held; summary %s", run.Status, run.Summary)
			}
		})
	}
}

// TestScan_QueuesWarningsForPendingAccounts: with a warning period in
// enforce mode, a scan queues one e-mail per pending (account, product) of
// an account with an address, dated with the decision's removal day; the
// next day's scan queues none again; a dry run, or a runner without a
// mailer, queues none.
func TestScan_QueuesWarningsForPendingAccounts(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			f := setup(t, d, 400)
			ctx := context.Background()
			f.savePolicy(t, func(p *app.Policy) { p.WarningDays = 30; brakeOff(p) })
			f.runner.QueueWarnings = true
			dry, err := f.runner.Run(ctx, f.tenant.ID, "", app.TriggerManual)
			if err != nil || dry.Mode != app.ModeDryRun {
				t.Fatalf("dry run = %+v, %v", dry, err)
			}
			if ws, _ := f.st.Warnings(ctx, f.tenant.ID, 1000); len(ws) != 0 {
				t.Fatalf("a dry run queued %d warnings", len(ws))
			}

			f.savePolicy(t, func(p *app.Policy) { p.Mode = app.ModeEnforce })
			f.runner.QueueWarnings = false // no mailer configured
			if _, err := f.runner.Run(ctx, f.tenant.ID, "", app.TriggerManual); err != nil {
				t.Fatal(err)
			}
			if ws, _ := f.st.Warnings(ctx, f.tenant.ID, 1000); len(ws) != 0 {
				t.Fatalf("a runner without a mailer queued %d warnings", len(ws))
			}
			f.runner.QueueWarnings = true
			run, err := f.runner.Run(ctx, f.tenant.ID, "", app.TriggerManual)
			if err != nil || run.Status != app.ScanCompleted {
				t.Fatalf("run = %+v, %v", run, err)
			}
			want := map[[2]string]time.Time{}
			_ = f.st.ScanAccounts(ctx, f.tenant.ID, run.ID, func(a app.ScanAccount) error {
				for _, dec := range a.Decisions {
					if dec.Outcome == app.OutcomePending && a.Facts.Email != "" {
						want[[2]string{dec.AccountID, dec.Product}] = *dec.RemovalDue
					}
				}
				return nil
			})
			if len(want) == 0 {
				t.Fatal("the simulated site has no pending account: the test proves nothing")
			}
			ws, err := f.st.Warnings(ctx, f.tenant.ID, 1000)
			if err != nil || len(ws) != len(want) {
				t.Fatalf("queued %d warnings, want %d (%v)", len(ws), len(want), err)
			}
			for _, w := range ws {
				due, ok := want[[2]string{w.AccountID, w.Product}]
				if !ok || !w.RemovalDue.Equal(due.Truncate(time.Microsecond)) || w.Email == "" || w.ScanID != run.ID || w.SiteURL != f.tenant.BaseURL {
					t.Fatalf("unexpected notice %+v (want due %v, present %v)", w, due, ok)
				}
			}
			var sum scan.Summary
			if err := json.Unmarshal(run.Summary, &sum); err != nil || sum.WarningsQueued != len(want) {
				t.Fatalf("summary warningsQueued = %d, want %d", sum.WarningsQueued, len(want))
			}

			again, err := f.runner.Run(ctx, f.tenant.ID, "", app.TriggerManual)
			if err != nil {
				t.Fatal(err)
			}
			var sum2 scan.Summary
			_ = json.Unmarshal(again.Summary, &sum2)
			if ws2, _ := f.st.Warnings(ctx, f.tenant.ID, 1000); len(ws2) != len(want) || sum2.WarningsQueued != 0 {
				t.Fatalf("second scan: %d notices (queued %d), want still %d", len(ws2), sum2.WarningsQueued, len(want))
			}
		})
	}
}

// TestScan_CancelStopsBetweenRemovals: an admin cancels an enforce scan
// while it removes memberships: it stops at the next removal, stays
// cancelled, leaves no intent open, and every removal the site made is in
// the audit log (ledger == audit).
func TestScan_CancelStopsBetweenRemovals(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			f := setup(t, d, 400)
			ctx := context.Background()
			f.savePolicy(t, func(p *app.Policy) { p.Mode = app.ModeEnforce; brakeOff(p) })
			req, _ := http.NewRequest(http.MethodPatch, f.srv.BaseURL()+"/_devsite/faults", strings.NewReader(`{"fixedLatency": "25ms"}`))
			if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("faults: %v %v", resp, err)
			}
			type result struct {
				run *app.ScanRun
				err error
			}
			done := make(chan result, 1)
			go func() {
				run, err := f.runner.Run(ctx, f.tenant.ID, "", app.TriggerManual)
				done <- result{run, err}
			}()
			deadline := time.Now().Add(60 * time.Second)
			for len(f.srv.Ledger()) < 3 {
				if time.Now().After(deadline) {
					t.Fatal("no removal started")
				}
				time.Sleep(5 * time.Millisecond)
			}
			scans, _ := f.st.ListScans(ctx, f.tenant.ID, 1)
			if _, err := f.st.CancelScan(ctx, f.tenant.ID, scans[0].ID, app.Actor{Type: app.ActorAdmin, ID: "admin"}); err != nil {
				t.Fatal(err)
			}
			res := <-done
			if res.err != nil || res.run.Status != app.ScanCancelled {
				t.Fatalf("run = %+v, %v; want cancelled", res.run, res.err)
			}
			var sum scan.Summary
			_ = json.Unmarshal(res.run.Summary, &sum)
			removed := len(f.srv.Ledger())
			if removed == 0 || removed >= sum.RemovalsPlanned || sum.RemovalsDone != removed {
				t.Fatalf("ledger %d, summary done %d of %d planned: want a part of the plan, all recorded", removed, sum.RemovalsDone, sum.RemovalsPlanned)
			}
			actions, _ := f.st.ScanActions(ctx, f.tenant.ID, res.run.ID, "")
			for _, a := range actions {
				if a.State == app.ActionIntent {
					t.Fatalf("intent left open: %+v", a)
				}
			}
			evs, _ := f.st.ListAuditEvents(ctx, f.tenant.ID, 1000)
			audited, cancelled := 0, 0
			for _, e := range evs {
				switch e.Action {
				case app.AuditAccessRemove:
					audited++
				case app.AuditScanCancelled:
					cancelled++
				}
			}
			if audited != removed || cancelled != 1 {
				t.Fatalf("audit: %d access.removed for %d ledger removals, %d scan.cancelled", audited, removed, cancelled)
			}
		})
	}
}

// TestScan_SettleReadsBackOpenIntents: a cancelled scan whose worker died
// with intents open is settled without writing: a membership already gone
// is recorded as removed (and audited), one still there as cancelled.
func TestScan_SettleReadsBackOpenIntents(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			f := setup(t, d, 400)
			ctx := context.Background()
			f.savePolicy(t, func(p *app.Policy) { p.Mode = app.ModeEnforce; brakeOff(p) })
			// A dry run plans; its snapshot gives two real memberships.
			f.savePolicy(t, func(p *app.Policy) { p.Mode = app.ModeDryRun })
			dry, err := f.runner.Run(ctx, f.tenant.ID, "", app.TriggerManual)
			if err != nil {
				t.Fatal(err)
			}
			var targets []app.ScanAction
			_ = f.st.ScanAccounts(ctx, f.tenant.ID, dry.ID, func(a app.ScanAccount) error {
				for _, dec := range a.Decisions {
					if dec.Outcome == app.OutcomeRemove && len(targets) < 2 && (len(targets) == 0 || targets[0].AccountID != dec.AccountID) {
						targets = append(targets, app.ScanAction{AccountID: dec.AccountID, GroupID: dec.RemoveGroups[0].GroupID, Product: dec.Product})
					}
				}
				return nil
			})
			if len(targets) < 2 {
				t.Fatal("need two planned removals")
			}
			// The scan that "died": running, two intents, the first of which
			// reached the site.
			pol, _ := f.st.Policy(ctx, f.tenant.ID, nil)
			run, err := f.st.StartScan(ctx, f.tenant.ID, "", app.TriggerManual, pol)
			if err != nil {
				t.Fatal(err)
			}
			for i := range targets {
				targets[i].ScanID = run.ID
				if err := f.st.RecordIntent(ctx, f.tenant.ID, targets[i]); err != nil {
					t.Fatal(err)
				}
			}
			client, _ := f.runner.Client(ctx, f.tenant, mustConn(t, f))
			if _, err := client.RemoveMembership(ctx, targets[0].GroupID, targets[0].AccountID); err != nil {
				t.Fatal(err)
			}
			if _, err := f.st.CancelScan(ctx, f.tenant.ID, run.ID, app.Actor{Type: app.ActorAdmin, ID: "admin"}); err != nil {
				t.Fatal(err)
			}
			before := len(f.srv.Ledger())
			if err := f.runner.Settle(ctx, f.tenant.ID, run.ID); err != nil {
				t.Fatal(err)
			}
			if after := len(f.srv.Ledger()); after != before {
				t.Fatalf("settling wrote to the site: ledger %d → %d", before, after)
			}
			states := map[string]app.ActionState{}
			actions, _ := f.st.ScanActions(ctx, f.tenant.ID, run.ID, "")
			for _, a := range actions {
				states[a.AccountID] = a.State
			}
			if states[targets[0].AccountID] != app.ActionDone || states[targets[1].AccountID] != app.ActionCancelled {
				t.Fatalf("states = %v, want the removed one done and the other cancelled", states)
			}
			evs, _ := f.st.ListAuditEvents(ctx, f.tenant.ID, 1000)
			removedEvents := 0
			for _, e := range evs {
				if e.Action == app.AuditAccessRemove {
					removedEvents++
					if e.TargetAccountID != targets[0].AccountID {
						t.Fatalf("access.removed for %s", e.TargetAccountID)
					}
				}
			}
			if removedEvents != 1 {
				t.Fatalf("%d access.removed events, want 1", removedEvents)
			}
		})
	}
}

func mustConn(t *testing.T, f *fixture) *app.OrgConnection {
	t.Helper()
	conn, err := f.st.OrgConnection(context.Background(), f.tenant.ID)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// ownTransport keeps this package's Admin API requests out of
// http.DefaultTransport's pool, whose idle connections httptest.Server.Close
// in a parallel test closes.
var ownTransport = http.DefaultTransport.(*http.Transport).Clone()
