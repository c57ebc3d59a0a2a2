package core

import (
	"context"
	"sync"
	"time"

	"github.com/wxtoken/wxtoken/internal/watch"
	"github.com/wxtoken/wxtoken/lock"
)

// memorySweepEvery bounds how long expired entries of a MemoryCache can
// linger unread: every Set past this interval sweeps the whole map.
const memorySweepEvery = time.Minute

// MemoryCache is the default Cache: a map in process memory, with an
// in-process lock.Local as its Locker, so several Managers sharing one
// MemoryCache also share one lock. It is right for one process; a fleet
// needs a shared backend. Expired entries are dropped when read and by a
// periodic sweep. The zero value is not usable; call NewMemoryCache.
type MemoryCache struct {
	locks  *lock.Local
	writes watch.Hub // waiters of Watch

	mu        sync.RWMutex
	items     map[string]memoryItem
	lastSweep time.Time
}

type memoryItem struct {
	value   string
	expires time.Time // zero: never
}

func (it memoryItem) expired(now time.Time) bool {
	return !it.expires.IsZero() && !now.Before(it.expires)
}

// NewMemoryCache returns an empty MemoryCache.
func NewMemoryCache() *MemoryCache {
	return &MemoryCache{locks: lock.NewLocal(), items: make(map[string]memoryItem), lastSweep: time.Now()}
}

// Get implements Cache.
func (c *MemoryCache) Get(ctx context.Context, key string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	now := time.Now()
	c.mu.RLock()
	it, ok := c.items[key]
	c.mu.RUnlock()
	if !ok {
		return "", ErrNotFound
	}
	if it.expired(now) {
		c.mu.Lock()
		if cur, ok := c.items[key]; ok && cur.expired(now) {
			delete(c.items, key)
		}
		c.mu.Unlock()
		return "", ErrNotFound
	}
	return it.value, nil
}

// Set implements Cache.
func (c *MemoryCache) Set(ctx context.Context, key, value string, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := time.Now()
	it := memoryItem{value: value}
	if ttl > 0 {
		it.expires = now.Add(ttl)
	}
	c.mu.Lock()
	c.items[key] = it
	if now.Sub(c.lastSweep) >= memorySweepEvery {
		c.sweepLocked(now)
	}
	c.mu.Unlock()
	c.writes.Signal(key)
	return nil
}

// Watch implements Watcher: Managers sharing this MemoryCache wake on each
// other's writes.
func (c *MemoryCache) Watch(ctx context.Context, key string) (<-chan struct{}, func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	ch, remove := c.writes.Add(key)
	return ch, remove, nil
}

// TryLock implements lock.Locker with an in-process lock.Local. Its leases
// fence writes (FencedLease): SetIfHeld writes only while the lease holds.
func (c *MemoryCache) TryLock(ctx context.Context, name string, ttl time.Duration) (lock.Lease, error) {
	l, err := c.locks.TryLock(ctx, name, ttl)
	if err != nil {
		return nil, err
	}
	return &memoryLease{Lease: l, c: c}, nil
}

type memoryLease struct {
	lock.Lease
	c *MemoryCache
}

// SetIfHeld implements FencedLease.
func (l *memoryLease) SetIfHeld(ctx context.Context, key, value string, ttl time.Duration) error {
	// Every lease of lock.Local can fence.
	f := l.Lease.(interface{ Fence(func() error) error })
	return f.Fence(func() error { return l.c.Set(ctx, key, value, ttl) })
}

// Remove implements Cache.
func (c *MemoryCache) Remove(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	delete(c.items, key)
	c.mu.Unlock()
	return nil
}

// len reports how many entries the map holds, counting expired entries not
// yet swept.
func (c *MemoryCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.items)
}

// sweep drops every expired entry now.
func (c *MemoryCache) sweep() {
	c.mu.Lock()
	c.sweepLocked(time.Now())
	c.mu.Unlock()
}

func (c *MemoryCache) sweepLocked(now time.Time) {
	for k, it := range c.items {
		if it.expired(now) {
			delete(c.items, k)
		}
	}
	c.lastSweep = now
}
