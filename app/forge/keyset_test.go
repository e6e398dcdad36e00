package forge_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app/forge"
	"github.com/lapsehq/lapse/app/forge/forgetest"
	"github.com/lapsehq/lapse/app/internal/testclock"
)

func TestKeySetUnknownKidRefetchesOnceThenRefuses(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	if _, err := f.verifier.Verify(ctx, f.iss.Mint(t, forgetest.Claims{})); err != nil {
		t.Fatalf("prime cache: %v", err)
	}
	wantFetches(t, f.iss, 1)

	f.clock.Advance(2 * forge.DefaultMinRefreshInterval)
	_, err := f.verifier.Verify(ctx, f.iss.Mint(t, forgetest.Claims{KID: "unknown"}))
	wantReason(t, err, forge.ReasonUnknownKey)
	wantFetches(t, f.iss, 2)
}

func TestKeySetUnknownKidThrottled(t *testing.T) {
	t.Parallel()
	f := setup(t)
	token := f.iss.Mint(t, forgetest.Claims{KID: "unknown"})
	for range 2 {
		_, err := f.verifier.Verify(context.Background(), token)
		wantReason(t, err, forge.ReasonUnknownKey)
	}
	wantFetches(t, f.iss, 1)

	f.clock.Advance(forge.DefaultMinRefreshInterval)
	_, err := f.verifier.Verify(context.Background(), token)
	wantReason(t, err, forge.ReasonUnknownKey)
	wantFetches(t, f.iss, 2)
}

func TestKeySetRotation(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	old := f.iss.Mint(t, forgetest.Claims{})
	if _, err := f.verifier.Verify(ctx, old); err != nil {
		t.Fatalf("verify before rotation: %v", err)
	}

	f.clock.Advance(2 * forge.DefaultMinRefreshInterval)
	f.iss.Rotate()
	if _, err := f.verifier.Verify(ctx, f.iss.Mint(t, forgetest.Claims{})); err != nil {
		t.Fatalf("verify after rotation: %v", err)
	}
	wantFetches(t, f.iss, 2)

	// The old kid left the JWKS with the refetch, and asking again so soon
	// must not fetch a third time.
	_, err := f.verifier.Verify(ctx, old)
	wantReason(t, err, forge.ReasonUnknownKey)
	wantFetches(t, f.iss, 2)
}

func TestKeySetMaxAge(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ctx := context.Background()
	kid := f.iss.KID()
	steps := []struct {
		advance     time.Duration
		wantFetches int
	}{
		{0, 1},
		{forge.DefaultMaxAge - time.Minute, 1},
		{2 * time.Minute, 2},
		{time.Minute, 2},
	}
	for i, s := range steps {
		f.clock.Advance(s.advance)
		if _, err := f.keys.Key(ctx, kid); err != nil {
			t.Fatalf("step %d: Key: %v", i, err)
		}
		wantFetches(t, f.iss, s.wantFetches)
	}
}

func TestKeySetConcurrentColdFetch(t *testing.T) {
	t.Parallel()
	f := setup(t)
	kid := f.iss.KID()
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			if _, err := f.keys.Key(context.Background(), kid); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Key: %v", err)
	}
	wantFetches(t, f.iss, 1)
}

func TestKeySetServesCachedKeyWhenRefreshFails(t *testing.T) {
	t.Parallel()
	iss := forgetest.NewIssuer(t)
	var failing atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if failing.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		_, _ = w.Write(iss.JWKS())
	}))
	t.Cleanup(srv.Close)
	clk := testclock.New(t0)
	keys := &forge.KeySet{URL: srv.URL, NowFunc: clk.Now}
	ctx := context.Background()

	if _, err := keys.Key(ctx, iss.KID()); err != nil {
		t.Fatalf("initial Key: %v", err)
	}
	failing.Store(true)
	clk.Advance(2 * forge.DefaultMaxAge)
	if _, err := keys.Key(ctx, iss.KID()); err != nil {
		t.Fatalf("stale Key during outage: %v", err)
	}
	// Within the throttle window an unknown kid is simply unknown…
	if _, err := keys.Key(ctx, "other"); !errors.Is(err, forge.ErrKeyNotFound) {
		t.Fatalf("throttled unknown kid err = %v, want ErrKeyNotFound", err)
	}
	// …after it, the failed refetch is reported as what it is.
	clk.Advance(forge.DefaultMinRefreshInterval)
	_, err := keys.Key(ctx, "other")
	if err == nil || errors.Is(err, forge.ErrKeyNotFound) {
		t.Fatalf("unknown kid during outage err = %v, want fetch error", err)
	}
}

