package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// clients holds the SHA-256 of every client key: comparing digests in
// constant time hides both the key and its length.
type clients struct {
	names   []string
	digests [][32]byte
	admins  map[string]bool // names of the clients with the admin scope
}

func loadClients(cfg []ClientConfig) (*clients, error) {
	c := &clients{admins: map[string]bool{}}
	for _, cc := range cfg {
		key, err := readSecret("client "+cc.Name+" key", cc.KeyEnv, cc.KeyFile)
		if err != nil {
			return nil, err
		}
		if weakSecret(key) {
			return nil, fmt.Errorf("client %s key: too short or repetitive to stand against guessing (want at least 16 characters, 8 of them different; generate one with: openssl rand -hex 24)", cc.Name)
		}
		d := sha256.Sum256([]byte(key))
		if other, dup := c.byDigest(d); dup {
			return nil, fmt.Errorf("clients %s and %s have the same key: each client needs its own", other, cc.Name)
		}
		c.names = append(c.names, cc.Name)
		c.digests = append(c.digests, d)
		if slices.Contains(cc.Scopes, ScopeAdmin) {
			c.admins[cc.Name] = true
		}
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

// byDigest returns the client whose key has digest d.
func (c *clients) byDigest(d [32]byte) (string, bool) {
	for i := range c.digests {
		if c.digests[i] == d {
			return c.names[i], true
		}
	}
	return "", false
}

// digestOf returns the digest of the key of the client called name.
func (c *clients) digestOf(name string) ([32]byte, bool) {
	for i, n := range c.names {
		if n == name {
			return c.digests[i], true
		}
	}
	return [32]byte{}, false
}

type clientKey struct{}

// clientName returns the authenticated client's name ("" without auth):
// as authenticate recorded it on the request's recorder (instrument's,
// which every route has), or in the context of a request served without
// one.
func clientName(w http.ResponseWriter, r *http.Request) string {
	if rec, ok := w.(*statusRecorder); ok && rec.client != "" {
		return rec.client
	}
	if n, ok := r.Context().Value(clientKey{}).(string); ok {
		return n
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
		name, found := s.bearerClient(r)
		switch found {
		case keyOK:
			next.ServeHTTP(w, withClient(w, r, name))
		case keyLimited:
			w.Header().Set("Retry-After", tooManyGuesses)
			writeError(w, http.StatusTooManyRequests, CodeRateLimited, "too many wrong client keys from this address; try later")
		default:
			w.Header().Set("WWW-Authenticate", `Bearer realm="wxtoken"`)
			writeError(w, http.StatusUnauthorized, CodeUnauthorized, "missing or wrong client key")
		}
	})
}

// bearerClient returns the name of the client whose key r carries as
// "Authorization: Bearer <key>" (see checkKey).
func (s *Server) bearerClient(r *http.Request) (string, keyResult) {
	key, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		key = ""
	}
	return s.checkKey(r, key)
}

// withClient returns r as the request of the client called name, and
// names it in the request log: on the request's recorder, without a new
// request, or else in a new context.
func withClient(w http.ResponseWriter, r *http.Request, name string) *http.Request {
	if rec, ok := w.(*statusRecorder); ok {
		rec.client = name
		return r
	}
	return r.WithContext(context.WithValue(r.Context(), clientKey{}, name))
}
