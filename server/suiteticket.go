package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/wxtoken/wxtoken/wechat"
)

// handleSuiteTicket takes a suite_ticket WeCom pushed to the business
// callback (which decrypts it) and stores it in the shared cache for every
// node, ordered by the push's TimeStamp: an older push never replaces a
// newer ticket. If the suite has no usable token yet, one is fetched now.
func (s *Server) handleSuiteTicket(w http.ResponseWriter, r *http.Request) {
	a, ok := s.lookupApp(w, r)
	if !ok {
		return
	}
	if a.Kind != KindSuite {
		writeError(w, http.StatusNotFound, CodeUnknownApp, "app "+a.ID+" is not a suite")
		return
	}
	if a.Callback != nil && !slices.Contains(a.TicketClients, clientName(w, r)) {
		writeError(w, http.StatusForbidden, CodeForbidden, "app "+a.ID+" takes its suite_tickets signed, at /v1/callback/"+a.ID+"; this route is open only to its ticket_clients")
		return
	}
	var body struct {
		SuiteTicket string `json:"suite_ticket"`
		Timestamp   int64  `json:"timestamp"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	if body.SuiteTicket == "" || body.Timestamp <= 0 {
		writeError(w, http.StatusBadRequest, CodeMalformed, `"suite_ticket" and "timestamp" (the push's TimeStamp, Unix seconds) are required`)
		return
	}
	stored, _, status, err := s.storeTicket(r.Context(), a, body.SuiteTicket, time.Unix(body.Timestamp, 0))
	if err != nil {
		writeError(w, status, status*100, err.Error()) // 40000 for a refused push time, 50300 for the store
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"stored": stored})
}

// storeTicket stores a pushed ticket (suite_ticket or
// component_verify_ticket), newest push wins, fleet-wide, and once stored
// fetches the token that waits for it. It says whether the ticket was
// stored, the callback metric's outcome, and on failure the HTTP status:
// 400 for a push time refused, 503 when the store failed. Both the JSON
// route and the encrypted callback take tickets through it.
func (s *Server) storeTicket(ctx context.Context, a *app, ticket string, at time.Time) (bool, string, int, error) {
	stored, err := a.pushed.Put(ctx, ticket, at)
	switch {
	case errors.Is(err, wechat.ErrPushTime):
		return false, "timestamp", http.StatusBadRequest, err
	case err != nil:
		return false, "store_error", http.StatusServiceUnavailable, fmt.Errorf("storing the ticket: %w", err)
	}
	if stored {
		s.afterTicket(a)
	}
	return stored, "ok", 0, nil
}

// afterTicket fetches the app's token now if it has none usable: it was
// waiting for the ticket just stored, maybe with a failure held. At most
// one such fetch per ticketRefreshEvery and app: a stream of tickets that
// upstream refuses (posted by a client, or a misconfigured suite secret)
// must not become a stream of upstream calls. A caller asking for the
// token meanwhile still gets one fetched.
func (s *Server) afterTicket(a *app) {
	if tok, ok := s.mgr.Cached(a.tokenKey); ok && tok.Valid(time.Now()) {
		return
	}
	if !a.ticketRefresh.Allow() {
		return
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = s.mgr.Refresh(ctx, a.tokenKey)
	}()
}
