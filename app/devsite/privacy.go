package devsite

// privacyRoutes registers the personal data reporting API. (Being written.)
func (s *Server) privacyRoutes() {}
