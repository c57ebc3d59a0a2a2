package core_test

import (
	"context"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/core"
)

// A Manager given a Cache and a Locker of another store writes its tokens
// to the Cache it reads from, never to the Locker's store: a lease fences
// only writes to its own store.
func TestWithLockerWritesToTheCache(t *testing.T) {
	sim := newSim(t)
	a, b := core.NewMemoryCache(), core.NewMemoryCache()
	m := newManager(t, core.WithCache(a), core.WithLocker(b))
	register(t, m, "shop", account(sim))
	tok := mustToken(t, m, "shop")
	key, _ := m.CacheKey("shop")
	ctx := context.Background()
	if _, err := b.Get(ctx, key); err == nil {
		t.Error("the token was written to the Locker's store")
	}
	raw, err := a.Get(ctx, key)
	if err != nil {
		t.Fatalf("the Cache does not hold the token: %v", err)
	}
	if got, _ := core.DecodeToken(raw); got.Value != tok.Value {
		t.Fatal("the Cache holds another token")
	}
	// A second node on the same two stores adopts it: no second fetch.
	n := newManager(t, core.WithCache(a), core.WithLocker(b))
	register(t, n, "shop", account(sim))
	if mustToken(t, n, "shop").Value != tok.Value || sim.Stats().TokenCalls() != 1 {
		t.Fatalf("the second node fetched again (%d calls)", sim.Stats().TokenCalls())
	}
	// Swapping the store keeps the Locker given, and writes go to the new
	// store.
	c := core.NewMemoryCache()
	m.SetCache(c)
	if _, err := m.Refresh(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, key); err != nil {
		t.Fatalf("after SetCache the token did not go to the new store: %v", err)
	}
}

// With WithStateCache a Source's state goes to the state store, under the
// Cache's lock; the token stays in the Cache.
func TestWithStateCacheKeepsStateApart(t *testing.T) {
	cache, state := core.NewMemoryCache(), core.NewMemoryCache()
	m := newManager(t, core.WithCache(cache), core.WithStateCache(state))
	var seen core.Cache
	register(t, m, "one", identified{id: "state:one", SourceFunc: func(ctx context.Context, req core.FetchRequest) (core.Token, error) {
		seen = req.State
		if err := req.SetState(ctx, req.StatePrefix+"note", "kept", 0); err != nil {
			return core.Token{}, err
		}
		return core.Token{Value: "tok", ExpiresAt: time.Now().Add(time.Hour)}, nil
	}})
	mustToken(t, m, "one")
	ctx := context.Background()
	key, _ := m.StateKey("one", "note")
	if v, err := state.Get(ctx, key); err != nil || v != "kept" || seen != core.Cache(state) {
		t.Fatalf("the state store holds %q (%v)", v, err)
	}
	if _, err := cache.Get(ctx, key); err == nil {
		t.Fatal("the state was written to the Cache")
	}
	tokKey, _ := m.CacheKey("one")
	if _, err := cache.Get(ctx, tokKey); err != nil {
		t.Fatal("the token is not in the Cache")
	}
}
