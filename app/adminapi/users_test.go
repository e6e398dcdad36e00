package adminapi_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app/adminapi"
	"github.com/lapsehq/lapse/app/devsite"
)

// wantActivity maps product ARI → last active for one simulated user's
// accessible products (zero = never used).
func wantActivity(o *devsite.Org, u *devsite.User) map[string]time.Time {
	out := map[string]time.Time{}
	for _, ari := range o.ProductAccess(u) {
		out[ari] = u.LastActive[ari]
	}
	return out
}

func TestSearchUsers_FullListing(t *testing.T) {
	t.Parallel()
	f := setup(t, devsite.Params{Seed: 1, Users: 500})
	c := f.client(t, nil)
	users, err := collect(t, c.SearchUsers(t.Context(), adminapi.UserQuery{
		Expand: []string{adminapi.ExpandProductAccess, adminapi.ExpandGroups}}))
	if err != nil {
		t.Fatal(err)
	}
	if n := f.sent.Load(); n != 5 {
		t.Errorf("%d requests for 500 users, want 5 pages of 100", n)
	}
	f.org(func(o *devsite.Org) {
		if len(users) != len(o.Users) {
			t.Fatalf("%d users, want %d", len(users), len(o.Users))
		}
		for i, got := range users {
			want := o.Users[i]
			if got.AccountID != want.AccountID || got.AccountType != want.AccountType ||
				got.ClaimStatus != want.ClaimStatus || !got.AddedToOrg.Equal(want.AddedToOrg) {
				t.Fatalf("user %d = %+v, want %+v", i, got, want)
			}
			if !got.ProductAccessKnown || !got.GroupsKnown {
				t.Fatalf("user %s: expanded fields missing", got.AccountID)
			}
			access := map[string]time.Time{}
			for _, pa := range got.ProductAccess {
				access[pa.ResourceID] = pa.LastActive
			}
			if !mapsEqualTime(access, wantActivity(o, want)) {
				t.Errorf("user %s access = %v, want %v", got.AccountID, access, wantActivity(o, want))
			}
			var groups []string
			for _, g := range got.Groups {
				groups = append(groups, g.ID)
			}
			if !slices.Equal(groups, want.GroupIDs()) {
				t.Errorf("user %s groups = %v, want %v", got.AccountID, groups, want.GroupIDs())
			}
		}
	})
}

func mapsEqualTime(a, b map[string]time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !w.Equal(v) {
			return false
		}
	}
	return true
}

func TestSearchUsers_PageEdges(t *testing.T) {
	t.Parallel()
	f := setup(t, devsite.Params{Seed: 1, Users: 120})
	c := f.client(t, nil)
	var ids []string
	f.org(func(o *devsite.Org) {
		for _, u := range o.Users[:21] {
			ids = append(ids, u.AccountID)
		}
	})
	cases := []struct {
		name      string
		q         adminapi.UserQuery
		wantUsers int
		wantSent  int64
	}{
		{"limit_equals_matches", adminapi.UserQuery{AccountIDs: ids[:10], Limit: 10}, 10, 1},
		{"one_more_than_limit", adminapi.UserQuery{AccountIDs: ids[:11], Limit: 10}, 11, 2},
		{"two_full_pages", adminapi.UserQuery{AccountIDs: ids[:20], Limit: 10}, 20, 2},
		{"no_match", adminapi.UserQuery{GroupIDs: []string{"no-such-group"}}, 0, 1},
		{"limit_above_cap", adminapi.UserQuery{Limit: 1000}, 120, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := f.sent.Load()
			got, err := collect(t, c.SearchUsers(t.Context(), tc.q))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.wantUsers || f.sent.Load()-before != tc.wantSent {
				t.Errorf("%d users in %d requests, want %d in %d", len(got), f.sent.Load()-before, tc.wantUsers, tc.wantSent)
			}
		})
	}
	t.Run("early_break_stops_fetching", func(t *testing.T) {
		before := f.sent.Load()
		for range c.SearchUsers(t.Context(), adminapi.UserQuery{Limit: 10}) {
			break
		}
		if n := f.sent.Load() - before; n != 1 {
			t.Errorf("%d requests for one item", n)
		}
	})
}

