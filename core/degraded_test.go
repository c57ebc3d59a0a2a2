package core_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/lock"
	"github.com/wxtoken/wxtoken/wxsim"
)

// A store slow under a herd answers some operations and times out on
// others. A node with nothing to serve whose lock attempts keep failing,
// while its reads are answered, waits for the holder's token: the store is
// slow, not down. (Before: two failed lock attempts in a row sent it
// upstream alone, and its token retired the fleet's; 1,000 nodes started
// at once made 288 upstream calls where 1 suffices.)
func TestLockAttemptsFailingWhileReadsAnswerSendNoNodeUpstream(t *testing.T) {
	sim := newSim(t)
	sim.InjectFault(wxsim.Fault{Path: "/cgi-bin/token", Times: 1, Latency: 1200 * time.Millisecond})
	shared := core.NewMemoryCache()
	obs := &counter{}
	a := newManager(t, core.WithCache(&flakyCache{MemoryCache: shared}))
	slow := &flakyCache{MemoryCache: shared}
	slow.failLock.Store(true) // every lock attempt of B times out; its reads are answered
	b := newManager(t, core.WithCache(slow), core.WithObserver(obs.observe),
		core.WithSettings(core.Settings{DegradedAfter: 300 * time.Millisecond}))
	register(t, a, "shop", account(sim))
	register(t, b, "shop", account(sim))

	fromA := make(chan core.Token, 1)
	go func() { fromA <- mustToken(t, a, "shop") }()
	eventually(t, time.Second, "node A holds the lock and is fetching", func() bool { return sim.Stats().TokenCalls() == 1 })
	fromB := mustToken(t, b, "shop")
	if tok := <-fromA; fromB.Value != tok.Value {
		t.Fatal("node B serves a token of its own, not the fleet's")
	}
	if n, d := tokenCalls(sim), obs.get(core.EventDegraded); n != 1 || d != 0 {
		t.Fatalf("rule: a store that answers reads is slow, not down; upstream calls %d (want 1), lock-less fetches %d (want 0)", n, d)
	}
}

// A node cut off from the store whose token ran out makes no lock-less
// fetch for its background refresh (Run's): a token fetched alone would
// serve no one and retire the fleet's. A caller that waits gets one
// lock-less fetch, only once the store has failed for the degraded-after
// span, and no more than one per degraded interval.
func TestCutOffNodeFetchesAloneOnlyForACaller(t *testing.T) {
	sim := newSim(t)
	c := newFlaky()
	clock := &offsetClock{}
	obs := &counter{}
	const after = 400 * time.Millisecond
	m := newManager(t, core.WithCache(c), core.WithClock(clock), core.WithObserver(obs.observe),
		core.WithSettings(core.Settings{DegradedAfter: after, DegradedInterval: 24 * time.Hour, LocalTTL: 50 * time.Millisecond, CacheTimeout: 100 * time.Millisecond}))
	register(t, m, "shop", account(sim))
	first := mustToken(t, m, "shop")
	ctx, cancel := context.WithCancel(context.Background())
	var run sync.WaitGroup
	run.Go(func() { _ = m.Run(ctx) })
	t.Cleanup(func() { cancel(); run.Wait() })

	c.down(true)
	cutAt := time.Now()
	clock.Advance(7200 * time.Second) // the token ran out; Run finds it due at once
	time.Sleep(3 * after)             // Run retries meanwhile, and the store is long down
	if n, d := tokenCalls(sim), obs.get(core.EventDegraded); n != 1 || d != 0 {
		t.Fatalf("rule: no lock-less fetch for a background refresh; upstream calls %d (want 1), lock-less fetches %d (want 0)", n, d)
	}

	tok := mustToken(t, m, "shop")
	if tok.Value == first.Value || tokenCalls(sim) != 2 || obs.get(core.EventDegraded) != 1 {
		t.Fatalf("a waiting caller: new=%v upstream calls %d lock-less fetches %d; want a new token, 2, 1",
			tok.Value != first.Value, tokenCalls(sim), obs.get(core.EventDegraded))
	}
	if since := time.Since(cutAt); since < after {
		t.Fatalf("the lock-less fetch came %v after the store failed, before the degraded-after span %v", since, after)
	}
	clock.Advance(7200 * time.Second)
	tctx, tcancel := context.WithTimeout(context.Background(), time.Second)
	defer tcancel()
	if _, err := m.Token(tctx, "shop"); !errors.Is(err, core.ErrCacheUnavailable) {
		t.Fatalf("a second lock-less fetch within the degraded interval: Token = %v, want ErrCacheUnavailable", err)
	}
	if n := tokenCalls(sim); n != 2 {
		t.Fatalf("upstream calls = %d, want 2: one lock-less fetch per degraded interval", n)
	}
}

