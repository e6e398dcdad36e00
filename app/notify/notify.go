// Package notify sends the e-mails Lapse writes to people, such as the warning
// that their product access is about to be removed for inactivity.
//
// Composition, header encoding, TLS policy and SMTP AUTH are delegated to
// github.com/wneessen/go-mail so that this package only has to decide policy:
// which transports are allowed, how credentials are protected, and which
// failures a caller should retry.
package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Message is one plain-text e-mail.
type Message struct {
	To      string // address
	ToName  string // display name, may be empty
	Subject string
	Text    string
}

// Sender sends one message. Callers depend on this interface rather than on
// *SMTP so that they can be tested without a mail server.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// SMTPConfig configures NewSMTP.
type SMTPConfig struct {
	// URL: smtp://user:pass@host:587 (STARTTLS required; default port 587),
	// smtps://user:pass@host:465 (implicit TLS; default port 465),
	// smtp+insecure://host:25 (no TLS, no auth allowed over it unless host is loopback; meant for a local relay or tests).
	URL       string
	From      string        // required, "Name <addr>" or addr; validated with net/mail
	Timeout   time.Duration // per message, default 30s
	TLSConfig *tls.Config   // optional (tests use a self-signed cert); ServerName defaults to the URL host
}

const defaultTimeout = 30 * time.Second

// transport is how the connection is protected; it decides the go-mail TLS
// policy and whether credentials may be sent.
type transport struct {
	scheme, label string
	defaultPort   int
}

var transports = map[string]transport{
	"smtp":          {"smtp", "starttls", 587},
	"smtps":         {"smtps", "implicit tls", 465},
	"smtp+insecure": {"smtp+insecure", "no tls", 25},
}

// SMTP sends messages through one SMTP server, opening a new connection per
// message: warnings are rare, and a fresh connection never trips over a
// server-side idle timeout.
type SMTP struct {
	tr      transport
	host    string
	port    int
	user    string
	from    *mail.Address
	timeout time.Duration
	tlsConf *tls.Config
	// opts holds the go-mail options, including the credentials. The password
	// lives only inside these closures so that printing an *SMTP with %#v or a
	// debugger-style dump cannot reveal it.
	opts []gomail.Option
}

var _ Sender = (*SMTP)(nil)

