package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/store"
	"github.com/lapsehq/lapse/app/store/storetest"
)

var adminActor = app.Actor{Type: app.ActorAdmin, ID: "557058:admin"}

// newChain creates a Forge tenant (its install is event 1) and appends
// events up to n, some about an account, some with data PostgreSQL's JSONB
// will reformat (key order, number notation, escapes).
func newChain(t *testing.T, s *store.Store, inst string, n int) string {
	t.Helper()
	ctx := context.Background()
	tn, err := s.ResolveForgeTenant(ctx, forgeInstallation(inst))
	if err != nil {
		t.Fatal(err)
	}
	for i := 2; i <= n; i++ {
		var data any = map[string]any{"accountId": fmt.Sprintf("acc-%d", i%3), "n": i}
		if i%4 == 0 {
			data = json.RawMessage(`{"z":1e-7,"a":[1.50,"<&> é \u00e9"],"m":{"y":null,"b":true}}`)
		}
		if err := s.AppendAuditForTest(ctx, tn.ID, adminActor, fmt.Sprintf("test.step%d", i%2), data); err != nil {
			t.Fatal(err)
		}
	}
	return tn.ID
}

func mustVerify(t *testing.T, s *store.Store, tenantID string) store.AuditVerification {
	t.Helper()
	v, err := s.VerifyAuditChain(context.Background(), tenantID)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func exec(t *testing.T, s *store.Store, query string, args ...any) {
	t.Helper()
	db, err := s.SQLDB()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(context.Background(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func events(t *testing.T, s *store.Store, tenantID string) []*app.AuditEvent {
	t.Helper()
	evs, err := s.ListAuditEvents(context.Background(), tenantID, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestStore_AuditChainVerifies(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, s *store.Store) {
		id := newChain(t, s, "inst-1", 10)
		v := mustVerify(t, s, id)
		if !v.OK || v.Events != 10 || v.TenantID != id {
			t.Fatalf("clean chain: %+v", v)
		}
		evs := events(t, s, id)
		for i, e := range evs {
			if e.Seq != int64(i+1) || e.Hash == "" || (i > 0 && e.PrevHash != evs[i-1].Hash) || (i == 0 && e.PrevHash != "") {
				t.Fatalf("event %d: seq %d prev %q hash %q", i, e.Seq, e.PrevHash, e.Hash)
			}
			// Whoever holds an export can recompute every hash from it.
			if store.AuditHashForTest(e) != e.Hash {
				t.Fatalf("seq %d: the exported event does not reproduce its hash", e.Seq)
			}
		}
		if got := string(evs[3].Data); got != `{"a":[1.5,"<&> é é"],"m":{"b":true,"y":null},"z":0.0000001}` {
			t.Fatalf("data is not returned canonical: %s", got)
		}
		if evs[1].TargetAccountID != "acc-2" || evs[3].TargetAccountID != "" {
			t.Fatalf("target account ids %q %q", evs[1].TargetAccountID, evs[3].TargetAccountID)
		}
	})
}

// TestStore_AuditChainTamper edits the database behind the store's back,
// as someone with database access could, and checks that verification
// names the first broken link and how it broke.
func TestStore_AuditChainTamper(t *testing.T) {
	t.Parallel()
	const n = 6
	type tamperFunc func(t *testing.T, s *store.Store, tenantID string)
	swapSeq := func(a, b int) tamperFunc {
		return func(t *testing.T, s *store.Store, id string) {
			exec(t, s, "UPDATE audit_events SET seq = 1000 WHERE tenant_id = $1 AND seq = $2", id, a)
			exec(t, s, "UPDATE audit_events SET seq = $2 WHERE tenant_id = $1 AND seq = $3", id, a, b)
			exec(t, s, "UPDATE audit_events SET seq = $2 WHERE tenant_id = $1 AND seq = 1000", id, b)
		}
	}
	cases := []struct {
		name    string
		tamper  tamperFunc
		seq     int64
		problem string
		// eventAt is where the reported event sat before tampering: 0 when
		// the broken link is a missing row, -1 when the event is new.
		eventAt int
	}{
		{name: "edit_action", seq: 3, eventAt: 3, problem: store.AuditRowEdited, tamper: func(t *testing.T, s *store.Store, id string) {
			exec(t, s, "UPDATE audit_events SET action = 'tenant.nothing_happened' WHERE tenant_id = $1 AND seq = 3", id)
		}},
		{name: "edit_data", seq: 4, eventAt: 4, problem: store.AuditRowEdited, tamper: func(t *testing.T, s *store.Store, id string) {
			exec(t, s, `UPDATE audit_events SET data = '{"accountId":"someone-else"}' WHERE tenant_id = $1 AND seq = 4`, id)
		}},
		{name: "edit_time", seq: 2, eventAt: 2, problem: store.AuditRowEdited, tamper: func(t *testing.T, s *store.Store, id string) {
			exec(t, s, "UPDATE audit_events SET occurred_at = $2 WHERE tenant_id = $1 AND seq = 2", id, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
		}},
		{name: "edit_target_account", seq: 5, eventAt: 5, problem: store.AuditRowEdited, tamper: func(t *testing.T, s *store.Store, id string) {
			// Would hide the event from an export filtered by account.
			exec(t, s, "UPDATE audit_events SET target_account_id = 'nobody' WHERE tenant_id = $1 AND seq = 5", id)
		}},
		{name: "delete_middle", seq: 4, eventAt: 4, problem: store.AuditSeqGap, tamper: func(t *testing.T, s *store.Store, id string) {
			exec(t, s, "DELETE FROM audit_events WHERE tenant_id = $1 AND seq = 3", id)
		}},
		{name: "swap_seq_adjacent", seq: 2, eventAt: 3, problem: store.AuditSeqOutOfOrder, tamper: swapSeq(2, 3)},
		{name: "swap_seq_apart", seq: 2, eventAt: 5, problem: store.AuditSeqOutOfOrder, tamper: swapSeq(2, 5)},
		{name: "swap_contents", seq: 2, eventAt: 2, problem: store.AuditRowEdited, tamper: func(t *testing.T, s *store.Store, id string) {
			evs := events(t, s, id)
			for _, p := range [][2]*app.AuditEvent{{evs[1], evs[2]}, {evs[2], evs[1]}} {
				exec(t, s, "UPDATE audit_events SET action = $2, data = $3, hash = $4, prev_hash = $5 WHERE tenant_id = $1 AND seq = $6",
					id, p[1].Action, string(p[1].Data), p[1].Hash, p[1].PrevHash, p[0].Seq)
			}
		}},
		// The rows left after deleting the newest one still form a valid
		// chain: only the head shows the loss.
		{name: "delete_last", seq: n, problem: store.AuditTruncated, tamper: func(t *testing.T, s *store.Store, id string) {
			exec(t, s, "DELETE FROM audit_events WHERE tenant_id = $1 AND seq = $2", id, n)
		}},
		{name: "delete_last_then_append", seq: n + 1, eventAt: -1, problem: store.AuditSeqGap, tamper: func(t *testing.T, s *store.Store, id string) {
			exec(t, s, "DELETE FROM audit_events WHERE tenant_id = $1 AND seq = $2", id, n)
			if err := s.AppendAuditForTest(context.Background(), id, adminActor, "test.after", nil); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "delete_everything", seq: 1, problem: store.AuditTruncated, tamper: func(t *testing.T, s *store.Store, id string) {
			exec(t, s, "DELETE FROM audit_events WHERE tenant_id = $1", id)
		}},
		{name: "edit_head_hash", seq: n, eventAt: n, problem: store.AuditHeadMismatch, tamper: func(t *testing.T, s *store.Store, id string) {
			exec(t, s, "UPDATE audit_heads SET hash = 'deadbeef' WHERE tenant_id = $1", id)
		}},
		{name: "edit_head_seq", seq: n, eventAt: n, problem: store.AuditHeadMismatch, tamper: func(t *testing.T, s *store.Store, id string) {
			exec(t, s, "UPDATE audit_heads SET seq = seq - 1 WHERE tenant_id = $1", id)
		}},
		{name: "delete_head", seq: n, eventAt: n, problem: store.AuditHeadMissing, tamper: func(t *testing.T, s *store.Store, id string) {
			exec(t, s, "DELETE FROM audit_heads WHERE tenant_id = $1", id)
		}},
		// Appending does not re-create a deleted head, which would erase the
		// evidence.
		{name: "delete_head_then_append", seq: n + 1, eventAt: -1, problem: store.AuditHeadMissing, tamper: func(t *testing.T, s *store.Store, id string) {
			exec(t, s, "DELETE FROM audit_heads WHERE tenant_id = $1", id)
			if err := s.AppendAuditForTest(context.Background(), id, adminActor, "test.after", nil); err != nil {
				t.Fatal(err)
			}
		}},
		// A row appended with a correct hash but not through the store is
		// caught by the head, which it did not move.
		{name: "forged_append", seq: n + 1, eventAt: -1, problem: store.AuditHeadMismatch, tamper: func(t *testing.T, s *store.Store, id string) {
			evs := events(t, s, id)
			e := &app.AuditEvent{TenantID: id, Seq: n + 1, OccurredAt: time.Now().UTC().Truncate(time.Microsecond), Actor: adminActor,
				Action: "tenant.forged", Data: json.RawMessage(`{}`), PrevHash: evs[n-1].Hash}
			exec(t, s, "INSERT INTO audit_events (tenant_id, seq, occurred_at, actor_type, actor_id, action, data, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
				id, e.Seq, e.OccurredAt, string(e.Actor.Type), e.Actor.ID, e.Action, "{}", e.PrevHash, store.AuditHashForTest(e))
		}},
		// Deleting a row, renumbering the rest and recomputing their hashes
		// still leaves the first renumbered row pointing at the deleted one.
		{name: "delete_renumber_rehash", seq: 3, eventAt: 4, problem: store.AuditRowUnlinked, tamper: func(t *testing.T, s *store.Store, id string) {
			evs := events(t, s, id)
			exec(t, s, "DELETE FROM audit_events WHERE tenant_id = $1 AND seq = 3", id)
			for _, e := range evs[3:] {
				e.Seq--
				exec(t, s, "UPDATE audit_events SET seq = $2, hash = $3 WHERE tenant_id = $1 AND id = $4", id, e.Seq, store.AuditHashForTest(e), e.ID)
			}
		}},
	}
	for _, d := range storetest.Dialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			s := storetest.Open(t, d)
			for i, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					id := newChain(t, s, fmt.Sprintf("inst-%d", i), n)
					want := events(t, s, id)
					if v := mustVerify(t, s, id); !v.OK {
						t.Fatalf("before tampering: %+v", v)
					}
					c.tamper(t, s, id)
					v := mustVerify(t, s, id)
					if v.OK || v.BrokenAtSeq != c.seq || v.Problem != c.problem {
						t.Fatalf("got %+v; want broken at seq %d: %s", v, c.seq, c.problem)
					}
					var wantID int64
					if c.eventAt > 0 {
						wantID = want[c.eventAt-1].ID
					}
					if c.eventAt >= 0 && v.BrokenEventID != wantID || c.eventAt < 0 && v.BrokenEventID == 0 {
						t.Fatalf("broken event id %d, want %d", v.BrokenEventID, wantID)
					}
				})
			}
		})
	}
}

