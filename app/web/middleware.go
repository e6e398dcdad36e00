package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"runtime/debug"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lapsehq/lapse/app"
)

const (
	headerRequestID = "X-Request-Id"
	// maxCallbackBody bounds lifecycle and Forge event bodies. Installed
	// payloads are a few hundred bytes; FIT-carrying events a few KiB.
	maxCallbackBody = 256 << 10
)

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

type requestIDKey struct{}

// requestID reuses a well-formed incoming request id (a proxy's or
// Atlassian's trace id) or makes one, and echoes it in the response.
func (s *Server) requestID(c *gin.Context) {
	id := c.GetHeader(headerRequestID)
	if !requestIDPattern.MatchString(id) {
		id = c.GetHeader("X-B3-TraceId")
	}
	if !requestIDPattern.MatchString(id) {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		id = hex.EncodeToString(b)
	}
	c.Set("request_id", id)
	c.Header(headerRequestID, id)
	c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), requestInfoKey{}, requestInfo{id: id, route: c.FullPath()}))
	c.Next()
}

// forgetTenantsAfter clears the tenant cache after a callback that may have
// changed a tenant succeeded. Refused callbacks leave it alone, so
// unauthenticated requests cannot keep the cache empty.
func (s *Server) forgetTenantsAfter(c *gin.Context) {
	c.Next()
	if c.Writer.Status() < http.StatusBadRequest {
		s.tenants.clear()
	}
}

// recoverJSON turns a panic into a logged 500 with a JSON body; no stack
// trace or panic value reaches the client.
func (s *Server) recoverJSON(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.ErrorContext(c, "panic in handler", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			s.fail(c, &app.Error{Code: app.EINTERNAL, Message: "An internal error occurred.", Err: errors.New("panic")})
		}
	}()
	c.Next()
}

// accessLog writes one structured line per request. The query string is
// left out on purpose: it carries the jwt parameter of iframe loads.
func (s *Server) accessLog(c *gin.Context) {
	start := time.Now()
	c.Next()
	attrs := []any{
		"request_id", c.GetString("request_id"),
		"method", c.Request.Method,
		"route", c.FullPath(),
		"status", c.Writer.Status(),
		"duration_ms", float64(time.Since(start).Microseconds()) / 1000,
	}
	if caller := app.CallerFromContext(c.Request.Context()); caller != nil && caller.Tenant != nil {
		attrs = append(attrs, "tenant_id", caller.Tenant.ID, "auth", string(caller.Method))
	}
	s.log.InfoContext(c, "http request", attrs...)
}

// securityHeaders applies to every response; the admin page adds its own
// frame-ancestors policy.
func securityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	c.Next()
}

// limitBody caps request bodies; a larger body fails to read and is
// answered 413 by the handler that reads it.
func (s *Server) limitBody(c *gin.Context) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxCallbackBody)
	c.Next()
}

// withCaller stores the authenticated caller in the request context.
func withCaller(c *gin.Context, caller *app.Caller) {
	c.Request = c.Request.WithContext(app.NewContextWithCaller(c.Request.Context(), caller))
}

func callerOf(c *gin.Context) *app.Caller { return app.CallerFromContext(c.Request.Context()) }