// NewSMTP validates cfg and returns a Sender for it. Configuration mistakes are
// reported here, at start-up, rather than on the first warning e-mail weeks
// later. Errors never contain the password, because they end up in logs.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	const example = "e.g. smtp://user:password@smtp.example.com:587"
	if cfg.URL == "" {
		return nil, fmt.Errorf("notify: SMTP URL is empty; set it to the mail server, %s", example)
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		// url.Parse errors quote the URL (or pieces of it), which may include the
		// password, so the underlying error is deliberately not included.
		return nil, fmt.Errorf("notify: SMTP URL cannot be parsed; use the form %s and percent-encode special characters in the user name and password", example)
	}
	tr, ok := transports[u.Scheme]
	if !ok {
		return nil, fmt.Errorf("notify: SMTP URL scheme %q is not supported; use smtp:// (STARTTLS), smtps:// (implicit TLS) or smtp+insecure:// (local relay without TLS)", u.Scheme)
	}
	if u.Opaque != "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("notify: SMTP URL must be just %s://[user:password@]host[:port] without path, query or fragment; if the password contains '/', '?' or '#', percent-encode it", tr.scheme)
	}
	s := &SMTP{tr: tr, host: u.Hostname(), port: tr.defaultPort, timeout: cfg.Timeout}
	if s.host == "" {
		return nil, fmt.Errorf("notify: SMTP URL has no host; use %s", example)
	}
	if p := u.Port(); p != "" {
		if s.port, err = strconv.Atoi(p); err != nil || s.port < 1 || s.port > 65535 {
			return nil, fmt.Errorf("notify: SMTP URL port %q is invalid; use a number from 1 to 65535 or omit it for the default %d", p, tr.defaultPort)
		}
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("notify: From %q is not a valid e-mail address (%v); use \"Lapse <lapse@example.com>\" or lapse@example.com", cfg.From, err)
	}
	s.from = from
	if s.timeout < 0 {
		return nil, fmt.Errorf("notify: Timeout %v is negative; use a positive duration or 0 for the default %v", s.timeout, defaultTimeout)
	}
	if s.timeout == 0 {
		s.timeout = defaultTimeout
	}
	s.tlsConf = &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLSConfig != nil {
		s.tlsConf = cfg.TLSConfig.Clone() // later changes by the caller must not race with Send
	}
	if s.tlsConf.ServerName == "" {
		s.tlsConf.ServerName = s.host
	}

	s.opts = []gomail.Option{gomail.WithPort(s.port), gomail.WithTimeout(s.timeout), gomail.WithTLSConfig(s.tlsConf)}
	switch tr.scheme {
	case "smtp":
		s.opts = append(s.opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case "smtps":
		s.opts = append(s.opts, gomail.WithSSL(), gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		s.opts = append(s.opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if u.User != nil {
		s.user = u.User.Username()
		pass, hasPass := u.User.Password()
		if s.user == "" || !hasPass {
			return nil, fmt.Errorf("notify: SMTP URL credentials must have both a user name and a password (%s://user:password@host), or be omitted for a relay that needs no login", tr.scheme)
		}
		auth := gomail.SMTPAuthPlain
		if tr.scheme == "smtp+insecure" {
			if !isLoopback(s.host) {
				return nil, fmt.Errorf("notify: refusing to send the SMTP password unencrypted to %s; use smtp:// or smtps://, or drop the credentials for a trusted relay (smtp+insecure:// allows a login only to a loopback host)", s.host)
			}
			// Loopback traffic never leaves the machine; go-mail would otherwise
			// only accept the literal names localhost, 127.0.0.1 and ::1.
			auth = gomail.SMTPAuthPlainNoEnc
		}
		s.opts = append(s.opts, gomail.WithSMTPAuth(auth), gomail.WithUsername(s.user), gomail.WithPassword(pass))
	}
	return s, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// String describes the server for logs, e.g. "smtp://user@host:587 (starttls)".
// It never includes the password.
func (s *SMTP) String() string {
	u := url.URL{Scheme: s.tr.scheme, Host: net.JoinHostPort(s.host, strconv.Itoa(s.port))}
	if s.user != "" {
		u.User = url.User(s.user)
	}
	return u.String() + " (" + s.tr.label + ")"
}

// errInvalidRecipient marks a message that can never be delivered because its
// address is malformed.
var errInvalidRecipient = errors.New("invalid recipient address")

// Send delivers m. The whole exchange, connection included, is bounded by the
// configured Timeout and by ctx: cancelling ctx aborts a conversation that is
// already under way, not only the dial.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return fmt.Errorf("notify: %w %q (%v); fix the address, retrying will not help", errInvalidRecipient, m.To, err)
	}
	if m.ToName != "" {
		to.Name = m.ToName
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("notify: not sending to %s: %w", to.Address, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()

	msg := gomail.NewMsg()
	msg.FromMailAddress(s.from)
	msg.ToMailAddress(to) // a structured address: ToName cannot smuggle in extra recipients
	msg.Subject(m.Subject)
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)

	// go-mail only honours the context while dialing, and leaves the
	// connection open when the greeting, STARTTLS or AUTH fails. Dialing
	// ourselves lets us close the connection as soon as ctx ends and always
	// close it when Send returns.
	var conn net.Conn
	stop := func() bool { return false }
	defer func() {
		stop()
		if conn != nil {
			_ = conn.Close()
		}
	}()
	dial := func(dctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(dctx, network, addr)
		if err != nil {
			return nil, err
		}
		conn, stop = c, context.AfterFunc(ctx, func() { _ = c.Close() })
		if s.tr.scheme != "smtps" {
			return c, nil
		}
		// go-mail skips its own TLS dialer when given a dial function. It must
		// receive a *tls.Conn so that it knows the session is encrypted.
		tc := tls.Client(c, s.tlsConf)
		if err := tc.HandshakeContext(dctx); err != nil {
			return nil, err
		}
		return tc, nil
	}

	opts := append(s.opts[:len(s.opts):len(s.opts)], gomail.WithDialContextFunc(dial)) // never share s.opts' array between Sends
	client, err := gomail.NewClient(s.host, opts...)
	if err == nil {
		err = client.DialAndSendWithContext(ctx, msg)
	}
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = fmt.Errorf("%w: %w", ctxErr, err)
		}
		return fmt.Errorf("notify: sending to %s via %s: %w", to.Address, s, err)
	}
	return nil
}

// IsPermanent reports whether err is a permanent failure of this message:
// an invalid recipient address, or a 5xx reply to its RCPT TO or DATA. Then
// retrying this message will never help, and the caller gives it up.
//
// Everything else is not permanent, 5xx replies included when they concern
// the connection rather than the message: a rejected login (535), a refused
// sender (MAIL FROM) or a failed STARTTLS are fixed by the operator, after
// which every queued message can go; giving each of them up would lose them.
// Network errors, timeouts and 4xx replies are not permanent either.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, errInvalidRecipient) {
		return true
	}
	// go-mail reports failures after the connection is set up as *SendError,
	// which does not unwrap to the server reply but records its code.
	var se *gomail.SendError
	if errors.As(err, &se) {
		switch se.Reason {
		case gomail.ErrSMTPRcptTo, gomail.ErrSMTPData, gomail.ErrSMTPDataClose:
			return se.ErrorCode()/100 == 5
		}
	}
	return false
}