// TestStore_AuditChainConcurrentAppends appends to one tenant from many
// goroutines through ordinary store methods: the chain has no gap, no fork
// and every event.
func TestStore_AuditChainConcurrentAppends(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		tn, err := s.ResolveForgeTenant(ctx, forgeInstallation("inst-c"))
		if err != nil {
			t.Fatal(err)
		}
		const workers, each = 8, 6
		var wg sync.WaitGroup
		errs := make(chan error, workers*each)
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					var err error
					if i%2 == 0 {
						inv := app.ForgeInvocation{Kind: app.InvocationLifecycle, EventType: app.ForgeEventUpgraded, TraceID: fmt.Sprintf("%d-%d", w, i)}
						_, err = s.RecordForgeInvocation(ctx, tn.ID, inv, nil, app.Actor{Type: app.ActorAtlassian})
					} else {
						err = s.AppendAuditForTest(ctx, tn.ID, adminActor, "test.concurrent", map[string]any{"w": w, "i": i})
					}
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if v := mustVerify(t, s, tn.ID); !v.OK || v.Events != 1+workers*each {
			t.Fatalf("after concurrent appends: %+v", v)
		}
	})
}

// TestStore_AuditSeqConflictRetries has a writer that skips the chain lock
// take the next seq first (PostgreSQL only: SQLite has a single writer).
// The store's insert waits for it, finds the seq taken, and appends after
// it instead of failing the caller's transaction.
func TestStore_AuditSeqConflictRetries(t *testing.T) {
	t.Parallel()
	if !slices.Contains(storetest.Dialects(t), store.Postgres) {
		t.Skip("PostgreSQL only")
	}
	s := storetest.Open(t, store.Postgres)
	ctx := context.Background()
	id := newChain(t, s, "inst-r", 3)
	db, _ := s.SQLDB()
	rogue, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rogue.Rollback()
	if _, err := rogue.ExecContext(ctx, "INSERT INTO audit_events (tenant_id, seq, occurred_at, actor_type, action, hash) VALUES ($1, 4, now(), 'system', 'rogue', 'x')", id); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.AppendAuditForTest(ctx, id, adminActor, "test.waited", nil) }()
	waitForLockWait(t, db)
	if err := rogue.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("append after a conflicting insert: %v", err)
	}
	evs := events(t, s, id)
	if last := evs[len(evs)-1]; last.Seq != 5 || last.Action != "test.waited" {
		t.Fatalf("last event %+v, want test.waited at seq 5", last)
	}
	if v := mustVerify(t, s, id); v.OK || v.BrokenAtSeq != 4 || v.Problem != store.AuditRowEdited {
		t.Fatalf("the rogue row must show: %+v", v)
	}
}