// A caller with nothing to serve on a store that fails for a moment, less
// than the degraded-after span, is served the fleet's token once the store
// answers, with no call of its own upstream.
func TestStoreFailingForAMomentSendsNoCallerUpstream(t *testing.T) {
	sim := newSim(t)
	c := newFlaky()
	obs := &counter{}
	other := newManager(t, core.WithCache(&flakyCache{MemoryCache: c.MemoryCache}))
	m := newManager(t, core.WithCache(c), core.WithObserver(obs.observe),
		core.WithSettings(core.Settings{DegradedAfter: 5 * time.Second, CacheTimeout: 100 * time.Millisecond}))
	register(t, other, "shop", account(sim))
	register(t, m, "shop", account(sim))
	c.down(true)
	got := make(chan core.Token, 1)
	go func() { got <- mustToken(t, m, "shop") }()
	time.Sleep(500 * time.Millisecond)
	fleet := mustToken(t, other, "shop") // the fleet fetches meanwhile
	c.down(false)
	if tok := <-got; tok.Value != fleet.Value {
		t.Fatal("the node serves a token of its own, not the fleet's")
	}
	if n, d := tokenCalls(sim), obs.get(core.EventDegraded); n != 1 || d != 0 {
		t.Fatalf("rule: a store down for less than the degraded-after span sends no one upstream alone; upstream calls %d (want 1), lock-less fetches %d (want 0)", n, d)
	}
}

// hangingCache is a store behind a dropped route: while hung, every
// operation waits for its context to end and returns its error.
type hangingCache struct {
	*core.MemoryCache
	hung atomic.Bool
}

func (h *hangingCache) wait(ctx context.Context) error {
	if !h.hung.Load() {
		return nil
	}
	<-ctx.Done()
	return ctx.Err()
}

func (h *hangingCache) Get(ctx context.Context, k string) (string, error) {
	if err := h.wait(ctx); err != nil {
		return "", err
	}
	return h.MemoryCache.Get(ctx, k)
}

func (h *hangingCache) Set(ctx context.Context, k, v string, ttl time.Duration) error {
	if err := h.wait(ctx); err != nil {
		return err
	}
	return h.MemoryCache.Set(ctx, k, v, ttl)
}

func (h *hangingCache) Watch(ctx context.Context, k string) (<-chan struct{}, func(), error) {
	if err := h.wait(ctx); err != nil {
		return nil, nil, err
	}
	return h.MemoryCache.Watch(ctx, k)
}

func (h *hangingCache) TryLock(ctx context.Context, name string, ttl time.Duration) (lock.Lease, error) {
	if err := h.wait(ctx); err != nil {
		return nil, err
	}
	return h.MemoryCache.TryLock(ctx, name, ttl)
}

// A background refresh of a stale token gives up at its first failed lock
// attempt, since its node has a token to serve. When the token becomes
// unusable while that attempt hangs on a cut-off store and a caller waits,
// the caller is not sent upstream alone then: the store has failed for one
// operation's timeout, not for the degraded-after span.
func TestStaleRefreshOnAHangingStoreSendsNoCallerUpstreamEarly(t *testing.T) {
	sim := newSim(t)
	c := &hangingCache{MemoryCache: core.NewMemoryCache()}
	clock := &offsetClock{}
	obs := &counter{}
	const after = 3 * time.Second
	m := newManager(t, core.WithCache(c), core.WithClock(clock), core.WithObserver(obs.observe),
		core.WithSettings(core.Settings{DegradedAfter: after, CacheTimeout: 400 * time.Millisecond, LocalTTL: time.Hour}))
	register(t, m, "shop", account(sim))
	first := mustToken(t, m, "shop")
	c.hung.Store(true)
	cutAt := time.Now()
	// Stale (within refresh-ahead of its end) but usable: served, and a
	// background refresh starts; its lock attempt hangs.
	clock.Advance(time.Until(first.ExpiresAt) - core.DefaultSettings().RefreshAhead/2)
	if tok := mustToken(t, m, "shop"); tok.Value != first.Value {
		t.Fatal("the stale token was not served")
	}
	time.Sleep(100 * time.Millisecond)
	clock.Advance(core.DefaultSettings().RefreshAhead) // now past its end
	ctx, cancel := context.WithTimeout(context.Background(), after/2)
	defer cancel()
	_, err := m.Token(ctx, "shop")
	if n, d := tokenCalls(sim), obs.get(core.EventDegraded); n != 1 || d != 0 {
		t.Fatalf("rule: no lock-less fetch before the store has failed for the degraded-after span (%v); %v after the cut: upstream calls %d (want 1), lock-less fetches %d (want 0), Token = %v",
			after, time.Since(cutAt).Round(time.Millisecond), n, d, err)
	}
	if err == nil {
		t.Fatal("a caller with nothing to serve and a hung store got a token")
	}
}
