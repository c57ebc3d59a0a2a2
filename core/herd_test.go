package core_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/lock"
	"github.com/wxtoken/wxtoken/wxsim"
)

// countingLocks counts a node's lock attempts and can fail the next one
// as an overloaded store's timeout would.
type countingLocks struct {
	*flakyCache
	attempts atomic.Int64
	failNext atomic.Bool
}

func (c *countingLocks) TryLock(ctx context.Context, name string, ttl time.Duration) (lock.Lease, error) {
	c.attempts.Add(1)
	if c.failNext.CompareAndSwap(true, false) {
		return nil, errStoreDown
	}
	return c.flakyCache.TryLock(ctx, name, ttl)
}

// One lock attempt that times out (a store slow under load) is not an
// outage: the node keeps waiting for the holder's token instead of
// fetching one of its own without the lock. `wxtoken-farm` with 1,000
// nodes on a Redis Cluster found this: under the herd some lock attempts
// timed out, each such node refreshed alone, and every token it fetched
// retired the fleet's.
func TestOneSlowLockAttemptDoesNotSendANodeUpstream(t *testing.T) {
	sim := newSim(t)
	sim.InjectFault(wxsim.Fault{Path: "/cgi-bin/token", Times: 1, Latency: 400 * time.Millisecond})
	shared := core.NewMemoryCache()
	obs := &counter{}
	a := newManager(t, core.WithCache(&flakyCache{MemoryCache: shared}))
	slow := &countingLocks{flakyCache: &flakyCache{MemoryCache: shared}}
	slow.failNext.Store(true)
	b := newManager(t, core.WithCache(slow), core.WithObserver(obs.observe))
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
		t.Fatalf("rule: one slow lock answer does not send a node upstream; upstream calls %d (want 1), degraded refreshes %d (want 0)", n, d)
	}
}

