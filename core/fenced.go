package core

import (
	"context"
	"time"

	"github.com/wxtoken/wxtoken/lock"
)

// FencedLease is a lock.Lease whose store can make a write conditional on
// the lease still holding its lock (etcd does it in one transaction). The
// Manager publishes a fetched token through it when the lease offers it, so
// a node whose lease ran out mid-fetch never overwrites the token of the
// node that took the lock after it.
type FencedLease interface {
	lock.Lease
	// SetIfHeld stores value under key for ttl, as Cache.Set does, only if
	// the lease still holds its lock; otherwise it returns lock.ErrLost and
	// writes nothing.
	SetIfHeld(ctx context.Context, key, value string, ttl time.Duration) error
}
