package notify_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/lapsehq/lapse/app/notify"
	"github.com/lapsehq/lapse/app/notify/notifytest"
)

const testFrom = "Lapse <lapse@example.com>"

func newSMTP(t *testing.T, url string, tlsConf *tls.Config) *notify.SMTP {
	t.Helper()
	s, err := notify.NewSMTP(notify.SMTPConfig{URL: url, From: testFrom, Timeout: 10 * time.Second, TLSConfig: tlsConf})
	if err != nil {
		t.Fatalf("NewSMTP(%q): %v", url, err)
	}
	return s
}

// decode parses a received message and returns its decoded subject and body.
func decode(t *testing.T, data string) (mail.Header, string, string) {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(data))
	if err != nil {
		t.Fatalf("received data is not a message: %v\n%s", err, data)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatalf("decode subject: %v", err)
	}
	body := msg.Body
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return msg.Header, subject, string(b)
}

func TestSendDelivers(t *testing.T) {
	creds := notifytest.User + ":" + notifytest.Password
	for _, tc := range []struct {
		name, scheme, userinfo string
		mode                   notifytest.Mode
	}{
		{"starttls with auth", "smtp", creds, notifytest.StartTLS},
		{"smtps implicit tls with auth", "smtps", creds, notifytest.Implicit},
		{"insecure with auth to loopback", "smtp+insecure", creds, notifytest.Plain},
		{"insecure without auth", "smtp+insecure", "", notifytest.Plain},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := notifytest.Start(t, notifytest.Options{Mode: tc.mode, RequireAuth: tc.userinfo != ""})
			s := newSMTP(t, srv.URL(tc.scheme, tc.userinfo), srv.ClientTLS())

			m := notify.Message{To: "ann@example.org", ToName: "Ann Émile", Subject: "Your Jira access – ending soon", Text: "Hello Ann,\n\nplease sign in.\n"}
			if err := s.Send(context.Background(), m); err != nil {
				t.Fatalf("Send: %v", err)
			}
			msgs := srv.Messages()
			if len(msgs) != 1 {
				t.Fatalf("server received %d messages, want 1", len(msgs))
			}
			got := msgs[0]
			if got.From != "lapse@example.com" {
				t.Errorf("MAIL FROM = %q, want lapse@example.com", got.From)
			}
			if len(got.To) != 1 || got.To[0] != "ann@example.org" {
				t.Errorf("RCPT TO = %q, want [ann@example.org]", got.To)
			}
			h, subject, body := decode(t, got.Data)
			if subject != m.Subject {
				t.Errorf("Subject = %q, want %q", subject, m.Subject)
			}
			if !strings.Contains(strings.ReplaceAll(body, "\r\n", "\n"), m.Text) {
				t.Errorf("body %q does not contain %q", body, m.Text)
			}
			to, err := h.AddressList("To")
			if err != nil || len(to) != 1 || to[0].Name != "Ann Émile" || to[0].Address != "ann@example.org" {
				t.Errorf("To header = %v (%v), want Ann Émile <ann@example.org>", to, err)
			}
			wantLogins := 0
			if tc.userinfo != "" {
				wantLogins = 1
			}
			if n := srv.Logins(); n != wantLogins {
				t.Errorf("server saw %d logins, want %d", n, wantLogins)
			}
		})
	}
}

func TestStartTLSRequired(t *testing.T) {
	srv := notifytest.Start(t, notifytest.Options{Mode: notifytest.Plain}) // does not offer STARTTLS
	s := newSMTP(t, srv.URL("smtp", ""), srv.ClientTLS())

	err := s.Send(context.Background(), notify.Message{To: "ann@example.org", Subject: "s", Text: "t"})
	if err == nil {
		t.Fatal("Send over smtp:// to a server without STARTTLS succeeded; want an error")
	}
	if !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("error %q does not mention STARTTLS", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("server received %d messages, want 0", n)
	}
}