// A node whose token is stale but still usable does not poll for the lock
// while another node refreshes: it serves what it has and adopts the new
// token at its next re-check, so a fleet makes one lock attempt per node per
// refresh, not one per poll.
func TestStaleNodeDoesNotPollForTheLock(t *testing.T) {
	sim := newSim(t)
	shared := core.NewMemoryCache()
	clock := &offsetClock{}
	locks := &countingLocks{flakyCache: &flakyCache{MemoryCache: shared}}
	m := newManager(t, core.WithCache(locks), core.WithClock(clock))
	register(t, m, "shop", account(sim))
	first := mustToken(t, m, "shop")

	// Another node holds the refresh lock (it is refreshing for the fleet).
	id, _ := m.Identity("shop")
	held, err := shared.TryLock(context.Background(), core.DefaultSettings().KeyPrefix+":lock:{"+id+"}", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Unlock(context.Background())

	before := locks.attempts.Load()
	clock.Advance(7200*time.Second - 2*time.Minute) // stale (past the latest spread point, 2.8 min before expiry), still usable
	// A busy node keeps calling Token: each call finds the token stale.
	for end := time.Now().Add(600 * time.Millisecond); time.Now().Before(end); time.Sleep(time.Millisecond) {
		if tok := mustToken(t, m, "shop"); tok.Value != first.Value {
			t.Fatal("the stale token was not served")
		}
	}
	// One attempt when it turns stale, then at most one per lock poll
	// (250 ms) while another node holds the lock.
	if n := locks.attempts.Load() - before; n > 4 {
		t.Fatalf("rule: a node with a usable token does not poll for the lock; %d lock attempts in 600 ms, want at most 4", n)
	}
	if tokenCalls(sim) != 1 {
		t.Fatalf("upstream calls %d, want 1: the lock holder refreshes for the fleet", tokenCalls(sim))
	}
}

// TestColdStartWaitersSleepUntilThePublish starts a fleet with nothing in
// the store while upstream takes 600 ms to answer. The nodes that find the
// lock taken have nothing to serve; on a store that tells writes (a
// Watcher, as the MemoryCache is) they sleep until the holder publishes
// instead of polling the lock every few milliseconds. `wxtoken-farm` with
// 1,000 nodes on a Redis Cluster found the polling herd swamping the store
// at every cold start.
func TestColdStartWaitersSleepUntilThePublish(t *testing.T) {
	const nodes = 16
	sim := newSim(t)
	sim.InjectFault(wxsim.Fault{Path: "/cgi-bin/token", Times: 1, Latency: 600 * time.Millisecond})
	shared := core.NewMemoryCache()
	var stores []*countingLocks
	var ms []*core.Manager
	for range nodes {
		s := &countingLocks{flakyCache: &flakyCache{MemoryCache: shared}}
		m := newManager(t, core.WithCache(s))
		register(t, m, "shop", account(sim))
		stores, ms = append(stores, s), append(ms, m)
	}
	toks := make(chan core.Token, nodes)
	for _, m := range ms {
		go func() { toks <- mustToken(t, m, "shop") }()
	}
	first := <-toks
	for range nodes - 1 {
		if tok := <-toks; tok.Value != first.Value {
			t.Fatal("rule: the fleet serves one token")
		}
	}
	attempts := int64(0)
	for _, s := range stores {
		attempts += s.attempts.Load()
	}
	if n := tokenCalls(sim); n != 1 {
		t.Fatalf("rule: one upstream call for the fleet's cold start; got %d", n)
	}
	// The holder's attempt, one refused attempt per waiter, and a few for
	// waiters that arrived after the publish and before the release.
	if attempts > 2*nodes {
		t.Fatalf("rule: a waiter with nothing to serve sleeps until the token is published; %d nodes made %d lock attempts in one 600 ms refresh", nodes, attempts)
	}
	t.Logf("%d nodes, one 600 ms refresh: %d lock attempts", nodes, attempts)
}

// gatedLocks, once armed, holds its next lock attempt until the test opens
// the gate, then reports the lock taken, as a slow store answering for a
// lock another node holds; other attempts go through.
type gatedLocks struct {
	*core.MemoryCache
	entered, gate chan struct{}
	armed         atomic.Bool
}

func (g *gatedLocks) TryLock(ctx context.Context, name string, ttl time.Duration) (lock.Lease, error) {
	if g.armed.CompareAndSwap(true, false) {
		close(g.entered)
		<-g.gate
		return nil, lock.ErrNotAcquired
	}
	return g.MemoryCache.TryLock(ctx, name, ttl)
}

// A caller with nothing to serve can join a refresh that began while the
// node still had a usable token, and so would not wait for the lock. When
// that refresh finds the lock taken, the caller must wait for the token,
// not get "another node is refreshing". The conformance farm on a 3-member
// etcd found it: 403 Token calls failed so.
func TestCallerJoiningABusyBackgroundRefreshGetsAToken(t *testing.T) {
	sim := newSim(t)
	clock := &offsetClock{}
	g := &gatedLocks{MemoryCache: core.NewMemoryCache(), entered: make(chan struct{}), gate: make(chan struct{})}
	m := newManager(t, core.WithCache(g), core.WithClock(clock))
	register(t, m, "shop", account(sim))
	mustToken(t, m, "shop")
	g.armed.Store(true)
	clock.Advance(7200*time.Second - 2*time.Minute) // stale (past the latest spread point, 2.8 min before expiry), still usable
	mustToken(t, m, "shop")                         // starts the background refresh
	<-g.entered                                     // which now waits for the store's answer
	clock.Advance(5 * time.Minute)                  // the token is past use
	got := make(chan error, 1)
	go func() {
		_, err := m.Token(context.Background(), "shop")
		got <- err
	}()
	time.Sleep(50 * time.Millisecond) // the caller joins the refresh in flight
	close(g.gate)
	if err := <-got; err != nil {
		t.Fatalf("rule: a caller with nothing to serve waits for the token; Token = %v", err)
	}
}
