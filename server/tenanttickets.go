package server

import (
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/wechat"
)

// tenantTicketKinds are the JS-SDK tickets a tenant of an app of kind has:
// an installed corp's jsapi_ticket and its agent_config ticket (for the
// suite's app in that corp), an authorizer's jsapi_ticket.
func tenantTicketKinds(kind string) []string {
	switch kind {
	case KindSuite:
		return []string{"jsapi", "agent_config"}
	case KindComponent:
		return []string{"jsapi"}
	}
	return nil
}

// tenantTicketSource is the Source of kind's ticket, against the tenant's
// token under tokenKey.
func (s *Server) tenantTicketSource(a *app, tokenKey, kind string) core.Source {
	wechatOpts, wecomOpts := s.upstreamOptions()
	switch {
	case a.Kind == KindComponent:
		return wechat.JSAPITicket(tokenKey, wechatOpts...)
	case kind == "agent_config":
		return wechat.WeComAgentTicket(tokenKey, wecomOpts...)
	default:
		return wechat.WeComJSAPITicket(tokenKey, wecomOpts...)
	}
}

// tenantTicketKey returns the Manager key of kind's ticket for tenant id
// (whose token is under tokenKey), registering it on first use: a ticket
// is fetched, and then kept fresh, only for tenants whose pages use it,
// not for every tenant of a provider. It is unregistered with the tenant.
func (s *Server) tenantTicketKey(a *app, id, tokenKey, kind string) (string, error) {
	a.tenantMu.Lock()
	defer a.tenantMu.Unlock()
	reg, ok := a.tenantSet[id]
	if !ok || reg.key != tokenKey {
		return "", fmt.Errorf("tenant %q of app %s was removed meanwhile", id, a.ID)
	}
	if key, ok := reg.tickets[kind]; ok {
		return key, nil
	}
	key := tokenKey + "#" + kind
	if err := s.registerCred(a, key, "tenant", s.tenantTicketSource(a, tokenKey, kind)); err != nil {
		return "", err
	}
	if reg.tickets == nil {
		reg.tickets = map[string]string{}
	}
	reg.tickets[kind] = key
	a.tenantSet[id] = reg
	return key, nil
}

// unregisterTenant unregisters a tenant's tickets, then its token (the
// tickets depend on it). A key already gone counts as done, and each one
// done is forgotten, so a retry after a failure finishes the rest. It
// returns reg as it stands. Callers hold a.tenantMu.
func (s *Server) unregisterTenant(reg tenantReg) (tenantReg, error) {
	for kind, key := range reg.tickets {
		if err := s.mgr.Unregister(key); err != nil && !errors.Is(err, core.ErrUnknownKey) {
			return reg, err
		}
		delete(reg.tickets, kind)
	}
	if err := s.mgr.Unregister(reg.key); err != nil && !errors.Is(err, core.ErrUnknownKey) {
		return reg, err
	}
	return reg, nil
}

// tenantTicketOf resolves r's {tenant} and the ticket kind (the {kind} in
// the path, or kind when given) to the ticket's Manager key.
func (s *Server) tenantTicketOf(w http.ResponseWriter, r *http.Request, kind string) (*app, string, string, bool) {
	a, tokenKey, ok := s.tenantOf(w, r)
	if !ok {
		return nil, "", "", false
	}
	if !slices.Contains(tenantTicketKinds(a.Kind), kind) {
		writeError(w, http.StatusNotFound, CodeUnknownApp, fmt.Sprintf("tenants of app %s have no %q ticket (they have %v)", a.ID, kind, tenantTicketKinds(a.Kind)))
		return nil, "", "", false
	}
	key, err := s.tenantTicketKey(a, r.PathValue("tenant"), tokenKey, kind)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, err.Error())
		return nil, "", "", false
	}
	return a, key, kind, true
}

// handleTenantTicket serves a tenant's JS-SDK ticket:
// GET /v1/ticket/{app}/tenants/{tenant}/{kind}.
func (s *Server) handleTenantTicket(w http.ResponseWriter, r *http.Request) {
	a, key, kind, ok := s.tenantTicketOf(w, r, r.PathValue("kind"))
	if !ok {
		return
	}
	s.serveTicket(w, r, key, a.ID, "tenant_"+kind)
}

// handleTenantSignature signs a page URL by the JS-SDK rule with a
// tenant's ticket: POST /v1/jsapi/{app}/tenants/{tenant}/signature. The
// appId answered is the tenant's (the corp's corpid, the authorizer's
// appid), as wx.config on the tenant's page takes it.
func (s *Server) handleTenantSignature(w http.ResponseWriter, r *http.Request) {
	body, ok := signatureBody(w, r)
	if !ok {
		return
	}
	a, key, _, ok := s.tenantTicketOf(w, r, body.ticketKind())
	if !ok {
		return
	}
	s.sign(w, r, a, key, body.URL, r.PathValue("tenant"), "")
}
