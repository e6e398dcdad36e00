package web

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/lapsehq/lapse/app"
)

// ScanController queues scans and records decisions on held ones; the
// scheduler (app/schedule) implements it, enqueuing the job in the same
// transaction as the scan row.
type ScanController interface {
	// RunNow queues a manual scan. When one is already queued or running
	// it returns ECONFLICT together with that scan.
	RunNow(ctx context.Context, tenantID string, actor app.Actor) (*app.ScanRun, error)
	// Decide approves or rejects a held scan: ENOTFOUND for an unknown
	// scan, ECONFLICT for one that is not held.
	Decide(ctx context.Context, tenantID, scanID string, approve bool, actor app.Actor) (*app.ScanRun, error)
}

// Scan list sizes.
const (
	scanListDefault = 20
	scanListMax     = 100
	maxScanIDLen    = 64
)

type scanView struct {
	Scan *app.ScanRun `json:"scan"`
}

type scanListView struct {
	Scans []*app.ScanRun `json:"scans"`
}

// scanConflictBody is a 409 that names the scan in the way.
type scanConflictBody struct {
	Code    string       `json:"code"`
	Message string       `json:"message"`
	Scan    *app.ScanRun `json:"scan,omitempty"`
}

// handleScanList returns the tenant's most recent scans, newest first.
func (s *Server) handleScanList(c *gin.Context) {
	caller := callerOf(c)
	limit, err := queryLimit(c, scanListDefault, scanListMax)
	if err != nil {
		s.fail(c, err)
		return
	}
	scans, err := s.store.ListScans(c.Request.Context(), caller.Tenant.ID, limit)
	if err != nil {
		s.fail(c, err)
		return
	}
	if scans == nil {
		scans = []*app.ScanRun{}
	}
	c.JSON(http.StatusOK, scanListView{Scans: scans})
}

// handleScanShow returns one scan of the tenant; another tenant's scan id
// is not found, like an id that never existed.
func (s *Server) handleScanShow(c *gin.Context) {
	caller := callerOf(c)
	id := c.Param("id")
	if !validToken(id, maxScanIDLen) {
		s.fail(c, app.Errorf(app.ENOTFOUND, "scan not found"))
		return
	}
	scan, err := s.store.Scan(c.Request.Context(), caller.Tenant.ID, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, scanView{Scan: scan})
}

// handleScanCreate queues a scan now and answers 202 with it; the scan
// runs in the background (poll GET /scans/{id}). The site must be
// connected to its organization first, and only one scan runs at a time.
func (s *Server) handleScanCreate(c *gin.Context) {
	caller := callerOf(c)
	ctx := c.Request.Context()
	if s.cfg.Scans == nil {
		s.fail(c, app.Errorf(app.ENOTIMPLEMENTED, "scans cannot be started on this server: no scan scheduler is configured"))
		return
	}
	// RunNow refuses a site without an org connection (409), as queueing
	// any scan does.
	scan, err := s.cfg.Scans.RunNow(ctx, caller.Tenant.ID, actorOf(caller))
	if err != nil {
		s.failScan(c, scan, err)
		return
	}
	c.Header("Location", s.basePath+"/api/v1/scans/"+scan.ID)
	c.JSON(http.StatusAccepted, scanView{Scan: scan})
}

func (s *Server) handleScanApprove(c *gin.Context) { s.handleScanDecide(c, true) }
func (s *Server) handleScanReject(c *gin.Context)  { s.handleScanDecide(c, false) }

// handleScanDecide approves or rejects a scan the safety brake held. An
// approved scan carries out the removals of its snapshot in the
// background; a rejected one removes nothing.
func (s *Server) handleScanDecide(c *gin.Context, approve bool) {
	caller := callerOf(c)
	id := c.Param("id")
	if s.cfg.Scans == nil {
		s.fail(c, app.Errorf(app.ENOTIMPLEMENTED, "held scans cannot be decided on this server: no scan scheduler is configured"))
		return
	}
	if !validToken(id, maxScanIDLen) {
		s.fail(c, app.Errorf(app.ENOTFOUND, "scan not found"))
		return
	}
	scan, err := s.cfg.Scans.Decide(c.Request.Context(), caller.Tenant.ID, id, approve, actorOf(caller))
	if err != nil {
		s.failScan(c, scan, err)
		return
	}
	c.JSON(http.StatusOK, scanView{Scan: scan})
}

// failScan answers a conflict with the scan it is about (the active scan
// that blocks a new one, or the scan that is not held), so the client can
// follow it without another request; other errors go through fail.
func (s *Server) failScan(c *gin.Context, scan *app.ScanRun, err error) {
	if app.ErrorCode(err) != app.ECONFLICT || scan == nil || scan.TenantID != callerOf(c).Tenant.ID {
		s.fail(c, err)
		return
	}
	s.log.DebugContext(c, "request refused", "err", err, "code", app.ECONFLICT)
	c.AbortWithStatusJSON(http.StatusConflict, scanConflictBody{Code: app.ECONFLICT, Message: app.ErrorMessage(err), Scan: scan})
}

// handleScanCancel stops a queued, running, approved or deferred scan. A
// running scan stops before its next removal; what it did until then stays
// recorded.
func (s *Server) handleScanCancel(c *gin.Context) {
	caller := callerOf(c)
	id := c.Param("id")
	if !validToken(id, maxScanIDLen) {
		s.fail(c, app.Errorf(app.ENOTFOUND, "scan not found"))
		return
	}
	scan, err := s.store.CancelScan(c.Request.Context(), caller.Tenant.ID, id, actorOf(caller))
	if err != nil {
		s.failScan(c, scan, err)
		return
	}
	c.JSON(http.StatusOK, scanView{Scan: scan})
}
