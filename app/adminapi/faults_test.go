package adminapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/lapsehq/lapse/app/devsite"
)

// TestMembership_UnderFaults removes and re-adds memberships while 20 % of
// Admin API requests fail in every way the site can fail — including writes
// that apply but whose answer is lost — and checks the ledger: every change
// happened exactly once, none was doubled, none is missing.
func TestMembership_UnderFaults(t *testing.T) {
	t.Parallel()
	f := setup(t, devsite.Params{Seed: 9, Users: 400})
	var group string
	var members []string
	f.org(func(o *devsite.Org) {
		for _, g := range o.Groups {
			if !g.Synced && len(g.DefaultFor) > 0 && len(g.Members()) >= 60 {
				group, members = g.ID, append([]string(nil), g.Members()[:60]...)
				break
			}
		}
	})
	if group == "" {
		t.Fatal("no default group with 60 members")
	}
	body := `{"seed": 3, "timeoutHold": "200ms", "retryAfter": "1s", "admin": {"drop": 0.03, "timeout": 0.03,
		"status429": 0.03, "status500": 0.03, "status503": 0.03, "lostWriteAnswer": 0.05}}`
	req, _ := http.NewRequest(http.MethodPut, f.url+"/_devsite/faults", strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("set faults: %v %v", resp, err)
	}
	resp.Body.Close()

	c := f.client(t, nil)
	ctx := context.Background()
	for _, m := range members {
		if _, err := c.RemoveMembership(ctx, group, m); err != nil {
			t.Fatalf("remove %s: %v", m, err)
		}
	}
	for _, m := range members[:20] {
		if _, err := c.AddMembership(ctx, group, m); err != nil {
			t.Fatalf("add %s: %v", m, err)
		}
	}

	removed, added := map[string]int{}, map[string]int{}
	for _, e := range f.srv.Ledger() {
		switch {
		case e.GroupID != group:
			t.Fatalf("ledger entry for another group: %+v", e)
		case e.Op == devsite.LedgerRemove:
			removed[e.AccountID]++
		case e.Op == devsite.LedgerAdd:
			added[e.AccountID]++
		}
	}
	for i, m := range members {
		if removed[m] != 1 || (i < 20) != (added[m] == 1) || added[m] > 1 {
			t.Fatalf("account %s: removed %d times, added %d times", m, removed[m], added[m])
		}
		if want := i < 20; f.isMemberOf(group, m) != want {
			t.Fatalf("account %s: member = %v, want %v", m, !want, want)
		}
	}
	var failed int64
	for _, st := range f.srv.Stats() {
		for status, n := range st.Statuses {
			if status != "OK" && status != "No Content" {
				failed += n
			}
		}
	}
	if failed == 0 {
		t.Fatal("no fault was injected; the test proves nothing")
	}
	t.Logf("%d requests failed or lost their answer; the ledger holds each change once", failed)
}

func (f *fixture) isMemberOf(group, account string) (ok bool) {
	f.org(func(o *devsite.Org) { ok = o.IsMember(group, account) })
	return ok
}
