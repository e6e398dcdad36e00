package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/store"
	"github.com/lapsehq/lapse/app/store/storetest"
)

// oldRemoval is an access.removed event's data exactly as releases before
// the typed evidence wrote it (a map literal in the scan package).
const oldRemoval = `{"scanId":"scan-1","accountId":"acc-1","groupId":"g-1","alreadyRemoved":false,"readBack":false,
"groupName":"jira-users","products":[{"product":"jira-software","resourceId":"ari:cloud:jira::site/1","rule":"products.jira-software.inactiveDays=90",
"reason":"inactive","policyVersion":3,"lastActive":"2026-01-02T03:04:05Z","daysInactive":120,
"billablePath":[{"groupId":"g-1","groupName":"jira-users","synced":false,"resourceId":"ari:cloud:jira::site/1","product":"jira-software","roles":["user"]}]}]}`

// oldRestore is an access.restored event's data as earlier releases wrote it.
const oldRestore = `{"groupId":"g-2","groupName":"confluence-users","removedByScan":"scan-0","alreadyMember":false,"readBack":true,"restoredEventId":%d,"accountId":"acc-2"}`

// TestStore_EvidenceOfEarlierReleasesReadsBack: events written before the
// evidence became typed still verify, read back into the types (restore
// reads app.RemovalEvidence), and an earlier restore still blocks a second
// restore of its removal; new evidence keeps the stored field names.
func TestStore_EvidenceOfEarlierReleasesReadsBack(t *testing.T) {
	t.Parallel()
	storetest.EachStore(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		tn, err := s.InstallConnect(ctx, app.ConnectInstall{ClientKey: "ck", BaseURL: "https://a.atlassian.net", Product: app.ProductJira, SharedSecret: []byte("s")})
		if err != nil {
			t.Fatal(err)
		}
		scanActor := app.Actor{Type: app.ActorScan, ID: "scan-1"}
		if err := s.AppendAuditForTest(ctx, tn.ID, scanActor, app.AuditAccessRemove, json.RawMessage(oldRemoval)); err != nil {
			t.Fatal(err)
		}
		evs := events(t, s, tn.ID)
		removal := evs[len(evs)-1]
		var got app.RemovalEvidence
		if err := json.Unmarshal(removal.Data, &got); err != nil {
			t.Fatal(err)
		}
		last := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		if got.ScanID != "scan-1" || got.AccountID != "acc-1" || got.GroupID != "g-1" || got.GroupName != "jira-users" || len(got.Products) != 1 ||
			got.Products[0].Rule != "products.jira-software.inactiveDays=90" || got.Products[0].PolicyVersion != 3 ||
			!got.Products[0].LastActive.Equal(last) || got.Products[0].DaysInactive != 120 || len(got.Products[0].BillablePath) != 1 {
			t.Fatalf("old removal read back as %+v", got)
		}
		// Written again from the type, the data is the same JSON.
		again, _ := json.Marshal(got)
		if !sameJSON(t, again, []byte(oldRemoval)) {
			t.Fatalf("removal evidence no longer has the stored shape:\n%s\n%s", again, oldRemoval)
		}
		restored, err := s.RecordRestore(ctx, tn.ID, app.RestoreEvidence{AccountID: got.AccountID, GroupID: got.GroupID, GroupName: got.GroupName,
			RemovedByScan: got.ScanID, RestoredEventID: removal.ID}, adminActor)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.RecordRestore(ctx, tn.ID, app.RestoreEvidence{AccountID: got.AccountID, GroupID: got.GroupID, RestoredEventID: removal.ID}, adminActor); app.ErrorCode(err) != app.ECONFLICT {
			t.Fatalf("second restore = %v, want ECONFLICT", err)
		}
		var typed app.RestoreEvidence
		if err := json.Unmarshal(restored.Data, &typed); err != nil || typed.RestoredEventID != removal.ID || typed.AccountID != "acc-1" {
			t.Fatalf("restore evidence = %+v, %v", typed, err)
		}
		// A restore an earlier release recorded blocks a second restore too.
		if err := s.AppendAuditForTest(ctx, tn.ID, scanActor, app.AuditAccessRemove, json.RawMessage(`{"scanId":"scan-0","accountId":"acc-2","groupId":"g-2","alreadyRemoved":false,"readBack":false,"products":null}`)); err != nil {
			t.Fatal(err)
		}
		evs = events(t, s, tn.ID)
		oldID := evs[len(evs)-1].ID
		if err := s.AppendAuditForTest(ctx, tn.ID, adminActor, app.AuditRestore, json.RawMessage(fmt.Sprintf(oldRestore, oldID))); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RecordRestore(ctx, tn.ID, app.RestoreEvidence{AccountID: "acc-2", GroupID: "g-2", RestoredEventID: oldID}, adminActor); app.ErrorCode(err) != app.ECONFLICT {
			t.Fatalf("restore after an old-format restore = %v, want ECONFLICT", err)
		}
		var oldTyped app.RestoreEvidence
		if err := json.Unmarshal([]byte(fmt.Sprintf(oldRestore, oldID)), &oldTyped); err != nil || !oldTyped.ReadBack || oldTyped.RemovedByScan != "scan-0" {
			t.Fatalf("old restore read back as %+v, %v", oldTyped, err)
		}
		if v := mustVerify(t, s, tn.ID); !v.OK {
			t.Fatalf("chain with old and new evidence: %+v", v)
		}
	})
}

// TestStore_ScanUsageMigration: migration 00011 carries what earlier scans
// recorded in their summary into the usage columns a resumed scan adds to.
func TestStore_ScanUsageMigration(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, d store.Dialect) {
		ctx := context.Background()
		s, err := store.Open(ctx, store.Config{URL: storetest.URL(t, d), Box: storetest.Box(t)})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		db, _ := s.SQLDB()
		fsys, _ := store.MigrationFS(d)
		dialect := goose.DialectSQLite3
		if d == store.Postgres {
			dialect = goose.DialectPostgres
		}
		p, err := goose.NewProvider(dialect, db, fsys)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.UpTo(ctx, 7); err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		exec(t, s, "INSERT INTO tenants (id, installation_id, product, state, created_at, updated_at) VALUES ('t1', 't1', 'jira', 'installed', $1, $1)", at)
		exec(t, s, `INSERT INTO scans (id, tenant_id, status, trigger_kind, policy_version, mode, started_at, summary) VALUES
			('deferred', 't1', 'deferred', 'schedule', 1, 'enforce', $1, '{"api":{"requests":81,"rateLimited":4,"points":7}}'),
			('new', 't1', 'queued', 'manual', 0, '', $1, '{}')`, at)
		if _, err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		for id, want := range map[string]app.APIUsage{"deferred": {Requests: 81, RateLimited: 4, Points: 7}, "new": {}} {
			got, err := s.AddScanUsage(ctx, "t1", id, app.APIUsage{})
			if err != nil || got != want {
				t.Fatalf("scan %s usage after migrating = %+v, %v; want %+v", id, got, err, want)
			}
		}
		got, err := s.AddScanUsage(ctx, "t1", "deferred", app.APIUsage{Requests: 2, RateLimited: 1})
		if err != nil || got != (app.APIUsage{Requests: 83, RateLimited: 5, Points: 7}) {
			t.Fatalf("usage after adding = %+v, %v", got, err)
		}
	})
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}
