package core_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/lock"
)

// opCounter is a MemoryCache that counts reads and writes.
type opCounter struct {
	*core.MemoryCache
	gets, sets atomic.Int64
}

func (c *opCounter) Get(ctx context.Context, key string) (string, error) {
	c.gets.Add(1)
	return c.MemoryCache.Get(ctx, key)
}

func (c *opCounter) Set(ctx context.Context, key, value string, ttl time.Duration) error {
	c.sets.Add(1)
	return c.MemoryCache.Set(ctx, key, value, ttl)
}

func (c *opCounter) TryLock(ctx context.Context, name string, ttl time.Duration) (lock.Lease, error) {
	return c.MemoryCache.TryLock(ctx, name, ttl)
}

// hourTokens is a Source of one-hour tokens named by its identity.
func hourTokens(id string) identified {
	return identified{id: id, SourceFunc: func(context.Context, core.FetchRequest) (core.Token, error) {
		return core.Token{Value: id + "-" + fmt.Sprint(time.Now().UnixNano()), ExpiresAt: time.Now().Add(time.Hour)}, nil
	}}
}

// Between two refreshes an idle credential costs the store nothing, however
// many a node holds: Run wakes for a credential only when its token turns
// stale, and a re-check happens only when a token is used.
func TestIdleCredentialsCostNothingBetweenRefreshes(t *testing.T) {
	store := &opCounter{MemoryCache: core.NewMemoryCache()}
	m := newManager(t, core.WithCache(store), core.WithSettings(core.Settings{LocalTTL: 50 * time.Millisecond}))
	const n = 2000
	for i := range n {
		register(t, m, fmt.Sprint("k", i), hourTokens(fmt.Sprint("idle:", i)))
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.Run(ctx)
	eventually(t, 10*time.Second, "Run did not fetch every token", func() bool {
		for i := range n {
			if _, ok := m.Cached(fmt.Sprint("k", i)); !ok {
				return false
			}
		}
		return true
	})
	time.Sleep(100 * time.Millisecond) // the last writes and unlocks land
	gets, sets := store.gets.Load(), store.sets.Load()
	time.Sleep(10 * 50 * time.Millisecond) // ten local TTLs
	if g, s := store.gets.Load()-gets, store.sets.Load()-sets; g != 0 || s != 0 {
		t.Fatalf("%d idle credentials made %d reads and %d writes in ten local TTLs, want none", n, g, s)
	}
}

// A token a node has not confirmed for two local TTLs (it was idle) is
// read from the store before it is served: another node may have
// replaced it long enough ago that it is dead.
func TestAnIdleNodeConfirmsBeforeServing(t *testing.T) {
	store := core.NewMemoryCache()
	a := newManager(t, core.WithCache(store), core.WithSettings(core.Settings{LocalTTL: 50 * time.Millisecond}))
	b := newManager(t, core.WithCache(store), core.WithSettings(core.Settings{LocalTTL: 50 * time.Millisecond}))
	register(t, a, "k", hourTokens("shared:1"))
	register(t, b, "k", hourTokens("shared:1"))
	ctx := context.Background()
	first := mustToken(t, a, "k")
	if mustToken(t, b, "k").Value != first.Value {
		t.Fatal("b did not adopt a's token")
	}
	replaced, err := b.Refresh(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2*50*time.Millisecond + 10*time.Millisecond)
	if got := mustToken(t, a, "k"); got.Value != replaced.Value {
		t.Fatal("an idle node served its old token without reading the store first")
	}
}
