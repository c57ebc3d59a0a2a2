package server

import (
	"context"
	"errors"
	"net/http"
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
	if a.suiteTickets == nil {
		writeError(w, http.StatusNotFound, CodeUnknownApp, "app "+a.ID+" is not a suite")
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
	stored, err := a.suiteTickets.Put(r.Context(), body.SuiteTicket, time.Unix(body.Timestamp, 0))
	if errors.Is(err, wechat.ErrSuiteTicketTime) {
		writeError(w, http.StatusBadRequest, CodeMalformed, err.Error())
		return
	}
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "storing the suite_ticket: "+err.Error())
		return
	}
	if tok, ok := s.mgr.Cached(a.tokenKey); stored && (!ok || !tok.Valid(time.Now())) {
		// The suite was waiting for a ticket: fetch its token now, past
		// any held failure.
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, _ = s.mgr.Refresh(ctx, a.tokenKey)
		}()
	}
	writeJSON(w, http.StatusOK, map[string]bool{"stored": stored})
}
