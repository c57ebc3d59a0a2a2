package lock_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/wxtoken/wxtoken/lock"
)

// A lease is exclusive until it is released or its TTL runs out; a second
// owner is refused at once, never made to wait.
func ExampleLocal() {
	ctx := context.Background()
	l := lock.NewLocal()

	lease, err := l.TryLock(ctx, "refresh:shop", time.Minute)
	if err != nil {
		log.Fatal(err)
	}
	_, err = l.TryLock(ctx, "refresh:shop", time.Minute)
	fmt.Println("second owner refused:", errors.Is(err, lock.ErrNotAcquired))

	if err := lease.Unlock(ctx); err != nil {
		log.Fatal(err)
	}
	again, err := l.TryLock(ctx, "refresh:shop", time.Minute)
	fmt.Println("free after Unlock:", err == nil)
	_ = again.Unlock(ctx)
	// Output:
	// second owner refused: true
	// free after Unlock: true
}

// A lease that ran out is lost: Extend and Unlock say so, and never touch
// a lock another owner took since.
func ExampleLease_expired() {
	ctx := context.Background()
	l := lock.NewLocal()
	lease, err := l.TryLock(ctx, "refresh:shop", 10*time.Millisecond)
	if err != nil {
		log.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	other, err := l.TryLock(ctx, "refresh:shop", time.Minute)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("Extend:", errors.Is(lease.Extend(ctx, time.Minute), lock.ErrLost))
	fmt.Println("Unlock:", errors.Is(lease.Unlock(ctx), lock.ErrLost))
	fmt.Println("the new owner keeps it:", other.Unlock(ctx) == nil)
	// Output:
	// Extend: true
	// Unlock: true
	// the new owner keeps it: true
}
