package web

import (
	"context"
	"log/slog"

	"github.com/lapsehq/lapse/app"
)

// requestInfo identifies the request a log record was made in.
type requestInfo struct {
	id    string
	route string // Gin's route pattern, never the raw URL (whose query may hold a jwt)
}

type requestInfoKey struct{}

// requestAttrs adds the request id, the route and, once the caller is
// authenticated, the tenant id to every record logged with a request's
// context, so an error line can be traced to its request and tenant without
// each call site remembering to say so. Keys a record already carries are
// left as they are.
type requestAttrs struct{ slog.Handler }

func (h requestAttrs) Handle(ctx context.Context, r slog.Record) error {
	info, _ := ctx.Value(requestInfoKey{}).(requestInfo)
	caller := app.CallerFromContext(ctx)
	if info.id == "" && (caller == nil || caller.Tenant == nil) {
		return h.Handler.Handle(ctx, r)
	}
	var has struct{ id, route, tenant bool }
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "request_id":
			has.id = true
		case "route":
			has.route = true
		case "tenant_id":
			has.tenant = true
		}
		return true
	})
	if info.id != "" && !has.id {
		r.AddAttrs(slog.String("request_id", info.id))
	}
	if info.route != "" && !has.route {
		r.AddAttrs(slog.String("route", info.route))
	}
	if caller != nil && caller.Tenant != nil && !has.tenant {
		r.AddAttrs(slog.String("tenant_id", caller.Tenant.ID))
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestAttrs) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestAttrs{h.Handler.WithAttrs(attrs)}
}

func (h requestAttrs) WithGroup(name string) slog.Handler {
	return requestAttrs{h.Handler.WithGroup(name)}
}
