// Package lockwait waits for a lock.Locker: Acquire calls TryLock until it
// succeeds. The Manager never needs it (a node that finds the refresh lock
// taken waits for the token, not for the lock); the conformance suites and
// fault tests use it to check mutual exclusion.
package lockwait

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wxtoken/wxtoken/internal/backoff"
	"github.com/wxtoken/wxtoken/lock"
)

// Default retry delays of Acquire: short first, since the holder of a token
// refresh lock usually finishes within one upstream round trip.
const (
	DefaultMinBackoff = 20 * time.Millisecond
	DefaultMaxBackoff = 500 * time.Millisecond
)

// AcquireOption tunes Acquire.
type AcquireOption func(*backoff.Policy)

// WithBackoff sets the first and the largest delay between two TryLock
// attempts. Delays double from min up to max, each with jitter.
func WithBackoff(min, max time.Duration) AcquireOption {
	return func(p *backoff.Policy) {
		if min > 0 {
			p.Min = min
		}
		if max >= p.Min {
			p.Max = max
		}
	}
}

// Acquire calls TryLock until it succeeds, fails with an error other than
// lock.ErrNotAcquired, or ctx ends. Between attempts it sleeps with capped,
// jittered exponential backoff. When ctx ends first, the error wraps both
// lock.ErrNotAcquired and ctx's error.
func Acquire(ctx context.Context, l lock.Locker, name string, ttl time.Duration, opts ...AcquireOption) (lock.Lease, error) {
	p := backoff.Policy{Min: DefaultMinBackoff, Max: DefaultMaxBackoff}
	for _, o := range opts {
		o(&p)
	}
	for attempt := 0; ; attempt++ {
		lease, err := l.TryLock(ctx, name, ttl)
		if err == nil {
			return lease, nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, notAcquired(name, attempt, ctxErr)
		}
		if !errors.Is(err, lock.ErrNotAcquired) {
			return nil, err
		}
		if err := backoff.Sleep(ctx, p.Delay(attempt)); err != nil {
			return nil, notAcquired(name, attempt, err)
		}
	}
}

func notAcquired(name string, attempt int, ctxErr error) error {
	return fmt.Errorf("%w: %q after %d attempts: %w", lock.ErrNotAcquired, name, attempt+1, ctxErr)
}
