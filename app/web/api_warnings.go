package web

import (
	"github.com/gin-gonic/gin"
	"net/http"

	"github.com/lapsehq/lapse/app"
)

// Warning list sizes.
const (
	warningListDefault = 50
	warningListMax     = 500
)

type warningListView struct {
	Warnings []app.WarningNotice `json:"warnings"`
}

// handleWarningList returns the tenant's warning e-mails, newest first,
// with their delivery state, so an admin can see who was told and when.
func (s *Server) handleWarningList(c *gin.Context) {
	caller := callerOf(c)
	limit, err := queryLimit(c, warningListDefault, warningListMax)
	if err != nil {
		s.fail(c, err)
		return
	}
	ws, err := s.store.Warnings(c.Request.Context(), caller.Tenant.ID, limit)
	if err != nil {
		s.fail(c, err)
		return
	}
	if ws == nil {
		ws = []app.WarningNotice{}
	}
	c.JSON(http.StatusOK, warningListView{Warnings: ws})
}
