package conformance

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/lock"
	"github.com/wxtoken/wxtoken/store"
)

// TestFence checks store.FencedLease, the guard of every token a Manager
// publishes and of every rotated refresh token: a write through a lease
// that no longer holds its lock (it expired, another client took the
// lock, or it was unlocked) returns lock.ErrLost and leaves the value as
// it was; under a live lease the write is visible to another client and
// keeps its TTL. It is skipped for a backend whose leases do not fence.
func TestFence(t *testing.T, newBackend func(t *testing.T) Backend, opts ...Options) {
	o := first(opts)
	ctx := context.Background()
	p := uniquePrefix()
	ttl := o.LeaseTTL
	expired := func() { time.Sleep(ttl + o.TTLTolerance + 100*time.Millisecond) }
	probe := newBackend(t)
	lease, err := probe.TryLock(ctx, p+"probe", ttl)
	if err != nil {
		t.Fatalf("TryLock: %v", err)
	}
	_, fences := lease.(store.FencedLease)
	lease.Unlock(ctx)
	if !fences {
		t.Skip("the backend's leases do not fence (no store.FencedLease): the Manager writes with Set")
	}
	// A lock and the keys written under it share a hash tag ({name}), as
	// the Manager's do: a sharded store (Redis Cluster) fences a write in
	// one script only for keys of the lock's slot.
	fenced := func(t *testing.T, b Backend, name string, leaseTTL time.Duration) store.FencedLease {
		t.Helper()
		return mustLock(t, b, p+"lock:{"+name+"}", leaseTTL).(store.FencedLease)
	}
	keyOf := func(name string) string { return p + "{" + name + "}:value" }
	// refused checks that a write through l is ErrLost and changed nothing.
	refused := func(t *testing.T, l store.FencedLease, other Backend, key, rule string) {
		t.Helper()
		if err := l.SetIfHeld(ctx, key, "stale-write", time.Minute); !errors.Is(err, lock.ErrLost) {
			t.Errorf("rule: %s: SetIfHeld returns lock.ErrLost; got %v", rule, err)
		}
		mustGet(t, other, key, "before", rule+": the value is as it was")
	}

	t.Run("LiveLeaseWrites", func(t *testing.T) {
		a, b := newBackend(t), newBackend(t)
		l := fenced(t, a, "live", time.Minute)
		defer l.Unlock(ctx)
		key := keyOf("live")
		const valueTTL = 2 * time.Second // whole seconds: memcached counts no less
		if err := l.SetIfHeld(ctx, key, "fenced-value", valueTTL); err != nil {
			t.Fatalf("rule: SetIfHeld under a live lease writes; got %v", err)
		}
		mustGet(t, b, key, "fenced-value", "a fenced write is visible to another client")
		time.Sleep(valueTTL + o.TTLTolerance + 100*time.Millisecond)
		mustMiss(t, b, key, "a fenced write keeps its TTL")
	})
	t.Run("AfterExpiry", func(t *testing.T) {
		a, b := newBackend(t), newBackend(t)
		key := keyOf("expiry")
		mustSet(t, b, key, "before", time.Minute)
		l := fenced(t, a, "expiry", ttl)
		expired()
		refused(t, l, b, key, "a lease past its TTL writes nothing")
	})
	t.Run("AfterAnotherClientTookTheLock", func(t *testing.T) {
		a, b := newBackend(t), newBackend(t)
		key := keyOf("taken")
		mustSet(t, b, key, "before", time.Minute)
		stale := fenced(t, a, "taken", ttl)
		expired()
		owner := fenced(t, b, "taken", time.Minute)
		defer owner.Unlock(ctx)
		refused(t, stale, b, key, "a lease whose lock another client took writes nothing")
		if err := owner.SetIfHeld(ctx, key, "owner-value", time.Minute); err != nil {
			t.Fatalf("rule: the new owner's fenced write succeeds; got %v", err)
		}
		mustGet(t, a, key, "owner-value", "the new owner's write is visible")
	})
	t.Run("AfterUnlock", func(t *testing.T) {
		a, b := newBackend(t), newBackend(t)
		key := keyOf("unlocked")
		mustSet(t, b, key, "before", time.Minute)
		l := fenced(t, a, "unlocked", time.Minute)
		if err := l.Unlock(ctx); err != nil {
			t.Fatalf("Unlock: %v", err)
		}
		refused(t, l, b, key, "an unlocked lease writes nothing")
	})
}
