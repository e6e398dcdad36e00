package web

import (
	"bytes"
	"net/http"

	"github.com/gin-gonic/gin"
)

// handleAdminPage renders the admin page inside the Atlassian iframe. The
// request carries an iframe JWT with the exact qsh of this URL; html/template
// escapes every value; the CSP lets only allowed Atlassian sites frame it.
func (s *Server) handleAdminPage(c *gin.Context) {
	caller := callerOf(c)
	var buf bytes.Buffer
	data := struct {
		Tenant tenantView
	}{newTenantView(caller)}
	if err := s.pages.ExecuteTemplate(&buf, "admin.html", data); err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Content-Security-Policy", "default-src 'none'; script-src https://connect-cdn.atl-paas.net; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors "+s.hosts.frameAncestors())
	c.Data(http.StatusOK, "text/html; charset=utf-8", buf.Bytes())
}
