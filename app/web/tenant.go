package web

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lapsehq/lapse/app"
)

// tenantView is the public JSON shape of a tenant. It is built field by
// field so that nothing secret can slip in through a new struct field.
type tenantView struct {
	ID          string          `json:"id"`
	Product     app.Product     `json:"product"`
	BaseURL     string          `json:"baseUrl"`
	DisplayURL  string          `json:"displayUrl,omitempty"`
	CloudID     string          `json:"cloudId,omitempty"`
	State       app.TenantState `json:"state"`
	InstalledAt *time.Time      `json:"installedAt,omitempty"`
	Connect     bool            `json:"connect"`
	Forge       bool            `json:"forge"`
	Auth        authView        `json:"auth"`
}

type authView struct {
	Method    app.AuthMethod `json:"method"`
	AccountID string         `json:"accountId,omitempty"`
}

func newTenantView(caller *app.Caller) tenantView {
	t := caller.Tenant
	return tenantView{
		ID: t.ID, Product: t.Product, BaseURL: t.BaseURL, DisplayURL: t.DisplayURL, CloudID: t.CloudID,
		State: t.State, InstalledAt: t.InstalledAt, Connect: t.ClientKey != "", Forge: t.InstallationID != "",
		Auth: authView{Method: caller.Method, AccountID: caller.AccountID},
	}
}

// handleTenantShow returns the calling tenant. Any authenticated user of
// the tenant may read it: it reveals nothing a site user cannot see.
func (s *Server) handleTenantShow(c *gin.Context) {
	c.JSON(http.StatusOK, newTenantView(callerOf(c)))
}