// waitForLockWait returns once some session waits for a lock.
func waitForLockWait(t *testing.T, db *sql.DB) {
	t.Helper()
	for range 500 {
		var n int
		if err := db.QueryRow("SELECT count(*) FROM pg_locks WHERE NOT granted").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the append never waited for the conflicting insert")
}

// TestStore_AuditChainMigrationBackfill writes events under schema 3, then
// migrates: the events get seq in write order and their account column,
// the first verification seals them, and new events link on.
func TestStore_AuditChainMigrationBackfill(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
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
			if _, err := p.UpTo(ctx, 3); err != nil {
				t.Fatal(err)
			}
			at := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
			for _, tid := range []string{"tenant-a", "tenant-b"} {
				exec(t, s, "INSERT INTO tenants (id, installation_id, product, state, created_at, updated_at) VALUES ($1, $1, 'jira', 'installed', $2, $2)", tid, at)
			}
			// Interleaved, as tenants write: a's events are ids 1, 3, 4.
			for i, tid := range []string{"tenant-a", "tenant-b", "tenant-a", "tenant-a", "tenant-b"} {
				exec(t, s, "INSERT INTO audit_events (tenant_id, occurred_at, actor_type, actor_id, action, data) VALUES ($1, $2, 'admin', '', 'legacy', $3)",
					tid, at.Add(time.Duration(i)*time.Second), fmt.Sprintf(`{"n": %d, "accountId": "acc-%d", "x": 1E+2}`, i, i))
			}
			if _, err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			var account []int64
			err = s.AuditEvents(ctx, "tenant-a", app.AuditFilter{AccountID: "acc-3"}, func(e *app.AuditEvent) error {
				account = append(account, e.Seq)
				return nil
			})
			if err != nil || !slices.Equal(account, []int64{3}) {
				t.Fatalf("backfilled account column: %v, %v", account, err)
			}
			for tid, want := range map[string]int{"tenant-a": 3, "tenant-b": 2} {
				if v := mustVerify(t, s, tid); !v.OK || v.Events != want {
					t.Fatalf("%s after sealing: %+v", tid, v)
				}
			}
			if err := s.AppendAuditForTest(ctx, "tenant-a", adminActor, "test.new", nil); err != nil {
				t.Fatal(err)
			}
			evs := events(t, s, "tenant-a")
			if len(evs) != 4 || evs[3].Seq != 4 || evs[3].PrevHash != evs[2].Hash || evs[0].PrevHash != "" {
				t.Fatalf("chain after migration: %+v", evs)
			}
			if v := mustVerify(t, s, "tenant-a"); !v.OK || v.Events != 4 {
				t.Fatalf("after append: %+v", v)
			}
			// Sealing never re-seals: a sealed row that loses its hash stays
			// broken.
			exec(t, s, "UPDATE audit_events SET hash = '', action = 'edited' WHERE tenant_id = 'tenant-b' AND seq = 1")
			exec(t, s, "DELETE FROM audit_heads WHERE tenant_id = 'tenant-b'")
			if v := mustVerify(t, s, "tenant-b"); v.OK || v.BrokenAtSeq != 1 || v.Problem != store.AuditRowEdited {
				t.Fatalf("re-sealing an edited chain: %+v", v)
			}
		})
	}
}

