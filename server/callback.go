package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
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
// signature, stale timestamp, bad ciphertext, padding, length, receiver,
// an event time missing or outside the window) gets one answer, byte for
// byte, and one metric outcome for everything after the signature
// (refuseCallback): the route is no oracle of the Token or the key. A
// refusal spends its address's budget; an address past it is refused
// unseen (callbackguard.go). A message handled before is a replay,
// answered "success" without acting; one being handled is answered 503,
// so that upstream sends it again (callbackreplay.go).
func (s *Server) handleCallback(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	src := s.senderOf(r, now)
	a := s.apps[r.PathValue("app")]
	if s.failures.exhausted(src, now) {
		id := "-"
		if a != nil && a.callback != nil {
			id = a.ID
			s.metrics.callbacks.WithLabelValues(a.ID, "unknown", "rate_limited").Inc()
		}
		if s.callbackLog.allow(now) {
			s.log.Warn("wxtoken: callbacks refused unseen: too many refused from this address", "app", id, "source", src)
		}
		writeError(w, http.StatusTooManyRequests, CodeRateLimited, "too many refused callbacks; try later")
		return
	}
	if a == nil || a.callback == nil {
		s.refuseCallback(w, nil, src, "unknown", errors.New("no callback configured for this app"), now)
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
	if err == nil {
		err = checkEventTime(e, now)
	}
	if err != nil {
		s.refuseCallback(w, a, src, "unknown", err, now)
		return
	}
	event := eventLabel(e.InfoType)
	finish, state := s.replays.claim(r.Context(), a.ID, messageID(body), now)
	switch state {
	case replayDone:
		s.metrics.callbacks.WithLabelValues(a.ID, event, "replay").Inc()
		s.log.Debug("wxtoken: callback handled before, answered without acting", "app", a.ID, "event", e.InfoType, "source", src)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "success")
		return
	case replayInFlight:
		s.metrics.callbacks.WithLabelValues(a.ID, event, "in_flight").Inc()
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, callbackNotHandled)
		return
	}
	// The handling runs to its end even if upstream stops waiting (it
	// waits about 5 s, then sends the push again): an auth_code is spent
	// by its exchange, and the retry finds the push in flight or done.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), handleTimeout)
	defer cancel()
	outcome, err := s.onEvent(ctx, a, e)
	finish(err == nil)
	s.metrics.callbacks.WithLabelValues(a.ID, event, outcome).Inc()
	if err != nil {
		if s.callbackLog.allow(time.Now()) {
			s.log.Warn("wxtoken: callback not handled; upstream will send it again", "app", a.ID, "event", e.InfoType, "err", err)
		}
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, callbackNotHandled)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "success")
}

// handleTimeout bounds the handling of one callback.
const handleTimeout = 30 * time.Second

// callbackNotHandled answers a genuine callback that could not be handled
// (or is being handled): whatever the cause, upstream sends it again.
const callbackNotHandled = "callback not handled; send it again"

// checkEventTime refuses an event the server acts on whose own time
// (TimeStamp, CreateTime: inside the ciphertext, where no one without
// the key can change it) is missing or more than callback.Window from now:
// a captured push re-signed with a fresh timestamp is old inside.
func checkEventTime(e callback.Event, now time.Time) error {
	if eventLabel(e.InfoType) == "other" {
		return nil // not acted on
	}
	at := e.At()
	if at.IsZero() || at.Sub(now) > callback.Window || now.Sub(at) > callback.Window {
		return fmt.Errorf("%w: event time %v is missing or outside %v of this node's clock", errStaleEvent, at.Unix(), callback.Window)
	}
	return nil
}

// errStaleEvent is an opened event whose own time is refused.
var errStaleEvent = errors.New("callback: stale event")

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
// reason, with the same status and body. Everything after the signature
// is one metric outcome, "undecryptable" (a metric that told bad padding
// from a wrong receiver would be a padding oracle for whoever reads the
// metrics); the reason goes to a rate-limited warning of the callback
// route's own. The refusal spends the budget of src.
func (s *Server) refuseCallback(w http.ResponseWriter, a *app, src, event string, err error, now time.Time) {
	outcome := "malformed"
	switch {
	case errors.Is(err, callback.ErrOpen), errors.Is(err, errStaleEvent):
		outcome = "undecryptable"
	case errors.Is(err, callback.ErrSignature):
		outcome = "signature"
	case errors.Is(err, callback.ErrTimestamp):
		outcome = "timestamp"
	case errors.Is(err, callback.ErrTooLarge):
		outcome = "too_large"
	case a == nil:
		outcome = "unknown_app"
	}
	s.failures.fail(src, now)
	id := "-" // unknown apps count under one label: a path cannot grow the series
	if a != nil {
		id = a.ID
	}
	s.metrics.callbacks.WithLabelValues(id, event, outcome).Inc()
	if s.callbackLog.allow(now) {
		s.log.Warn("wxtoken: callback refused", "app", id, "outcome", outcome, "source", src, "reason", callback.Reason(err))
	} else {
		s.log.Debug("wxtoken: callback refused", "app", id, "outcome", outcome, "source", src, "reason", callback.Reason(err))
	}
	writeError(w, http.StatusForbidden, CodeForbidden, refusedCallback)
}

