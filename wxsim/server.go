package wxsim

import "net/http/httptest"

// Server is a Sim listening on a loopback port, like httptest.Server.
type Server struct {
	*Sim
	// URL is the base URL to give wechat.WithBaseURL, "http://127.0.0.1:port".
	URL string

	srv *httptest.Server
}

// NewServer starts a simulator on loopback. Call Close when done.
func NewServer(opts ...Option) *Server {
	sim := New(opts...)
	srv := httptest.NewServer(sim)
	return &Server{Sim: sim, URL: srv.URL, srv: srv}
}

// Close shuts the server down, waiting for requests in flight and for
// pushes they started.
func (s *Server) Close() {
	s.srv.Close()
	s.Sim.bg.Wait()
}

// CloseClientConnections drops every open connection, as a network cut
// would.
func (s *Server) CloseClientConnections() { s.srv.CloseClientConnections() }
