package devsite

// adminRoutes registers the organization Admin API. (Being written.)
func (s *Server) adminRoutes() {}
