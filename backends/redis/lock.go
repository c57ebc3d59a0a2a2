package redisbackend

import (
	"context"
	"errors"
	"time"

	"github.com/go-redsync/redsync/v4"

	"github.com/wxtoken/wxtoken/lock"
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
