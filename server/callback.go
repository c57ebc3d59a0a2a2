package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/internal/backoff"
	"github.com/wxtoken/wxtoken/server/internal/tenantreg"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wechat/callback"
)

// handleCallback receives the encrypted pushes of a suite (WeCom's
// instruction callback) or a component (the Open Platform's notices) at
// /v1/callback/{app}. No client key: the signature authenticates the
// sender. GET answers the URL verification with the decrypted echostr;
// POST opens the event, acts on it and answers "success".
//
// Whoever sends it, a message refused for any reason (unknown app, bad
// signature, stale timestamp, bad ciphertext, padding, length, receiver)
// gets one answer, byte for byte (refuseCallback): the route is no oracle
// of the Token or the key. A refusal spends the budget of its address and
// its app (callbackguard.go); a message seen before is a replay, answered
// "success" without acting (callbackreplay.go).
func (s *Server) handleCallback(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	src := sourceOf(r)
	a := s.apps[r.PathValue("app")]
	if a == nil || a.callback == nil {
		s.refuseCallback(w, nil, src, "unknown", errors.New("no callback configured for this app"), now)
		return
	}
	if a.failures.exhausted(src, now) {
		s.metrics.callbacks.WithLabelValues(a.ID, "unknown", "rate_limited").Inc()
		if s.callbackLog.allow(now) {
			s.log.Warn("wxtoken: callbacks refused unseen: too many refused from this address or for this app", "app", a.ID, "source", src)
		}
		writeError(w, http.StatusTooManyRequests, CodeRateLimited, "too many refused callbacks; try later")
		return
	}
	if r.Method == http.MethodGet {
		echo, err := a.callback.VerifyURL(r.URL.Query(), now)
		if err != nil {
			s.refuseCallback(w, a, src, "verify_url", err, now)
			return
		}
		s.metrics.callbacks.WithLabelValues(a.ID, "verify_url", "ok").Inc()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, echo)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, callback.MaxBody+1))
	if err != nil {
		s.refuseCallback(w, a, src, "unknown", fmt.Errorf("%w: reading the body: %v", callback.ErrMalformed, err), now)
		return
	}
	e, err := a.callback.OpenEvent(r.URL.Query(), body, now)
	if err != nil {
		s.refuseCallback(w, a, src, "unknown", err, now)
		return
	}
	event := eventLabel(e.InfoType)
	release, fresh := s.replays.claim(r.Context(), a.ID, strings.ToLower(r.URL.Query().Get("msg_signature")), now)
	if !fresh {
		s.metrics.callbacks.WithLabelValues(a.ID, event, "replay").Inc()
		s.log.Debug("wxtoken: callback seen before, answered without acting", "app", a.ID, "event", e.InfoType, "source", src)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "success")
		return
	}
	outcome, status, err := s.onEvent(r.Context(), a, e)
	s.metrics.callbacks.WithLabelValues(a.ID, event, outcome).Inc()
	if err != nil {
		release() // upstream sends it again: that is no replay
		s.log.Warn("wxtoken: callback not handled; upstream will send it again", "app", a.ID, "event", e.InfoType, "err", err)
		writeError(w, status, status*100, "callback not handled; send it again")
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "success")
}

// eventLabel bounds the event label to the info types the server knows.
func eventLabel(infoType string) string {
	switch infoType {
	case callback.InfoSuiteTicket, callback.InfoCreateAuth, callback.InfoChangeAuth, callback.InfoCancelAuth,
		callback.InfoComponentVerifyTicket, callback.InfoAuthorized, callback.InfoUpdateAuthorized, callback.InfoUnauthorized:
		return infoType
	}
	return "other"
}

// refusedCallback is the one answer to every refused callback.
const refusedCallback = "callback refused"

