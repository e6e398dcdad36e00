package web

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lapsehq/lapse/app"
	"github.com/lapsehq/lapse/app/audit"
)

// Restorer puts back access that a scan removed, from the audit event of
// the removal, and returns the restore's own audit event. app/scan
// implements it; it must refuse (ECONFLICT) a removal already restored.
type Restorer interface {
	Restore(ctx context.Context, tenantID string, eventID int64, actor app.Actor) (*app.AuditEvent, error)
}

// Audit page sizes and filter bounds.
const (
	auditDefault    = 100
	auditMax        = 1000
	maxAuditActions = 20
	maxActionLen    = 64
	maxAccountLen   = 128
	// exportFlushEvery is how many rows an export writes between
	// flushes, so a long download shows progress and holds little memory.
	exportFlushEvery = 500
	// exportWriteWindow is how long a flush may take. Each flush moves the
	// connection's write deadline this far ahead, so a long export is not
	// cut off by the server's WriteTimeout while a stalled client still is.
	exportWriteWindow = time.Minute
)

type auditListView struct {
	Events []*app.AuditEvent `json:"events"`
	// Next is the after value of the next page (a seq); null on the last
	// page.
	Next *int64 `json:"next"`
}

type auditVerifyView struct {
	OK            bool      `json:"ok"`
	Events        int       `json:"events"`
	BrokenAtSeq   int64     `json:"brokenAtSeq,omitempty"`
	BrokenEventID int64     `json:"brokenEventId,omitempty"`
	Problem       string    `json:"problem,omitempty"`
	Detail        string    `json:"detail,omitempty"`
	CheckedAt     time.Time `json:"checkedAt"`
}

type auditEventView struct {
	Event *app.AuditEvent `json:"event"`
}

// auditFilter reads the filter parameters shared by the list and the
// export: from, to, action (repeated or comma-separated), account, after.
func auditFilter(c *gin.Context) (app.AuditFilter, error) {
	var f app.AuditFilter
	var problems []string
	var err error
	if f.From, err = queryTime(c, "from"); err != nil {
		problems = append(problems, app.ErrorMessage(err))
	}
	if f.To, err = queryTime(c, "to"); err != nil {
		problems = append(problems, app.ErrorMessage(err))
	}
	f.Actions = queryList(c, "action")
	if len(f.Actions) > maxAuditActions {
		problems = append(problems, "at most "+strconv.Itoa(maxAuditActions)+" actions can be filtered on")
	}
	for _, a := range f.Actions {
		if !validToken(a, maxActionLen) {
			problems = append(problems, "action must be audit action names such as policy.changed")
			break
		}
	}
	if f.AccountID = c.Query("account"); f.AccountID != "" && !validToken(f.AccountID, maxAccountLen) {
		problems = append(problems, "account must be an Atlassian account id")
	}
	if raw := c.Query("after"); raw != "" {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n < 0 {
			problems = append(problems, "after must be the seq of an event (a whole number), as returned in next")
		}
		f.AfterSeq = n
	}
	if err := problemsError("invalid audit query", problems); err != nil {
		return f, err
	}
	return f, f.Validate()
}

