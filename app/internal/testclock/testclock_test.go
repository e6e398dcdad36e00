package testclock_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app/internal/testclock"
)

var t0 = time.Date(2026, 6, 1, 10, 20, 0, 0, time.UTC)

func TestClock(t *testing.T) {
	t.Parallel()
	c := testclock.New(t0)
	if got := c.Now(); !got.Equal(t0) {
		t.Fatalf("New: Now = %s, want %s", got, t0)
	}
	c.Advance(time.Minute)
	if got, want := c.Now(), t0.Add(time.Minute); !got.Equal(want) {
		t.Fatalf("Advance: Now = %s, want %s", got, want)
	}
	back := t0.Add(-time.Hour)
	c.Set(back)
	if got := c.Now(); !got.Equal(back) {
		t.Fatalf("Set: Now = %s, want %s", got, back)
	}
	if s := c.Sleeps(); len(s) != 0 {
		t.Fatalf("Advance and Set recorded sleeps %v", s)
	}
}

func TestClock_Sleep(t *testing.T) {
	t.Parallel()
	c := testclock.New(t0)
	ctx := context.Background()
	for _, d := range []time.Duration{time.Second, 0, 2 * time.Minute} {
		if err := c.Sleep(ctx, d); err != nil {
			t.Fatalf("Sleep(%s) = %v", d, err)
		}
	}
	if got, want := c.Now(), t0.Add(2*time.Minute+time.Second); !got.Equal(want) {
		t.Errorf("after sleeps Now = %s, want %s", got, want)
	}
	want := []time.Duration{time.Second, 0, 2 * time.Minute}
	got := c.Sleeps()
	if !slices.Equal(got, want) {
		t.Fatalf("Sleeps = %v, want %v", got, want)
	}
	got[0] = time.Hour // a copy: the clock's record is unchanged
	if again := c.Sleeps(); !slices.Equal(again, want) {
		t.Errorf("Sleeps after mutating the returned slice = %v, want %v", again, want)
	}

	// A done context: the error comes back and nothing is recorded or moved.
	before := c.Now()
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := c.Sleep(cctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("Sleep(cancelled) = %v, want context.Canceled", err)
	}
	if got := c.Now(); !got.Equal(before) {
		t.Errorf("Sleep(cancelled) moved the clock to %s", got)
	}
	if s := c.Sleeps(); !slices.Equal(s, want) {
		t.Errorf("Sleep(cancelled) recorded: Sleeps = %v, want %v", s, want)
	}
}

// TestClock_Concurrent is for -race: readers and writers share one clock.
func TestClock_Concurrent(t *testing.T) {
	t.Parallel()
	c := testclock.New(t0)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_ = c.Now()
				c.Advance(time.Second)
				_ = c.Sleep(context.Background(), time.Second)
				_ = c.Sleeps()
			}
		})
	}
	wg.Wait()
	if got, want := c.Now(), t0.Add(1600*time.Second); !got.Equal(want) {
		t.Errorf("Now = %s, want %s", got, want)
	}
	if n := len(c.Sleeps()); n != 800 {
		t.Errorf("len(Sleeps) = %d, want 800", n)
	}
}
