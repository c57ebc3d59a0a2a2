package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wxtoken/wxtoken/lock"
	"github.com/wxtoken/wxtoken/server/internal/tenantreg"
	"github.com/wxtoken/wxtoken/wechat"
)

// RecoverReport says what RecoverTenants did.
type RecoverReport struct {
	// Listed is how many authorizers the Open Platform listed.
	Listed int `json:"listed"`
	// Added is how many of them the registry did not hold.
	Added int `json:"added"`
	// RefreshTokens is how many refresh tokens were written (where the
	// store held none, or every one with replace).
	RefreshTokens int `json:"refresh_tokens"`
	// NoRefreshToken lists authorizers upstream listed without a refresh
	// token while the store holds none either: they authorize again.
	NoRefreshToken []string `json:"no_refresh_token,omitempty"`
	// RemovedSince lists authorizers upstream still lists that the
	// registry records as removed after they authorized: left removed.
	RemovedSince []string `json:"removed_since,omitempty"`
}

// recoverEvery is how often at most an instance tries an automatic
// recovery that failed (the component's token not there yet, upstream
// down).
const recoverEvery = time.Minute

// RecoverTenants recovers a component's authorizers from the Open
// Platform (api_get_authorizer_list): every authorizer it lists that the
// registry does not hold is added, and its refresh token written where
// the state store holds none (with replace, over the stored one too: for
// a chain the store broke). An authorizer the registry records as removed
// after it authorized stays removed. WeCom cannot list a suite's corps:
// recover those from an export.
func (s *Server) RecoverTenants(ctx context.Context, appID string, replace bool) (RecoverReport, error) {
	a, err := s.tenantApp(appID)
	if err != nil {
		return RecoverReport{}, err
	}
	if a.Kind != KindComponent {
		return RecoverReport{}, fmt.Errorf("app %s is a WeCom suite: WeCom cannot list its corps again; restore them from an export (wxtoken tenants import)", a.ID)
	}
	return s.recoverAuthorizers(ctx, a, replace)
}

func (s *Server) recoverAuthorizers(ctx context.Context, a *app, replace bool) (RecoverReport, error) {
	var rep RecoverReport
	listed, err := a.compSrc.Authorizers(ctx, s.mgr, a.tokenKey)
	if err != nil {
		return rep, err
	}
	rep.Listed = len(listed)
	var add []tenantreg.Restored
	tokens := map[string]wechat.StoredRefreshToken{}
	for _, l := range listed {
		rec, known := a.tenants.Lookup(l.AppID)
		if known && rec.Removed() && !time.Unix(rec.RemovedAt, 0).Before(l.AuthorizedAt) {
			rep.RemovedSince = append(rep.RemovedSince, l.AppID)
			continue
		}
		if !known || rec.Removed() {
			add = append(add, tenantreg.Restored{ID: l.AppID, Record: tenantreg.Record{AddedAt: l.AuthorizedAt.Unix()},
				AuthorizedAt: l.AuthorizedAt.Unix()})
		}
		if l.RefreshToken != "" {
			tokens[l.AppID] = wechat.StoredRefreshToken{Token: l.RefreshToken}
		} else if !s.holdsRefreshToken(ctx, a, l.AppID) {
			rep.NoRefreshToken = append(rep.NoRefreshToken, l.AppID)
		}
	}
	rep.Added, rep.RefreshTokens, err = s.restore(ctx, a, add, tokens, replace)
	return rep, err
}

// holdsRefreshToken reports whether the state store holds a refresh token
// for a's registered authorizer id.
func (s *Server) holdsRefreshToken(ctx context.Context, a *app, id string) bool {
	reg, ok := a.registeredSources()[id]
	if !ok {
		return false
	}
	key, err := s.mgr.SourceStateKey(reg.src, wechat.RefreshTokenState)
	if err != nil {
		return false
	}
	_, err = wechat.LoadRefreshToken(ctx, s.state, s.box, key)
	return err == nil
}

// startAutoRecover starts, in the background, the recovery a component's
// registry head asks for (it was started empty: the store held none and
// no instance held any record), unless one is running here or one was
// tried less than recoverEvery ago.
func (s *Server) startAutoRecover(a *app) {
	if a.Kind != KindComponent || !s.serving.Load() || !a.tenants.RecoverPending() {
		return
	}
	now := time.Now().UnixNano()
	if last := a.recovered.Load(); last != 0 && now-last < int64(recoverEvery) {
		return
	}
	if !a.recovering.CompareAndSwap(false, true) {
		return
	}
	a.recovered.Store(now)
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		defer a.recovering.Store(false)
		s.autoRecover(s.ctx, a)
	}()
}

// autoRecover recovers a's authorizers from the Open Platform, by one
// instance of the fleet at a time, and clears the registry's request once
// it worked.
func (s *Server) autoRecover(ctx context.Context, a *app) {
	l, ok := s.state.(lock.Locker)
	if !ok {
		return
	}
	lease, err := l.TryLock(ctx, a.tenants.HeadKey()+":recovering", 5*time.Minute)
	if err != nil {
		return // another instance is at it, or the store is down
	}
	defer lease.Unlock(context.WithoutCancel(ctx))
	rctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	rep, err := s.recoverAuthorizers(rctx, a, false)
	if err != nil {
		s.log.Warn("wxtoken: recovering the authorizers from the Open Platform failed; trying again in a minute", "app", a.ID, "err", err)
		return
	}
	if err := a.tenants.RecoverDone(rctx); err != nil && !errors.Is(err, context.Canceled) {
		s.log.Warn("wxtoken: recording the recovery", "app", a.ID, "err", err)
	}
	logf := s.log.Info // a new deployment: nothing to recover
	if rep.Added > 0 || rep.RefreshTokens > 0 {
		logf = s.log.Warn
	}
	logf("wxtoken: the tenant registry was missing with no instance holding it; authorizers recovered from the Open Platform",
		"app", a.ID, "listed", rep.Listed, "added", rep.Added, "refresh_tokens", rep.RefreshTokens, "without_refresh_token", len(rep.NoRefreshToken))
}
