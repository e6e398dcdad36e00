package warnings_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/internal/testclock"
	"github.com/lapsehq/lapse/app/notify"
	"github.com/lapsehq/lapse/app/notify/notifytest"
	"github.com/lapsehq/lapse/app/store"
	"github.com/lapsehq/lapse/app/store/storetest"
	"github.com/lapsehq/lapse/app/warnings"
)

type fixture struct {
	st     *store.Store
	clock  *testclock.Clock
	smtp   *notifytest.Server
	tenant *app.Tenant
	d      *warnings.Deliverer
}

// setup: a store, a tenant with a site URL, a real SMTP server on loopback
// and a Deliverer sending through it.
func setup(t *testing.T, dialect store.Dialect) *fixture {
	t.Helper()
	c := testclock.New(time.Date(2026, 6, 1, 3, 0, 0, 0, time.UTC))
	st := storetest.Open(t, dialect, storetest.Options{NowFunc: c.Now})
	tn, err := st.InstallConnect(context.Background(), app.ConnectInstall{ClientKey: "ck", BaseURL: "https://acme.atlassian.net",
		Product: app.ProductJira, SharedSecret: []byte("s")})
	if err != nil {
		t.Fatal(err)
	}
	srv := notifytest.Start(t, notifytest.Options{Mode: notifytest.Plain})
	mailer, err := notify.NewSMTP(notify.SMTPConfig{URL: srv.URL("smtp+insecure", ""), From: "Lapse <lapse@example.com>", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{st: st, clock: c, smtp: srv, tenant: tn,
		d: &warnings.Deliverer{Store: st, Sender: mailer, NowFunc: c.Now, MaxAttempts: 3}}
}

func (f *fixture) queue(t *testing.T, accounts ...string) {
	t.Helper()
	var ns []app.WarningNotice
	last := time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)
	for _, a := range accounts {
		ns = append(ns, app.WarningNotice{AccountID: a, Product: "jira-software", RemovalDue: time.Date(2026, 6, 3, 0, 0, 0, 0, time.UTC),
			LastActive: &last, Email: a + "@example.com", DisplayName: "User " + a, SiteURL: f.tenant.BaseURL})
	}
	if _, err := f.st.QueueWarnings(context.Background(), f.tenant.ID, "scan-1", ns); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) states(t *testing.T) map[string]app.WarningNotice {
	t.Helper()
	ws, err := f.st.Warnings(context.Background(), f.tenant.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]app.WarningNotice{}
	for _, w := range ws {
		out[w.AccountID] = w
	}
	return out
}

func (f *fixture) auditCount(t *testing.T) map[string]int {
	t.Helper()
	evs, err := f.st.ListAuditEvents(context.Background(), f.tenant.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, e := range evs {
		n[e.Action]++
	}
	return n
}

// TestDeliver_SendsEachNoticeOnceAndAuditsIt: every queued notice reaches
// its address over SMTP with the product, site and removal date; each is
// audited once; a second round sends nothing.
func TestDeliver_SendsEachNoticeOnceAndAuditsIt(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects(t) {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			f := setup(t, d)
			f.queue(t, "ann", "bob")
			c, err := f.d.DeliverDue(context.Background())
			if err != nil || c != (warnings.Counts{Sent: 2}) {
				t.Fatalf("counts = %+v, %v", c, err)
			}
			msgs := f.smtp.Messages()
			if len(msgs) != 2 {
				t.Fatalf("server received %d messages, want 2", len(msgs))
			}
			got := map[string]string{}
			for _, m := range msgs {
				if len(m.To) != 1 || m.From != "lapse@example.com" {
					t.Fatalf("envelope from %q to %v", m.From, m.To)
				}
				got[m.To[0]] = m.Data
			}
			for _, a := range []string{"ann", "bob"} {
				body := got[a+"@example.com"]
				for _, want := range []string{"User " + a, "Jira", "https://acme.atlassian.net", "3 June 2026", "5 March 2026"} {
					if !strings.Contains(body, want) {
						t.Errorf("mail to %s lacks %q:\n%s", a, want, body)
					}
				}
			}
			for a, w := range f.states(t) {
				if w.State != app.WarningSent || w.Attempts != 1 {
					t.Errorf("%s: %+v", a, w)
				}
			}
			if n := f.auditCount(t); n[app.AuditWarningSent] != 2 {
				t.Fatalf("audit = %v, want 2 warning.sent", n)
			}
			if c, _ := f.d.DeliverDue(context.Background()); c != (warnings.Counts{}) || len(f.smtp.Messages()) != 2 {
				t.Fatalf("second round: %+v, %d messages", c, len(f.smtp.Messages()))
			}
			if v, err := f.st.VerifyAuditChain(context.Background(), f.tenant.ID); err != nil || !v.OK {
				t.Fatalf("chain: %+v, %v", v, err)
			}
		})
	}
}

