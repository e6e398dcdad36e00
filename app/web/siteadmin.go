package web

import (
	"context"

	"github.com/gin-gonic/gin"

	"github.com/lapsehq/lapse/app"
)

// SiteAdminChecker decides whether an account administers a tenant's
// site. siteadmin.(*Checker) implements it, asking the product's
// permission API and caching the answer briefly.
type SiteAdminChecker interface {
	IsSiteAdmin(ctx context.Context, t *app.Tenant, accountID string) (bool, error)
}

const (
	msgSiteAdminsOnly = "only site administrators of this site can use this route"
	msgNoAccount      = "only site administrators can use this route, and this request acts for no user account"
)

// requireSiteAdmin lets through only callers whose account administers the
// tenant's site. It runs after apiAuth, so the tenant is authenticated and
// active; a caller without an account id (a system call) is refused
// outright, since there is nobody whose permissions could be checked. When
// the check itself fails (Atlassian unreachable) the request is refused
// with that error, never let through.
func (s *Server) requireSiteAdmin(c *gin.Context) {
	caller := callerOf(c)
	if caller == nil || caller.Tenant == nil {
		s.fail(c, unauthorized("authentication required"))
		return
	}
	if caller.AccountID == "" {
		s.fail(c, app.Errorf(app.EFORBIDDEN, msgNoAccount))
		return
	}
	if s.cfg.SiteAdmins == nil {
		s.fail(c, app.Errorf(app.ENOTIMPLEMENTED, "site administrator checks are not configured on this server, so administration routes are off"))
		return
	}
	ok, err := s.cfg.SiteAdmins.IsSiteAdmin(c.Request.Context(), caller.Tenant, caller.AccountID)
	if err != nil {
		if app.ErrorCode(err) == app.EINTERNAL {
			err = &app.Error{Code: app.EUNAVAILABLE, Message: "could not check your site administrator permission with Atlassian; try again shortly", Err: err}
		}
		s.fail(c, err)
		return
	}
	if !ok {
		s.fail(c, app.Errorf(app.EFORBIDDEN, msgSiteAdminsOnly))
		return
	}
	c.Next()
}

// actorOf is the audit actor of an administration request.
func actorOf(caller *app.Caller) app.Actor {
	return app.Actor{Type: app.ActorAdmin, ID: caller.AccountID}
}
