package server

import (
	"fmt"
	"net/http"
)

// lookupTenantApp is lookupApp for an app with tenants.
func (s *Server) lookupTenantApp(w http.ResponseWriter, r *http.Request) (*app, bool) {
	a, ok := s.lookupApp(w, r)
	if !ok {
		return nil, false
	}
	if a.tenants == nil {
		writeError(w, http.StatusNotFound, CodeUnknownApp, fmt.Sprintf("app %s has no tenants (only suite and component apps do)", a.ID))
		return nil, false
	}
	return a, true
}

// handleTenants lists a suite's authorized corps or a component's
// authorizers, as this instance follows the shared registry (at most a
// sync interval behind it).
func (s *Server) handleTenants(w http.ResponseWriter, r *http.Request) {
	a, ok := s.lookupTenantApp(w, r)
	if !ok {
		return
	}
	out, err := s.Tenants(a.ID)
	if err != nil {
		writeError(w, http.StatusNotFound, CodeUnknownApp, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"tenants": out})
}

// refuseClash answers 403 for a tenant that is a configured app: it is
// served as that app, to that app's clients only.
func refuseClash(w http.ResponseWriter, a *app, id string) bool {
	other, clash := a.clash(id)
	if clash {
		writeError(w, http.StatusForbidden, CodeForbidden, fmt.Sprintf("tenant %q of app %s is configured as app %q: it is served there, to that app's clients", id, a.ID, other))
	}
	return clash
}

// tenantOf resolves the {tenant} of r to its Manager key, answering 404
// for one not in the registry.
func (s *Server) tenantOf(w http.ResponseWriter, r *http.Request) (*app, string, bool) {
	a, ok := s.lookupTenantApp(w, r)
	if !ok {
		return nil, "", false
	}
	id := r.PathValue("tenant")
	if refuseClash(w, a, id) {
		return nil, "", false
	}
	key, ok, err := s.tenant(r.Context(), a, id)
	if refuseClash(w, a, id) {
		return nil, "", false
	}
	switch {
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "reading the tenant registry: "+err.Error())
		return nil, "", false
	case !ok:
		writeError(w, http.StatusNotFound, CodeUnknownApp, fmt.Sprintf("app %s has no tenant %q", a.ID, id))
		return nil, "", false
	}
	return a, key, true
}

// handleTenantToken serves a tenant's access token.
func (s *Server) handleTenantToken(w http.ResponseWriter, r *http.Request) {
	a, key, ok := s.tenantOf(w, r)
	if !ok {
		return
	}
	s.serveToken(w, r, key, a.ID, "tenant")
}

// handleTenantInvalidate is the passive refresh of a tenant's token.
func (s *Server) handleTenantInvalidate(w http.ResponseWriter, r *http.Request) {
	_, key, ok := s.tenantOf(w, r)
	if !ok {
		return
	}
	s.invalidate(w, r, key)
}
