package atlassian_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/lapsehq/lapse/app/atlassian"
)

// TestPacer_SpacesRequestsEvenly: requests sharing a Pacer at 60 a minute go
// out one second apart, the first at once, whoever sends them.
func TestPacer_SpacesRequestsEvenly(t *testing.T) {
	t.Parallel()
	h := newHarness()
	srv := script1(t)
	p := &atlassian.Pacer{Scope: "admin:org:o1", Limiter: rate.NewLimiter(1, 1)}
	c1 := h.client(t, srv.URL, func(c *atlassian.Config) { c.MaxWait = time.Minute })
	c2 := h.client(t, srv.URL, func(c *atlassian.Config) { c.MaxWait = time.Minute })
	for i := range 4 {
		c := []*atlassian.Client{c1, c2}[i%2]
		if _, err := c.Do(t.Context(), &atlassian.Request{Path: "/x", Pacer: p}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := h.clock.Sleeps(), seconds(1, 1, 1); !reflect.DeepEqual(got, want) {
		t.Fatalf("waits %v, want %v", got, want)
	}
	if n := srv.count("/x"); n != 4 {
		t.Fatalf("%d requests, want 4", n)
	}
}

// TestPacer_LongerThanMaxWait: a turn further away than the call may wait
// is handed back as a BudgetError naming the scope and the time of the turn,
// nothing is sent, and the turn is not used up.
func TestPacer_LongerThanMaxWait(t *testing.T) {
	t.Parallel()
	h := newHarness()
	srv := script1(t)
	p := &atlassian.Pacer{Scope: "admin:org:o1", Limiter: rate.NewLimiter(rate.Every(20*time.Second), 1)}
	c := h.client(t, srv.URL, nil) // MaxWait 0
	if _, err := c.Do(t.Context(), &atlassian.Request{Path: "/x", Pacer: p}, nil); err != nil {
		t.Fatal(err)
	}
	_, err := c.Do(t.Context(), &atlassian.Request{Path: "/x", Pacer: p}, nil)
	var be *atlassian.BudgetError
	if !errors.As(err, &be) || be.Scope != "admin:org:o1" || be.Reason != atlassian.ReasonPaced || !be.ResetAt.Equal(t0.Add(20*time.Second)) {
		t.Fatalf("err = %v, want a pacing BudgetError until t0+20s", err)
	}
	if n := srv.count("/x"); n != 1 {
		t.Fatalf("%d requests sent, want 1", n)
	}
	h.clock.Advance(20 * time.Second)
	if _, err := c.Do(t.Context(), &atlassian.Request{Path: "/x", Pacer: p}, nil); err != nil {
		t.Fatalf("at the turn: %v", err)
	}
}

// TestStats_CountsAttemptsLimitsAndPoints: every attempt sent is counted,
// 429s among them, and points as settled on success.
func TestStats_CountsAttemptsLimitsAndPoints(t *testing.T) {
	t.Parallel()
	h := newHarness()
	srv := script1(t, reply{status: 429, header: map[string]string{"Retry-After": "1"}}, reply{status: 200, body: `{"n": 3}`})
	c := h.client(t, srv.URL, func(c *atlassian.Config) { c.MaxWait = time.Minute })
	var out struct{ N int64 }
	req := &atlassian.Request{Path: "/x", Charges: atlassian.PointsCharges("t1", 201, 0, 0)}
	req.Settle = func() []atlassian.Charge { return atlassian.PointsCharges("t1", 1+2*out.N, 0, 0) }
	if _, err := c.Do(t.Context(), req, &out); err != nil {
		t.Fatal(err)
	}
	if got, want := c.Stats(), (atlassian.Stats{Requests: 2, RateLimited: 1, Points: 7}); got != want {
		t.Fatalf("stats = %+v, want %+v", got, want)
	}
}
