package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/lapsehq/lapse/descriptor"
)

// handleDescriptor serves the Connect descriptor with this deployment's
// base URL and app key.
func (s *Server) handleDescriptor(c *gin.Context) {
	body, err := descriptor.Connect(s.cfg.BaseURL, s.cfg.AppKey)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "public, max-age=60")
	c.Data(http.StatusOK, "application/json; charset=utf-8", body)
}
