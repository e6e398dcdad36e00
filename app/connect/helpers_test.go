package connect_test

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/lapsehq/lapse/app/connect"
)

// Shared secret and issuer of ACE's interoperability suite (PLATFORM §4.2).
const (
	testSecret = "s0m3-sh@r3d-s3cr37"
	testIssuer = "jira:1234-5678-9000"
)

// testNow is the fixed clock of every test that mints tokens.
var testNow = time.Unix(1_760_000_000, 0)

func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

// testRSAKey is generated once per test binary: 2048-bit generation is the
// slowest thing these tests do.
var testRSAKey = sync.OnceValue(func() *rsa.PrivateKey { return mustRSAKey(2048) })

// otherRSAKey is a second key, for "signed by somebody else" cases.
var otherRSAKey = sync.OnceValue(func() *rsa.PrivateKey { return mustRSAKey(2048) })

func mustRSAKey(bits int) *rsa.PrivateKey {
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	return key
}

// publicKeyPEM encodes pub as Atlassian serves it: X.509 SubjectPublicKeyInfo.
func publicKeyPEM(t testing.TB, pub *rsa.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// loadJSON decodes testdata/name into v.
func loadJSON(t testing.TB, name string, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
}

// mintToken signs claims with method and key through golang-jwt; header
// entries are added to (or override) the JOSE header.
func mintToken(t testing.TB, method jwt.SigningMethod, claims jwt.MapClaims, key any, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rawToken assembles a token by hand so tests can forge what golang-jwt
// would refuse to produce (alg none, an HMAC under an RS256 header).
func rawToken(t testing.TB, header, claims any, sign func(signingInput string) []byte) string {
	t.Helper()
	enc := func(v any) string {
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(data)
	}
	input := enc(header) + "." + enc(claims)
	return input + "." + base64.RawURLEncoding.EncodeToString(sign(input))
}

// hmacSHA256 returns a signer for rawToken.
func hmacSHA256(key []byte) func(string) []byte {
	return func(input string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(input))
		return m.Sum(nil)
	}
}

// newRequest builds a request as a server receives it (r.URL.Path decoded).
func newRequest(method, target string) *http.Request {
	return httptest.NewRequest(method, target, nil)
}

// wantAuthReason checks that err is an *connect.AuthError with the reason.
func wantAuthReason(t testing.TB, err error, reason string) {
	t.Helper()
	var ae *connect.AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v, want AuthError %q", err, reason)
	}
	if ae.Reason != reason {
		t.Fatalf("AuthError.Reason = %q, want %q (error: %v)", ae.Reason, reason, err)
	}
}
