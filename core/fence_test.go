package core_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/lock"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wxsim"
)

// laggingLocks answers lock calls late, as a store across a slow link
// does: TryLock takes the lock at once but reports it only after lag, and
// Extend never gets through (the link drops it). Writes go through the
// wrapped lease unchanged.
type laggingLocks struct {
	*core.MemoryCache
	lag time.Duration
}

var errDropped = errors.New("lock store: request dropped")

func (l laggingLocks) TryLock(ctx context.Context, name string, ttl time.Duration) (lock.Lease, error) {
	lease, err := l.MemoryCache.TryLock(ctx, name, ttl)
	time.Sleep(l.lag)
	if err != nil {
		return nil, err
	}
	return laggingLease{lease.(core.FencedLease)}, nil
}

type laggingLease struct{ core.FencedLease }

func (laggingLease) Extend(context.Context, time.Duration) error { return errDropped }

// TestLeaseLostMidFetchNeverOverwritesNewerToken is the fencing fault: A's
// lock reply arrives late and its extensions are dropped, so its lease
// ends (counted from before the TryLock) while its upstream answer is
// still on the way; B takes the lock and publishes a newer token. A's
// token, issued first, must not be written over B's: A adopts B's. B's
// upstream answer is slow, so B still holds the lock when A's answer
// arrives: A waits for B's publish instead of returning its own token (it
// did, when CI's machine was slow enough to make the race).
func TestLeaseLostMidFetchNeverOverwritesNewerToken(t *testing.T) {
	sim := newSim(t)
	store := core.NewMemoryCache()
	const ttl = time.Second
	slowA := &lateSource{AccountSource: account(sim), late: 650 * time.Millisecond}
	b := newManager(t, core.WithCache(store), core.WithSettings(core.Settings{LockTTL: ttl, LockWait: 3 * time.Second}))
	register(t, b, "shop", account(sim))
	first := mustToken(t, b, "shop")
	a2 := newManager(t, core.WithCache(laggingLocks{store, 500 * time.Millisecond}), core.WithSettings(core.Settings{LockTTL: ttl, LockWait: 3 * time.Second}))
	register(t, a2, "shop", slowA)
	var got core.Token
	var wg sync.WaitGroup
	start := time.Now()
	wg.Go(func() {
		var err error
		if got, err = a2.Refresh(context.Background(), "shop"); err != nil {
			t.Errorf("A's refresh: %v", err)
		}
	})
	time.Sleep(900 * time.Millisecond) // A's lease (from t0) ends at 1 s
	sim.InjectFault(wxsim.Fault{Path: "/cgi-bin/token", Times: 1, Latency: 600 * time.Millisecond})
	newer, err := b.Refresh(context.Background(), "shop")
	if err != nil {
		t.Fatalf("B's refresh: %v", err)
	}
	wg.Wait()
	t.Logf("A's refresh returned %v after it started", time.Since(start))
	key, _ := b.CacheKey("shop")
	raw, _ := store.Get(context.Background(), key)
	shared, _ := core.DecodeToken(raw)
	if shared.Value != newer.Value {
		t.Fatalf("rule: a token fetched under a lost lease is never written over a newer one; the shared cache holds %s, B published %s",
			short(shared.Value), short(newer.Value))
	}
	if got.Value != newer.Value {
		t.Errorf("rule: a node whose lease ran out adopts the shared token; A's refresh returned %s, want B's %s", short(got.Value), short(newer.Value))
	}
	if cur := mustToken(t, a2, "shop"); cur.Value != newer.Value || cur.Value == first.Value {
		t.Errorf("A serves %s after its lost lease, want B's %s", short(cur.Value), short(newer.Value))
	}
}

// lateSource delivers its first token late: upstream issued it at once,
// the answer took its time to arrive.
type lateSource struct {
	*wechat.AccountSource
	late time.Duration
	once sync.Once
}

func (s *lateSource) Fetch(ctx context.Context, req core.FetchRequest) (core.Token, error) {
	tok, err := s.AccountSource.Fetch(ctx, req)
	s.once.Do(func() { time.Sleep(s.late) })
	return tok, err
}

func short(s string) string {
	if len(s) > 10 {
		return s[:10] + "…"
	}
	return s
}
