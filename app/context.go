package app

import "context"

// AuthMethod says how a request proved which tenant it came from.
type AuthMethod string

// Authentication methods.
const (
	AuthConnectPage    AuthMethod = "connect-jwt"     // iframe / webhook token with a real qsh
	AuthConnectContext AuthMethod = "connect-context" // AP.context.getToken(), qsh "context-qsh"
	AuthForge          AuthMethod = "forge-invocation"
)

// Caller is the authenticated party of a request: the tenant, the account
// that acts (empty for system calls) and how it authenticated.
type Caller struct {
	Tenant    *Tenant    `json:"-"`
	AccountID string     `json:"accountId,omitempty"`
	Method    AuthMethod `json:"method"`
}

type callerKey struct{}

// NewContextWithCaller returns a copy of ctx carrying caller.
func NewContextWithCaller(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFromContext returns the caller stored in ctx, or nil.
func CallerFromContext(ctx context.Context) *Caller {
	c, _ := ctx.Value(callerKey{}).(*Caller)
	return c
}
