package devsite

import "net/http"

// LimitConfig sets the simulated budgets. (Being written.)
type LimitConfig struct{}

type limiterState struct{}

func newLimiterState() *limiterState { return &limiterState{} }

// admit applies rate limits before the handler. (Being written.)
func (s *Server) admit(w http.ResponseWriter, r *http.Request, c *call) bool { return true }

// account charges the request after the handler. (Being written.)
func (s *Server) account(c *call, status int) {}
