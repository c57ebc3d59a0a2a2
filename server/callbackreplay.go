package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"sync"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/lock"
	"github.com/wxtoken/wxtoken/wechat/callback"
)

// replayKeep is how long a handled message is remembered: twice the window
// its timestamps must fall in, so that a replay is either remembered or
// refused for its time.
const replayKeep = 2 * callback.Window

// maxLocalReplays bounds the messages one instance remembers itself.
const maxLocalReplays = 100_000

// replayState is what the replay cache knows of a message.
type replayState int

const (
	replayNew      replayState = iota // never seen: handle it
	replayInFlight                    // being handled (here or elsewhere): ask upstream to send it again
	replayDone                        // handled: answer success, do nothing
)

// messageID names a callback by its ciphertext: the same push re-signed
// with another nonce or timestamp (anyone holding the Token can), or with
// a signature lengthened by SHA-1 length extension, is the same message.
func messageID(body []byte) string {
	var env callback.Envelope
	_ = xml.Unmarshal(body, &env) // OpenEvent accepted it
	sum := sha256.Sum256([]byte(env.Encrypt))
	return hex.EncodeToString(sum[:16])
}

// replayCache remembers the callbacks handled, fleet-wide in the state
// store (a lock taken while one is handled and left to expire after
// replayKeep, and a "done" key written once it was) and in this
// instance's memory, which answers alone while the store is down.
type replayCache struct {
	store  core.Cache // the state store; a lock.Locker if it can lock
	prefix string

	mu    sync.Mutex
	local map[string]replayEntry
}

type replayEntry struct {
	until time.Time
	done  bool
}

func newReplayCache(store core.Cache, prefix string) *replayCache {
	return &replayCache{store: store, prefix: prefix, local: make(map[string]replayEntry)}
}

// claim looks message id of app up and, for a new one, records it as in
// flight and returns finish, to call with the outcome of its handling:
// true makes it done (a replay from now on), false forgets it (upstream's
// retry is handled again).
func (c *replayCache) claim(ctx context.Context, app, id string, now time.Time) (finish func(ok bool), state replayState) {
	name := c.prefix + ":callback:{" + app + "}:" + id
	c.mu.Lock()
	if e, ok := c.local[name]; ok && now.Before(e.until) {
		c.mu.Unlock()
		if e.done {
			return nil, replayDone
		}
		return nil, replayInFlight
	}
	if len(c.local) >= maxLocalReplays {
		c.pruneLocked(now)
	}
	c.local[name] = replayEntry{until: now.Add(replayKeep)}
	c.mu.Unlock()

	var lease lock.Lease
	if l, ok := c.store.(lock.Locker); ok {
		var err error
		lease, err = l.TryLock(ctx, name, replayKeep)
		if errors.Is(err, lock.ErrNotAcquired) { // another instance has it
			c.forget(name)
			if _, err := c.store.Get(ctx, name+":done"); err == nil {
				return nil, replayDone
			}
			return nil, replayInFlight
		}
		// Any other error: the store is down; this instance's memory
		// answers alone.
	}
	return func(ok bool) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if !ok {
			c.forget(name)
			if lease != nil {
				_ = lease.Unlock(ctx)
			}
			return
		}
		c.mu.Lock()
		c.local[name] = replayEntry{until: now.Add(replayKeep), done: true}
		c.mu.Unlock()
		_ = c.store.Set(ctx, name+":done", "1", replayKeep)
	}, replayNew
}

func (c *replayCache) forget(name string) {
	c.mu.Lock()
	delete(c.local, name)
	c.mu.Unlock()
}

// pruneLocked drops the expired names, and if that is not enough, some
// of the others.
func (c *replayCache) pruneLocked(now time.Time) {
	for n, e := range c.local {
		if !now.Before(e.until) {
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
