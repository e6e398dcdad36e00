package devsite

// controlRoutes registers the loopback-only control API. (Being written.)
func (s *Server) controlRoutes() {}