// refuseCallback answers a message that failed its checks, whatever the
// reason, with the same status and body; the reason goes to the metric
// (for a known app) and to a rate-limited warning of the callback route's
// own. The refusal spends the budget of src and of the app.
func (s *Server) refuseCallback(w http.ResponseWriter, a *app, src, event string, err error, now time.Time) {
	outcome := "malformed"
	switch {
	case errors.Is(err, callback.ErrSignature):
		outcome = "signature"
	case errors.Is(err, callback.ErrTimestamp):
		outcome = "timestamp"
	case errors.Is(err, callback.ErrTooLarge):
		outcome = "too_large"
	case errors.Is(err, callback.ErrReceiver):
		outcome = "receiver"
	case errors.Is(err, callback.ErrOpen):
		outcome = "undecryptable"
	case a == nil:
		outcome = "unknown_app"
	}
	id := "-"
	if a != nil {
		id = a.ID
		a.failures.fail(src, now)
		s.metrics.callbacks.WithLabelValues(a.ID, event, outcome).Inc()
	}
	if s.callbackLog.allow(now) {
		s.log.Warn("wxtoken: callback refused", "app", id, "outcome", outcome, "source", src, "reason", callback.Reason(err))
	} else {
		s.log.Debug("wxtoken: callback refused", "app", id, "outcome", outcome, "source", src, "reason", callback.Reason(err))
	}
	writeError(w, http.StatusForbidden, CodeForbidden, refusedCallback)
}

// onEvent acts on one opened event and says how it went: the metric
// outcome, and on failure the HTTP status (upstream retries a push that is
// not answered "success").
func (s *Server) onEvent(ctx context.Context, a *app, e callback.Event) (string, int, error) {
	switch {
	case a.Kind == KindSuite && e.InfoType == callback.InfoSuiteTicket:
		_, outcome, status, err := s.storeTicket(ctx, a, e.SuiteTicket, e.At())
		return outcome, status, err
	case a.Kind == KindComponent && e.InfoType == callback.InfoComponentVerifyTicket:
		_, outcome, status, err := s.storeTicket(ctx, a, e.Ticket, e.At())
		return outcome, status, err
	case a.Kind == KindSuite && e.InfoType == callback.InfoCreateAuth:
		corp, err := a.suiteSrc.PermanentCode(ctx, s.mgr, a.tokenKey, e.AuthCode)
		if err != nil {
			return "upstream_error", http.StatusBadGateway, fmt.Errorf("exchanging the auth_code: %w", err)
		}
		s.seedFirstToken(ctx, a, s.tenantSource(a, corp.CorpID, corp.PermanentCode), corp.AccessToken)
		// The auth_code is spent: keep trying to record the permanent
		// code for as long as the push's answer can wait. The code is in
		// this instance's memory from the first attempt on, so a store
		// that stays down past that gets it at the next sync.
		var res tenantreg.SyncResult
		err = retryStore(ctx, func() (err error) {
			res, err = a.tenants.PutAuthorized(ctx, corp.CorpID, corp.CorpName, corp.PermanentCode, e.At())
			return err
		})
		s.afterSync(ctx, a, res)
		if err != nil {
			s.log.Error("wxtoken: an installed corp could not be recorded in the state store; this instance holds it and keeps trying", "app", a.ID, "tenant", corp.CorpID, "err", err)
			return "store_error", http.StatusServiceUnavailable, err
		}
		s.log.Info("wxtoken: tenant added", "app", a.ID, "tenant", corp.CorpID)
		return "ok", 0, nil
	case a.Kind == KindComponent && (e.InfoType == callback.InfoAuthorized || e.InfoType == callback.InfoUpdateAuthorized):
		return s.authorize(ctx, a, e)
	case a.Kind == KindSuite && e.InfoType == callback.InfoCancelAuth:
		return s.removeTenant(ctx, a, e.AuthCorpID, e.At())
	case a.Kind == KindComponent && e.InfoType == callback.InfoUnauthorized:
		return s.removeTenant(ctx, a, e.AuthorizerAppID, e.At())
	case a.Kind == KindSuite && e.InfoType == callback.InfoChangeAuth:
		return "ok", 0, nil
	}
	return "ignored", 0, nil
}

