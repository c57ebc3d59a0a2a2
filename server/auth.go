package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// clients holds the SHA-256 of every client key: comparing digests in
// constant time hides both the key and its length.
type clients struct {
	names   []string
	digests [][32]byte
}

func loadClients(cfg []ClientConfig) (*clients, error) {
	c := &clients{}
	for _, cc := range cfg {
		key, err := readSecret("client "+cc.Name+" key", cc.KeyEnv, cc.KeyFile)
		if err != nil {
			return nil, err
		}
		c.names = append(c.names, cc.Name)
		c.digests = append(c.digests, sha256.Sum256([]byte(key)))
	}
	return c, nil
}

// match returns the name of the client whose key is given, or "". Every
// key is compared, so the time taken says nothing about which matched.
func (c *clients) match(key string) string {
	d := sha256.Sum256([]byte(key))
	found := -1
	for i := range c.digests {
		if subtle.ConstantTimeCompare(d[:], c.digests[i][:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return ""
	}
	return c.names[found]
}

type clientKey struct{}

// requestClient is where authenticate leaves the client's name for the
// request log, which runs outside it (on the request it was given, not
// the one authenticate derived).
type requestClient struct{ name string }

type requestClientKey struct{}

// clientName returns the authenticated client's name ("" without auth).
func clientName(r *http.Request) string {
	if n, ok := r.Context().Value(clientKey{}).(string); ok {
		return n
	}
	if rc, ok := r.Context().Value(requestClientKey{}).(*requestClient); ok {
		return rc.name
	}
	return ""
}

// authenticate requires a valid bearer key unless the server runs without
// auth; it records the client's name for per-app checks and logs.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.InsecureNoAuth {
			next.ServeHTTP(w, r)
			return
		}
		name := s.bearerClient(r)
		if name == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="wxtoken"`)
			writeError(w, http.StatusUnauthorized, CodeUnauthorized, "missing or wrong client key")
			return
		}
		next.ServeHTTP(w, withClient(r, name))
	})
}

// bearerClient returns the name of the client whose key r carries as
// "Authorization: Bearer <key>", or "".
func (s *Server) bearerClient(r *http.Request) string {
	if key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && key != "" {
		return s.clients.match(key)
	}
	return ""
}

// withClient returns r as the request of the client called name, and
// names it in the request log.
func withClient(r *http.Request, name string) *http.Request {
	if rc, ok := r.Context().Value(requestClientKey{}).(*requestClient); ok {
		rc.name = name
	}
	return r.WithContext(context.WithValue(r.Context(), clientKey{}, name))
}
