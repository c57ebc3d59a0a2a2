package server

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/internal/beijing"
)

// reportShare is the part of a credential's daily invalidation budget one
// client may spend: half. Reports that name the current token (the only
// ones that can cost a fetch) are counted per client, credential and
// Beijing day in the shared cache, so the count is the fleet's; a client
// past its share gets 429 while the others keep theirs. The count is read
// and written without a lock: two instances counting at once may lose
// one, which only makes the share a little larger. An invalidate_budget
// left out of the config is the Manager's default, as core.New reads it.
func (s *Server) reportShare() int {
	budget := s.cfg.Settings.InvalidateBudget
	if budget <= 0 {
		budget = core.DefaultSettings().InvalidateBudget
	}
	return max(1, budget/2)
}

// reportCountKey names the shared count of client's costly reports of the
// credential under key today.
func (s *Server) reportCountKey(key, client string, now time.Time) string {
	id, _ := s.mgr.Identity(key)
	return s.cfg.KeyPrefix + ":reports:{" + id + "}:" + beijing.Day(now) + ":" + client
}

// reportsToday returns how many costly reports client made today of the
// credential under key; 0 when the cache cannot tell.
func (s *Server) reportsToday(ctx context.Context, key, client string, now time.Time) int {
	raw, err := s.cache.Get(ctx, s.reportCountKey(key, client, now))
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(raw)
	return n
}

// countReport adds one costly report of client.
func (s *Server) countReport(ctx context.Context, key, client string, now time.Time, before int) {
	_ = s.cache.Set(context.WithoutCancel(ctx), s.reportCountKey(key, client, now), strconv.Itoa(before+1), 48*time.Hour)
}

// costlyReport reports whether a report of rejected names the token this
// instance serves for key: one that may make the fleet fetch.
func (s *Server) costlyReport(key, rejected string) bool {
	tok, ok := s.mgr.Cached(key)
	return ok && tok.Value == rejected
}

// refuseOverShare answers 429 when client has spent its share of the
// credential's invalidation budget today.
func (s *Server) refuseOverShare(w http.ResponseWriter, r *http.Request, key string, used int) bool {
	if used < s.reportShare() {
		return false
	}
	app, _ := s.keyLabels(key)
	if s.refusals.allow(time.Now()) {
		s.log.Warn("wxtoken: a client spent its share of the day's invalidation budget; its reports are refused until the Beijing day ends", "app", app, "client", clientName(w, r), "share", s.reportShare())
	}
	writeError(w, http.StatusTooManyRequests, CodeRateLimited, "this client's share of today's invalidation budget ("+strconv.Itoa(s.reportShare())+" reports of the current token) is spent")
	return true
}