func TestKeySetJWKSParsing(t *testing.T) {
	t.Parallel()
	good := mustRSAKey(t, 2048)
	short := mustRSAKey(t, 1024)
	n, e := b64(good.N.Bytes()), b64(big.NewInt(int64(good.E)).Bytes())
	cases := []struct {
		name    string
		body    string
		status  int
		wantErr error // nil: key "k" found; ErrKeyNotFound; errAny: any other error
	}{
		{name: "rsa sig", body: jwks(`{"kty":"RSA","use":"sig","alg":"RS256","kid":"k","n":"` + n + `","e":"` + e + `"}`)},
		{name: "rsa without use or alg", body: jwks(`{"kty":"RSA","kid":"k","n":"` + n + `","e":"` + e + `"}`)},
		{name: "padded base64", body: jwks(`{"kty":"RSA","kid":"k","n":"` + n + `==","e":"` + e + `="}`)},
		{name: "ignores others next to good key", body: jwks(
			`{"kty":"RSA","use":"enc","kid":"k","n":"`+n+`","e":"`+e+`"}`,
			`{"kty":"EC","use":"sig","kid":"ec","crv":"P-256","x":"AA","y":"AA"}`,
			`{"kty":"RSA","use":"sig","kid":"bad","n":"***","e":"AQAB"}`,
			`{"kty":"RSA","use":"sig","kid":"other","n":"`+n+`","e":"`+e+`"}`,
		), wantErr: forge.ErrKeyNotFound},
		{name: "enc only", body: jwks(`{"kty":"RSA","use":"enc","kid":"k","n":"` + n + `","e":"` + e + `"}`), wantErr: errAny},
		{name: "other alg", body: jwks(`{"kty":"RSA","use":"sig","alg":"RS512","kid":"k","n":"` + n + `","e":"` + e + `"}`), wantErr: errAny},
		{name: "no kid", body: jwks(`{"kty":"RSA","use":"sig","n":"` + n + `","e":"` + e + `"}`), wantErr: errAny},
		{name: "short modulus", body: jwks(`{"kty":"RSA","kid":"k","n":"` + b64(short.N.Bytes()) + `","e":"` + e + `"}`), wantErr: errAny},
		{name: "even exponent", body: jwks(`{"kty":"RSA","kid":"k","n":"` + n + `","e":"` + b64([]byte{4}) + `"}`), wantErr: errAny},
		{name: "huge exponent", body: jwks(`{"kty":"RSA","kid":"k","n":"` + n + `","e":"` + b64([]byte{1, 0, 0, 0, 1}) + `"}`), wantErr: errAny},
		{name: "not json", body: "<html>", wantErr: errAny},
		{name: "http error", body: jwks(`{"kty":"RSA","kid":"k","n":"` + n + `","e":"` + e + `"}`), status: http.StatusInternalServerError, wantErr: errAny},
		{name: "body over 1 MiB", body: jwks(`{"kty":"RSA","kid":"k","n":"` + n + `","e":"` + e + `","pad":"` + strings.Repeat("x", 1<<20) + `"}`), wantErr: errAny},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if tc.status != 0 {
					w.WriteHeader(tc.status)
				}
				_, _ = w.Write([]byte(tc.body))
			}))
			t.Cleanup(srv.Close)
			key, err := forge.NewKeySet(srv.URL, srv.Client()).Key(context.Background(), "k")
			switch {
			case tc.wantErr == nil:
				if err != nil || key.N.Cmp(good.N) != 0 || key.E != good.E {
					t.Fatalf("Key = %v, %v; want the published key", key, err)
				}
			case tc.wantErr == errAny:
				if err == nil || errors.Is(err, forge.ErrKeyNotFound) {
					t.Fatalf("err = %v, want a fetch/parse error", err)
				}
			default:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
			}
		})
	}
}

func TestKeySetHonoursContextWhileWaiting(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		http.Error(w, "slow", http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	keys := forge.NewKeySet(srv.URL, srv.Client())

	// The first caller holds the lock while its fetch hangs in the handler.
	go func() { _, _ = keys.Key(context.Background(), "k") }()
	<-arrived

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := keys.Key(ctx, "k"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	if len(arrived) != 0 {
		t.Fatal("waiter started its own fetch instead of waiting")
	}
}

// errAny marks cases that expect an error other than ErrKeyNotFound.
var errAny = errors.New("any error")

func jwks(keys ...string) string { return `{"keys":[` + strings.Join(keys, ",") + `]}` }

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func mustRSAKey(t testing.TB, bits int) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
