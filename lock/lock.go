// Package lock defines the mutual-exclusion contract wxtoken uses to let one
// node of a fleet refresh a credential while the others wait: a Locker hands
// out owner-checked Leases that end by themselves when their holder vanishes.
//
// Every backend (Redis, memcached, etcd, file) implements Locker next to its
// core.Cache; Local is the implementation for a single process.
package lock

import (
	"context"
	"errors"
	"time"
)

// ErrNotAcquired is returned by TryLock when another owner holds the lock.
// It is returned at once: TryLock never waits. A caller that must wait retries (the Manager waits for the token instead).
var ErrNotAcquired = errors.New("lock: held by another owner")

// ErrInvalidTTL is returned by TryLock and Extend for a ttl that is not
// positive: a lease that never ends would wedge the fleet.
var ErrInvalidTTL = errors.New("lock: ttl must be positive")

// Precheck is what every TryLock and Extend checks before touching its
// store: a context that already ended (its error is returned) and a ttl
// that is not positive (ErrInvalidTTL).
func Precheck(ctx context.Context, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if ttl <= 0 {
		return ErrInvalidTTL
	}
	return nil
}

// ErrLost is returned by Lease.Extend and Lease.Unlock when the lease ended
// before the call (it expired, or another owner has the lock since).
var ErrLost = errors.New("lock: lease lost")

// Locker grants leases on named locks.
type Locker interface {
	// TryLock takes the lock called name for ttl, or returns ErrNotAcquired
	// at once if another owner holds it. Other errors mean the lock's store
	// could not be asked (the caller cannot tell whether anyone holds it).
	// The lease ends by itself after ttl unless extended.
	TryLock(ctx context.Context, name string, ttl time.Duration) (Lease, error)
}

// Lease is one acquisition of a lock. A Lease is owned by the code that
// acquired it; its methods need not be safe for concurrent use.
type Lease interface {
	// Extend pushes the end of the lease to ttl from now. It returns ErrLost
	// if the lease had already ended.
	Extend(ctx context.Context, ttl time.Duration) error
	// Unlock ends the lease. It never releases a lock another owner took
	// after this lease ended; in that case it returns ErrLost.
	Unlock(ctx context.Context) error
}
