package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/forge"
)

// forgeRoute names the manifest modules (descriptor/manifest.yml) whose
// invocations a Forge route serves. Forge signs the invoking module into the
// token (app.module.key), and every module's token verifies against the same
// app, so without this a Custom UI call through lapse-api, which may name
// any path, could post lifecycle events or scheduled ticks.
type forgeRoute struct {
	// modules are the endpoint key and the key of the trigger module that
	// invokes it. Whether Forge names the endpoint or the trigger in
	// app.module.key for a trigger invocation is not documented, so both are
	// accepted; any other module is refused.
	modules []string
}

var (
	// /forge/events: endpoint lapse-lifecycle, invoked by the trigger
	// lapse-lifecycle-trigger (avi:forge:installed:app, avi:forge:upgraded:app).
	forgeEventsRoute = forgeRoute{modules: []string{"lapse-lifecycle", "lapse-lifecycle-trigger"}}
	// /forge/scheduled: endpoint lapse-scheduled, invoked by the
	// scheduledTrigger lapse-daily-scan.
	forgeScheduledRoute = forgeRoute{modules: []string{"lapse-scheduled", "lapse-daily-scan"}}
)

// Reasons for refusing a verified invocation on a Forge route; safe to show.
const (
	reasonForgeUserPrincipal = "this endpoint accepts only invocations that act for no user"
	reasonForgeWrongModule   = "this endpoint does not serve the invoking module"
)

// admit refuses an invocation that this route does not serve. Events and
// scheduled triggers act for no user, so a token with a principal (a UI
// invocation, such as the admin page's) is refused whatever it names; a
// token that names its module must name one of the route's. A token
// without a module key is judged by the principal alone ("where it carries
// one": the claim's presence for triggers is unconfirmed, UI.md §2.6).
func (r forgeRoute) admit(inv *forge.Invocation) error {
	if inv.Principal != "" {
		return unauthorized(reasonForgeUserPrincipal)
	}
	if key := inv.App.Module.Key; key != "" && !slices.Contains(r.modules, key) {
		return unauthorized(reasonForgeWrongModule)
	}
	return nil
}

// forgeEvent is the part of a Forge lifecycle event body Lapse reads
// (PLATFORM.md §7.4). The body is not signed; the invocation token is.
type forgeEvent struct {
	EventType          string `json:"eventType"`
	ID                 string `json:"id"` // the installation id
	InstallerAccountID string `json:"installerAccountId"`
	UpgraderAccountID  string `json:"upgraderAccountId"`
	App                *struct {
		ID string `json:"id"`
	} `json:"app"`
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
	if err := checkEventAgainstToken(&ev, invocationOf(c)); err != nil {
		s.fail(c, err)
		return
	}
	caller := callerOf(c)
	var actorID, field string
	switch ev.EventType {
	case app.ForgeEventInstalled:
		actorID, field = ev.InstallerAccountID, "installerAccountId"
	case app.ForgeEventUpgraded:
		if !caller.Tenant.State.Active() {
			s.fail(c, unauthorized(reasonTenantInactive))
			return
		}
		actorID, field = ev.UpgraderAccountID, "upgraderAccountId"
	default:
		s.fail(c, app.Errorf(app.EINVALID, "unsupported eventType; this endpoint handles %s and %s", app.ForgeEventInstalled, app.ForgeEventUpgraded))
		return
	}
	// The token names no user for events, so the acting account can only
	// come from the body: it is recorded only if it is an account id.
	if actorID != "" && !forge.ValidAccountID(actorID) {
		s.fail(c, app.Errorf(app.EINVALID, "%s is not an Atlassian account id", field))
		return
	}
	s.recordInvocation(c, app.InvocationLifecycle, ev.EventType, app.Actor{Type: app.ActorInstaller, ID: actorID})
}

// checkEventAgainstToken refuses a body whose facts contradict the verified
// token: the installation and the app are signed into the token, so the
// body may repeat them but not name others.
func checkEventAgainstToken(ev *forgeEvent, inv *forge.Invocation) error {
	if ev.ID != "" && forge.NormalizeInstallationID(ev.ID) != inv.InstallationID() {
		return app.Errorf(app.EINVALID, "the event's id is not the installation of the invocation token")
	}
	if ev.App != nil && ev.App.ID != "" {
		bodyApp, err := forge.AppARI(ev.App.ID)
		if err != nil || inv.App.ID != "" && bodyApp != inv.App.ID {
			return app.Errorf(app.EINVALID, "the event's app.id is not the app of the invocation token")
		}
	}
	return nil
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
	rec := app.ForgeInvocation{Kind: kind, EventType: eventType, ModuleKey: inv.App.Module.Key, TraceID: traceID(c)}
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

// traceID returns the request's B3 trace id when it has the B3 form (16 or
// 32 hex digits), else "". The header is not signed and the value lands in
// the audit trail, so nothing else is kept.
func traceID(c *gin.Context) string {
	id := c.GetHeader("X-B3-TraceId")
	if len(id) != 16 && len(id) != 32 {
		return ""
	}
	for i := 0; i < len(id); i++ {
		if !strings.ContainsRune("0123456789abcdefABCDEF", rune(id[i])) {
			return ""
		}
	}
	return id
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