// authorize exchanges an authorization code, saves the refresh token
// (sealed, where the authorizer's token source reads it) and the first
// access token, and records the authorizer in the registry.
func (s *Server) authorize(ctx context.Context, a *app, e callback.Event) (string, int, error) {
	if e.InfoType == callback.InfoUpdateAuthorized {
		// Changed permissions of an authorizer already served: its refresh
		// token chain goes on (a new one saved here, outside the
		// authorizer's lock, could race a rotation and be the one kept).
		if _, _, err := s.tenant(ctx, a, e.AuthorizerAppID); err != nil {
			return "store_error", http.StatusServiceUnavailable, err
		}
		if rec, known := a.tenants.Lookup(e.AuthorizerAppID); known && !rec.Removed() {
			return "ok", 0, nil
		}
	}
	auth, err := a.compSrc.QueryAuth(ctx, s.mgr, a.tokenKey, e.AuthorizationCode)
	if err != nil {
		return "upstream_error", http.StatusBadGateway, fmt.Errorf("exchanging the authorization code: %w", err)
	}
	id := auth.AuthorizerAppID
	// The state keys are named before the authorizer is registered here:
	// registering it first, a registry sync running meanwhile (which
	// does not list it yet) could unregister it between the two steps.
	registered := a.authorizerSource(id)
	src := registered
	if src == nil {
		src = s.tenantSource(a, id, "").(*wechat.AuthorizerSource)
		a.adopt(id, src) // registered with what it holds
	}
	stateKey, err := s.mgr.SourceStateKey(src, wechat.RefreshTokenState)
	if err != nil {
		return "store_error", http.StatusServiceUnavailable, err
	}
	saveRefreshToken := func() error {
		if registered == nil {
			return src.SaveRefreshToken(ctx, s.state, stateKey, auth.RefreshToken)
		}
		// Served already (authorized again): the new chain replaces the
		// old under the authorizer's fleet lock, so that no rotation of
		// the old one in flight lands after it.
		key, _ := a.registered(id)
		return s.mgr.UpdateState(ctx, key, func(ctx context.Context, req core.FetchRequest) error {
			_, err := src.Restore(ctx, req, wechat.StoredRefreshToken{Token: auth.RefreshToken}, true)
			return err
		})
	}
	// Each attempt writes all three (the same values again): the state
	// before the registry entry that makes the fleet serve the tenant. The
	// Source holds the refresh token and the registry the record from the
	// first attempt on, so a store that stays down past the retries gets
	// both back at the next sync.
	var res tenantreg.SyncResult
	err = retryStore(ctx, func() error {
		rtErr := saveRefreshToken()
		s.seedFirstToken(ctx, a, src, auth.AccessToken)
		var err error
		res, err = a.tenants.PutAuthorized(ctx, id, "", "", e.At())
		return errors.Join(rtErr, err)
	})
	s.afterSync(ctx, a, res)
	if err != nil {
		s.log.Error("wxtoken: an authorizer could not be recorded in the state store; this instance holds it and keeps trying", "app", a.ID, "tenant", id, "err", err)
		return "store_error", http.StatusServiceUnavailable, err
	}
	s.log.Info("wxtoken: tenant added", "app", a.ID, "tenant", id)
	return "ok", 0, nil
}

// removeTenant records that a tenant left (a tombstone in the registry,
// which every instance follows) and drops it here; each instance that
// served an authorizer deletes its refresh token as it applies the
// tombstone (reconcile). A removal pushed at a time before the
// authorization that added the tenant (a cancel_auth captured before the
// corp installed again, replayed) is ignored.
func (s *Server) removeTenant(ctx context.Context, a *app, id string, at time.Time) (string, int, error) {
	if id == "" {
		return "malformed", http.StatusBadRequest, errors.New("the event names no tenant")
	}
	if rec, ok := a.tenants.Lookup(id); ok && !rec.Removed() && rec.PushedBefore(at) {
		s.log.Warn("wxtoken: a removal pushed before the tenant's authorization was ignored (a replay)", "app", a.ID, "tenant", id)
		return "stale", 0, nil
	}
	var res tenantreg.SyncResult
	err := retryStore(ctx, func() (err error) {
		res, err = a.tenants.Remove(ctx, id)
		return err
	})
	s.afterSync(ctx, a, res)
	if err != nil {
		return "store_error", http.StatusServiceUnavailable, err
	}
	s.log.Info("wxtoken: tenant removed", "app", a.ID, "tenant", id)
	return "ok", 0, nil
}

// retryStore retries a store write a few times over about three seconds:
// upstream waits about five for a push's answer.
func retryStore(ctx context.Context, f func() error) error {
	p := backoff.Policy{Min: 100 * time.Millisecond, Max: time.Second}
	var err error
	for attempt := range 5 {
		if err = f(); err == nil || ctx.Err() != nil {
			return err
		}
		if backoff.Sleep(ctx, p.Delay(attempt)) != nil {
			return err
		}
	}
	return err
}
