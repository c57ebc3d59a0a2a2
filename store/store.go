// Package store is the whole contract between wxtoken and the store a
// fleet shares: what a backend implements and promises, in one small
// package that imports nothing of wxtoken but package lock. A backend
// (Redis, etcd, memcached, a directory, yours) is one value that is a
// Cache and a Locker, optionally a Watcher, whose leases are optionally
// FencedLeases.
//
// What every backend promises:
//
//   - Cache: values are opaque strings under their keys; Get of a key that
//     holds nothing returns ErrNotFound (and only then); Set with a ttl > 0
//     lets the value live at most that long (plus a tolerance the backend
//     states, such as memcached's whole seconds), ttl <= 0 keeps it;
//     Remove of an absent key is no error.
//   - Locker: TryLock returns at once, a Lease or ErrNotAcquired when
//     another owner holds the lock; a lease ends by itself after its ttl
//     unless extended; Unlock and Extend are owner-checked (ErrLost once the
//     lease ended, and never release a lock another owner took since).
//     Start TryLock and Extend with Precheck.
//   - FencedLease (optional, strongly advised): SetIfHeld writes only while
//     the lease holds its lock, else ErrLost and nothing written. The
//     Manager publishes every token and rotates every refresh token through
//     it, so a node whose lease ran out mid-fetch never overwrites the
//     newer value of the node that took the lock after it.
//   - Watcher (optional): a notice after each write of a watched key.
//     Notices may be lost or spurious; the Manager re-reads on each and
//     still polls, slowly.
//   - Every method is safe for concurrent use and honours its context:
//     once ctx ends it returns promptly with ctx's error.
//
// conformance.TestBackend checks all of it against a real server of the
// store; every wxtoken backend runs it.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/wxtoken/wxtoken/lock"
)

// ErrNotFound is returned by Cache.Get when the key holds no value (never
// set, removed, or expired). Its text is core's, as before the contract
// moved here.
var ErrNotFound = errors.New("core: cache miss")

// Cache is the store shared by every node of a fleet. Values are opaque
// strings; the Manager stores the JSON document described in package
// core's documentation. Implementations must be safe for concurrent use,
// must honour ctx (return promptly with ctx's error once it ends), and
// must not hold a value past its ttl (a backend may state a tolerance,
// such as memcached's whole seconds).
type Cache interface {
	// Get returns the value stored under key, or ErrNotFound.
	Get(ctx context.Context, key string) (string, error)
	// Set stores value under key for ttl; ttl <= 0 means no expiry.
	Set(ctx context.Context, key, value string, ttl time.Duration) error
	// Remove deletes key. Removing an absent key is not an error.
	Remove(ctx context.Context, key string) error
}

// Watcher is implemented by a Cache whose store can tell a client that a
// key was written (Redis by publish/subscribe, etcd by its watch API, the
// MemoryCache in process). A node with no token to serve, waiting while
// another node refreshes, then sleeps until the token is published instead
// of polling the store: at a fleet's cold start a thousand waiting nodes
// make one lock attempt and one read each, not one of each every few
// milliseconds. Without it the Manager polls, as it does for any Cache.
//
// Notices may be lost (a dropped connection) or spurious (another key, a
// write the waiter does not want): the Manager re-reads the key on each,
// and still polls, slowly, so a lost notice only delays it.
type Watcher interface {
	// Watch registers interest in key; ctx bounds the registration only.
	// The returned channel receives a value after each write of key that
	// happens after Watch returned (several writes may yield one value),
	// until stop is called. stop releases what the watch holds; it may be
	// called more than once. An error means nothing is watched.
	Watch(ctx context.Context, key string) (notices <-chan struct{}, stop func(), err error)
}

// Locker grants leases on named locks (see package lock).
type Locker = lock.Locker

// Lease is one acquisition of a lock (see package lock).
type Lease = lock.Lease

// FencedLease is a Lease whose store can make a write conditional on the
// lease still holding its lock: etcd in a transaction, Redis in one
// script, the file backend under its flock, memcached by an owner check
// just before the write. On a sharded store the key written and the
// lock's name share a hash tag ({…}), as the Manager's keys do
// (PREFIX:lock:{id} and PREFIX:{id}), so that Redis Cluster can check the
// lock and write in one script.
type FencedLease interface {
	lock.Lease
	// SetIfHeld stores value under key for ttl, as Cache.Set does, only if
	// the lease still holds its lock; otherwise it returns ErrLost and
	// writes nothing.
	SetIfHeld(ctx context.Context, key, value string, ttl time.Duration) error
}

// Backend is what a store implements: the shared Cache and the fleet
// Locker in one value.
type Backend interface {
	Cache
	Locker
}

// The lock errors, here so that a backend needs this package alone.
var (
	// ErrNotAcquired is lock.ErrNotAcquired: TryLock found the lock held.
	ErrNotAcquired = lock.ErrNotAcquired
	// ErrLost is lock.ErrLost: the lease had ended.
	ErrLost = lock.ErrLost
	// ErrInvalidTTL is lock.ErrInvalidTTL: a ttl that is not positive.
	ErrInvalidTTL = lock.ErrInvalidTTL
)

// Precheck is lock.Precheck: what every TryLock and Extend checks first
// (an ended context, a ttl that is not positive).
func Precheck(ctx context.Context, ttl time.Duration) error { return lock.Precheck(ctx, ttl) }