func TestSearchUsers_CursorExpired(t *testing.T) {
	t.Parallel()
	f := setup(t, devsite.Params{Seed: 1, Users: 40})
	c := f.client(t, nil)
	var n int
	var err error
	for _, e := range c.SearchUsers(t.Context(), adminapi.UserQuery{Limit: 10}) {
		if e != nil {
			err = e
			break
		}
		n++
		if n == 10 {
			f.clock.Advance(devsite.DefaultCursorTTL + time.Minute) // the consumer stalls
		}
	}
	var ce *adminapi.CursorExpiredError
	if !errors.As(err, &ce) || ce.Yielded != 10 || n != 10 {
		t.Fatalf("err = %v after %d users, want CursorExpiredError after 10", err, n)
	}
}

// TestLastActiveDates_MatchesBulk checks the per-user fallback reports the
// same activity as the bulk listing, for every user.
func TestLastActiveDates_MatchesBulk(t *testing.T) {
	t.Parallel()
	f := setup(t, devsite.Params{Seed: 1, Users: 500})
	c := f.client(t, nil)
	bulk, err := collect(t, c.SearchUsers(t.Context(), adminapi.UserQuery{Expand: []string{adminapi.ExpandProductAccess}}))
	if err != nil {
		t.Fatal(err)
	}
	start := f.clock.Now()
	for _, u := range bulk {
		la, err := c.LastActiveDates(t.Context(), u.AccountID)
		if err != nil {
			t.Fatal(err)
		}
		fromV1 := map[string]time.Time{}
		for _, p := range la.Products {
			fromV1[p.ResourceID] = p.LastActive
		}
		fromBulk := map[string]time.Time{}
		for _, p := range u.ProductAccess {
			if !p.LastActive.IsZero() {
				fromBulk[p.ResourceID] = p.LastActive
			}
		}
		if !mapsEqualTime(fromV1, fromBulk) || !la.AddedToOrg.Equal(u.AddedToOrg) {
			t.Fatalf("user %s: v1 %v (added %s), bulk %v (added %s)", u.AccountID, fromV1, la.AddedToOrg, fromBulk, u.AddedToOrg)
		}
	}
	// 500 per-user requests at 150 a minute, after the listing: the client
	// spaced each 400 ms from the one before (it slept through the fake clock).
	if waited, least := f.clock.Now().Sub(start), 500*400*time.Millisecond; waited < least {
		t.Errorf("500 requests took %s of paced time, want at least %s", waited, least)
	}
}

func TestLastActiveDates_UnknownUser(t *testing.T) {
	t.Parallel()
	f := setup(t, devsite.Params{Seed: 1, Users: 20})
	_, err := f.client(t, nil).LastActiveDates(t.Context(), "no-such-account")
	if !errors.Is(err, adminapi.ErrUserNotFound) {
		t.Fatalf("err = %v, want ErrUserNotFound", err)
	}
}

func TestDetectBulkProductAccess(t *testing.T) {
	t.Parallel()
	cases := []struct {
		behavior string
		want     bool
	}{
		{devsite.ProductAccessReturned, true},
		{devsite.ProductAccessOmitted, false},
		{devsite.ProductAccessRejected, false},
	}
	for _, tc := range cases {
		t.Run("behavior_"+tc.behavior, func(t *testing.T) {
			t.Parallel()
			f := setup(t, devsite.Params{Seed: 1, Users: 60})
			f.srv.SetAdminBehavior(devsite.AdminBehavior{ProductAccess: tc.behavior})
			var ari string
			f.org(func(o *devsite.Org) { ari = devsite.ProductARI(devsite.ProductJiraSoftware, o.Sites[0].CloudID) })
			got, err := f.client(t, nil).DetectBulkProductAccess(t.Context(), ari)
			if err != nil || got != tc.want {
				t.Fatalf("DetectBulkProductAccess = %v, %v; want %v", got, err, tc.want)
			}
			if n := f.sent.Load(); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
		})
	}
	t.Run("resource_without_users", func(t *testing.T) {
		t.Parallel()
		f := setup(t, devsite.Params{Seed: 1, Users: 20})
		got, err := f.client(t, nil).DetectBulkProductAccess(t.Context(), "ari:cloud:jira-software::site/none")
		if err != nil || got {
			t.Fatalf("DetectBulkProductAccess = %v, %v; want false", got, err)
		}
	})
}
