package store_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/internal/testclock"
	"github.com/lapsehq/lapse/app/store"
	"github.com/lapsehq/lapse/app/store/storetest"
)

func warningFixture(t *testing.T, d store.Dialect) (*store.Store, *testclock.Clock, *app.Tenant, *app.Tenant) {
	t.Helper()
	clock := testclock.New(time.Date(2026, 6, 1, 3, 0, 0, 0, time.UTC)) // a store clock the test moves by hand
	s := storetest.Open(t, d, storetest.Options{NowFunc: clock.Now})
	ctx := context.Background()
	a, err := s.InstallConnect(ctx, app.ConnectInstall{ClientKey: "ck-a", BaseURL: "https://a.atlassian.net", Product: app.ProductJira, SharedSecret: []byte("s")})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.InstallConnect(ctx, app.ConnectInstall{ClientKey: "ck-b", BaseURL: "https://b.atlassian.net", Product: app.ProductJira, SharedSecret: []byte("s")})
	if err != nil {
		t.Fatal(err)
	}
	return s, clock, a, b
}

func notice(account string, due time.Time) app.WarningNotice {
	return app.WarningNotice{AccountID: account, Product: "jira-software", RemovalDue: due, Email: account + "@example.com", DisplayName: "User " + account}
}

// TestStore_WarningsQueuedOncePerRemovalDay: the daily scans of a warning
// period queue one notice per account, product and removal day; a new
// removal day (the account was active in between) is a new notice.
func TestStore_WarningsQueuedOncePerRemovalDay(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			s, _, a, b := warningFixture(t, d)
			ctx := context.Background()
			due := time.Date(2026, 6, 10, 8, 30, 0, 0, time.UTC)
			n, err := s.QueueWarnings(ctx, a.ID, "scan-1", []app.WarningNotice{notice("u1", due), notice("u2", due)})
			if err != nil || n != 2 {
				t.Fatalf("first scan queued %d, %v; want 2", n, err)
			}
			// Next day's scan sees the same two pending; u1's due time moved
			// within the same day (a later reading of the same activity).
			n, err = s.QueueWarnings(ctx, a.ID, "scan-2", []app.WarningNotice{notice("u1", due.Add(time.Hour)), notice("u2", due)})
			if err != nil || n != 0 {
				t.Fatalf("second scan queued %d, %v; want 0", n, err)
			}
			n, err = s.QueueWarnings(ctx, a.ID, "scan-3", []app.WarningNotice{notice("u1", due.AddDate(0, 0, 20))})
			if err != nil || n != 1 {
				t.Fatalf("new removal day queued %d, %v; want 1", n, err)
			}
			// Another tenant's notice for the same account id is its own.
			if n, err := s.QueueWarnings(ctx, b.ID, "scan-b", []app.WarningNotice{notice("u1", due)}); err != nil || n != 1 {
				t.Fatalf("tenant b queued %d, %v", n, err)
			}
			listA, err := s.Warnings(ctx, a.ID, 100)
			if err != nil || len(listA) != 3 {
				t.Fatalf("tenant a lists %d notices, %v; want 3", len(listA), err)
			}
			for _, w := range listA {
				if w.TenantID != a.ID || w.State != app.WarningQueued || w.Email != w.AccountID+"@example.com" {
					t.Fatalf("notice %+v", w)
				}
			}
		})
	}
}

