package web

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/internal/testclock"
)

// TestTenantCacheBurstReadsOnce: concurrent misses of one clientKey share a
// single read, so a burst after expiry does not stampede the database.
func TestTenantCacheBurstReadsOnce(t *testing.T) {
	t.Parallel()
	var loads atomic.Int32
	release := make(chan struct{})
	tc := newTenantCache(func(context.Context, string) (*app.Tenant, error) {
		loads.Add(1)
		<-release
		return &app.Tenant{ID: "t1"}, nil
	}, time.Now)
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			tn, err := tc.get(context.Background(), "ck")
			if err == nil && tn.ID != "t1" {
				err = errors.New("wrong tenant " + tn.ID)
			}
			errs <- err
		})
	}
	// Hold the first read open while the others arrive. Whatever the
	// timing, a correct cache reads once: a late caller joins the read or
	// finds its result.
	for loads.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := loads.Load(); got != 1 {
		t.Fatalf("%d concurrent misses made %d reads, want 1", n, got)
	}
}

// TestTenantCacheClearDuringRead: a read that began before a clear (a
// lifecycle change on this replica) may answer its own callers but is not
// kept, and later callers read again.
func TestTenantCacheClearDuringRead(t *testing.T) {
	t.Parallel()
	clock := testclock.New(time.Now())
	var loads atomic.Int32
	started, release := make(chan struct{}), make(chan struct{})
	tc := newTenantCache(func(context.Context, string) (*app.Tenant, error) {
		if loads.Add(1) == 1 {
			close(started)
			<-release
			return &app.Tenant{ID: "t1", State: app.TenantEnabled}, nil
		}
		return &app.Tenant{ID: "t1", State: app.TenantDisabled}, nil
	}, clock.Now)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = tc.get(context.Background(), "ck")
	}()
	<-started
	tc.clear()
	close(release)
	<-done
	tn, err := tc.get(context.Background(), "ck")
	if err != nil {
		t.Fatal(err)
	}
	if tn.State != app.TenantDisabled || loads.Load() != 2 {
		t.Fatalf("after a clear: state %s after %d reads, want disabled after 2", tn.State, loads.Load())
	}
}

// TestTenantCacheBounded: the cache never holds more than its size, and
// errors (unknown clientKeys included) are not cached.
func TestTenantCacheBounded(t *testing.T) {
	t.Parallel()
	var loads atomic.Int32
	tc := newTenantCache(func(_ context.Context, ck string) (*app.Tenant, error) {
		loads.Add(1)
		if ck == "unknown" {
			return nil, app.Errorf(app.ENOTFOUND, "tenant not found")
		}
		return &app.Tenant{ID: ck}, nil
	}, time.Now)
	tc.size = 8
	for i := range 100 {
		if _, err := tc.get(context.Background(), string(rune('a'+i%26))+string(rune('a'+i/26))); err != nil {
			t.Fatal(err)
		}
		tc.mu.Lock()
		n := len(tc.entries)
		tc.mu.Unlock()
		if n > tc.size {
			t.Fatalf("cache holds %d entries, bound %d", n, tc.size)
		}
	}
	before := loads.Load()
	for range 3 {
		if _, err := tc.get(context.Background(), "unknown"); app.ErrorCode(err) != app.ENOTFOUND {
			t.Fatalf("unknown clientKey: %v", err)
		}
	}
	if got := loads.Load() - before; got != 3 {
		t.Fatalf("3 lookups of an unknown clientKey made %d reads, want 3 (not cached)", got)
	}
}

// TestTenantCacheCopies: callers get their own copy, so one request's
// handler cannot change the tenant another request sees.
func TestTenantCacheCopies(t *testing.T) {
	t.Parallel()
	tc := newTenantCache(func(context.Context, string) (*app.Tenant, error) {
		return &app.Tenant{ID: "t1", State: app.TenantEnabled}, nil
	}, time.Now)
	a, _ := tc.get(context.Background(), "ck")
	a.State = app.TenantDisabled
	b, _ := tc.get(context.Background(), "ck")
	if b.State != app.TenantEnabled {
		t.Fatal("a caller's change reached the cached tenant")
	}
}
