// Package redisbackend stores wxtoken credentials in Redis and locks their
// refresh with redsync, on one go-redis client: standalone, Sentinel
// (redis.NewFailoverClient) or Cluster (redis.NewClusterClient).
//
//	rdb := redis.NewUniversalClient(&redis.UniversalOptions{
//		Addrs:                 []string{"127.0.0.1:6379"},
//		ContextTimeoutEnabled: true,
//	})
//	core.SetCache(redisbackend.New(rdb))
//
// Set ContextTimeoutEnabled. Without it go-redis does not hand the
// context's deadline to the socket (only to its pool wait and retry
// back-off): a Redis that accepts a command and never answers holds the
// call for ReadTimeout (3 s by default) per attempt, past the Manager's
// CacheTimeout and its lock's lease, so a node cannot tell a slow store
// from a dead one in time and a lease can end while a write through it is
// still waiting.
//
// Values are plain strings under their keys (GET, SET with PX, DEL), so
// programs in other languages read the same documents. Locks are redsync
// mutexes: SET NX PX with a random owner value, released and extended by
// owner-checked scripts. Every write also publishes its key on the
// channel "wxtoken:written" (after WithKeyPrefix's prefix), so that nodes
// waiting for a token sleep until it is written (store.Watcher).
package redisbackend

import (
	"context"
	"errors"
	"time"

	"github.com/go-redsync/redsync/v4"
	"github.com/go-redsync/redsync/v4/redis/goredis/v9"
	"github.com/redis/go-redis/v9"

	"github.com/wxtoken/wxtoken/internal/ctxerr"
	"github.com/wxtoken/wxtoken/lock"
	"github.com/wxtoken/wxtoken/store"
)

var (
	_ store.Cache = (*Backend)(nil)
	_ lock.Locker = (*Backend)(nil)
)

// Backend is a store.Cache and a lock.Locker on one Redis client. It is safe
// for concurrent use.
type Backend struct {
	rdb      redis.UniversalClient
	rs       *redsync.Redsync
	prefix   string
	lockOpts []redsync.Option
	watchers watchers
}

// Option configures a Backend.
type Option func(*Backend)

// WithKeyPrefix puts prefix before every key, to share a database with
// other programs. The Manager's own prefix (wxtoken by default) comes after
// it.
func WithKeyPrefix(prefix string) Option { return func(b *Backend) { b.prefix = prefix } }

// WithRedsyncOptions passes options to every redsync mutex, such as
// redsync.WithDriftFactor. TryLock always makes exactly one attempt and
// the expiry is the ttl asked for, whatever these say.
func WithRedsyncOptions(opts ...redsync.Option) Option {
	return func(b *Backend) { b.lockOpts = append(b.lockOpts, opts...) }
}

// New returns a Backend on rdb. The client is the caller's: Close it when
// done.
func New(rdb redis.UniversalClient, opts ...Option) *Backend {
	b := &Backend{rdb: rdb, rs: redsync.New(goredis.NewPool(rdb))}
	for _, o := range opts {
		o(b)
	}
	return b
}

// Get implements store.Cache.
func (b *Backend) Get(ctx context.Context, key string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	v, err := b.rdb.Get(ctx, b.prefix+key).Result()
	if errors.Is(err, redis.Nil) {
		return "", store.ErrNotFound
	}
	return v, ctxerr.First(ctx, err)
}

// Set implements store.Cache. Redis keeps millisecond TTLs (SET PX). The
// write is announced to watchers (see Watch) in the same round trip.
func (b *Backend) Set(ctx context.Context, key, value string, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if ttl < 0 {
		ttl = 0 // go-redis reads -1 as KEEPTTL; the contract means no expiry
	}
	var set *redis.StatusCmd
	_, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		set = p.Set(ctx, b.prefix+key, value, ttl)
		p.Publish(ctx, b.channel(), key)
		return nil
	})
	if set != nil && set.Err() == nil {
		return nil // the notice is best effort: waiters also poll
	}
	if set != nil && set.Err() != nil {
		err = set.Err()
	}
	return ctxerr.First(ctx, err)
}

// Remove implements store.Cache.
func (b *Backend) Remove(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return ctxerr.First(ctx, b.rdb.Del(ctx, b.prefix+key).Err())
}
