package web

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/lapsehq/lapse/app"
)

// orgConnectionView is the public JSON shape of an org connection. The API
// key is write-only: no field of this struct can carry it.
type orgConnectionView struct {
	Connected       bool       `json:"connected"`
	OrgID           string     `json:"orgId,omitempty"`
	ActivitySource  string     `json:"activitySource,omitempty"`
	ActivityChecked *time.Time `json:"activityChecked,omitempty"`
	UpdatedAt       *time.Time `json:"updatedAt,omitempty"`
}

func newOrgConnectionView(oc *app.OrgConnection) orgConnectionView {
	updated := oc.UpdatedAt
	return orgConnectionView{Connected: true, OrgID: oc.OrgID, ActivitySource: oc.ActivitySource, ActivityChecked: oc.ActivityChecked, UpdatedAt: &updated}
}

// orgConnectionInput is the body of PUT /org-connection.
type orgConnectionInput struct {
	OrgID  string `json:"orgId"`
	APIKey string `json:"apiKey"`
}

// Bounds of org connection fields. Atlassian org ids are UUIDs; API keys
// are a few hundred characters.
const (
	maxOrgIDLen  = 128
	maxAPIKeyLen = 4096
)

// Validate reports every problem of the input at once.
func (in orgConnectionInput) Validate() error {
	var problems []string
	switch {
	case in.OrgID == "":
		problems = append(problems, "orgId is required")
	case !validOrgID(in.OrgID):
		problems = append(problems, "orgId must be the organization id from admin.atlassian.com (letters, digits and dashes)")
	}
	switch {
	case in.APIKey == "":
		problems = append(problems, "apiKey is required")
	case !validToken(in.APIKey, maxAPIKeyLen):
		problems = append(problems, "apiKey must be the organization API key as Atlassian shows it, without spaces")
	}
	return problemsError("invalid org connection", problems)
}

func validOrgID(s string) bool {
	if len(s) > maxOrgIDLen {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// handleOrgConnectionShow returns whether the site is connected to its
// Atlassian organization, and to which, never the key.
func (s *Server) handleOrgConnectionShow(c *gin.Context) {
	caller := callerOf(c)
	oc, err := s.store.OrgConnection(c.Request.Context(), caller.Tenant.ID)
	if app.ErrorCode(err) == app.ENOTFOUND {
		c.JSON(http.StatusOK, orgConnectionView{Connected: false})
		return
	} else if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, newOrgConnectionView(oc))
}

// handleOrgConnectionSave stores the organization id and API key
// (encrypted at rest; audited without the key) and answers without the key.
func (s *Server) handleOrgConnectionSave(c *gin.Context) {
	caller := callerOf(c)
	var in orgConnectionInput
	if err := readStrictJSON(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	if err := in.Validate(); err != nil {
		s.fail(c, err)
		return
	}
	oc, err := s.store.SetOrgConnection(c.Request.Context(), caller.Tenant.ID, in.OrgID, in.APIKey, actorOf(caller))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, newOrgConnectionView(oc))
}
