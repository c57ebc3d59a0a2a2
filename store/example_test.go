package store_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/store"
)

// A backend is one value that is a Cache and a Locker; its leases fence
// writes. Here the in-memory store stands in for yours: a write through a
// live lease lands, one through a lease that ended is refused with ErrLost
// and changes nothing.
func Example() {
	var b store.Backend = core.NewMemoryCache()
	ctx := context.Background()
	lease, err := b.TryLock(ctx, "lock:refresh", time.Minute)
	if err != nil {
		fmt.Println(err)
		return
	}
	fenced := lease.(store.FencedLease)
	fmt.Println("under the lease:", fenced.SetIfHeld(ctx, "token", "v1", time.Minute))
	_ = lease.Unlock(ctx)
	err = fenced.SetIfHeld(ctx, "token", "v2", time.Minute)
	fmt.Println("after Unlock, ErrLost:", errors.Is(err, store.ErrLost))
	v, _ := b.Get(ctx, "token")
	fmt.Println("value:", v)
	_, err = b.Get(ctx, "nothing here")
	fmt.Println("a miss is ErrNotFound:", errors.Is(err, store.ErrNotFound))
	// Output:
	// under the lease: <nil>
	// after Unlock, ErrLost: true
	// value: v1
	// a miss is ErrNotFound: true
}