func TestWrongPasswordIsNotPermanent(t *testing.T) {
	srv := notifytest.Start(t, notifytest.Options{Mode: notifytest.StartTLS, RequireAuth: true})
	s := newSMTP(t, srv.URL("smtp", notifytest.User+":wrong-password"), srv.ClientTLS())

	err := s.Send(context.Background(), notify.Message{To: "ann@example.org", Subject: "s", Text: "t"})
	if err == nil {
		t.Fatal("Send with a wrong password succeeded")
	}
	// 535 concerns the relay's configuration, not this message: once the
	// operator fixes the password, the queued message can still go.
	if notify.IsPermanent(err) {
		t.Errorf("IsPermanent(%v) = true, want false for a rejected login", err)
	}
	if strings.Contains(err.Error(), "wrong-password") {
		t.Errorf("error leaks the password: %v", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("server received %d messages, want 0", n)
	}
}

func TestIsPermanent(t *testing.T) {
	srv := notifytest.Start(t, notifytest.Options{Mode: notifytest.StartTLS, Reject: map[string]int{
		"gone@example.org": 550,
		"busy@example.org": 451,
	}})
	s := newSMTP(t, srv.URL("smtp", ""), srv.ClientTLS())
	send := func(to string) error {
		return s.Send(context.Background(), notify.Message{To: to, Subject: "s", Text: "t"})
	}

	if err := send("gone@example.org"); err == nil || !notify.IsPermanent(err) {
		t.Errorf("550: err = %v, IsPermanent = %v; want an error that is permanent", err, notify.IsPermanent(err))
	}
	if err := send("busy@example.org"); err == nil || notify.IsPermanent(err) {
		t.Errorf("451: err = %v, IsPermanent = %v; want an error that is not permanent", err, notify.IsPermanent(err))
	}
	if err := send("not an address"); err == nil || !notify.IsPermanent(err) {
		t.Errorf("invalid address: err = %v, IsPermanent = %v; want an error that is permanent", err, notify.IsPermanent(err))
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("server received %d messages, want 0", n)
	}

	// A port nobody listens on: connection refused.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	refused := newSMTP(t, "smtp://"+addr, nil)
	if err := refused.Send(context.Background(), notify.Message{To: "ann@example.org"}); err == nil || notify.IsPermanent(err) {
		t.Errorf("connection refused: err = %v, IsPermanent = %v; want an error that is not permanent", err, notify.IsPermanent(err))
	}

	for _, err := range []error{nil, errors.New("boom"), context.DeadlineExceeded, fmt.Errorf("x: %w", context.Canceled)} {
		if notify.IsPermanent(err) {
			t.Errorf("IsPermanent(%v) = true, want false", err)
		}
	}
}

func TestHeaderInjection(t *testing.T) {
	srv := notifytest.Start(t, notifytest.Options{Mode: notifytest.StartTLS})
	s := newSMTP(t, srv.URL("smtp", ""), srv.ClientTLS())

	const evil = "\r\nBcc: evil@x"
	err := s.Send(context.Background(), notify.Message{
		To: "ann@example.org", ToName: "Ann" + evil, Subject: "Hello" + evil, Text: "body",
	})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("server received %d messages, want 1", len(msgs))
	}
	if got := msgs[0].To; len(got) != 1 || got[0] != "ann@example.org" {
		t.Errorf("RCPT TO = %q, want exactly [ann@example.org]", got)
	}
	if notifytest.HasHeaderLine(msgs[0].Data, "Bcc") {
		t.Errorf("received data has a raw Bcc header line:\n%s", msgs[0].Data)
	}
	h, _, _ := decode(t, msgs[0].Data)
	if to, err := h.AddressList("To"); err != nil || len(to) != 1 || to[0].Address != "ann@example.org" {
		t.Errorf("To header = %v (%v), want exactly ann@example.org", to, err)
	}
}

func TestNewSMTPErrors(t *testing.T) {
	const pass = "hunter2-Pa55"
	for _, tc := range []struct {
		name string
		cfg  notify.SMTPConfig
		want string // part of the error
	}{
		{"empty URL", notify.SMTPConfig{From: testFrom}, "URL is empty"},
		{"bad scheme", notify.SMTPConfig{URL: "http://u:" + pass + "@mail.example.com", From: testFrom}, `scheme "http"`},
		{"missing host", notify.SMTPConfig{URL: "smtp://u:" + pass + "@:587", From: testFrom}, "no host"},
		{"bad port", notify.SMTPConfig{URL: "smtp://u:" + pass + "@mail.example.com:0", From: testFrom}, "port"},
		{"unparsable", notify.SMTPConfig{URL: "smtp://u:" + pass + "%zz@mail.example.com", From: testFrom}, "cannot be parsed"},
		{"unescaped slash in password", notify.SMTPConfig{URL: "smtp://u:" + pass + "/x@mail.example.com", From: testFrom}, "percent-encode"},
		{"user without password", notify.SMTPConfig{URL: "smtp://u@mail.example.com", From: testFrom}, "user name and a password"},
		{"empty From", notify.SMTPConfig{URL: "smtp://u:" + pass + "@mail.example.com"}, "From"},
		{"bad From", notify.SMTPConfig{URL: "smtp://u:" + pass + "@mail.example.com", From: "Lapse <nope"}, "From"},
		{"negative timeout", notify.SMTPConfig{URL: "smtp://u:" + pass + "@mail.example.com", From: testFrom, Timeout: -time.Second}, "Timeout"},
		{"auth over insecure to remote", notify.SMTPConfig{URL: "smtp+insecure://u:" + pass + "@mail.example.com", From: testFrom}, "unencrypted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := notify.NewSMTP(tc.cfg)
			if err == nil {
				t.Fatalf("NewSMTP succeeded (%v); want an error", s)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), pass) || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks the password: %q", err)
			}
		})
	}

	// Valid configurations: defaults, and String never shows the password.
	for _, tc := range []struct{ url, want string }{
		{"smtp://u:" + pass + "@mail.example.com", "smtp://u@mail.example.com:587 (starttls)"},
		{"smtps://u:" + pass + "@mail.example.com", "smtps://u@mail.example.com:465 (implicit tls)"},
		{"smtp+insecure://localhost", "smtp+insecure://localhost:25 (no tls)"},
		{"smtp+insecure://u:" + pass + "@127.0.0.1:2525", "smtp+insecure://u@127.0.0.1:2525 (no tls)"},
		{"smtp://[::1]:2587", "smtp://[::1]:2587 (starttls)"},
	} {
		s, err := notify.NewSMTP(notify.SMTPConfig{URL: tc.url, From: "lapse@example.com"})
		if err != nil {
			t.Errorf("NewSMTP(%q): %v", tc.url, err)
			continue
		}
		if got := s.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
		for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
			if out := fmt.Sprintf(f, s); strings.Contains(out, pass) {
				t.Errorf("Sprintf(%q) leaks the password: %s", f, out)
			}
		}
	}
}

