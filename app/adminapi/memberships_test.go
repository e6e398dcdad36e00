package adminapi_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lapsehq/lapse/app/adminapi"
	"github.com/lapsehq/lapse/app/atlassian"
	"github.com/lapsehq/lapse/app/devsite"
)

// memberFixture picks a default (not synced) group with a member, a user
// outside it, and a synced group with a member.
type memberFixture struct {
	*fixture
	group, synced             string
	member, outsider, synced1 string
}

func setupMembers(t *testing.T) *memberFixture {
	t.Helper()
	m := &memberFixture{fixture: setup(t, devsite.Params{Seed: 1, Users: 100})}
	m.org(func(o *devsite.Org) {
		for _, g := range o.Groups {
			switch {
			case m.group == "" && !g.Synced && len(g.DefaultFor) > 0 && len(g.Members()) > 0:
				m.group, m.member = g.ID, g.Members()[0]
			case m.synced == "" && g.Synced && len(g.Members()) > 0:
				m.synced, m.synced1 = g.ID, g.Members()[0]
			}
		}
		for _, u := range o.Users {
			if !o.IsMember(m.group, u.AccountID) {
				m.outsider = u.AccountID
				break
			}
		}
	})
	return m
}

func (m *memberFixture) isMember(group, account string) (ok bool) {
	m.org(func(o *devsite.Org) { ok = o.IsMember(group, account) })
	return ok
}

func TestMembership_RemoveAndAdd(t *testing.T) {
	t.Parallel()
	m := setupMembers(t)
	c := m.client(t, nil)

	res, err := c.RemoveMembership(t.Context(), m.group, m.member)
	if err != nil || res != (adminapi.MembershipResult{Sent: 1}) || m.isMember(m.group, m.member) {
		t.Fatalf("remove = %+v, %v", res, err)
	}
	l := m.srv.Ledger()
	if len(l) != 1 || l[0].Op != devsite.LedgerRemove || l[0].AccountID != m.member || l[0].GroupID != m.group {
		t.Fatalf("ledger = %+v", l)
	}

	res, err = c.RemoveMembership(t.Context(), m.group, m.member)
	if err != nil || !res.AlreadyRemoved {
		t.Fatalf("second remove = %+v, %v; want AlreadyRemoved", res, err)
	}
	if len(m.srv.Ledger()) != 1 {
		t.Errorf("removing a non-member wrote the ledger")
	}

	if _, err := c.AddMembership(t.Context(), m.group, m.member); err != nil || !m.isMember(m.group, m.member) {
		t.Fatalf("add back: %v", err)
	}
	if l := m.srv.Ledger(); len(l) != 2 || l[1].Op != devsite.LedgerAdd || l[1].AccountID != m.member {
		t.Errorf("ledger = %+v", l)
	}
}

func TestMembership_Refusals(t *testing.T) {
	t.Parallel()
	m := setupMembers(t)
	c := m.client(t, nil)
	cases := []struct {
		name string
		call func() (adminapi.MembershipResult, error)
		want error
	}{
		{"remove_synced", func() (adminapi.MembershipResult, error) {
			return c.RemoveMembership(t.Context(), m.synced, m.synced1)
		}, adminapi.ErrSyncedGroup},
		{"add_synced", func() (adminapi.MembershipResult, error) {
			return c.AddMembership(t.Context(), m.synced, m.outsider)
		}, adminapi.ErrSyncedGroup},
		{"remove_unknown_group", func() (adminapi.MembershipResult, error) {
			return c.RemoveMembership(t.Context(), "no-such-group", m.member)
		}, adminapi.ErrGroupNotFound},
		{"remove_unknown_user", func() (adminapi.MembershipResult, error) {
			return c.RemoveMembership(t.Context(), m.group, "no-such-account")
		}, adminapi.ErrUserNotFound},
		{"add_unknown_user", func() (adminapi.MembershipResult, error) {
			return c.AddMembership(t.Context(), m.group, "no-such-account")
		}, adminapi.ErrUserNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := tc.call()
			var ae *atlassian.APIError
			if !errors.Is(err, tc.want) || !errors.As(err, &ae) || res.AlreadyRemoved {
				t.Fatalf("err = %v (result %+v), want %v wrapping an APIError", err, res, tc.want)
			}
		})
	}
	if !m.isMember(m.synced, m.synced1) || len(m.srv.Ledger()) != 0 {
		t.Errorf("a refused write changed the org: ledger %+v", m.srv.Ledger())
	}
}

// loseAnswer makes the first request matching method fail as "outcome
// unknown": when forward is true the site processes it and the answer is
// lost; otherwise the site never sees it and a 502 comes back.
func loseAnswer(method string, forward bool) func(*http.Request, http.RoundTripper) (*http.Response, error, bool) {
	var done atomic.Bool
	return func(req *http.Request, next http.RoundTripper) (*http.Response, error, bool) {
		if req.Method != method || done.Swap(true) {
			return nil, nil, false
		}
		if !forward {
			return &http.Response{StatusCode: http.StatusBadGateway, Header: http.Header{},
				Body: io.NopCloser(strings.NewReader("bad gateway")), Request: req}, nil, true
		}
		resp, err := next.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		return nil, errors.New("connection reset by peer"), true
	}
}

func TestMembership_UnknownOutcome(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		method   string
		forward  bool
		wantSent int
	}{
		{"remove_applied_answer_lost", http.MethodDelete, true, 1},
		{"remove_not_applied", http.MethodDelete, false, 2},
		{"add_applied_answer_lost", http.MethodPost, true, 1},
		{"add_not_applied", http.MethodPost, false, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := setupMembers(t)
			m.fault = loseAnswer(tc.method, tc.forward)
			c := m.client(t, nil)
			var res adminapi.MembershipResult
			var err error
			var wantMember bool
			if tc.method == http.MethodDelete {
				res, err = c.RemoveMembership(t.Context(), m.group, m.member)
			} else {
				res, err = c.AddMembership(t.Context(), m.group, m.outsider)
				wantMember = true
			}
			if err != nil || !res.ReadBack || res.Sent != tc.wantSent {
				t.Fatalf("result %+v, err %v; want read back after %d sends", res, err, tc.wantSent)
			}
			account := map[bool]string{false: m.member, true: m.outsider}[wantMember]
			if m.isMember(m.group, account) != wantMember {
				t.Error("membership not in the wanted state")
			}
			if l := m.srv.Ledger(); len(l) != 1 {
				t.Errorf("ledger has %d entries, want exactly 1: %+v", len(l), l)
			}
		})
	}
}
