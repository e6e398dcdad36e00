// Package notifytest runs a real SMTP server in-process, on 127.0.0.1, for
// tests.
//
// Lapse's mail delivery is tested against a real SMTP peer at the network
// edge rather than a mock of the client library: the tests of package notify,
// of warnings delivery and of the serve end-to-end all talk SMTP over a TCP
// socket to this server, which records what it was sent. It speaks plain SMTP
// (with insecure AUTH allowed, for the loopback smtp+insecure login), STARTTLS
// or implicit TLS with a throwaway self-signed certificate, accepts AUTH PLAIN
// with [User] and [Password], and can be told to reject chosen recipients with
// a given reply code, also while it is running.
//
// The go-smtp and go-sasl dependencies stay inside this package.
package notifytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Credentials accepted by the server's AUTH PLAIN.
const (
	User     = "lapse"
	Password = "s3cret-P4ss"
)

// Mode is the transport the server speaks.
type Mode int

// Transport modes.
const (
	// Plain is SMTP without any TLS. It allows AUTH over the unencrypted
	// connection, so that the loopback smtp+insecure login can be tested.
	Plain Mode = iota
	// StartTLS offers STARTTLS with the server's self-signed certificate.
	StartTLS
	// Implicit speaks TLS from the first byte (smtps).
	Implicit
)

func (m Mode) String() string {
	switch m {
	case Plain:
		return "plain"
	case StartTLS:
		return "starttls"
	case Implicit:
		return "implicit tls"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Message is one message as the server saw it on the wire.
type Message struct {
	From string   // MAIL FROM address
	To   []string // accepted RCPT TO addresses
	Data string   // raw DATA, CRLF line endings
}

// Options configure a server started with [Start].
type Options struct {
	Mode        Mode
	RequireAuth bool           // MAIL FROM refused until logged in
	Reject      map[string]int // RCPT TO address -> reply code (e.g. 550 permanent, 451 temporary)
}

// Server is a running SMTP server. Its methods are safe for concurrent use.
type Server struct {
	addr      string
	clientTLS *tls.Config
	reqAuth   bool

	srv       *smtp.Server
	l         net.Listener
	done      chan struct{} // closed when Serve has returned
	closeOnce sync.Once

	mu     sync.Mutex
	msgs   []Message
	logins int
	reject map[string]int
}

// Start runs a server on 127.0.0.1 on a free port. It is closed when the test
// and all its subtests have completed.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	for addr, code := range o.Reject {
		if !validCode(code) {
			t.Fatalf("notifytest: reject code %d for %q is not a 4xx or 5xx reply", code, addr)
		}
	}
	serverTLS, clientTLS := selfSigned(t)
	s := &Server{
		clientTLS: clientTLS,
		reqAuth:   o.RequireAuth,
		done:      make(chan struct{}),
		reject:    make(map[string]int, len(o.Reject)),
	}
	for addr, code := range o.Reject {
		s.reject[addr] = code
	}

	srv := smtp.NewServer(&backend{s: s})
	srv.Domain = "localhost"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	var (
		l   net.Listener
		err error
	)
	switch o.Mode {
	case Plain:
		srv.AllowInsecureAuth = true
		l, err = net.Listen("tcp", "127.0.0.1:0")
	case StartTLS:
		srv.TLSConfig = serverTLS
		l, err = net.Listen("tcp", "127.0.0.1:0")
	case Implicit:
		srv.TLSConfig = serverTLS
		l, err = tls.Listen("tcp", "127.0.0.1:0", serverTLS)
	default:
		t.Fatalf("notifytest: unknown mode %v", o.Mode)
	}
	if err != nil {
		t.Fatal(err)
	}
	s.srv, s.l, s.addr = srv, l, l.Addr().String()
	go func() {
		defer close(s.done)
		if err := srv.Serve(l); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			t.Errorf("notifytest: smtp server: %v", err)
		}
	}()
	t.Cleanup(s.Close)
	return s
}

// Addr is the server's address, 127.0.0.1:port.
func (s *Server) Addr() string { return s.addr }

// URL builds a URL for this server, scheme://userinfo@addr, without the
// userinfo part when userinfo is "".
func (s *Server) URL(scheme, userinfo string) string {
	if userinfo != "" {
		userinfo += "@"
	}
	return scheme + "://" + userinfo + s.addr
}

// ClientTLS returns a client configuration that trusts only the server's
// self-signed certificate (valid for 127.0.0.1 and localhost).
func (s *Server) ClientTLS() *tls.Config { return s.clientTLS.Clone() }

// Messages returns a copy of the messages delivered so far, in delivery order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.msgs))
	for i, m := range s.msgs {
		m.To = append([]string(nil), m.To...)
		out[i] = m
	}
	return out
}

// Logins is the number of successful AUTH exchanges so far.
func (s *Server) Logins() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins
}

// SetReject makes the server reply code to RCPT TO addr from now on, also in
// sessions already open. Code 0 removes the rejection. Any other code must be
// a 4xx or 5xx reply.
func (s *Server) SetReject(addr string, code int) {
	if code != 0 && !validCode(code) {
		panic(fmt.Sprintf("notifytest: reject code %d for %q is not a 4xx or 5xx reply", code, addr))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if code == 0 {
		delete(s.reject, addr)
		return
	}
	s.reject[addr] = code
}

// Close stops the server: it stops accepting connections (so new ones are
// refused, e.g. to simulate an outage) and drops the open ones. It is safe to
// call more than once; Start also arranges for it to be called at cleanup.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		_ = s.srv.Close()
		// Serve may not have registered the listener with the server yet;
		// closing it here as well guarantees that Serve returns.
		_ = s.l.Close()
		<-s.done
	})
}

// HasHeaderLine reports whether the raw message data has a header line whose
// field name is name (case-insensitive).
func HasHeaderLine(data, name string) bool {
	head, _, _ := strings.Cut(data, "\r\n\r\n")
	for _, line := range strings.Split(head, "\r\n") {
		if strings.HasPrefix(strings.ToLower(line), strings.ToLower(name)+":") {
			return true
		}
	}
	return false
}

func validCode(code int) bool { return code >= 400 && code <= 599 }

// replyError is the SMTP reply for a rejection with the given code.
func replyError(code int) *smtp.SMTPError {
	switch {
	case code == 550:
		return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}
	case code < 500:
		return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}
	default:
		return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{5, 0, 0}, Message: "Rejected"}
	}
}

// backend is the go-smtp backend; it records into its Server.
type backend struct{ s *Server }

func (b *backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{s: b.s}, nil }

// session is one SMTP connection; go-smtp calls it from a single goroutine.
type session struct {
	s      *Server
	authed bool
	cur    Message
}

func (ss *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != User || pass != Password {
			return smtp.ErrAuthFailed // 535 5.7.8
		}
		ss.authed = true
		ss.s.mu.Lock()
		ss.s.logins++
		ss.s.mu.Unlock()
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.reqAuth && !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.cur = Message{From: from}
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	code := ss.s.reject[to]
	ss.s.mu.Unlock()
	if code != 0 {
		return replyError(code)
	}
	ss.cur.To = append(ss.cur.To, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.cur.Data = string(b)
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, ss.cur)
	ss.s.mu.Unlock()
	return nil
}

func (ss *session) Reset()        { ss.cur = Message{} }
func (ss *session) Logout() error { return nil }

// selfSigned makes a throwaway ECDSA certificate for 127.0.0.1 and localhost,
// and a client config that trusts only it.
func selfSigned(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "notify test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	return server, &tls.Config{RootCAs: pool}
}
