package forge_test

import (
	"errors"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app/forge"
	"github.com/lapsehq/lapse/app/forge/forgetest"
	"github.com/lapsehq/lapse/app/internal/testclock"
)

// t0 is the fixed "now" of every fixture, so expiry cases are exact.
var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// fixture is the setup bundle for verifier and key-set tests.
type fixture struct {
	iss      *forgetest.Issuer
	keys     *forge.KeySet
	clock    *testclock.Clock
	verifier *forge.Verifier
}

func setup(t testing.TB) fixture {
	t.Helper()
	clk := testclock.New(t0)
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
