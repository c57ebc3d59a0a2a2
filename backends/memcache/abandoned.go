package memcachebackend

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// An Add whose answer never came (the client timed out while memcached
// was frozen or its network stalled) may still be carried out: its bytes
// wait in the server's socket buffer and run when the server resumes, in
// no set order with the commands of other connections. Such a lock has no
// holder and would block the fleet for its whole TTL. The Backend keeps the
// owner ids of its abandoned Adds and expires any lock item that turns up
// holding one of them.
const (
	// abandonedPoll is how often a lock with abandoned Adds is looked at.
	abandonedPoll = 250 * time.Millisecond
	// abandonedGrace is how long the looking goes on once the server
	// answers again: the buffered Adds run as it resumes, in the same
	// instant give or take the order of its connections.
	abandonedGrace = 2 * time.Second
)

// abandonedLocks tracks, per memcached lock key, the owner ids of Adds
// that may yet land. One goroutine per key looks for them.
type abandonedLocks struct {
	mu   sync.Mutex
	keys map[string]*abandonedKey
}

type abandonedKey struct {
	owners map[string]bool
	until  time.Time // give up by then, even if the server never answers
}

// add records owner's Add of key as abandoned, for at most maxWait, and
// starts the key's looker if none runs.
func (a *abandonedLocks) add(l *lease, maxWait time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.keys == nil {
		a.keys = map[string]*abandonedKey{}
	}
	k := a.keys[l.key]
	if k != nil {
		k.owners[l.owner] = true
		k.until = time.Now().Add(maxWait)
		return
	}
	a.keys[l.key] = &abandonedKey{owners: map[string]bool{l.owner: true}, until: time.Now().Add(maxWait)}
	go a.look(l.b, l.key)
}

// look expires key's lock item whenever it holds an abandoned owner id,
// until the server has answered for abandonedGrace, or the key's wait is
// over.
func (a *abandonedLocks) look(b *Backend, key string) {
	var answered time.Time // when the server first answered
	for {
		time.Sleep(abandonedPoll)
		owner, reached := a.holder(b, key)
		a.mu.Lock()
		k := a.keys[key]
		if owner != "" && k.owners[owner] {
			a.mu.Unlock()
			// Owner-checked: a lock another node took since is not touched.
			_ = (&lease{b: b, key: key, owner: owner}).Unlock(context.Background())
			a.mu.Lock()
		}
		if reached && answered.IsZero() {
			answered = time.Now()
		}
		now := time.Now()
		if (!answered.IsZero() && now.Sub(answered) >= abandonedGrace) || now.After(k.until) {
			delete(a.keys, key)
			a.mu.Unlock()
			return
		}
		a.mu.Unlock()
	}
}

// holder reads the owner id in key's lock item ("" when absent), and
// whether the server answered at all.
func (a *abandonedLocks) holder(b *Backend, key string) (owner string, reached bool) {
	it, err := b.mc.Get(key)
	switch {
	case err == nil:
		return string(it.Value), true
	case errors.Is(err, memcache.ErrCacheMiss):
		return "", true
	}
	return "", false
}
