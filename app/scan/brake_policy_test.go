package scan_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/scan"
	"github.com/lapsehq/lapse/app/store"
	"github.com/lapsehq/lapse/app/store/storetest"
)

// brakeOff turns the safety brake's limits off the only way a policy can:
// explicitly, with a justification.
func brakeOff(p *app.Policy) {
	p.Brake = app.Brake{Off: true, OffJustification: "test: every inactive account is removed in one run"}
}

// storeOldPolicyVersion writes a policy version as Lapse stored it before
// the brake had its off switch: no "brake", and maxRemovals and
// maxRemovalShare 0, which then meant "no limit".
func storeOldPolicyVersion(t *testing.T, f *fixture, d store.Dialect, mode app.PolicyMode) {
	t.Helper()
	p := app.DefaultPolicy("", []string{"jira-software", "jira-servicedesk"})
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatal(err)
	}
	delete(body, "brake")
	delete(body, "tenantId")
	delete(body, "version")
	body["mode"], body["maxRemovals"], body["maxRemovalShare"] = mode, 0, 0
	if raw, err = json.Marshal(body); err != nil {
		t.Fatal(err)
	}
	db, err := f.st.SQLDB()
	if err != nil {
		t.Fatal(err)
	}
	q := "INSERT INTO policies (tenant_id, version, body, created_at, created_by) VALUES (?, ?, ?, ?, ?)"
	if d == store.Postgres {
		q = "INSERT INTO policies (tenant_id, version, body, created_at, created_by) VALUES ($1, $2, $3, $4, $5)"
	}
	if _, err := db.Exec(q, f.tenant.ID, 1, string(raw), time.Now().UTC(), "557058:admin"); err != nil {
		t.Fatal(err)
	}
}

// TestScan_StoredZeroLimitsStillBrake: a policy version saved with the
// limits at 0 (the accidental "no limit" of the old format) runs with the
// brake on and the default limits, so an enforce scan that would remove
// about 40 % of the users is held and removes nothing.
func TestScan_StoredZeroLimitsStillBrake(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		f := setup(t, d, 400)
		storeOldPolicyVersion(t, f, d, app.ModeEnforce)
		run, err := f.runner.Run(context.Background(), f.tenant.ID, "", app.TriggerManual)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(f.srv.Ledger()); n != 0 || run.Status != app.ScanHeld || run.PolicyVersion != 1 {
			t.Fatalf("status %s on policy v%d removed %d memberships, want held and none; summary %s", run.Status, run.PolicyVersion, n, run.Summary)
		}
		var sum scan.Summary
		if err := json.Unmarshal(run.Summary, &sum); err != nil || sum.Brake == nil || sum.Brake.Off {
			t.Fatalf("summary brake %+v (%v)", sum.Brake, err)
		}
		reasons := strings.Join(sum.Brake.Reasons, "; ")
		if !strings.Contains(reasons, "exceed maxRemovals=50") || !strings.Contains(reasons, "exceed maxRemovalShare=0.1") {
			t.Fatalf("brake reasons %q, want the default limits", reasons)
		}
	})
}

// TestScan_ExplicitBrakeOffRemovesWithoutHold: with brake.off and a
// justification, the same scan removes every planned membership without a
// hold, far beyond the default limits, and its summary records that the
// brake was off.
func TestScan_ExplicitBrakeOffRemovesWithoutHold(t *testing.T) {
	t.Parallel()
	f := setup(t, store.SQLite, 400)
	f.savePolicy(t, func(p *app.Policy) { p.Mode = app.ModeEnforce; brakeOff(p) })
	run, err := f.runner.Run(context.Background(), f.tenant.ID, "", app.TriggerManual)
	if err != nil || run.Status != app.ScanCompleted {
		t.Fatalf("run = %+v, %v", run, err)
	}
	var sum scan.Summary
	if err := json.Unmarshal(run.Summary, &sum); err != nil || sum.Brake == nil || !sum.Brake.Off || sum.Brake.Held {
		t.Fatalf("summary brake %+v (%v)", sum.Brake, err)
	}
	if sum.Brake.Removals <= app.DefaultMaxRemovals || len(f.srv.Ledger()) < sum.Brake.Removals {
		t.Fatalf("removed %d memberships of %d accounts; want more accounts than the default limit %d", len(f.srv.Ledger()), sum.Brake.Removals, app.DefaultMaxRemovals)
	}
}
