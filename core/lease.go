package core

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/wxtoken/wxtoken/lock"
	contract "github.com/wxtoken/wxtoken/store"
)

// FencedLease is store.FencedLease: a lease whose store writes only while
// it holds its lock. The Manager publishes every fetched token through it
// when the lease offers it, so a node whose lease ran out mid-fetch never
// overwrites the token of the node that took the lock after it. The
// contract lives in package store; this alias is kept for a release.
type FencedLease = contract.FencedLease

// held is a lease this node holds, kept alive by a heartbeat while work
// under it runs. Times are the system's monotonic clock, not the Manager's
// Clock: a lease lives by real durations in its store.
type held struct {
	lease lock.Lease
	ttl   time.Duration

	mu   sync.Mutex
	end  time.Time // the lease surely ends no later than this
	lost bool      // the store said the lease ended

	lostCh chan struct{} // closed when lost
	stop   chan struct{}
	done   chan struct{}
}

// hold starts the heartbeat of a lease taken by a TryLock that began at
// asked: the lease's end is counted from before the call, never after.
func hold(lease lock.Lease, ttl time.Duration, asked time.Time, timeout time.Duration) *held {
	h := &held{lease: lease, ttl: ttl, end: asked.Add(ttl),
		lostCh: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	go h.beat(timeout)
	return h
}

// beat extends the lease every third of its TTL until stopped or lost.
func (h *held) beat(timeout time.Duration) {
	defer close(h.done)
	t := time.NewTicker(max(h.ttl/3, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		asked := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), min(timeout, h.ttl/3+time.Millisecond))
		err := h.lease.Extend(ctx, h.ttl)
		cancel()
		switch {
		case err == nil:
			h.mu.Lock()
			h.end = asked.Add(h.ttl)
			h.mu.Unlock()
		case errors.Is(err, lock.ErrLost):
			h.markLost()
			return
		}
		// Any other error: the store could not be asked. The lease may
		// still hold; end stays where the last success put it.
	}
}

func (h *held) markLost() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.lost {
		h.lost = true
		close(h.lostCh)
	}
}

// valid reports whether the lease surely still holds, as far as this node
// can tell without asking the store.
func (h *held) valid() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return !h.lost && time.Now().Before(h.end)
}

// bind returns a context that ends with ctx or when the lease is known
// lost, for work that is pointless once another node may hold the lock.
func (h *held) bind(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-h.lostCh:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// write stores value under key of c only while the lease holds: through
// the store's fence when the lease has one and c is the lease's own store
// (fenced), otherwise after checking the lease's known end.
func (h *held) write(ctx context.Context, c Cache, fenced bool, key, value string, ttl time.Duration) error {
	if !h.valid() {
		return lock.ErrLost
	}
	if fl, ok := h.lease.(FencedLease); ok && fenced {
		err := fl.SetIfHeld(ctx, key, value, ttl)
		if errors.Is(err, lock.ErrLost) {
			h.markLost()
		}
		return err
	}
	return c.Set(ctx, key, value, ttl)
}

// release stops the heartbeat and unlocks.
func (h *held) release(ctx context.Context) error {
	close(h.stop)
	<-h.done
	return h.lease.Unlock(ctx)
}
