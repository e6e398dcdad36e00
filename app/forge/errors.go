package forge

import "errors"

// AuthError reports that a request failed authentication. Reason is short and
// safe to show to the caller (it never echoes token contents or config); Err
// keeps the underlying cause for logs and errors.Is.
type AuthError struct {
	Reason string
	Err    error
}

// Error returns Reason only, so that printing the error to a client cannot
// leak the detail held in Err.
func (e *AuthError) Error() string { return e.Reason }

// Unwrap returns the underlying cause.
func (e *AuthError) Unwrap() error { return e.Err }

// IsAuthError reports whether err (or anything it wraps) is an *AuthError.
// Callers answer 401 for these and treat every other error as internal.
func IsAuthError(err error) bool {
	var ae *AuthError
	return errors.As(err, &ae)
}

// authError builds an *AuthError; it exists to keep call sites one line.
func authError(reason string, err error) *AuthError {
	return &AuthError{Reason: reason, Err: err}
}