// TestStore_VerifyAllAuditChains covers every tenant, including one with no
// events, and reports each chain on its own.
func TestStore_VerifyAllAuditChains(t *testing.T) {
	t.Parallel()
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		var ids []string
		for i := range 6 {
			ids = append(ids, newChain(t, s, fmt.Sprintf("inst-%d", i), 3))
		}
		exec(t, s, "DELETE FROM audit_events WHERE tenant_id = $1 AND seq = 2", ids[4])
		got := map[string]store.AuditVerification{}
		for v, err := range s.VerifyAllAuditChains(ctx) {
			if err != nil {
				t.Fatal(err)
			}
			got[v.TenantID] = v
		}
		if len(got) != len(ids) {
			t.Fatalf("verified %d tenants, want %d", len(got), len(ids))
		}
		for i, id := range ids {
			if v := got[id]; v.OK != (i != 4) {
				t.Fatalf("tenant %d: %+v", i, v)
			}
		}
	})
}

func TestStore_AuditEventsExport(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			clock := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
			s := storetest.Open(t, d, storetest.Options{NowFunc: func() time.Time {
				mu.Lock()
				defer mu.Unlock()
				clock = clock.Add(time.Hour)
				return clock
			}})
			ctx := context.Background()
			id := newChain(t, s, "inst-e", 11) // seq 1 at 01:00 ... seq 11 at 11:00, roughly
			other := newChain(t, s, "inst-o", 5)
			all := events(t, s, id)
			at := func(seq int) *time.Time { ts := all[seq-1].OccurredAt; return &ts }
			cases := []struct {
				name string
				f    app.AuditFilter
				want []int64
			}{
				{"all", app.AuditFilter{}, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}},
				{"from_inclusive_to_exclusive", app.AuditFilter{From: at(3), To: at(7)}, []int64{3, 4, 5, 6}},
				{"from_in_other_zone", app.AuditFilter{From: func() *time.Time { ts := at(10).In(time.FixedZone("x", -5*3600)); return &ts }()}, []int64{10, 11}},
				{"actions", app.AuditFilter{Actions: []string{"test.step1", app.AuditTenantInstalled}}, []int64{1, 3, 5, 7, 9, 11}},
				{"account", app.AuditFilter{AccountID: "acc-2"}, []int64{2, 5, 11}},
				{"after_seq", app.AuditFilter{AfterSeq: 8}, []int64{9, 10, 11}},
				{"limit_across_pages", app.AuditFilter{Limit: 6}, []int64{1, 2, 3, 4, 5, 6}},
				{"limit_after_seq_and_action", app.AuditFilter{AfterSeq: 2, Actions: []string{"test.step0"}, Limit: 3}, []int64{4, 6, 8}},
			}
			for _, c := range cases {
				var got []int64
				err := s.AuditEvents(ctx, id, c.f, func(e *app.AuditEvent) error {
					if e.TenantID != id {
						t.Fatalf("%s: read tenant %s's event", c.name, e.TenantID)
					}
					got = append(got, e.Seq)
					return nil
				})
				if err != nil || !slices.Equal(got, c.want) {
					t.Errorf("%s: got %v, %v; want %v", c.name, got, err, c.want)
				}
			}
			stop := errors.New("stop")
			var n int
			err := s.AuditEvents(ctx, other, app.AuditFilter{}, func(*app.AuditEvent) error { n++; return stop })
			if !errors.Is(err, stop) || n != 1 {
				t.Fatalf("callback error: %v after %d events", err, n)
			}
			if err := s.AuditEvents(ctx, id, app.AuditFilter{From: at(5), To: at(5)}, func(*app.AuditEvent) error { return nil }); app.ErrorCode(err) != app.EINVALID {
				t.Fatalf("empty period: %v", err)
			}
		})
	}
}
