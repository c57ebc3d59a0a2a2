package lock

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Local is a Locker for the goroutines of one process. Leases expire after
// their TTL like those of a distributed lock, so code written against Locker
// behaves the same with Local as with a backend. The zero value is ready to
// use; a Local must not be copied after first use.
type Local struct {
	mu   sync.Mutex
	held map[string]localHold
	next atomic.Uint64
}

type localHold struct {
	owner   uint64
	expires time.Time
}

// NewLocal returns an empty in-process Locker.
func NewLocal() *Local { return &Local{} }

// TryLock implements Locker.
func (l *Local) TryLock(ctx context.Context, name string, ttl time.Duration) (Lease, error) {
	if err := Precheck(ctx, ttl); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if h, ok := l.held[name]; ok && now.Before(h.expires) {
		return nil, ErrNotAcquired
	}
	if l.held == nil {
		l.held = make(map[string]localHold)
	}
	owner := l.next.Add(1)
	l.held[name] = localHold{owner: owner, expires: now.Add(ttl)}
	return &localLease{l: l, name: name, owner: owner}, nil
}

type localLease struct {
	l     *Local
	name  string
	owner uint64
}

// alive reports whether this lease still holds its lock; l.mu must be held.
func (ls *localLease) alive(now time.Time) bool {
	h, ok := ls.l.held[ls.name]
	return ok && h.owner == ls.owner && now.Before(h.expires)
}

func (ls *localLease) Extend(ctx context.Context, ttl time.Duration) error {
	if err := Precheck(ctx, ttl); err != nil {
		return err
	}
	ls.l.mu.Lock()
	defer ls.l.mu.Unlock()
	now := time.Now()
	if !ls.alive(now) {
		return ErrLost
	}
	ls.l.held[ls.name] = localHold{owner: ls.owner, expires: now.Add(ttl)}
	return nil
}

func (ls *localLease) Unlock(ctx context.Context) error {
	ls.l.mu.Lock()
	defer ls.l.mu.Unlock()
	if !ls.alive(time.Now()) {
		return ErrLost
	}
	delete(ls.l.held, ls.name)
	return nil
}

// Fence runs write while the lease certainly holds its lock: no other
// owner can take the lock until write returns. It returns ErrLost, without
// running write, if the lease has ended. Stores built on Local use it to
// fence their writes (see core.FencedLease).
func (ls *localLease) Fence(write func() error) error {
	ls.l.mu.Lock()
	defer ls.l.mu.Unlock()
	if !ls.alive(time.Now()) {
		return ErrLost
	}
	return write()
}
