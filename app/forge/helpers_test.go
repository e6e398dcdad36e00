package forge_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app/forge"
	"github.com/lapsehq/lapse/app/forge/forgetest"
)

// t0 is the fixed "now" of every fixture, so expiry cases are exact.
var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// clock is a manually advanced time source shared by issuer, key set and
// verifier, so cache tests need no sleeps.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fixture is the setup bundle for verifier and key-set tests.
type fixture struct {
	iss      *forgetest.Issuer
	keys     *forge.KeySet
	clock    *clock
	verifier *forge.Verifier
}

func setup(t testing.TB) fixture {
	t.Helper()
	clk := &clock{now: t0}
	iss := forgetest.NewIssuer(t)
	iss.NowFunc = clk.Now
	keys := forge.NewKeySet(iss.JWKSURL(), nil)
	keys.NowFunc = clk.Now
	return fixture{
		iss:      iss,
		keys:     keys,
		clock:    clk,
		verifier: &forge.Verifier{Keys: keys, Audience: iss.AppID, NowFunc: clk.Now},
	}
}

// wantReason fails t unless err is an *AuthError with the given reason; an
// empty reason means err must be nil.
func wantReason(t testing.TB, err error, reason string) {
	t.Helper()
	if reason == "" {
		if err != nil {
			t.Fatalf("err = %v (%#v), want nil", err, err)
		}
		return
	}
	var ae *forge.AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want *AuthError %q", err, reason)
	}
	if ae.Reason != reason {
		t.Fatalf("reason (-want +got):\n- %q\n+ %q (cause: %v)", reason, ae.Reason, ae.Err)
	}
}

func wantFetches(t testing.TB, iss *forgetest.Issuer, want int) {
	t.Helper()
	if got := iss.Fetches(); got != want {
		t.Fatalf("jwks fetches = %d, want %d", got, want)
	}
}
