// Package etcdbackend stores wxtoken credentials in etcd and locks their
// refresh with etcd's concurrency.Mutex, on one clientv3 client.
//
//	cli, _ := clientv3.New(clientv3.Config{Endpoints: []string{"10.0.0.1:2379", "10.0.0.2:2379", "10.0.0.3:2379"}})
//	core.SetCache(etcdbackend.New(cli))
//
// A value with a TTL is attached to a lease of that TTL, in whole seconds
// rounded up (etcd's least lease TTL, about 1.5 x the election timeout,
// may raise it). A lock is a concurrency.Mutex on a session of its own
// whose lease is not kept alive: it ends after its TTL unless extended,
// so a holder that vanishes (or hangs) loses it by lease expiry. The
// Manager publishes a token through the lease in one transaction that
// checks the lock is still owned (store.FencedLease).
package etcdbackend

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/wxtoken/wxtoken/internal/ctxerr"
	"github.com/wxtoken/wxtoken/lock"
	"github.com/wxtoken/wxtoken/store"
)

var (
	_ store.Cache = (*Backend)(nil)
	_ lock.Locker = (*Backend)(nil)
)

// Backend is a store.Cache and a lock.Locker on one etcd client. It is safe
// for concurrent use.
type Backend struct {
	cli    *clientv3.Client
	prefix string
}

// Option configures a Backend.
type Option func(*Backend)

// WithKeyPrefix puts prefix before every key.
func WithKeyPrefix(prefix string) Option { return func(b *Backend) { b.prefix = prefix } }

// New returns a Backend on cli. The client is the caller's.
func New(cli *clientv3.Client, opts ...Option) *Backend {
	b := &Backend{cli: cli}
	for _, o := range opts {
		o(b)
	}
	return b
}

// seconds rounds a TTL up to etcd's whole seconds.
func seconds(ttl time.Duration) int64 { return int64((ttl + time.Second - 1) / time.Second) }

// Get implements store.Cache.
func (b *Backend) Get(ctx context.Context, key string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	resp, err := b.cli.Get(ctx, b.prefix+key)
	if err != nil {
		return "", ctxerr.First(ctx, err)
	}
	if len(resp.Kvs) == 0 {
		return "", store.ErrNotFound
	}
	return string(resp.Kvs[0].Value), nil
}

// Set implements store.Cache.
func (b *Backend) Set(ctx context.Context, key, value string, ttl time.Duration) error {
	op, err := b.put(ctx, key, value, ttl)
	if err != nil {
		return err
	}
	_, err = b.cli.Do(ctx, op)
	return ctxerr.First(ctx, err)
}

// put prepares the write of value, granting a lease for ttl if there is
// one.
func (b *Backend) put(ctx context.Context, key, value string, ttl time.Duration) (clientv3.Op, error) {
	if err := ctx.Err(); err != nil {
		return clientv3.Op{}, err
	}
	if ttl <= 0 {
		return clientv3.OpPut(b.prefix+key, value), nil
	}
	lease, err := b.cli.Grant(ctx, seconds(ttl))
	if err != nil {
		return clientv3.Op{}, ctxerr.First(ctx, err)
	}
	return clientv3.OpPut(b.prefix+key, value, clientv3.WithLease(lease.ID)), nil
}

// Remove implements store.Cache.
func (b *Backend) Remove(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := b.cli.Delete(ctx, b.prefix+key)
	return ctxerr.First(ctx, err)
}