func TestSendContext(t *testing.T) {
	srv := notifytest.Start(t, notifytest.Options{Mode: notifytest.StartTLS})
	s := newSMTP(t, srv.URL("smtp", ""), srv.ClientTLS())

	t.Run("cancelled before Send", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		start := time.Now()
		err := s.Send(ctx, notify.Message{To: "ann@example.org", Subject: "s", Text: "t"})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("Send took %v after cancellation", d)
		}
		if n := len(srv.Messages()); n != 0 {
			t.Errorf("server received %d messages, want 0", n)
		}
	})

	// A server that accepts the connection but never greets: the context
	// deadline must end the conversation well before the 10s Timeout.
	t.Run("deadline during conversation", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				t.Cleanup(func() { _ = c.Close() })
			}
		}()
		mute := newSMTP(t, "smtp://"+l.Addr().String(), nil)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		err = mute.Send(ctx, notify.Message{To: "ann@example.org"})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want context.DeadlineExceeded", err)
		}
		if notify.IsPermanent(err) {
			t.Errorf("IsPermanent(%v) = true, want false", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("Send took %v; the context deadline was 200ms", d)
		}
	})
}

func TestWarningEmail(t *testing.T) {
	last := time.Date(2025, 11, 3, 23, 30, 0, 0, time.FixedZone("PST", -8*3600)) // 4 November in UTC
	due := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)

	m := notify.WarningEmail("ann@example.org", "Ann Lee", notify.WarningData{
		DisplayName: "Ann Lee", SiteURL: "https://acme.atlassian.net", Product: "jira-servicedesk",
		LastActive: &last, RemovalDue: due,
	})
	if m.To != "ann@example.org" || m.ToName != "Ann Lee" {
		t.Errorf("To = %q, ToName = %q", m.To, m.ToName)
	}
	for _, want := range []string{"Jira Service Management", "acme.atlassian.net", "2 January 2026"} {
		if !strings.Contains(m.Subject, want) {
			t.Errorf("Subject %q does not contain %q", m.Subject, want)
		}
	}
	for _, want := range []string{
		"Hello Ann Lee,",
		"Your access to Jira Service Management on https://acme.atlassian.net will be removed on 2 January 2026",
		"because it has not been used since 4 November 2025",
		"sign in to https://acme.atlassian.net and use Jira Service Management before 2 January 2026",
	} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("Text does not contain %q:\n%s", want, m.Text)
		}
	}
	if strings.Contains(m.Text, "jira-servicedesk") || strings.Contains(m.Text, "never") {
		t.Errorf("Text shows the product key or the never-used wording:\n%s", m.Text)
	}

	never := notify.WarningEmail("bo@example.org", "", notify.WarningData{
		SiteURL: "https://acme.atlassian.net", Product: "confluence", RemovalDue: due,
	})
	for _, want := range []string{"Hello,", "Your access to Confluence on", "because it has never been used."} {
		if !strings.Contains(never.Text, want) {
			t.Errorf("never-used Text does not contain %q:\n%s", want, never.Text)
		}
	}

	for key, name := range map[string]string{"jira-software": "Jira", "confluence": "Confluence", "statuspage": "statuspage"} {
		m := notify.WarningEmail("a@example.org", "", notify.WarningData{Product: key, SiteURL: "https://x.atlassian.net", RemovalDue: due})
		if !strings.Contains(m.Text, "Your access to "+name+" on") {
			t.Errorf("product %q not shown as %q:\n%s", key, name, m.Text)
		}
	}
}

// TestRefusedSenderIsNotPermanent: a relay that refuses MAIL FROM (here: it
// wants a login the configuration lacks, 530) is a configuration problem;
// the message is kept for after the fix.
func TestRefusedSenderIsNotPermanent(t *testing.T) {
	srv := notifytest.Start(t, notifytest.Options{Mode: notifytest.StartTLS, RequireAuth: true})
	s := newSMTP(t, srv.URL("smtp", ""), srv.ClientTLS())
	err := s.Send(context.Background(), notify.Message{To: "ann@example.org", Subject: "s", Text: "t"})
	if err == nil || notify.IsPermanent(err) {
		t.Fatalf("err = %v, permanent %v; want a failure that is not permanent", err, notify.IsPermanent(err))
	}
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("server received %d messages", n)
	}
}
