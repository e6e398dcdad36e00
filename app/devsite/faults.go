package devsite

import "net/http"

// FaultConfig sets injected faults. (Being written.)
type FaultConfig struct{}

// withFaults runs h, possibly injecting a fault. (Being written.)
func (s *Server) withFaults(w http.ResponseWriter, r *http.Request, c *call, h func(http.ResponseWriter)) {
	h(w)
}
