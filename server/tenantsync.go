package server

import (
	"context"
	"time"

	"github.com/wxtoken/wxtoken/core"
)

// runTenantSync follows every tenant registry until ctx ends.
func (s *Server) runTenantSync(ctx context.Context) {
	done := make(chan struct{})
	apps := s.tenantApps()
	for _, a := range apps {
		go func() {
			defer func() { done <- struct{}{} }()
			s.followTenants(ctx, a)
		}()
	}
	for range apps {
		<-done
	}
}

// followTenants keeps a's tenants in step with its registry: every bucket
// read at the start, then the head at each of the store's write notices
// for it and every TenantSyncInterval (a cheap version check: the buckets
// are read only when their revision moved).
func (s *Server) followTenants(ctx context.Context, a *app) {
	s.syncOnce(ctx, a, true)
	t := time.NewTicker(TenantSyncInterval)
	defer t.Stop()
	notices, stop := s.watchRegistry(ctx, a)
	defer func() { stop() }()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if notices == nil { // the watch failed: try again
				stop()
				notices, stop = s.watchRegistry(ctx, a)
			}
		case <-notices:
		}
		s.syncOnce(ctx, a, false)
	}
}

// syncOnce runs one sync of a's registry. It is given longer than the
// sync interval: a sync that repairs a registry the store lost rewrites
// every bucket.
func (s *Server) syncOnce(ctx context.Context, a *app, all bool) {
	sctx, cancel := context.WithTimeout(ctx, syncTimeout)
	defer cancel()
	if err := s.syncTenants(sctx, a, all); err != nil && ctx.Err() == nil {
		s.log.Warn("wxtoken: reading the tenant registry", "app", a.ID, "err", err)
	}
}

// syncTimeout bounds one sync of a registry.
const syncTimeout = 30 * time.Second

// watchRegistry watches a's registry head, if the state store tells
// writes; a nil channel otherwise. stop is never nil.
func (s *Server) watchRegistry(ctx context.Context, a *app) (<-chan struct{}, func()) {
	w, ok := s.state.(core.Watcher)
	if !ok {
		return nil, func() {}
	}
	wctx, cancel := context.WithTimeout(ctx, TenantSyncInterval)
	defer cancel()
	ch, stop, err := w.Watch(wctx, a.tenants.HeadKey())
	if err != nil {
		return nil, func() {}
	}
	return ch, stop
}
