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
// POST opens the event, acts on it and answers "success". A refused
// message stores nothing and is counted by outcome.
func (s *Server) handleCallback(w http.ResponseWriter, r *http.Request) {
	a := s.apps[r.PathValue("app")]
	if a == nil || a.callback == nil {
		writeError(w, http.StatusNotFound, CodeUnknownApp, fmt.Sprintf("no callback for app %q", r.PathValue("app")))
		return
	}
	now := time.Now()
	if r.Method == http.MethodGet {
		echo, err := a.callback.VerifyURL(r.URL.Query(), now)
		if err != nil {
			s.refuseCallback(w, a, "verify_url", err)
			return
		}
		s.metrics.callbacks.WithLabelValues(a.ID, "verify_url", "ok").Inc()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, echo)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, callback.MaxBody+1))
	if err != nil {
		s.refuseCallback(w, a, "unknown", fmt.Errorf("%w: reading the body: %v", callback.ErrMalformed, err))
		return
	}
	e, err := a.callback.OpenEvent(r.URL.Query(), body, now)
	if err != nil {
		s.refuseCallback(w, a, "unknown", err)
		return
	}
	outcome, status, err := s.onEvent(r.Context(), a, e)
	s.metrics.callbacks.WithLabelValues(a.ID, eventLabel(e.InfoType), outcome).Inc()
	if err != nil {
		s.log.Warn("wxtoken: callback not handled", "app", a.ID, "event", e.InfoType, "err", err)
		writeError(w, status, status*100, err.Error())
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

// refuseCallback answers a message that failed its checks.
func (s *Server) refuseCallback(w http.ResponseWriter, a *app, event string, err error) {
	status, outcome := http.StatusBadRequest, "malformed"
	switch {
	case errors.Is(err, callback.ErrSignature):
		status, outcome = http.StatusForbidden, "signature"
	case errors.Is(err, callback.ErrReceiver):
		status, outcome = http.StatusForbidden, "receiver"
	case errors.Is(err, callback.ErrTimestamp):
		status, outcome = http.StatusForbidden, "timestamp"
	case errors.Is(err, callback.ErrTooLarge):
		status, outcome = http.StatusRequestEntityTooLarge, "too_large"
	}
	s.metrics.callbacks.WithLabelValues(a.ID, event, outcome).Inc()
	if s.refusals.allow(time.Now()) {
		s.log.Warn("wxtoken: callback refused", "app", a.ID, "outcome", outcome, "err", err)
	}
	writeError(w, status, status*100, err.Error())
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
			res, err = a.tenants.Put(ctx, corp.CorpID, corp.CorpName, corp.PermanentCode)
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
		return s.removeTenant(ctx, a, e.AuthCorpID)
	case a.Kind == KindComponent && e.InfoType == callback.InfoUnauthorized:
		return s.removeTenant(ctx, a, e.AuthorizerAppID)
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
		res, err = a.tenants.Put(ctx, id, "", "")
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
// tombstone (reconcile).
func (s *Server) removeTenant(ctx context.Context, a *app, id string) (string, int, error) {
	if id == "" {
		return "malformed", http.StatusBadRequest, errors.New("the event names no tenant")
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
