// Package warnings delivers the warning e-mails that scans queue for
// accounts pending removal: claim the due notices, send each over the
// configured mailer, and record the result with its audit event. Delivery
// is at least once: a process that dies between sending and recording
// leaves the notice "sending", and it is sent again once it goes stale.
package warnings

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/notify"
	"github.com/lapsehq/lapse/app/store"
)

// Defaults of Deliverer's zero fields.
const (
	DefaultMaxAttempts = 6
	DefaultStaleAfter  = 10 * time.Minute
	DefaultBatch       = 100
)

// Deliverer sends queued warning notices. It is safe to run on every
// replica at once: claims are exclusive.
type Deliverer struct {
	Store  *store.Store
	Sender notify.Sender
	// MaxAttempts is how many times a notice is tried before it is given up
	// (failed, audited); a permanent SMTP refusal gives up at once.
	MaxAttempts int
	// StaleAfter is how long a claimed notice may stay "sending" before
	// another delivery takes it over (its sender died).
	StaleAfter time.Duration
	Batch      int
	NowFunc    func() time.Time
	Logger     *slog.Logger
}

// Counts is what one delivery round did.
type Counts struct {
	Sent    int `json:"sent"`
	Retried int `json:"retried"`
	Failed  int `json:"failed"`
}

// DeliverDue sends the notices that are due, a batch at a time, until none
// is left or ctx ends.
func (d *Deliverer) DeliverDue(ctx context.Context) (Counts, error) {
	var c Counts
	for {
		claimed, err := d.Store.ClaimWarnings(ctx, d.batch(), d.staleAfter())
		if err != nil {
			return c, err
		}
		for _, n := range claimed {
			if err := d.deliver(ctx, n, &c); err != nil {
				return c, err
			}
		}
		if len(claimed) < d.batch() {
			return c, nil
		}
	}
}

// deliver sends one claimed notice and records what happened.
func (d *Deliverer) deliver(ctx context.Context, n app.WarningNotice, c *Counts) error {
	t, err := d.Store.FindTenantByID(ctx, n.TenantID)
	if err != nil {
		return err
	}
	if t.State == app.TenantUninstalled || t.State == app.TenantDisabled {
		// No scan will remove anyone while the app is off: a warning now
		// would announce a removal that does not come.
		c.Failed++
		return d.Store.WarningFailed(ctx, n, fmt.Sprintf("not sent: the app is %s on the site", t.State))
	}
	msg := notify.WarningEmail(n.Email, n.DisplayName, notify.WarningData{
		DisplayName: n.DisplayName, SiteURL: n.SiteURL, Product: n.Product, LastActive: n.LastActive, RemovalDue: n.RemovalDue,
	})
	sendErr := d.Sender.Send(ctx, msg)
	switch {
	case sendErr == nil:
		c.Sent++
		return d.Store.WarningSent(context.WithoutCancel(ctx), n)
	case ctx.Err() != nil && errors.Is(sendErr, ctx.Err()):
		return ctx.Err() // shutting down: the notice goes stale and is retried
	case notify.IsPermanent(sendErr) || n.Attempts >= d.maxAttempts():
		c.Failed++
		d.log().WarnContext(ctx, "warning e-mail given up", "tenant_id", n.TenantID, "notice_id", n.ID, "attempts", n.Attempts, "err", sendErr)
		return d.Store.WarningFailed(context.WithoutCancel(ctx), n, sendErr.Error())
	default:
		c.Retried++
		next := d.now().Add(Backoff(n.Attempts))
		d.log().InfoContext(ctx, "warning e-mail will be retried", "tenant_id", n.TenantID, "notice_id", n.ID, "attempts", n.Attempts, "next", next, "err", sendErr)
		return d.Store.RetryWarning(context.WithoutCancel(ctx), n, next, sendErr.Error())
	}
}

// Backoff is the wait after the attempt-th failed attempt: 1 min, 4 min,
// 16 min, … up to 6 h, so a mail server outage of a few hours is ridden out
// within the warning period without hammering it.
func Backoff(attempt int) time.Duration {
	d := time.Minute
	for range max(attempt-1, 0) {
		d *= 4
		if d >= 6*time.Hour {
			return 6 * time.Hour
		}
	}
	return d
}

func (d *Deliverer) batch() int {
	if d.Batch > 0 {
		return d.Batch
	}
	return DefaultBatch
}

func (d *Deliverer) staleAfter() time.Duration {
	if d.StaleAfter > 0 {
		return d.StaleAfter
	}
	return DefaultStaleAfter
}

func (d *Deliverer) maxAttempts() int {
	if d.MaxAttempts > 0 {
		return d.MaxAttempts
	}
	return DefaultMaxAttempts
}

func (d *Deliverer) now() time.Time {
	if d.NowFunc != nil {
		return d.NowFunc()
	}
	return time.Now()
}

func (d *Deliverer) log() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.Default()
}

// String describes the deliverer for logs.
func (d *Deliverer) String() string { return fmt.Sprintf("warning mailer via %v", d.Sender) }
