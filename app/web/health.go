package web

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// handleHealth is the liveness probe: the process answers.
func (s *Server) handleHealth(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok", "version": s.cfg.Version})
}

// handleReady is the readiness probe: the database answers and its schema
// is current, so a replica that starts before "lapse migrate" finished
// receives no traffic.
func (s *Server) handleReady(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 3*time.Second)
	defer cancel()
	checks := gin.H{"database": "ok", "schema": "ok"}
	status := http.StatusOK
	if err := s.store.Ping(ctx); err != nil {
		s.log.WarnContext(ctx, "readiness: database unreachable", "err", err)
		checks["database"], checks["schema"], status = "unreachable", "unknown", http.StatusServiceUnavailable
	} else if current, err := s.store.SchemaCurrent(ctx); err != nil || !current {
		checks["schema"], status = "behind", http.StatusServiceUnavailable
	}
	state := "ready"
	if status != http.StatusOK {
		state = "not_ready"
	}
	c.JSON(status, gin.H{"status": state, "checks": checks})
}
