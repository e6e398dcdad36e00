package devsite

// jiraRoutes registers the Jira platform REST endpoints. (Being written.)
func (s *Server) jiraRoutes() {}
