package devsite

// confluenceRoutes registers the Confluence REST endpoints. (Being written.)
func (s *Server) confluenceRoutes() {}
