package server_test

import (
	"net/http"
	"testing"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/server/internal/barehttp"
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
	benchTokenRoute(b, hs.Config.Handler)
}

// BenchmarkBareTokenHandler is the floor of BenchmarkTokenHandler
// (barehttp.TokenHandler).
func BenchmarkBareTokenHandler(b *testing.B) {
	m := core.New()
	defer m.Close()
	if err := m.Register("shop", barehttp.Source{}); err != nil {
		b.Fatal(err)
	}
	benchTokenRoute(b, barehttp.TokenHandler(m, billingKey, reportsKey))
}

// benchTokenRoute serves GET /v1/token/shop with billing's key from h,
// b.N times.
func benchTokenRoute(b *testing.B, h http.Handler) {
	req, _ := http.NewRequest("GET", "http://127.0.0.1/v1/token/shop", nil)
	req.Header.Set("Authorization", "Bearer "+billingKey)
	req.RemoteAddr = "127.0.0.1:50000" // as net/http sets it
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
