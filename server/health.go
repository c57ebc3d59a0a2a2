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
	Ready bool   `json:"ready"`
	Cache string `json:"cache"`
}

// handleReadyz answers for the instance: 200 when the process runs and the
// shared cache answers, 503 otherwise. One app's failing refresh (a wrong
// secret) does not take the instance out of service: per-app health is in
// GET /v1/status and in the metrics. The answer needs no key, so it
// carries no error text (cache errors name hosts).
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	out := readiness{Ready: true, Cache: "ok"}
	if err := s.pingCache(r.Context()); err != nil {
		s.log.Warn("wxtoken: readiness: the shared cache does not answer", "err", err)
		out.Ready, out.Cache = false, "unreachable"
	}
	status := http.StatusOK
	if !out.Ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, out)
}

// pingCache reads a key no one writes: a miss is an answer.
func (s *Server) pingCache(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := s.cache.Get(ctx, "wxtoken-readyz-probe"); err != nil && !errors.Is(err, core.ErrNotFound) {
		return err
	}
	return nil
}

// appHealth is one app's state in GET /v1/status.
type appHealth struct {
	// Healthy: the app holds a usable token and its last refresh did not
	// fail.
	Healthy   bool       `json:"healthy"`
	State     string     `json:"state"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// Tenants, for a suite or component app: those served here. A failing
	// tenant does not make the app unhealthy.
	Tenants *tenantHealth `json:"tenants,omitempty"`
}

// health judges app a now, without any upstream or cache call.
func (s *Server) health(a *app, now time.Time) appHealth {
	h := appHealth{State: "ok", Tenants: s.tenantHealth(a)}
	tok, ok := s.mgr.Cached(a.tokenKey)
	valid := ok && tok.Valid(now)
	if valid {
		exp := tok.ExpiresAt.UTC()
		h.ExpiresAt = &exp
	}
	switch err := s.mgr.LastError(a.tokenKey); {
	case err != nil:
		h.State = "refresh failing: " + err.Error()
	case !valid:
		h.State = "no token yet"
	default:
		h.Healthy = true
	}
	return h
}

type status struct {
	Cache string               `json:"cache"`
	Apps  map[string]appHealth `json:"apps"`
}

// handleStatus answers GET /v1/status: the cache and every app the client
// may use, with the reason when one is unhealthy. It needs a key, and so
// may carry upstream's and the cache's error text.
func (s *Server) handleStatusJSON(w http.ResponseWriter, r *http.Request) {
	out := status{Cache: "ok", Apps: map[string]appHealth{}}
	if err := s.pingCache(r.Context()); err != nil {
		out.Cache = "unreachable: " + err.Error()
	}
	now, name := time.Now(), clientName(w, r)
	for _, a := range s.order {
		if a.mayUse(name) {
			out.Apps[a.ID] = s.health(a, now)
		}
	}
	writeJSON(w, http.StatusOK, out)
}
