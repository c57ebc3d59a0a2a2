package lockwait_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/internal/lockwait"
	"github.com/wxtoken/wxtoken/lock"
)

func TestAcquireWaitsForRelease(t *testing.T) {
	ctx := context.Background()
	l := lock.NewLocal()
	held, err := l.TryLock(ctx, "n", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(100*time.Millisecond, func() { held.Unlock(ctx) })
	start := time.Now()
	lease, err := lockwait.Acquire(ctx, l, "n", time.Minute, lockwait.WithBackoff(5*time.Millisecond, 20*time.Millisecond))
	if err != nil {
		t.Fatalf("Acquire = %v, want the lock once released", err)
	}
	defer lease.Unlock(ctx)
	if d := time.Since(start); d < 90*time.Millisecond {
		t.Fatalf("Acquire returned after %v, before the holder released", d)
	}
}

func TestAcquireGivesUpWithContext(t *testing.T) {
	ctx := context.Background()
	l := lock.NewLocal()
	held, _ := l.TryLock(ctx, "n", time.Minute)
	defer held.Unlock(ctx)
	actx, cancel := context.WithTimeout(ctx, 80*time.Millisecond)
	defer cancel()
	_, err := lockwait.Acquire(actx, l, "n", time.Minute)
	if !errors.Is(err, lock.ErrNotAcquired) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire past its deadline = %v; want both ErrNotAcquired and DeadlineExceeded", err)
	}
}

type brokenLocker struct{}

var errDown = errors.New("store down")

func (brokenLocker) TryLock(context.Context, string, time.Duration) (lock.Lease, error) {
	return nil, errDown
}

func TestAcquireReturnsStoreErrorsAtOnce(t *testing.T) {
	start := time.Now()
	_, err := lockwait.Acquire(context.Background(), brokenLocker{}, "n", time.Minute)
	if !errors.Is(err, errDown) {
		t.Fatalf("Acquire = %v, want the store's error", err)
	}
	if time.Since(start) > 50*time.Millisecond {
		t.Fatal("Acquire retried an error that is not ErrNotAcquired")
	}
}
