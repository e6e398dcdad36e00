package atlassian

import (
	"errors"
	"log/slog"
	"net/http"
)

// Auth sets credentials on an outgoing request. Authorize is called once per
// attempt, so an implementation may refresh short-lived tokens or sign the
// final URL (Connect JWT with its qsh).
type Auth interface {
	Authorize(req *http.Request) error
}

// AuthFunc adapts a function to Auth.
type AuthFunc func(*http.Request) error

// Authorize calls f(req).
func (f AuthFunc) Authorize(req *http.Request) error { return f(req) }

// redacted replaces secrets in strings, logs and errors.
const redacted = "[REDACTED]"

// errEmptyToken is returned by a Bearer built from an empty token; sending
// "Authorization: Bearer " would only earn a confusing 401.
var errEmptyToken = errors.New("atlassian: empty bearer token")

// Bearer returns an Auth that sends "Authorization: Bearer <token>", the form
// used by Admin API keys and OAuth/Forge access tokens. The returned value
// prints as "Bearer [REDACTED]" with fmt (%v, %+v, %#v, %s) and as
// "[REDACTED]" in slog, so it is safe inside logged config structs.
func Bearer(token string) Auth { return bearer{token: token} }

type bearer struct{ token string }

// Authorize sets the Authorization header. The fmt, slog and text methods
// below exist only to keep the token out of logs and dumps.
func (b bearer) Authorize(req *http.Request) error {
	if b.token == "" {
		return errEmptyToken
	}
	req.Header.Set("Authorization", "Bearer "+b.token)
	return nil
}

func (b bearer) String() string               { return "Bearer " + redacted }
func (b bearer) GoString() string             { return "atlassian.Bearer(" + redacted + ")" }
func (b bearer) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (b bearer) MarshalText() ([]byte, error) { return []byte(redacted), nil }