// handleAuditList returns a page of the tenant's audit trail in chain
// order (oldest first).
func (s *Server) handleAuditList(c *gin.Context) {
	caller := callerOf(c)
	limit, err := queryLimit(c, auditDefault, auditMax)
	if err != nil {
		s.fail(c, err)
		return
	}
	f, err := auditFilter(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	f.Limit = limit + 1
	out := auditListView{Events: make([]*app.AuditEvent, 0, min(limit, 64))}
	err = s.store.AuditEvents(c.Request.Context(), caller.Tenant.ID, f, func(ev *app.AuditEvent) error {
		out.Events = append(out.Events, ev)
		return nil
	})
	if err != nil {
		s.fail(c, err)
		return
	}
	if len(out.Events) > limit {
		out.Events = out.Events[:limit]
		next := out.Events[limit-1].Seq
		out.Next = &next
	}
	c.JSON(http.StatusOK, out)
}

// handleAuditExport streams the tenant's audit trail as a CSV or NDJSON
// download. Nothing is sent until the first bytes are ready, so an error
// before that is still a JSON error; an error later cuts the download off
// mid-stream, so a truncated file never looks complete.
func (s *Server) handleAuditExport(c *gin.Context) {
	caller := callerOf(c)
	format := c.DefaultQuery("format", "csv")
	if format != "csv" && format != "ndjson" {
		s.fail(c, app.Errorf(app.EINVALID, `format must be "csv" or "ndjson"`))
		return
	}
	if _, ok := c.GetQuery("limit"); ok {
		s.fail(c, app.Errorf(app.EINVALID, "an export has no limit: bound it with from and to, or resume with after"))
		return
	}
	f, err := auditFilter(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	filename := "lapse-audit-" + truncate(caller.Tenant.ID, 8) + "-" + s.now().UTC().Format("20060102T150405Z") + "." + format
	dl := &download{c: c, contentType: exportContentType(format), filename: filename}
	var enc audit.Encoder = audit.NewCSVEncoder(dl)
	if format == "ndjson" {
		enc = audit.NewNDJSONEncoder(dl)
	}
	s.sendDownload(c, dl, "audit export", enc.Flush, func(row func() error) error {
		return s.store.AuditEvents(c.Request.Context(), caller.Tenant.ID, f, func(ev *app.AuditEvent) error {
			if err := enc.Encode(ev); err != nil {
				return err
			}
			return row()
		})
	})
}

// exportContentType is the media type of an export format (csv or ndjson).
func exportContentType(format string) string {
	if format == "ndjson" {
		return "application/x-ndjson"
	}
	return "text/csv; charset=utf-8"
}

// sendDownload streams an export: write encodes every row, calling row
// after each, which pushes the encoder's buffer (flush) to the client every
// exportFlushEvery rows. An error before the first byte is an ordinary JSON
// error; one after it cuts the connection, so a client never keeps a
// truncated file that looks whole.
func (s *Server) sendDownload(c *gin.Context, dl *download, what string, flush func() error, write func(row func() error) error) {
	n := 0
	err := write(func() error {
		if n++; n%exportFlushEvery != 0 {
			return nil
		}
		if err := flush(); err != nil {
			return err
		}
		dl.flush()
		return nil
	})
	if err == nil {
		err = flush()
	}
	switch {
	case err != nil && !dl.started:
		s.fail(c, err)
	case err != nil:
		s.log.ErrorContext(c, what+" cut off", "err", err, "tenant_id", callerOf(c).Tenant.ID, "rows", n)
		panic(http.ErrAbortHandler)
	default:
		dl.start()
		dl.flush()
	}
}

// download is the writer of a file download: it sends the status and the
// download headers with the first bytes.
type download struct {
	c           *gin.Context
	contentType string
	filename    string
	started     bool
}

func (d *download) start() {
	if d.started {
		return
	}
	d.started = true
	h := d.c.Writer.Header()
	h.Set("Content-Type", d.contentType)
	h.Set("Content-Disposition", `attachment; filename="`+d.filename+`"`)
	d.c.Status(http.StatusOK)
	d.c.Writer.WriteHeaderNow()
	d.extend()
}

// extend moves the write deadline ahead; servers without deadlines
// (HTTP/2 through some proxies, tests) simply keep theirs.
func (d *download) extend() {
	_ = http.NewResponseController(d.c.Writer).SetWriteDeadline(time.Now().Add(exportWriteWindow))
}

func (d *download) flush() {
	d.extend()
	d.c.Writer.Flush()
}

func (d *download) Write(p []byte) (int, error) {
	d.start()
	return d.c.Writer.Write(p)
}

// handleAuditVerify checks the tenant's audit hash chain and reports its
// first broken link, if any.
func (s *Server) handleAuditVerify(c *gin.Context) {
	caller := callerOf(c)
	v, err := s.store.VerifyAuditChain(c.Request.Context(), caller.Tenant.ID)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, auditVerifyView{
		OK: v.OK, Events: v.Events, BrokenAtSeq: v.BrokenAtSeq, BrokenEventID: v.BrokenEventID,
		Problem: v.Problem, Detail: v.Detail, CheckedAt: s.now().UTC(),
	})
}

// handleAuditRestore restores the access that the access.removed event
// :id records, through the Restorer, and returns the restore's event.
func (s *Server) handleAuditRestore(c *gin.Context) {
	caller := callerOf(c)
	ctx := c.Request.Context()
	id, err := parseID(c, "id", "the audit event id")
	if err != nil {
		s.fail(c, err)
		return
	}
	if s.cfg.Restorer == nil {
		s.fail(c, app.Errorf(app.ENOTIMPLEMENTED, "restoring removed access is not available on this server yet"))
		return
	}
	ev, err := s.store.AuditEventByID(ctx, caller.Tenant.ID, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	if ev.Action != app.AuditAccessRemove {
		s.fail(c, app.Errorf(app.EINVALID, "audit event %d is %s, not %s: only removals can be restored", id, truncate(ev.Action, maxActionLen), app.AuditAccessRemove))
		return
	}
	restored, err := s.cfg.Restorer.Restore(ctx, caller.Tenant.ID, id, actorOf(caller))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, auditEventView{Event: restored})
}
