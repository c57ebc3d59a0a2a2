package server

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func (s *Server) routes(reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	// A browser's cross-origin POST is refused (http.CrossOriginProtection:
	// Sec-Fetch-Site or Origin; other clients send neither). With client
	// keys a page could not send one anyway; without (insecure_no_auth on
	// loopback), any page the machine's browser opens could.
	sameOrigin := http.NewCrossOriginProtection()
	keyed := func(pattern string, h http.HandlerFunc) {
		s.patterns = append(s.patterns, pattern)
		handler := s.authenticate(h)
		if strings.HasPrefix(pattern, "POST ") {
			handler = sameOrigin.Handler(handler)
		}
		mux.Handle(pattern, s.instrument(pattern, handler))
	}
	api := func(pattern string, h http.HandlerFunc) { keyed(pattern, s.bounded(h)) }
	open := func(pattern string, h http.Handler, needsKey *bool) {
		s.patterns = append(s.patterns, pattern)
		if needsKey == nil || *needsKey {
			h = s.authenticate(h)
		}
		mux.Handle(pattern, s.instrument(pattern, h))
	}
	never := new(bool)
	// Bounded by serveToken, only when it has to wait: most answers come
	// from memory, and a request's deadline costs a context and a copy of
	// the request.
	keyed("GET /v1/token/{app}", s.handleToken)
	api("POST /v1/token/{app}/invalidate", s.handleInvalidate)
	api("GET /v1/ticket/{app}/{kind}", s.handleTicket)
	api("POST /v1/jsapi/{app}/signature", s.handleSignature)
	api("POST /v1/suite_ticket/{app}", s.handleSuiteTicket)
	api("GET /v1/token/{app}/tenants", s.handleTenants)
	api("GET /v1/token/{app}/tenants/{tenant}", s.handleTenantToken)
	api("POST /v1/token/{app}/tenants/{tenant}/invalidate", s.handleTenantInvalidate)
	api("GET /v1/ticket/{app}/tenants/{tenant}/{kind}", s.handleTenantTicket)
	api("POST /v1/jsapi/{app}/tenants/{tenant}/signature", s.handleTenantSignature)
	api("GET /v1/status", s.handleStatusJSON)
	api("GET /v1/quota/{app}", s.handleQuota)
	api("POST /v1/quota/{app}/clear", s.handleQuotaClear)
	// Upstream's pushes: authenticated by their signature, not a client key.
	open("GET /v1/callback/{app}", s.bounded(s.handleCallback), never)
	open("POST /v1/callback/{app}", s.bounded(s.handleCallback), never)
	open("GET /healthz", http.HandlerFunc(s.handleHealthz), never)
	open("GET /readyz", http.HandlerFunc(s.handleReadyz), never)
	open("GET /v1/openapi.json", http.HandlerFunc(handleOpenAPI), never)
	open("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), s.cfg.Auth.Metrics)
	open("GET /{$}", s.bounded(s.handleStatusPage), never) // its own sign-in (statussignin.go)
	open("POST /signin", sameOrigin.Handler(s.bounded(s.handleSignIn)), never)
	open("POST /signout", sameOrigin.Handler(s.bounded(s.handleSignOut)), never)
	// A catch-all answers in JSON too; it must still tell a wrong method
	// (405) from a path that does not exist (404).
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodPost} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "/" && pattern != "" {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, http.StatusMethodNotAllowed, CodeMethod, r.Method+" is not allowed on "+r.URL.Path)
			return
		}
		writeError(w, http.StatusNotFound, CodeUnknownApp, "no such route: "+r.Method+" "+r.URL.Path)
	})
	return s.loopbackHostsOnly(mux)
}

// bounded gives an API request at most the config's request_timeout.
func (s *Server) bounded(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeoutCause(r.Context(), s.cfg.RequestTimeout, errRequestTimeout)
		defer cancel()
		h(w, r.WithContext(ctx))
	}
}

// statusRecorder remembers the status code written and, for the request
// log, the client authenticate found (clientName, withClient): on the
// writer every handler is given, not in a context, so that naming the
// client copies no request.
type statusRecorder struct {
	http.ResponseWriter
	status int
	client string
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// instrument counts, times and logs each request by route (never by key
// or token): wxtoken_http_requests_total and _duration_seconds with the
// route's path pattern as the handler label (routeMetrics), the client's
// count, and a log line (at debug unless something is wrong).
func (s *Server) instrument(route string, h http.Handler) http.Handler {
	_, path, _ := strings.Cut(route, " ")
	rm := s.metrics.route(path)
	callback := strings.HasPrefix(path, "/v1/callback/")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		took := time.Since(start)
		rm.observe(r.Method, rec.status, took)
		s.metrics.countClient(rec.client, rec.status)
		level := slog.LevelDebug
		switch {
		case callback:
			// Refused callbacks have a warning of their own
			// (refuseCallback); they must not spend the refused keys'.
		case rec.status >= 500:
			// Every failed request counts in the metrics; during an
			// upstream or store outage every request fails, and one
			// warning per logEvery says so.
			if s.serverErrors.allow(time.Now()) {
				level = slog.LevelWarn
			}
		case rec.status == http.StatusUnauthorized || rec.status == http.StatusForbidden:
			// A refused key is worth an operator's eye, but a client
			// retrying with a wrong key must not flood the log.
			if s.refusals.allow(time.Now()) {
				level = slog.LevelWarn
			}
		}
		if s.log.Enabled(r.Context(), level) {
			s.log.LogAttrs(r.Context(), level, "request", slog.String("route", route), slog.String("app", r.PathValue("app")),
				slog.Int("status", rec.status), slog.String("client", rec.client), slog.Duration("duration", took))
		}
	})
}
