package notifytest_test

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/lapsehq/lapse/app/notify/notifytest"
)

// rcptCode starts a transaction on c and returns the reply code to RCPT TO addr
// (250 when accepted).
func rcptCode(t *testing.T, c *smtp.Client, addr string) int {
	t.Helper()
	if err := c.Mail("lapse@example.com", nil); err != nil {
		t.Fatalf("MAIL FROM: %v", err)
	}
	defer func() { _ = c.Reset() }()
	err := c.Rcpt(addr, nil)
	if err == nil {
		return 250
	}
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		t.Fatalf("RCPT TO: %v", err)
	}
	return se.Code
}

func TestServer(t *testing.T) {
	srv := notifytest.Start(t, notifytest.Options{
		Mode: notifytest.StartTLS, RequireAuth: true,
		Reject: map[string]int{"gone@example.org": 550},
	})
	if !strings.HasPrefix(srv.Addr(), "127.0.0.1:") {
		t.Errorf("Addr() = %q", srv.Addr())
	}
	if got, want := srv.URL("smtp", "u:p"), "smtp://u:p@"+srv.Addr(); got != want {
		t.Errorf("URL = %q, want %q", got, want)
	}
	if got, want := srv.URL("smtps", ""), "smtps://"+srv.Addr(); got != want {
		t.Errorf("URL = %q, want %q", got, want)
	}

	c, err := smtp.DialStartTLS(srv.Addr(), srv.ClientTLS())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("lapse@example.com", nil); err == nil {
		t.Error("MAIL FROM before AUTH accepted")
	}
	_ = c.Reset()
	if err := c.Auth(sasl.NewPlainClient("", notifytest.User, notifytest.Password)); err != nil {
		t.Fatalf("AUTH: %v", err)
	}
	if n := srv.Logins(); n != 1 {
		t.Errorf("Logins() = %d, want 1", n)
	}

	if code := rcptCode(t, c, "gone@example.org"); code != 550 {
		t.Errorf("gone: code %d, want 550", code)
	}
	// Changes apply to the open session.
	srv.SetReject("busy@example.org", 451)
	srv.SetReject("full@example.org", 552)
	srv.SetReject("gone@example.org", 0)
	for addr, want := range map[string]int{"busy@example.org": 451, "full@example.org": 552, "gone@example.org": 250} {
		if code := rcptCode(t, c, addr); code != want {
			t.Errorf("%s: code %d, want %d", addr, code, want)
		}
	}

	if err := c.SendMail("lapse@example.com", []string{"ann@example.org"}, strings.NewReader("Subject: hi\r\nBcc: x\r\n\r\nbody\r\n")); err != nil {
		t.Fatalf("SendMail: %v", err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 || msgs[0].From != "lapse@example.com" || len(msgs[0].To) != 1 || msgs[0].To[0] != "ann@example.org" {
		t.Fatalf("Messages() = %+v", msgs)
	}
	if !notifytest.HasHeaderLine(msgs[0].Data, "bcc") || notifytest.HasHeaderLine(msgs[0].Data, "body") {
		t.Errorf("HasHeaderLine wrong on %q", msgs[0].Data)
	}
	msgs[0].To[0] = "changed"
	if srv.Messages()[0].To[0] != "ann@example.org" {
		t.Error("Messages() does not return a copy")
	}

	srv.Close()
	srv.Close()
	if c, err := net.Dial("tcp", srv.Addr()); err == nil {
		_ = c.Close()
		t.Error("server still accepts connections after Close")
	}
}

func TestImplicitTLS(t *testing.T) {
	srv := notifytest.Start(t, notifytest.Options{Mode: notifytest.Implicit})
	c, err := smtp.DialTLS(srv.Addr(), srv.ClientTLS())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail("a@example.com", []string{"b@example.org"}, strings.NewReader("Subject: s\r\n\r\nt\r\n")); err != nil {
		t.Fatalf("SendMail: %v", err)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("%d messages, want 1", n)
	}
}
