package store_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/store"
	"github.com/lapsehq/lapse/app/store/storetest"
)

var products = []string{"jira-software", "jira-servicedesk"}

func TestStore_PolicyVersions(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		tn, _ := s.InstallConnect(ctx, connectInstall("ck-1", "s"))
		other, _ := s.InstallConnect(ctx, connectInstall("ck-2", "s"))
		def, err := s.Policy(ctx, tn.ID, products)
		if err != nil || def.Version != 0 || def.Mode != app.ModeDryRun || def.Products["jira-software"].InactiveDays != 90 {
			t.Fatalf("default policy = %+v, %v", def, err)
		}
		admin := app.Actor{Type: app.ActorAdmin, ID: "557058:admin"}
		edit := *def
		edit.Mode = app.ModeEnforce
		edit.Products["jira-software"] = app.ProductRule{Enabled: true, InactiveDays: 60}
		v1, err := s.SavePolicy(ctx, tn.ID, edit, 0, admin, products)
		if err != nil || v1.Version != 1 || v1.Mode != app.ModeEnforce || v1.UpdatedBy != "557058:admin" {
			t.Fatalf("save = %+v, %v", v1, err)
		}
		// A save based on a stale version is refused, not merged.
		stale := *def
		stale.GraceDays = 1
		if _, err := s.SavePolicy(ctx, tn.ID, stale, 0, admin, products); app.ErrorCode(err) != app.ECONFLICT {
			t.Fatalf("stale save: %v", err)
		}
		bad := *v1
		bad.Mode, bad.MaxRemovalShare = "yolo", 2
		if _, err := s.SavePolicy(ctx, tn.ID, bad, 1, admin, products); app.ErrorCode(err) != app.EINVALID {
			t.Fatalf("invalid save: %v", err)
		}
		cur, _ := s.Policy(ctx, tn.ID, products)
		old, _ := s.PolicyVersion(ctx, tn.ID, 1)
		if cur.Version != 1 || old.Products["jira-software"].InactiveDays != 60 {
			t.Fatalf("current %+v, v1 %+v", cur, old)
		}
		if p, _ := s.Policy(ctx, other.ID, products); p.Version != 0 {
			t.Fatal("tenant B sees tenant A's policy")
		}
		evs, _ := s.ListAuditEvents(ctx, tn.ID, 100)
		last := evs[len(evs)-1]
		var data struct {
			VersionBefore, VersionAfter int
			Before, After               app.Policy
		}
		if err := json.Unmarshal(last.Data, &data); err != nil {
			t.Fatal(err)
		}
		if last.Action != app.AuditPolicyChanged || last.Actor != admin || data.VersionAfter != 1 ||
			data.Before.Mode != app.ModeDryRun || data.After.Mode != app.ModeEnforce || data.After.Products["jira-software"].InactiveDays != 60 {
			t.Fatalf("audit event %+v %+v", last, data)
		}
		if len(evs) != 2 {
			t.Fatalf("refused saves left audit events: %d events", len(evs))
		}
	})
}

// TestStore_PolicyOldFormatReadsWithBrakeOn: a version stored before the
// brake had its off switch, with maxRemovals and maxRemovalShare 0 (which
// then meant "no limit" by accident), reads back with the brake on and the
// default limits, as the current policy and as that version.
func TestStore_PolicyOldFormatReadsWithBrakeOn(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		s := storetest.Open(t, d)
		ctx := context.Background()
		tn, _ := s.InstallConnect(ctx, connectInstall("ck-1", "s"))
		db, err := s.SQLDB()
		if err != nil {
			t.Fatal(err)
		}
		body := `{"mode":"enforce","action":"remove_groups","products":{"jira-software":{"enabled":true,"inactiveDays":90}},` +
			`"graceDays":30,"exemptGroupIds":null,"exemptAccountIds":null,"exemptEmailDomains":null,"exemptAppAccounts":true,` +
			`"exemptCustomerAccounts":true,"unmanaged":"include","maxRemovals":0,"maxRemovalShare":0,"timeZone":"UTC",` +
			`"scanTime":"03:00","jitterMinutes":30,"warningDays":0}`
		q := "INSERT INTO policies (tenant_id, version, body, created_at, created_by) VALUES (?, 1, ?, ?, '557058:admin')"
		if d == store.Postgres {
			q = "INSERT INTO policies (tenant_id, version, body, created_at, created_by) VALUES ($1, 1, $2, $3, '557058:admin')"
		}
		if _, err := db.ExecContext(ctx, q, tn.ID, body, time.Now().UTC()); err != nil {
			t.Fatal(err)
		}
		cur, err := s.Policy(ctx, tn.ID, products)
		if err != nil {
			t.Fatal(err)
		}
		v1, err := s.PolicyVersion(ctx, tn.ID, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []*app.Policy{cur, v1} {
			if p.Version != 1 || p.Mode != app.ModeEnforce || p.Brake.Off ||
				p.MaxRemovals != app.DefaultMaxRemovals || p.MaxRemovalShare != app.DefaultMaxRemovalShare {
				t.Fatalf("old-format version read as %+v, want the brake on with limits %d and %g", p, app.DefaultMaxRemovals, app.DefaultMaxRemovalShare)
			}
			// What the API answers can be saved back unchanged.
			if err := p.Validate(); err != nil {
				t.Fatalf("the old version as read does not validate: %v", err)
			}
		}
	})
}

