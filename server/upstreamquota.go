package server

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/wxtoken/wxtoken/lock"
	"github.com/wxtoken/wxtoken/wechat"
)

// DefaultUpstreamQuotaEvery is how often the fleet reads upstream's own
// count of each app's /cgi-bin/token calls (quota/get): one instance
// asks, under a lock in the store, and every instance reports what it
// stored.
const DefaultUpstreamQuotaEvery = 5 * time.Minute

// quotaPath is the API whose upstream count the fleet follows: the one
// whose daily quota a token storm spends.
const quotaPath = "/cgi-bin/token"

// storedQuota is upstream's count as the fleet keeps it in the cache.
type storedQuota struct {
	wechat.Quota
	At time.Time `json:"at"`
}

func (s *Server) upstreamQuotaKey(a *app) string {
	return s.cfg.KeyPrefix + ":upstream_quota:" + a.AppID
}

// hasQuota reports whether upstream's quota tool takes a's token.
func hasQuota(a *app) bool {
	return a.Kind == KindOfficial || a.Kind == KindStable || a.Kind == KindComponent
}

// runUpstreamQuota reads upstream's count of every app that has one, every
// s.quotaEvery (the first after a random part of it, so that a fleet
// started together does not ask together), until ctx ends.
func (s *Server) runUpstreamQuota(ctx context.Context) {
	every := s.quotaEvery
	if every <= 0 {
		return
	}
	wait := time.Duration(rand.Int64N(int64(every)/5 + 1))
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		for _, a := range s.order {
			if hasQuota(a) {
				s.pollUpstreamQuota(ctx, a, every)
			}
		}
		wait = every
	}
}

// pollUpstreamQuota asks upstream for a's count unless the store holds
// one younger than every, or another instance holds the lock to ask. It
// uses the token held in memory only: reading a count never fetches one.
func (s *Server) pollUpstreamQuota(ctx context.Context, a *app, every time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if q, ok := s.upstreamQuota(ctx, a); ok && time.Since(q.At) < every {
		return
	}
	tok, ok := s.mgr.Cached(a.tokenKey)
	if !ok || !tok.Valid(time.Now()) {
		return
	}
	if l, isLocker := s.cache.(lock.Locker); isLocker {
		lease, err := l.TryLock(ctx, s.upstreamQuotaKey(a)+":lock", every/2)
		if err != nil {
			return // another instance asks, or the store does not answer
		}
		defer func() { _ = lease.Unlock(context.WithoutCancel(ctx)) }()
		if q, ok := s.upstreamQuota(ctx, a); ok && time.Since(q.At) < every {
			return
		}
	}
	q, err := s.tools(a).Quota(ctx, tok.Value, quotaPath)
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			s.log.Warn("wxtoken: reading upstream's quota", "app", a.ID, "err", err)
		}
		return
	}
	b, _ := json.Marshal(storedQuota{Quota: q, At: time.Now()})
	if err := s.cache.Set(ctx, s.upstreamQuotaKey(a), string(b), 2*every+time.Minute); err != nil {
		s.log.Warn("wxtoken: keeping upstream's quota", "app", a.ID, "err", err)
	}
}

// upstreamQuota returns upstream's count of a as the fleet last read it;
// false at once, with no store read, for an app upstream counts nothing
// for.
func (s *Server) upstreamQuota(ctx context.Context, a *app) (storedQuota, bool) {
	if !hasQuota(a) {
		return storedQuota{}, false
	}
	raw, err := s.cache.Get(ctx, s.upstreamQuotaKey(a))
	if err != nil {
		return storedQuota{}, false
	}
	var q storedQuota
	if json.Unmarshal([]byte(raw), &q) != nil || q.At.IsZero() {
		return storedQuota{}, false
	}
	return q, true
}
