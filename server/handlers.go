package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/wechat"
)

// TokenResponse is the JSON answer for a token or a ticket, also what
// `wxtoken token` prints.
type TokenResponse struct {
	AccessToken string `json:"access_token,omitempty"`
	Ticket      string `json:"ticket,omitempty"`
	ExpiresIn   int64  `json:"expires_in"`
	ExpiresAt   string `json:"expires_at"`
}

// NewTokenResponse describes tok as of now: seconds left and the expiry in
// RFC 3339.
func NewTokenResponse(tok core.Token, now time.Time) TokenResponse {
	return TokenResponse{AccessToken: tok.Value, ExpiresIn: int64(tok.ExpiresIn(now) / time.Second),
		ExpiresAt: tok.ExpiresAt.UTC().Format(time.RFC3339)}
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	a, ok := s.lookupApp(w, r)
	if !ok {
		return
	}
	s.serveToken(w, r, a.tokenKey, a.ID, "access_token")
}

// serveToken answers the token under key, counted for app and cred.
//
// A token fresh in memory is answered at once; only a request that has to
// wait for the store or upstream gets request_timeout's deadline (a route
// bounded already keeps its own, the earlier).
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, key, app, cred string) {
	tok, fresh := s.mgr.Fresh(key)
	if !fresh {
		ctx, cancel := context.WithTimeoutCause(r.Context(), s.cfg.RequestTimeout, errRequestTimeout)
		defer cancel()
		var err error
		if tok, err = s.mgr.Token(ctx, key); err != nil {
			writeRequestError(w, r.WithContext(ctx), err)
			return
		}
	}
	s.metrics.served.WithLabelValues(app, cred).Inc()
	writeTokenJSON(w, NewTokenResponse(tok, time.Now()))
}

// handleInvalidate is the passive refresh: compare-and-refresh of the
// token a business API refused.
func (s *Server) handleInvalidate(w http.ResponseWriter, r *http.Request) {
	a, ok := s.lookupApp(w, r)
	if !ok {
		return
	}
	s.invalidate(w, r, a.tokenKey)
}

// invalidate answers a report that a business API refused the token under
// key: compare-and-refresh, through the Manager.
func (s *Server) invalidate(w http.ResponseWriter, r *http.Request, key string) {
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	if body.AccessToken == "" {
		writeError(w, http.StatusBadRequest, CodeMalformed, `"access_token" (the rejected token) is required`)
		return
	}
	now, client := time.Now(), clientName(w, r)
	costly := s.costlyReport(key, body.AccessToken)
	used := 0
	if costly {
		used = s.reportsToday(r.Context(), key, client, now)
		if s.refuseOverShare(w, r, key, used) {
			return
		}
	}
	tok, err := s.mgr.Invalidate(r.Context(), key, body.AccessToken)
	if err != nil {
		writeRequestError(w, r, err)
		return
	}
	if costly && tok.Value != body.AccessToken {
		s.countReport(r.Context(), key, client, now, used)
	}
	app, cred := s.keyLabels(key)
	if tok.Value == body.AccessToken {
		// Upstream still accepts the token: the client's call failed for
		// another reason (often one app's token sent to another's API).
		s.log.Info("wxtoken: spurious invalidation: upstream accepts the reported token", "app", app, "key", key, "client", clientName(w, r))
	}
	s.metrics.served.WithLabelValues(app, cred).Inc()
	writeJSON(w, http.StatusOK, NewTokenResponse(tok, time.Now()))
}

// keyLabels names a Manager key's app and credential for metrics.
func (s *Server) keyLabels(key string) (string, string) {
	id, err := s.mgr.Identity(key)
	if err != nil {
		return key, "access_token"
	}
	return s.appOf(id)
}

func (s *Server) ticketKey(w http.ResponseWriter, a *app, kind string) (string, bool) {
	key, ok := a.tickets[kind]
	if !ok {
		writeError(w, http.StatusNotFound, CodeUnknownApp, fmt.Sprintf("app %q has no %q ticket", a.ID, kind))
	}
	return key, ok
}