// TestStore_PolicyBrakeOffIsAudited: turning the brake off is saved and
// audited with the switch and its justification.
func TestStore_PolicyBrakeOffIsAudited(t *testing.T) {
	t.Parallel()
	storetest.EachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		tn, _ := s.InstallConnect(ctx, connectInstall("ck-1", "s"))
		admin := app.Actor{Type: app.ActorAdmin, ID: "557058:admin"}
		p, _ := s.Policy(ctx, tn.ID, products)
		p.Brake = app.Brake{Off: true}
		if _, err := s.SavePolicy(ctx, tn.ID, *p, 0, admin, products); app.ErrorCode(err) != app.EINVALID ||
			!strings.Contains(err.Error(), "brake.offJustification is required") {
			t.Fatalf("brake off without a justification: %v", err)
		}
		p.Brake.OffJustification = "One-off clean-up after the merger, approved in CHG-1234"
		saved, err := s.SavePolicy(ctx, tn.ID, *p, 0, admin, products)
		if err != nil || saved.Brake != p.Brake {
			t.Fatalf("save = %+v, %v", saved, err)
		}
		if cur, _ := s.Policy(ctx, tn.ID, products); cur.Brake != p.Brake {
			t.Fatalf("read back brake %+v", cur.Brake)
		}
		evs, _ := s.ListAuditEvents(ctx, tn.ID, 100)
		last := evs[len(evs)-1]
		var data struct{ Before, After map[string]any }
		if err := json.Unmarshal(last.Data, &data); err != nil {
			t.Fatal(err)
		}
		before, _ := data.Before["brake"].(map[string]any)
		after, _ := data.After["brake"].(map[string]any)
		if last.Action != app.AuditPolicyChanged || before["off"] != false ||
			after["off"] != true || after["offJustification"] != p.Brake.OffJustification {
			t.Fatalf("audit event %s: before.brake %v, after.brake %v", last.Action, before, after)
		}
	})
}

// TestStore_PolicyConcurrentSavesConflict: saves racing on the same base
// version (on PostgreSQL they run in parallel transactions that both read
// that version) leave exactly one winner; every other one gets ECONFLICT,
// never a database error.
func TestStore_PolicyConcurrentSavesConflict(t *testing.T) {
	t.Parallel()
	const rounds, racers = 15, 4
	storetest.EachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		tn, _ := s.InstallConnect(ctx, connectInstall("ck-1", "s"))
		admin := app.Actor{Type: app.ActorAdmin, ID: "557058:admin"}
		for round := range rounds {
			base, _ := s.Policy(ctx, tn.ID, products)
			if base.Version != round {
				t.Fatalf("round %d starts on version %d", round, base.Version)
			}
			start := make(chan struct{})
			errs := make([]error, racers)
			var wg sync.WaitGroup
			for i := range racers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					edit := *base
					edit.GraceDays = i
					<-start
					_, errs[i] = s.SavePolicy(ctx, tn.ID, edit, round, admin, products)
				}()
			}
			close(start)
			wg.Wait()
			won := 0
			for i, err := range errs {
				switch {
				case err == nil:
					won++
				case app.ErrorCode(err) != app.ECONFLICT || !strings.Contains(app.ErrorMessage(err), "reload it"):
					t.Fatalf("round %d, save %d: %v (code %s), want a conflict", round, i, err, app.ErrorCode(err))
				}
			}
			if won != 1 {
				t.Fatalf("round %d: %d saves won, want exactly 1", round, won)
			}
		}
		if evs, _ := s.ListAuditEvents(ctx, tn.ID, 100); len(evs) != 1+rounds {
			t.Fatalf("%d audit events, want the install and one per saved version (%d)", len(evs), rounds)
		}
	})
}
