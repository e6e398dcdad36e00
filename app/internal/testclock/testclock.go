// Package testclock is the fake clock of Lapse's tests: a time source that
// moves only when a test says so. Code under test takes a NowFunc (and,
// where it waits, a SleepFunc); handing it a Clock's methods makes expiry,
// rate-limit windows and retry back-off deterministic, and lets tests that
// would otherwise wait minutes run instantly. It is safe for concurrent use,
// since servers, clients and tests read and move the same clock.
package testclock

import (
	"context"
	"sync"
	"time"
)

// Clock is a settable, concurrency-safe fake clock. Sleep advances it
// instead of blocking and records each wait so tests can assert them.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

// New returns a Clock reading t.
func New(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t, forwards or backwards.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Sleep is a SleepFunc that returns at once: if ctx is already done it
// returns ctx.Err() without recording the sleep or moving the clock;
// otherwise it records d and advances the clock by d.
func (c *Clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return nil
}

// Sleeps returns a copy of the durations passed to successful Sleeps, in
// order.
func (c *Clock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}
