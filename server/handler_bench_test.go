package server_test

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/server"
)

// discardWriter is a ResponseWriter that keeps nothing: the handlers'
// own cost, without a connection's.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (d *discardWriter) Header() http.Header  { return d.h }
func (d *discardWriter) WriteHeader(code int) { d.status = code }
func (d *discardWriter) Write(b []byte) (int, error) {
	d.n += len(b)
	return len(b), nil
}

func (d *discardWriter) reset() {
	clear(d.h)
	d.status, d.n = 200, 0
}

// BenchmarkTokenHandler is GET /v1/token/{app} through the Server's
// whole handler (routing, key check, metrics, request log, the token from
// memory, JSON), without a connection.
func BenchmarkTokenHandler(b *testing.B) {
	hs := newBenchEnv(b)
	srv := hs.Config.Handler
	req, _ := http.NewRequest("GET", hs.URL+"/v1/token/shop", nil)
	req.Header.Set("Authorization", "Bearer "+billingKey)
	req.RemoteAddr = "127.0.0.1:50000" // as net/http sets it
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		w.reset()
		srv.ServeHTTP(w, req)
		if w.status != 200 {
			b.Fatalf("status %d", w.status)
		}
	}
}

// bareTokenHandler does what the token route must and nothing more, as a
// plain net/http program would: a ServeMux route with the app in its
// path, the same key check (SHA-256, constant-time compare against each
// client's digest), the token from a Manager's memory, the same JSON.
func bareTokenHandler(m *core.Manager, keys ...string) http.Handler {
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
		json.NewEncoder(w).Encode(server.NewTokenResponse(tok, time.Now()))
	})
	return mux
}

// BenchmarkBareTokenHandler is the floor of BenchmarkTokenHandler.
func BenchmarkBareTokenHandler(b *testing.B) {
	m := core.New()
	defer m.Close()
	if err := m.Register("shop", benchSource{}); err != nil {
		b.Fatal(err)
	}
	h := bareTokenHandler(m, billingKey, reportsKey)
	req, _ := http.NewRequest("GET", "http://127.0.0.1/v1/token/shop", nil)
	req.Header.Set("Authorization", "Bearer "+billingKey)
	req.RemoteAddr = "127.0.0.1:50000"
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		w.reset()
		h.ServeHTTP(w, req)
		if w.status != 200 {
			b.Fatalf("status %d", w.status)
		}
	}
}

// benchSource hands out one long-lived token.
type benchSource struct{}

func (benchSource) Fetch(context.Context, core.FetchRequest) (core.Token, error) {
	return core.Token{Value: strings.Repeat("t", 136), ExpiresAt: time.Now().Add(2 * time.Hour)}, nil
}
