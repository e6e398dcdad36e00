package store_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/store"
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
