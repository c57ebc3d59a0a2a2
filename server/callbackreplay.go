package server

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/lock"
	"github.com/wxtoken/wxtoken/wechat/callback"
)

// replayKeep is how long a handled message is remembered: twice the window
// its timestamp must fall in, so that a replay is either remembered or
// refused for its time.
const replayKeep = 2 * callback.Window

// maxLocalReplays bounds the signatures one instance remembers itself.
const maxLocalReplays = 100_000

// replayCache remembers the signatures of the callbacks handled, fleet-wide
// in the state store (set-if-absent: a lock taken and never released,
// ending after replayKeep) and in this instance's memory, which answers
// alone while the store is down. A message whose signature is remembered
// is a replay: it is answered "success" and does nothing.
type replayCache struct {
	store  core.Cache // the state store; a lock.Locker if it can fence
	prefix string

	mu    sync.Mutex
	local map[string]time.Time // name → remembered until
}

func newReplayCache(store core.Cache, prefix string) *replayCache {
	return &replayCache{store: store, prefix: prefix, local: make(map[string]time.Time)}
}

// claim records the message of app signed sig as handled. It reports false
// for a replay; for a new message it returns release, which forgets the
// message again (its handling failed: upstream's retry must not be taken
// for a replay).
func (c *replayCache) claim(ctx context.Context, app, sig string, now time.Time) (release func(), fresh bool) {
	name := c.prefix + ":callback:{" + app + "}:" + sig
	c.mu.Lock()
	if until, ok := c.local[name]; ok && now.Before(until) {
		c.mu.Unlock()
		return nil, false
	}
	if len(c.local) >= maxLocalReplays {
		c.pruneLocked(now)
	}
	c.local[name] = now.Add(replayKeep)
	c.mu.Unlock()

	var lease lock.Lease
	if l, ok := c.store.(lock.Locker); ok {
		var err error
		lease, err = l.TryLock(ctx, name, replayKeep)
		if errors.Is(err, lock.ErrNotAcquired) {
			return nil, false // another instance handled it
		}
		// Any other error: the store is down; this instance's memory
		// answers alone.
	}
	return func() {
		c.mu.Lock()
		delete(c.local, name)
		c.mu.Unlock()
		if lease != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = lease.Unlock(ctx)
		}
	}, true
}

// pruneLocked drops the expired names, and if none had, the oldest half.
func (c *replayCache) pruneLocked(now time.Time) {
	for n, until := range c.local {
		if !now.Before(until) {
			delete(c.local, n)
		}
	}
	for n := range c.local {
		if len(c.local) < maxLocalReplays/2 {
			break
		}
		delete(c.local, n)
	}
}
