package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/forge"
)

// forgeEvent is the part of a Forge lifecycle event body Lapse reads
// (PLATFORM.md §7.4).
type forgeEvent struct {
	EventType          string `json:"eventType"`
	InstallerAccountID string `json:"installerAccountId"`
	UpgraderAccountID  string `json:"upgraderAccountId"`
}

// handleForgeEvent records avi:forge:installed:app and
// avi:forge:upgraded:app. Forge gives events 5 seconds and retries, so the
// handler only records; work that follows runs in the background.
func (s *Server) handleForgeEvent(c *gin.Context) {
	var ev forgeEvent
	if err := readJSON(c, &ev); err != nil {
		s.fail(c, err)
		return
	}
	caller := callerOf(c)
	var actor app.Actor
	switch ev.EventType {
	case app.ForgeEventInstalled:
		actor = app.Actor{Type: app.ActorInstaller, ID: ev.InstallerAccountID}
	case app.ForgeEventUpgraded:
		if !caller.Tenant.State.Active() {
			s.fail(c, unauthorized(reasonTenantInactive))
			return
		}
		actor = app.Actor{Type: app.ActorInstaller, ID: ev.UpgraderAccountID}
	default:
		s.fail(c, app.Errorf(app.EINVALID, "unsupported eventType; this endpoint handles %s and %s", app.ForgeEventInstalled, app.ForgeEventUpgraded))
		return
	}
	s.recordInvocation(c, app.InvocationLifecycle, ev.EventType, actor)
}

// handleForgeScheduled records the daily scheduled trigger of an
// installation.
func (s *Server) handleForgeScheduled(c *gin.Context) {
	if !callerOf(c).Tenant.State.Active() {
		s.fail(c, unauthorized(reasonTenantInactive))
		return
	}
	s.recordInvocation(c, app.InvocationScheduled, "", app.Actor{Type: app.ActorAtlassian})
	if c.IsAborted() || s.cfg.DueScans == nil {
		return
	}
	// The trigger is recorded and answered; queueing the tenant's due scan
	// is best effort here, because the planner queues it anyway and a
	// retried trigger would record the invocation twice.
	if err := s.cfg.DueScans.TriggerDue(c.Request.Context(), callerOf(c).Tenant.ID); err != nil {
		s.log.WarnContext(c, "forge trigger: could not queue the due scan", "tenant_id", callerOf(c).Tenant.ID, "err", err)
	}
}

// DueScanTrigger queues a tenant's scan when it is due today (Forge's
// scheduled trigger); implemented by app/schedule.
type DueScanTrigger interface {
	TriggerDue(ctx context.Context, tenantID string) error
}

func (s *Server) recordInvocation(c *gin.Context, kind, eventType string, actor app.Actor) {
	caller, inv := callerOf(c), invocationOf(c)
	rec := app.ForgeInvocation{Kind: kind, EventType: eventType, ModuleKey: inv.App.Module.Key, TraceID: c.GetHeader("X-B3-TraceId")}
	var tok *app.SystemToken
	if st, ok := forge.SystemTokenFromRequest(c.Request, s.now()); ok {
		tok = &app.SystemToken{Token: st.Token, ExpiresAt: st.ExpiresAt}
	}
	saved, err := s.store.RecordForgeInvocation(c.Request.Context(), caller.Tenant.ID, rec, tok, actor)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"invocationId": saved.ID, "tenantId": caller.Tenant.ID, "kind": kind})
}

// readJSON decodes a JSON body, mapping every failure to a client error.
// An empty body decodes as {}.
func readJSON(c *gin.Context, v any) error {
	body, err := io.ReadAll(c.Request.Body)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return app.Errorf(codeTooLarge, "request body is too large")
	} else if err != nil {
		return app.Errorf(app.EINVALID, "could not read the request body")
	}
	if len(body) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return app.Errorf(app.EINVALID, "request body is not valid JSON")
	}
	return nil
}
