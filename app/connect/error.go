package connect

import "errors"

// AuthError reports that a request failed authentication. Reason is a short,
// fixed phrase such as "token expired" or "query string hash does not match"
// that is safe to show to the client; it never contains the token, a secret or
// claim values. Err, when set, is the underlying cause for logs.
type AuthError struct {
	Reason string
	Err    error
}

// Error returns Reason, followed by the wrapped error's message when there is
// one. The package only ever wraps errors whose text is free of secrets and
// token contents (golang-jwt validation errors, key-host status lines), so the
// full message is safe to log.
func (e *AuthError) Error() string {
	if e.Err == nil {
		return e.Reason
	}
	return e.Reason + ": " + e.Err.Error()
}

// Unwrap returns the underlying cause.
func (e *AuthError) Unwrap() error { return e.Err }

// IsAuthError reports whether err, or any error it wraps, is an *AuthError.
// Callers map it to 401; any other error from this package is a server-side
// problem (500/503).
func IsAuthError(err error) bool {
	var ae *AuthError
	return errors.As(err, &ae)
}

// authError builds an *AuthError; err may be nil.
func authError(reason string, err error) *AuthError {
	return &AuthError{Reason: reason, Err: err}
}

// Reasons reported in AuthError.Reason. They are part of the contract with
// clients (shown in 401 bodies), so they are kept stable and generic.
const (
	reasonMissingToken       = "missing token"
	reasonMultipleTokens     = "multiple tokens"
	reasonUnsupportedScheme  = "unsupported authorization scheme"
	reasonMalformedToken     = "malformed token"
	reasonUnexpectedAlg      = "unexpected signing algorithm"
	reasonInvalidSignature   = "invalid token signature"
	reasonExpired            = "token expired"
	reasonNotYetValid        = "token not yet valid"
	reasonIssuedInFuture     = "token issued in the future"
	reasonMissingExp         = "missing exp claim"
	reasonMissingIat         = "missing iat claim"
	reasonMissingIssuer      = "missing iss claim"
	reasonMissingClaim       = "missing required claim"
	reasonInvalidLifetime    = "invalid token lifetime"
	reasonInvalidToken       = "invalid token"
	reasonMissingQSH         = "missing qsh claim"
	reasonQSHMismatch        = "query string hash does not match"
	reasonContextQSHRequired = "context token required"
	reasonContextQSHRefused  = "context token not accepted here"
	reasonMissingKeyID       = "missing key id"
	reasonInvalidKeyID       = "invalid key id"
	reasonUnknownKey         = "unknown signing key"
	reasonIssuerMismatch     = "issuer does not match clientKey"
	reasonMissingClientKey   = "missing clientKey"
	reasonAudienceMismatch   = "audience does not match"
)

// ReasonUnknownKey is the AuthError reason when no install key host knows
// the token's kid: for a real Atlassian site a forgery, for a simulated one
// usually a key host that was not configured.
const ReasonUnknownKey = reasonUnknownKey
