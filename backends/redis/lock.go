package redisbackend

import (
	"context"
	"errors"
	"time"

	"github.com/go-redsync/redsync/v4"
	"github.com/redis/go-redis/v9"

	"github.com/wxtoken/wxtoken/internal/ctxerr"
	"github.com/wxtoken/wxtoken/lock"
	"github.com/wxtoken/wxtoken/store"
)

// redsync gives each Redis round trip of a lock attempt this fraction of
// the lock's expiry (its default, 0.05, leaves 50 ms for a 1 s lease).
const lockTimeoutFactor = 0.25

// TryLock implements lock.Locker with one redsync attempt.
func (b *Backend) TryLock(ctx context.Context, name string, ttl time.Duration) (lock.Lease, error) {
	if err := lock.Precheck(ctx, ttl); err != nil {
		return nil, err
	}
	m := b.mutex(name, ttl)
	if err := m.TryLockContext(ctx); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, mapLockErr(err, lock.ErrNotAcquired)
	}
	return &lease{b: b, name: name, value: m.Value()}, nil
}

func (b *Backend) mutex(name string, ttl time.Duration, extra ...redsync.Option) *redsync.Mutex {
	opts := append([]redsync.Option{redsync.WithTimeoutFactor(lockTimeoutFactor)}, b.lockOpts...)
	opts = append(opts, extra...)
	opts = append(opts, redsync.WithExpiry(ttl), redsync.WithTries(1))
	return b.rs.NewMutex(b.prefix+name, opts...)
}

// lease remembers the owner value; each call builds a fresh redsync mutex
// with it, since a *redsync.Mutex is not safe for concurrent use and its
// expiry is fixed when made.
type lease struct {
	b     *Backend
	name  string
	value string
}

func (l *lease) Extend(ctx context.Context, ttl time.Duration) error {
	if err := lock.Precheck(ctx, ttl); err != nil {
		return err
	}
	ok, err := l.b.mutex(l.name, ttl, redsync.WithValue(l.value)).ExtendContext(ctx)
	if ok {
		return nil
	}
	return mapLockErr(err, lock.ErrLost)
}

func (l *lease) Unlock(ctx context.Context) error {
	ok, err := l.b.mutex(l.name, time.Second, redsync.WithValue(l.value)).UnlockContext(ctx)
	if ok {
		return nil
	}
	return mapLockErr(err, lock.ErrLost)
}

// mapLockErr turns redsync's answers into lock's errors: "someone else
// holds it" (ErrTaken, ErrNodeTaken, ErrFailed, an expired or unknown
// lease) becomes contended; a Redis failure stays as it is, so the caller
// knows the store could not be asked.
func mapLockErr(err error, contended error) error {
	var taken *redsync.ErrTaken
	var nodeTaken *redsync.ErrNodeTaken
	var redisErr *redsync.RedisError
	switch {
	case err == nil:
		return contended
	case errors.As(err, &redisErr):
		return err
	case errors.As(err, &taken), errors.As(err, &nodeTaken),
		errors.Is(err, redsync.ErrFailed), errors.Is(err, redsync.ErrExtendFailed),
		errors.Is(err, redsync.ErrLockAlreadyExpired):
		return contended
	}
	return err
}

// setIfHeld writes KEYS[2] only while KEYS[1], the lock, still holds this
// lease's value: the check and the write are one step on the server. With
// a TTL (ARGV[3], milliseconds) the value expires; without, it does not.
// A write publishes ARGV[5] on the channel ARGV[4] for watchers.
// In Redis Cluster both keys must live in one slot: the Manager's keys
// share a hash tag ({identity}) for this.
var setIfHeld = redis.NewScript(`
if redis.call("GET", KEYS[1]) ~= ARGV[1] then
	return 0
end
if tonumber(ARGV[3]) > 0 then
	redis.call("SET", KEYS[2], ARGV[2], "PX", ARGV[3])
else
	redis.call("SET", KEYS[2], ARGV[2])
end
redis.call("PUBLISH", ARGV[4], ARGV[5])
return 1
`)

var _ store.FencedLease = (*lease)(nil)

// SetIfHeld implements store.FencedLease in one script (see setIfHeld).
func (l *lease) SetIfHeld(ctx context.Context, key, value string, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ms := max(ttl.Milliseconds(), 0)
	if ttl > 0 && ms == 0 {
		ms = 1
	}
	n, err := setIfHeld.Run(ctx, l.b.rdb, []string{l.b.prefix + l.name, l.b.prefix + key}, l.value, value, ms, l.b.channel(), key).Int()
	if err != nil {
		return ctxerr.First(ctx, err)
	}
	if n == 0 {
		return lock.ErrLost
	}
	return nil
}
