package server

import (
	"context"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/wechat"
)

// republishState writes back to the state store what a's credentials hold
// in this instance's memory and the store lost: the newest pushed ticket
// and the authorizers' newest refresh tokens (each under its credential's
// fleet lock, the store's newer copy winning). It runs when a registry
// sync found the store had lost data; the tokens themselves are written
// back by each credential's next re-check.
func (s *Server) republishState(ctx context.Context, a *app) {
	tickets := 0
	if a.pushed != nil {
		if ok, err := a.pushed.Republish(ctx); err != nil {
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
			s.log.Warn("wxtoken: re-publishing an authorizer's refresh token", "app", a.ID, "tenant", id, "err", err)
		}
	}
	if refresh > 0 {
		s.metrics.republished.WithLabelValues(a.ID, "refresh_token").Add(float64(refresh))
	}
	if tickets+refresh > 0 {
		s.log.Warn("wxtoken: the state store had lost what this instance holds; re-published it",
			"app", a.ID, "pushed_ticket", tickets, "refresh_tokens", refresh)
	}
}
