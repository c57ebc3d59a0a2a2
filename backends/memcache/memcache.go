// Package memcachebackend stores wxtoken credentials in memcached and locks
// their refresh with an owner-checked lease built on Add and
// CompareAndSwap, on one gomemcache client.
//
//	mc := memcache.New("10.0.0.1:11211", "10.0.0.2:11211")
//	core.SetCache(memcachebackend.New(mc))
//
// memcached counts expiry in whole seconds on a clock that ticks once a
// second, so an item can vanish up to a second before its exptime. Every
// TTL is therefore rounded up to whole seconds and given one second more:
// a value or a lease lives at least its TTL and at most about two seconds
// longer. The token document carries its own expiry, so a value kept a
// little longer is still judged correctly. TTLs over 30 days are sent as
// absolute Unix times, as memcached requires.
//
// gomemcache takes no context: each call is bounded by the client's
// Timeout, and a context that has already ended is honoured before the
// call.
package memcachebackend

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	"github.com/wxtoken/wxtoken/internal/ctxerr"
	"github.com/wxtoken/wxtoken/lock"
	"github.com/wxtoken/wxtoken/store"
)

var (
	_ store.Cache = (*Backend)(nil)
	_ lock.Locker = (*Backend)(nil)
)

// maxRelativeExpiry is the largest exptime memcached reads as seconds from
// now; larger values are Unix times.
const maxRelativeExpiry = 30 * 24 * 60 * 60

// Backend is a store.Cache and a lock.Locker on one memcached client. It is
// safe for concurrent use.
type Backend struct {
	mc        *memcache.Client
	prefix    string
	abandoned abandonedLocks
}

// Option configures a Backend.
type Option func(*Backend)

// WithKeyPrefix puts prefix before every key.
func WithKeyPrefix(prefix string) Option { return func(b *Backend) { b.prefix = prefix } }

// New returns a Backend on mc. The client is the caller's.
func New(mc *memcache.Client, opts ...Option) *Backend {
	b := &Backend{mc: mc}
	for _, o := range opts {
		o(b)
	}
	return b
}

// key returns the memcached key for k. memcached keys are at most 250
// bytes with no spaces or control characters; a key that breaks those
// rules is replaced by a digest, so every key the contract allows works.
func (b *Backend) key(k string) string {
	full := b.prefix + k
	if legalKey(full) {
		return full
	}
	sum := sha256.Sum256([]byte(k))
	return b.prefix + "sha256:" + hex.EncodeToString(sum[:])
}

func legalKey(k string) bool {
	if len(k) == 0 || len(k) > 250 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] == 0x7f {
			return false
		}
	}
	return true
}

// expiration converts a TTL to memcached's exptime (see the package
// documentation); ttl <= 0 means never.
func expiration(ttl time.Duration, now time.Time) int32 {
	if ttl <= 0 {
		return 0
	}
	secs := int64((ttl+time.Second-1)/time.Second) + 1
	if secs > maxRelativeExpiry {
		return int32(now.Unix() + secs)
	}
	return int32(secs)
}

// Get implements store.Cache.
func (b *Backend) Get(ctx context.Context, key string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	it, err := b.mc.Get(b.key(key))
	if errors.Is(err, memcache.ErrCacheMiss) {
		return "", store.ErrNotFound
	}
	if err != nil {
		return "", ctxerr.First(ctx, err)
	}
	return string(it.Value), nil
}

// Set implements store.Cache.
func (b *Backend) Set(ctx context.Context, key, value string, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	it := &memcache.Item{Key: b.key(key), Value: []byte(value), Expiration: expiration(ttl, time.Now())}
	return ctxerr.First(ctx, b.mc.Set(it))
}

// Remove implements store.Cache.
func (b *Backend) Remove(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := b.mc.Delete(b.key(key))
	if errors.Is(err, memcache.ErrCacheMiss) {
		return nil
	}
	return ctxerr.First(ctx, err)
}