// onEvent acts on one opened event and says how it went: the metric
// outcome, and the error of a failure (answered 503: upstream retries a
// push that is not answered "success").
func (s *Server) onEvent(ctx context.Context, a *app, e callback.Event) (string, error) {
	switch {
	case a.Kind == KindSuite && e.InfoType == callback.InfoSuiteTicket:
		_, outcome, _, err := s.storeTicket(ctx, a, e.SuiteTicket, e.At())
		return outcome, err
	case a.Kind == KindComponent && e.InfoType == callback.InfoComponentVerifyTicket:
		_, outcome, _, err := s.storeTicket(ctx, a, e.Ticket, e.At())
		return outcome, err
	case a.Kind == KindSuite && e.InfoType == callback.InfoCreateAuth:
		corp, err := a.suiteSrc.PermanentCode(ctx, s.mgr, a.tokenKey, e.AuthCode)
		if err != nil {
			return "upstream_error", fmt.Errorf("exchanging the auth_code: %w", err)
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
			return "store_error", err
		}
		s.log.Info("wxtoken: tenant added", "app", a.ID, "tenant", corp.CorpID)
		return "ok", nil
	case a.Kind == KindComponent && (e.InfoType == callback.InfoAuthorized || e.InfoType == callback.InfoUpdateAuthorized):
		return s.authorize(ctx, a, e)
	case a.Kind == KindSuite && e.InfoType == callback.InfoCancelAuth:
		return s.removeTenant(ctx, a, e.AuthCorpID, e.At())
	case a.Kind == KindComponent && e.InfoType == callback.InfoUnauthorized:
		return s.removeTenant(ctx, a, e.AuthorizerAppID, e.At())
	case a.Kind == KindSuite && e.InfoType == callback.InfoChangeAuth:
		return "ok", nil
	}
	return "ignored", nil
}

// authorize exchanges an authorization code, saves the refresh token
// (sealed, where the authorizer's token source reads it) and the first
// access token, and records the authorizer in the registry.
func (s *Server) authorize(ctx context.Context, a *app, e callback.Event) (string, error) {
	if e.InfoType == callback.InfoUpdateAuthorized {
		// Changed permissions of an authorizer already served: its refresh
		// token chain goes on (a new one saved here, outside the
		// authorizer's lock, could race a rotation and be the one kept).
		if _, _, err := s.tenant(ctx, a, e.AuthorizerAppID); err != nil {
			return "store_error", err
		}
		if rec, known := a.tenants.Lookup(e.AuthorizerAppID); known && !rec.Removed() {
			return "ok", nil
		}
	}
	auth, err := a.compSrc.QueryAuth(ctx, s.mgr, a.tokenKey, e.AuthorizationCode)
	if err != nil {
		return "upstream_error", fmt.Errorf("exchanging the authorization code: %w", err)
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
		return "store_error", err
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
		return "store_error", err
	}
	s.log.Info("wxtoken: tenant added", "app", a.ID, "tenant", id)
	return "ok", nil
}

// removeTenant records that a tenant left (a tombstone in the registry,
// which every instance follows) and drops it here; each instance that
// served an authorizer deletes its refresh token as it applies the
// tombstone (reconcile). A removal pushed at a time before the
// authorization that added the tenant (a cancel_auth captured before the
// corp installed again, replayed) is ignored.
func (s *Server) removeTenant(ctx context.Context, a *app, id string, at time.Time) (string, error) {
	if id == "" {
		return "malformed", errors.New("the event names no tenant")
	}
	if rec, ok := a.tenants.Lookup(id); ok && !rec.Removed() && rec.PushedBefore(at) {
		s.log.Warn("wxtoken: a removal pushed before the tenant's authorization was ignored (a replay)", "app", a.ID, "tenant", id)
		return "stale", nil
	}
	var res tenantreg.SyncResult
	err := retryStore(ctx, func() (err error) {
		res, err = a.tenants.Remove(ctx, id)
		return err
	})
	s.afterSync(ctx, a, res)
	if err != nil {
		return "store_error", err
	}
	s.log.Info("wxtoken: tenant removed", "app", a.ID, "tenant", id)
	return "ok", nil
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