func (s *Server) handleTicket(w http.ResponseWriter, r *http.Request) {
	a, ok := s.lookupApp(w, r)
	if !ok {
		return
	}
	kind := r.PathValue("kind")
	key, ok := s.ticketKey(w, a, kind)
	if !ok {
		return
	}
	s.serveTicket(w, r, key, a.ID, kind)
}

// serveTicket answers the ticket under key, counted as served for app
// under label.
func (s *Server) serveTicket(w http.ResponseWriter, r *http.Request, key, app, label string) {
	tok, err := s.mgr.Token(r.Context(), key)
	if err != nil {
		writeRequestError(w, r, err)
		return
	}
	s.metrics.served.WithLabelValues(app, label).Inc()
	resp := NewTokenResponse(tok, time.Now())
	resp.Ticket, resp.AccessToken = resp.AccessToken, ""
	writeJSON(w, http.StatusOK, resp)
}

// signatureResponse is what wx.config (or wx.agentConfig) takes.
type signatureResponse struct {
	AppID     string `json:"appId"`
	AgentID   string `json:"agentId,omitempty"`
	Timestamp int64  `json:"timestamp"`
	NonceStr  string `json:"nonceStr"`
	Signature string `json:"signature"`
	URL       string `json:"url"`
}

// handleSignature signs a page URL by the JS-SDK rule, with the app's
// jsapi ticket (or, for a WeCom app asking "ticket": "agent_config", its
// agent ticket).
func (s *Server) handleSignature(w http.ResponseWriter, r *http.Request) {
	a, ok := s.lookupApp(w, r)
	if !ok {
		return
	}
	body, ok := signatureBody(w, r)
	if !ok {
		return
	}
	kind := body.ticketKind()
	key, ok := s.ticketKey(w, a, kind)
	if !ok {
		return
	}
	appID, agentID := a.AppID, ""
	if a.Kind == KindWeCom {
		appID = a.CorpID
		if kind == "agent_config" {
			agentID = a.AgentID
		}
	}
	s.sign(w, r, a, key, body.URL, appID, agentID)
}

// signatureRequest is the body of the signature routes.
type signatureRequest struct {
	URL    string `json:"url"`
	Ticket string `json:"ticket"`
}

// ticketKind is the ticket asked for: jsapi unless named.
func (b signatureRequest) ticketKind() string {
	if b.Ticket == "" {
		return "jsapi"
	}
	return b.Ticket
}

// signatureBody decodes a signature request, answering a malformed one.
func signatureBody(w http.ResponseWriter, r *http.Request) (signatureRequest, bool) {
	var body signatureRequest
	if !decodeBody(w, r, &body) {
		return body, false
	}
	if body.URL == "" {
		writeError(w, http.StatusBadRequest, CodeMalformed, `"url" (the page to sign) is required`)
		return body, false
	}
	return body, true
}

// sign answers the JS-SDK signature of pageURL with the ticket under key,
// for wx.config (or wx.agentConfig) with appID (and agentID).
func (s *Server) sign(w http.ResponseWriter, r *http.Request, a *app, key, pageURL, appID, agentID string) {
	ticket, err := s.mgr.Token(r.Context(), key)
	if err != nil {
		writeRequestError(w, r, err)
		return
	}
	nonce := make([]byte, 12)
	_, _ = rand.Read(nonce)
	resp := signatureResponse{Timestamp: time.Now().Unix(), NonceStr: base64.RawURLEncoding.EncodeToString(nonce), URL: pageURL,
		AppID: appID, AgentID: agentID}
	resp.Signature = wechat.JSSDKSignature(ticket.Value, resp.NonceStr, resp.Timestamp, pageURL)
	s.metrics.served.WithLabelValues(a.ID, "signature").Inc()
	writeJSON(w, http.StatusOK, resp)
}