// TestDeliver_TemporaryFailureIsRetriedWithBackoff: a 451 puts the notice
// back for a minute later; once the server accepts, it is sent.
func TestDeliver_TemporaryFailureIsRetriedWithBackoff(t *testing.T) {
	t.Parallel()
	f := setup(t, store.SQLite)
	f.queue(t, "ann")
	f.smtp.SetReject("ann@example.com", 451)
	if c, err := f.d.DeliverDue(context.Background()); err != nil || c != (warnings.Counts{Retried: 1}) {
		t.Fatalf("first round = %+v, %v", c, err)
	}
	if w := f.states(t)["ann"]; w.State != app.WarningQueued || !strings.Contains(w.LastError, "451") {
		t.Fatalf("after 451: %+v", w)
	}
	f.smtp.SetReject("ann@example.com", 0)
	if c, _ := f.d.DeliverDue(context.Background()); c != (warnings.Counts{}) {
		t.Fatalf("retried before its backoff: %+v", c)
	}
	f.clock.Advance(warnings.Backoff(1))
	if c, err := f.d.DeliverDue(context.Background()); err != nil || c != (warnings.Counts{Sent: 1}) {
		t.Fatalf("after the backoff = %+v, %v", c, err)
	}
	if w := f.states(t)["ann"]; w.State != app.WarningSent || w.Attempts != 2 || len(f.smtp.Messages()) != 1 {
		t.Fatalf("sent: %+v, %d messages", w, len(f.smtp.Messages()))
	}
}

// TestDeliver_PermanentRefusalGivesUp: a 550 fails the notice at once, with
// its audit event, and it is never tried again.
func TestDeliver_PermanentRefusalGivesUp(t *testing.T) {
	t.Parallel()
	f := setup(t, store.SQLite)
	f.queue(t, "ann", "bob")
	f.smtp.SetReject("ann@example.com", 550)
	if c, err := f.d.DeliverDue(context.Background()); err != nil || c != (warnings.Counts{Sent: 1, Failed: 1}) {
		t.Fatalf("counts = %+v, %v", c, err)
	}
	if w := f.states(t)["ann"]; w.State != app.WarningFailed || !strings.Contains(w.LastError, "550") {
		t.Fatalf("ann: %+v", w)
	}
	if n := f.auditCount(t); n[app.AuditWarningFailed] != 1 || n[app.AuditWarningSent] != 1 {
		t.Fatalf("audit = %v", n)
	}
	f.clock.Advance(24 * time.Hour)
	if c, _ := f.d.DeliverDue(context.Background()); c != (warnings.Counts{}) {
		t.Fatalf("a failed notice was tried again: %+v", c)
	}
}

// TestDeliver_OutageGivesUpAfterMaxAttempts: with the mail server down, a
// notice is tried MaxAttempts times on the backoff schedule, then failed.
func TestDeliver_OutageGivesUpAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	f := setup(t, store.SQLite)
	f.queue(t, "ann")
	f.smtp.Close()
	for attempt := 1; attempt <= 3; attempt++ {
		c, err := f.d.DeliverDue(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		want := warnings.Counts{Retried: 1}
		if attempt == 3 {
			want = warnings.Counts{Failed: 1}
		}
		if c != want {
			t.Fatalf("attempt %d: %+v, want %+v", attempt, c, want)
		}
		f.clock.Advance(warnings.Backoff(attempt))
	}
	if w := f.states(t)["ann"]; w.State != app.WarningFailed || w.Attempts != 3 {
		t.Fatalf("after the outage: %+v", w)
	}
}

// TestDeliver_UninstalledSiteIsNotWarned: no e-mail announces a removal that
// will not come because the app is gone.
func TestDeliver_UninstalledSiteIsNotWarned(t *testing.T) {
	t.Parallel()
	f := setup(t, store.SQLite)
	f.queue(t, "ann")
	if _, err := f.st.UninstallConnect(context.Background(), "ck", app.Actor{Type: app.ActorInstaller, ID: "ck"}); err != nil {
		t.Fatal(err)
	}
	if c, err := f.d.DeliverDue(context.Background()); err != nil || c != (warnings.Counts{Failed: 1}) {
		t.Fatalf("counts = %+v, %v", c, err)
	}
	if len(f.smtp.Messages()) != 0 {
		t.Fatal("an e-mail went out for an uninstalled site")
	}
	if w := f.states(t)["ann"]; w.State != app.WarningFailed || !strings.Contains(w.LastError, "uninstalled") {
		t.Fatalf("ann: %+v", w)
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	want := []time.Duration{time.Minute, 4 * time.Minute, 16 * time.Minute, 64 * time.Minute, 256 * time.Minute, 6 * time.Hour, 6 * time.Hour}
	for i, w := range want {
		if got := warnings.Backoff(i + 1); got != w {
			t.Errorf("Backoff(%d) = %s, want %s", i+1, got, w)
		}
	}
}
