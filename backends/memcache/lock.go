package memcachebackend

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/wxtoken/wxtoken/internal/ctxerr"
	"github.com/wxtoken/wxtoken/lock"
	"github.com/wxtoken/wxtoken/store"
)

// TryLock implements lock.Locker: Add succeeds only when the key is absent,
// so exactly one owner creates it. The value is a random owner id.
func (b *Backend) TryLock(ctx context.Context, name string, ttl time.Duration) (lock.Lease, error) {
	if err := lock.Precheck(ctx, ttl); err != nil {
		return nil, err
	}
	owner := make([]byte, 18)
	_, _ = rand.Read(owner)
	l := &lease{b: b, key: b.key(name), owner: base64.RawURLEncoding.EncodeToString(owner)}
	err := b.mc.Add(&memcache.Item{Key: l.key, Value: []byte(l.owner), Expiration: expiration(ttl, time.Now())})
	switch {
	case err == nil:
		return l, nil
	case errors.Is(err, memcache.ErrNotStored):
		return nil, lock.ErrNotAcquired
	}
	// The Add may yet run on the server though its answer did not reach
	// us (see abandonedLocks): it is looked for and expired if it lands.
	b.abandoned.add(l, abandonedWait(ttl))
	return nil, ctxerr.First(ctx, err)
}

// abandonedWait is how long an abandoned Add is looked for at most when
// the server does not answer: the longer of ten lock TTLs and a minute.
func abandonedWait(ttl time.Duration) time.Duration { return max(10*ttl, time.Minute) }

type lease struct {
	b     *Backend
	key   string
	owner string
}

// swap replaces the lock item's expiry if this lease still owns it: Get
// for the CAS id, check the owner, CompareAndSwap. Any change in between
// makes the swap fail, so another owner's lock is never touched.
func (l *lease) swap(ctx context.Context, exptime int32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	it, err := l.b.mc.Get(l.key)
	if errors.Is(err, memcache.ErrCacheMiss) {
		return lock.ErrLost
	}
	if err != nil {
		return ctxerr.First(ctx, err)
	}
	if string(it.Value) != l.owner {
		return lock.ErrLost
	}
	it.Expiration = exptime
	err = l.b.mc.CompareAndSwap(it)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, memcache.ErrCASConflict), errors.Is(err, memcache.ErrNotStored), errors.Is(err, memcache.ErrCacheMiss):
		return lock.ErrLost
	}
	return ctxerr.First(ctx, err)
}

func (l *lease) Extend(ctx context.Context, ttl time.Duration) error {
	if err := lock.Precheck(ctx, ttl); err != nil {
		return err
	}
	return l.swap(ctx, expiration(ttl, time.Now()))
}

// Unlock expires the item at once (a negative exptime), by the same
// owner-checked swap: never a bare Delete.
func (l *lease) Unlock(ctx context.Context) error { return l.swap(ctx, -1) }

var _ store.FencedLease = (*lease)(nil)

// SetIfHeld implements store.FencedLease as far as memcached allows: it
// reads the lock item and writes the value only if this lease still owns
// it. memcached has no transaction spanning two items, so a window
// remains: if the lease expires and another node takes the lock between
// the check and the write, and also fetches and publishes its token in
// that time, this write still lands over it. That takes a pause of this
// process (or of its network) between the two calls long enough for a
// whole refresh elsewhere; the Manager also never writes after the lease's
// known end. If it happens, the fleet serves this older token until
// upstream retires it and the first report of a rejected token replaces it.
func (l *lease) SetIfHeld(ctx context.Context, key, value string, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	it, err := l.b.mc.Get(l.key)
	switch {
	case errors.Is(err, memcache.ErrCacheMiss):
		return lock.ErrLost
	case err != nil:
		return ctxerr.First(ctx, err)
	case string(it.Value) != l.owner:
		return lock.ErrLost
	}
	return l.b.Set(ctx, key, value, ttl)
}