// TestStore_WarningDeliveryLifecycle: claim, retry with a later attempt,
// reclaim a stale claim, send (audited in the chain), give up (audited);
// finished notices are never claimed again and never audited twice.
func TestStore_WarningDeliveryLifecycle(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			s, clock, a, _ := warningFixture(t, d)
			ctx := context.Background()
			due := time.Date(2026, 6, 10, 0, 0, 0, 0, time.UTC)
			if _, err := s.QueueWarnings(ctx, a.ID, "scan-1", []app.WarningNotice{notice("u1", due), notice("u2", due)}); err != nil {
				t.Fatal(err)
			}
			claimed, err := s.ClaimWarnings(ctx, 10, 10*time.Minute)
			if err != nil || len(claimed) != 2 {
				t.Fatalf("claimed %d, %v; want 2", len(claimed), err)
			}
			if again, _ := s.ClaimWarnings(ctx, 10, 10*time.Minute); len(again) != 0 {
				t.Fatalf("claimed %d notices that are being sent", len(again))
			}
			byAccount := map[string]app.WarningNotice{}
			for _, c := range claimed {
				if c.State != app.WarningSending || c.Attempts != 1 {
					t.Fatalf("claimed %+v", c)
				}
				byAccount[c.AccountID] = c
			}
			// u1 fails for now: back in the queue, due in 4 minutes.
			if err := s.RetryWarning(ctx, byAccount["u1"], clock.Now().Add(4*time.Minute), "451 try later"); err != nil {
				t.Fatal(err)
			}
			if early, _ := s.ClaimWarnings(ctx, 10, 10*time.Minute); len(early) != 0 {
				t.Fatalf("claimed %d before the retry is due", len(early))
			}
			clock.Advance(5 * time.Minute)
			retry, err := s.ClaimWarnings(ctx, 10, 10*time.Minute)
			if err != nil || len(retry) != 1 || retry[0].AccountID != "u1" || retry[0].Attempts != 2 || retry[0].LastError != "451 try later" {
				t.Fatalf("retry claim = %+v, %v", retry, err)
			}
			// u2's sender died: after 10 minutes its claim is stale and taken over.
			clock.Advance(6 * time.Minute)
			stale, err := s.ClaimWarnings(ctx, 10, 10*time.Minute)
			if err != nil || len(stale) != 1 || stale[0].AccountID != "u2" || stale[0].Attempts != 2 {
				t.Fatalf("stale claim = %+v, %v", stale, err)
			}
			if err := s.WarningSent(ctx, stale[0]); err != nil {
				t.Fatal(err)
			}
			if err := s.WarningSent(ctx, byAccount["u2"]); err != nil { // the first sender wakes up
				t.Fatal(err)
			}
			if err := s.WarningFailed(ctx, retry[0], "550 no such user"); err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Hour)
			if left, _ := s.ClaimWarnings(ctx, 10, 10*time.Minute); len(left) != 0 {
				t.Fatalf("claimed %d finished notices", len(left))
			}
			events, err := s.ListAuditEvents(ctx, a.ID, 100)
			if err != nil {
				t.Fatal(err)
			}
			count := map[string]int{}
			for _, e := range events {
				count[e.Action]++
				if e.Action == app.AuditWarningSent && e.TargetAccountID != "u2" {
					t.Fatalf("sent event targets %q", e.TargetAccountID)
				}
			}
			if count[app.AuditWarningSent] != 1 || count[app.AuditWarningFailed] != 1 {
				t.Fatalf("audit actions = %v, want one warning.sent and one warning.failed", count)
			}
			if v, err := s.VerifyAuditChain(ctx, a.ID); err != nil || !v.OK {
				t.Fatalf("chain after warnings: %+v, %v", v, err)
			}
			list, _ := s.Warnings(ctx, a.ID, 10)
			states := map[string]string{}
			for _, w := range list {
				states[w.AccountID] = w.State
			}
			if states["u1"] != app.WarningFailed || states["u2"] != app.WarningSent {
				t.Fatalf("states = %v", states)
			}
		})
	}
}

// TestStore_WarningClaimsAreExclusive: replicas claiming at once never get
// the same notice.
func TestStore_WarningClaimsAreExclusive(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			s, _, a, _ := warningFixture(t, d)
			ctx := context.Background()
			var ns []app.WarningNotice
			for i := range 60 {
				ns = append(ns, notice(string(rune('a'+i%26))+string(rune('a'+i/26)), time.Date(2026, 6, 10, 0, 0, 0, 0, time.UTC)))
			}
			if n, err := s.QueueWarnings(ctx, a.ID, "scan-1", ns); err != nil || n != 60 {
				t.Fatalf("queued %d, %v", n, err)
			}
			var total atomic.Int64
			seen := sync.Map{}
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					for {
						got, err := s.ClaimWarnings(ctx, 7, 10*time.Minute)
						if err != nil {
							t.Error(err)
							return
						}
						if len(got) == 0 {
							return
						}
						for _, g := range got {
							if _, dup := seen.LoadOrStore(g.ID, true); dup {
								t.Errorf("notice %s claimed twice", g.ID)
							}
							total.Add(1)
						}
					}
				})
			}
			wg.Wait()
			if total.Load() != 60 {
				t.Fatalf("claimed %d notices, want 60", total.Load())
			}
		})
	}
}
