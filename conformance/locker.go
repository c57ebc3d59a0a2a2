package conformance

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/internal/lockwait"
	"github.com/wxtoken/wxtoken/lock"
)

// TestLocker checks the lock.Locker contract through independent clients
// of one store: exclusion under contention, ErrNotAcquired while held,
// expiry of an abandoned lease, owner-checked Unlock and Extend, and ErrLost
// after a lease ended.
func TestLocker(t *testing.T, newLocker func(t *testing.T) lock.Locker, opts ...Options) {
	o := first(opts)
	ctx := context.Background()
	p := uniquePrefix()
	ttl := o.LeaseTTL
	// expired waits until a lease of ttl taken now is surely over.
	expired := func() { time.Sleep(ttl + o.TTLTolerance + 100*time.Millisecond) }

	t.Run("Exclusion", func(t *testing.T) {
		// 32 turns of 2 ms take well under a second; 20 s leaves room for
		// a slow machine but not for a Locker whose failed attempts are so
		// costly that waiters queue the holder's Unlock behind them.
		const deadline = 20 * time.Second
		clients := []lock.Locker{newLocker(t), newLocker(t), newLocker(t), newLocker(t)}
		var holders, maxHolders, acquired atomic.Int32
		var wg sync.WaitGroup
		errs := make(chan error, 32)
		for g := range 32 {
			l := clients[g%len(clients)]
			wg.Go(func() {
				actx, cancel := context.WithTimeout(ctx, deadline)
				defer cancel()
				lease, err := lockwait.Acquire(actx, l, p+"excl", 10*time.Second, lockwait.WithBackoff(time.Millisecond, 20*time.Millisecond))
				if err != nil {
					errs <- err
					return
				}
				n := holders.Add(1)
				for {
					m := maxHolders.Load()
					if n <= m || maxHolders.CompareAndSwap(m, n) {
						break
					}
				}
				time.Sleep(2 * time.Millisecond)
				holders.Add(-1)
				acquired.Add(1)
				if err := lease.Unlock(ctx); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("rule: 32 contending goroutines all get the lock in turn within %v: %v", deadline, err)
		}
		if m := maxHolders.Load(); m != 1 {
			t.Fatalf("rule: at most one holder at a time; saw %d at once", m)
		}
		if a := acquired.Load(); a != 32 {
			t.Fatalf("rule: every contender eventually gets the lock; %d of 32 did", a)
		}
	})
	t.Run("NotAcquiredWhileHeld", func(t *testing.T) {
		a, b := newLocker(t), newLocker(t)
		lease := mustLock(t, a, p+"held", time.Minute)
		defer lease.Unlock(ctx)
		start := time.Now()
		if _, err := b.TryLock(ctx, p+"held", time.Minute); !errors.Is(err, lock.ErrNotAcquired) {
			t.Fatalf("rule: TryLock on a held lock returns lock.ErrNotAcquired; got %v", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("rule: TryLock on a held lock returns at once; took %v", d)
		}
	})
	t.Run("UnlockReleases", func(t *testing.T) {
		a, b := newLocker(t), newLocker(t)
		lease := mustLock(t, a, p+"release", time.Minute)
		if err := lease.Unlock(ctx); err != nil {
			t.Fatalf("rule: Unlock of a live lease succeeds; got %v", err)
		}
		mustLock(t, b, p+"release", time.Minute).Unlock(ctx)
	})
	t.Run("AbandonedLeaseExpires", func(t *testing.T) {
		a, b := newLocker(t), newLocker(t)
		mustLock(t, a, p+"abandon", ttl) // never unlocked: its holder "died"
		expired()
		lease, err := b.TryLock(ctx, p+"abandon", time.Minute)
		if err != nil {
			t.Fatalf("rule: a lease ends by itself after its TTL (%v + tolerance %v); TryLock = %v", ttl, o.TTLTolerance, err)
		}
		lease.Unlock(ctx)
	})
	t.Run("StaleUnlockKeepsNewOwner", func(t *testing.T) {
		a, b, c := newLocker(t), newLocker(t), newLocker(t)
		stale := mustLock(t, a, p+"stale", ttl)
		expired()
		owner := mustLock(t, b, p+"stale", time.Minute)
		defer owner.Unlock(ctx)
		if err := stale.Unlock(ctx); !errors.Is(err, lock.ErrLost) {
			t.Errorf("rule: Unlock of an expired lease returns lock.ErrLost; got %v", err)
		}
		if _, err := c.TryLock(ctx, p+"stale", time.Minute); !errors.Is(err, lock.ErrNotAcquired) {
			t.Fatalf("rule: a stale lease's Unlock never releases the new owner's lock; a third client's TryLock = %v", err)
		}
	})
	t.Run("ExtendKeepsLease", func(t *testing.T) {
		a, b := newLocker(t), newLocker(t)
		lease := mustLock(t, a, p+"extend", ttl)
		defer lease.Unlock(ctx)
		for range 4 {
			time.Sleep(ttl / 2)
			if err := lease.Extend(ctx, ttl); err != nil {
				t.Fatalf("rule: Extend of a live lease succeeds; got %v", err)
			}
		}
		if _, err := b.TryLock(ctx, p+"extend", time.Minute); !errors.Is(err, lock.ErrNotAcquired) {
			t.Fatalf("rule: an extended lease outlives its first TTL; TryLock after 2 TTLs = %v", err)
		}
	})
	t.Run("ExtendAfterLossIsErrLost", func(t *testing.T) {
		a, b := newLocker(t), newLocker(t)
		lost := mustLock(t, a, p+"lost", ttl)
		expired()
		owner := mustLock(t, b, p+"lost", time.Minute)
		defer owner.Unlock(ctx)
		if err := lost.Extend(ctx, time.Minute); !errors.Is(err, lock.ErrLost) {
			t.Fatalf("rule: Extend after the lease ended returns lock.ErrLost; got %v", err)
		}
		if err := owner.Extend(ctx, time.Minute); err != nil {
			t.Fatalf("rule: a stale Extend leaves the new owner's lease intact; its Extend = %v", err)
		}
	})
	t.Run("NonPositiveTTLRefused", func(t *testing.T) {
		a := newLocker(t)
		if lease, err := a.TryLock(ctx, p+"ttl", 0); lease != nil || !errors.Is(err, lock.ErrInvalidTTL) {
			t.Fatalf("rule: TryLock with ttl 0 returns lock.ErrInvalidTTL and no lease; got %v, %v", lease, err)
		}
		lease := mustLock(t, a, p+"ttl", time.Minute)
		defer lease.Unlock(ctx)
		if err := lease.Extend(ctx, -time.Second); !errors.Is(err, lock.ErrInvalidTTL) {
			t.Fatalf("rule: Extend with a negative ttl returns lock.ErrInvalidTTL; got %v", err)
		}
	})
	t.Run("CancelledContext", func(t *testing.T) {
		a := newLocker(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		start := time.Now()
		lease, err := a.TryLock(cctx, p+"cancel", time.Minute)
		if lease != nil || !errors.Is(err, context.Canceled) {
			t.Fatalf("rule: TryLock with a cancelled ctx returns ctx's error and no lease; got %v, %v", lease, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("rule: TryLock with a cancelled ctx returns promptly; took %v", d)
		}
	})
}

func mustLock(t *testing.T, l lock.Locker, name string, ttl time.Duration) lock.Lease {
	t.Helper()
	lease, err := l.TryLock(context.Background(), name, ttl)
	if err != nil {
		t.Fatalf("TryLock(%q) on a free lock: %v", name, err)
	}
	return lease
}
