package server

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/wxtoken/wxtoken/core"
)

func (s *Server) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

type readiness struct {
	Ready bool              `json:"ready"`
	Cache string            `json:"cache"`
	Apps  map[string]string `json:"apps"`
}

// handleReadyz answers 200 when the shared cache answers and every app
// holds a usable token; otherwise 503 with the reason for each. It makes
// no upstream call.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	out := readiness{Ready: true, Cache: "ok", Apps: map[string]string{}}
	if _, err := s.cache.Get(ctx, "wxtoken-readyz-probe"); err != nil && !errors.Is(err, core.ErrNotFound) {
		out.Ready, out.Cache = false, "unreachable: "+err.Error()
	}
	now := time.Now()
	for _, a := range s.order {
		tok, ok := s.mgr.Cached(a.tokenKey)
		switch {
		case ok && tok.Valid(now):
			out.Apps[a.ID] = "ok"
		case s.mgr.LastError(a.tokenKey) != nil:
			out.Ready = false
			out.Apps[a.ID] = "refresh failing: " + s.mgr.LastError(a.tokenKey).Error()
		default:
			out.Ready = false
			out.Apps[a.ID] = "no token yet"
		}
	}
	status := http.StatusOK
	if !out.Ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, out)
}
