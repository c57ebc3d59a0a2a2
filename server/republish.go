package server

import (
	"context"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/wechat"
)

// startRepublish has republishState run for a in the background, unless
// it runs already (then it runs once more after): a registry sync found
// the store had lost data. A pass with failures is tried again.
func (s *Server) startRepublish(a *app) {
	a.republishWanted.Store(true)
	if !a.republishing.CompareAndSwap(false, true) {
		return
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		for {
			for a.republishWanted.Swap(false) {
				ctx, cancel := context.WithTimeout(s.ctx, republishTimeout)
				failed := s.republishState(ctx, a)
				cancel()
				if failed > 0 && s.ctx.Err() == nil {
					a.republishWanted.Store(true)
					select {
					case <-s.ctx.Done():
					case <-time.After(TenantSyncInterval):
					}
				}
				if s.ctx.Err() != nil {
					a.republishing.Store(false)
					return
				}
			}
			a.republishing.Store(false)
			if !a.republishWanted.Load() || !a.republishing.CompareAndSwap(false, true) {
				return
			}
		}
	}()
}

// republishTimeout bounds one pass of republishState: one lock, one read
// and one write per authorizer this instance refreshed.
const republishTimeout = 10 * time.Minute

// republishState writes back to the state store what a's credentials hold
// in this instance's memory and the store lost: the newest pushed ticket
// and the authorizers' newest refresh tokens (each under its credential's
// fleet lock, the store's newer copy winning), and returns how many
// failed. The tokens themselves are written back by each credential's
// next re-check.
func (s *Server) republishState(ctx context.Context, a *app) int {
	failed := 0
	tickets := 0
	if a.pushed != nil {
		if ok, err := a.pushed.Republish(ctx); err != nil {
			failed++
			s.log.Warn("wxtoken: re-publishing the pushed ticket", "app", a.ID, "err", err)
		} else if ok {
			tickets = 1
			s.metrics.republished.WithLabelValues(a.ID, "pushed_ticket").Inc()
		}
	}
	refresh := 0
	for id, reg := range a.registeredSources() {
		src, ok := reg.src.(*wechat.AuthorizerSource)
		if !ok || !src.HoldsRefreshToken() {
			continue
		}
		err := s.mgr.UpdateState(ctx, reg.key, func(ctx context.Context, req core.FetchRequest) error {
			done, err := src.Republish(ctx, req)
			if done {
				refresh++
			}
			return err
		})
		if err != nil {
			if failed++; failed <= 3 {
				s.log.Warn("wxtoken: re-publishing an authorizer's refresh token; trying again", "app", a.ID, "tenant", id, "err", err)
			}
		}
	}
	if refresh > 0 {
		s.metrics.republished.WithLabelValues(a.ID, "refresh_token").Add(float64(refresh))
	}
	if tickets+refresh > 0 {
		s.log.Warn("wxtoken: the state store had lost what this instance holds; re-published it",
			"app", a.ID, "pushed_ticket", tickets, "refresh_tokens", refresh)
	}
	return failed
}
