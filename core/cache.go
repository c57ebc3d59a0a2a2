package core

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned by Cache.Get when the key holds no value (never
// set, removed, or expired).
var ErrNotFound = errors.New("core: cache miss")

// Cache is the store shared by every node of a fleet: the ICache contract.
// Values are opaque strings; the Manager stores the JSON document described
// in the package documentation. Implementations must be safe for concurrent
// use, must honour ctx (return promptly with ctx's error once it ends), and
// must not hold a value past its ttl (a backend may state a tolerance, such
// as memcached's whole seconds).
type Cache interface {
	// Get returns the value stored under key, or ErrNotFound.
	Get(ctx context.Context, key string) (string, error)
	// Set stores value under key for ttl; ttl <= 0 means no expiry.
	Set(ctx context.Context, key, value string, ttl time.Duration) error
	// Remove deletes key. Removing an absent key is not an error.
	Remove(ctx context.Context, key string) error
}
