package web

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/connect"
	"github.com/lapsehq/lapse/app/forge"
)

// Codes used only at the HTTP layer.
const (
	codeMethodNotAllowed = "method_not_allowed"
	codeTooLarge         = "payload_too_large"
)

// errorBody is the JSON shape of every error response.
type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

var statusByCode = map[string]int{
	app.EINVALID:         http.StatusBadRequest,
	app.EUNAUTHORIZED:    http.StatusUnauthorized,
	app.EFORBIDDEN:       http.StatusForbidden,
	app.ENOTFOUND:        http.StatusNotFound,
	app.ECONFLICT:        http.StatusConflict,
	app.ENOTIMPLEMENTED:  http.StatusNotImplemented,
	app.EUNAVAILABLE:     http.StatusServiceUnavailable,
	app.EINTERNAL:        http.StatusInternalServerError,
	codeMethodNotAllowed: http.StatusMethodNotAllowed,
	codeTooLarge:         http.StatusRequestEntityTooLarge,
}

// toDomainError turns protocol authentication errors into the domain's
// unauthorized error, keeping their safe reason as the message.
func toDomainError(err error) error {
	var ce *connect.AuthError
	if errors.As(err, &ce) {
		return &app.Error{Code: app.EUNAUTHORIZED, Message: ce.Reason, Err: err}
	}
	var fe *forge.AuthError
	if errors.As(err, &fe) {
		return &app.Error{Code: app.EUNAUTHORIZED, Message: fe.Reason, Err: err}
	}
	return err
}

// fail writes err as a JSON error. This is the one place where errors become
// HTTP statuses. Internal errors are logged with their cause and answered
// with a generic message; client errors are logged at debug level only.
func (s *Server) fail(c *gin.Context, err error) {
	err = toDomainError(err)
	code := app.ErrorCode(err)
	status, ok := statusByCode[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	if status >= 500 {
		s.log.ErrorContext(c, "request failed", "err", err, "code", code)
	} else {
		s.log.DebugContext(c, "request refused", "err", err, "code", code)
	}
	if status == http.StatusUnauthorized {
		c.Header("WWW-Authenticate", `JWT realm="`+s.cfg.AppKey+`"`)
	}
	c.AbortWithStatusJSON(status, errorBody{Code: code, Message: app.ErrorMessage(err)})
}

func unauthorized(reason string) error { return app.Errorf(app.EUNAUTHORIZED, "%s", reason) }

func notFoundError() error { return app.Errorf(app.ENOTFOUND, "no such route") }

func methodNotAllowedError() error {
	return app.Errorf(codeMethodNotAllowed, "method not allowed on this route")
}
