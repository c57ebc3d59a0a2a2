// Package barehttp is the floor the token route is measured against: a
// plain net/http handler that does what GET /v1/token/{app} must and
// nothing more. Only benchmarks import it.
package barehttp

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/server"
)

// TokenHandler serves GET /v1/token/{app} as a plain net/http program
// would: a ServeMux route, the same key check as the server's (SHA-256,
// constant-time compare against each client's digest), the token from
// m's memory, the same JSON and headers.
func TokenHandler(m *core.Manager, keys ...string) http.Handler {
	var digests [][32]byte
	for _, k := range keys {
		digests = append(digests, sha256.Sum256([]byte(k)))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/token/{app}", func(w http.ResponseWriter, r *http.Request) {
		key, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		d := sha256.Sum256([]byte(key))
		ok := 0
		for i := range digests {
			ok |= subtle.ConstantTimeCompare(d[:], digests[i][:])
		}
		if ok != 1 {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		tok, err := m.Token(r.Context(), r.PathValue("app"))
		if err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store") // a token is no page to keep
		json.NewEncoder(w).Encode(server.NewTokenResponse(tok, time.Now()))
	})
	return mux
}

// Source hands out one token of the size WeChat's are, for two hours.
type Source struct{}

// Fetch implements core.Source.
func (Source) Fetch(context.Context, core.FetchRequest) (core.Token, error) {
	return core.Token{Value: strings.Repeat("t", 136), ExpiresAt: time.Now().Add(2 * time.Hour)}, nil
}
