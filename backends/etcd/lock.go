package etcdbackend

import (
	"context"
	"errors"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/wxtoken/wxtoken/internal/ctxerr"
	"github.com/wxtoken/wxtoken/lock"
	"github.com/wxtoken/wxtoken/store"
)

// TryLock implements lock.Locker. Each acquisition has a session (a lease)
// of its own: two Mutexes on one session would both "hold" the lock, since
// the lock key derives from the lease.
//
// A lock that is visibly held costs one read: only when no holder is seen
// does TryLock write (grant a lease, queue its key, and on losing a race,
// delete the key and revoke the lease). Without that read every failed
// attempt made four raft writes, and a crowd of waiters queued the holder's
// own Unlock behind theirs.
func (b *Backend) TryLock(ctx context.Context, name string, ttl time.Duration) (lock.Lease, error) {
	if err := lock.Precheck(ctx, ttl); err != nil {
		return nil, err
	}
	held, err := b.cli.Get(ctx, b.prefix+name+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return nil, ctxerr.First(ctx, err)
	}
	if held.Count > 0 {
		return nil, lock.ErrNotAcquired
	}
	grant, err := b.cli.Grant(ctx, seconds(ttl))
	if err != nil {
		return nil, ctxerr.First(ctx, err)
	}
	sess, err := concurrency.NewSession(b.cli, concurrency.WithLease(grant.ID), concurrency.WithTTL(int(grant.TTL)))
	if err != nil {
		b.revoke(grant.ID)
		return nil, ctxerr.First(ctx, err)
	}
	// The lease must end by itself when not extended: no keep-alive.
	sess.Orphan()
	mu := concurrency.NewMutex(sess, b.prefix+name)
	if err := mu.TryLock(ctx); err != nil {
		b.revoke(grant.ID)
		if errors.Is(err, concurrency.ErrLocked) {
			return nil, lock.ErrNotAcquired
		}
		return nil, ctxerr.First(ctx, err)
	}
	return &lease{b: b, id: grant.ID, mu: mu}, nil
}

// revoke drops a lease that is no longer needed; if it fails, the lease
// expires by itself.
func (b *Backend) revoke(id clientv3.LeaseID) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = b.cli.Revoke(ctx, id)
}

var _ store.FencedLease = (*lease)(nil)

type lease struct {
	b  *Backend
	id clientv3.LeaseID
	mu *concurrency.Mutex
}

// Extend renews the lease. etcd renews a lease for the TTL it was granted
// with, so ttl only checks the call; the lease lasts its original TTL from
// now.
func (l *lease) Extend(ctx context.Context, ttl time.Duration) error {
	if err := lock.Precheck(ctx, ttl); err != nil {
		return err
	}
	resp, err := l.b.cli.Txn(ctx).If(l.mu.IsOwner()).Commit()
	if err != nil {
		return ctxerr.First(ctx, err)
	}
	if !resp.Succeeded {
		return lock.ErrLost
	}
	if _, err := l.b.cli.KeepAliveOnce(ctx, l.id); err != nil {
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return lock.ErrLost
		}
		return ctxerr.First(ctx, err)
	}
	return nil
}

// Unlock deletes the lock key only while this lease owns it, then revokes
// the lease.
func (l *lease) Unlock(ctx context.Context) error {
	defer l.b.revoke(l.id)
	resp, err := l.b.cli.Txn(ctx).If(l.mu.IsOwner()).Then(clientv3.OpDelete(l.mu.Key())).Commit()
	if err != nil {
		return ctxerr.First(ctx, err)
	}
	if !resp.Succeeded {
		return lock.ErrLost
	}
	return nil
}

// SetIfHeld implements store.FencedLease: the put happens in the same
// transaction that checks this lease still owns the lock.
func (l *lease) SetIfHeld(ctx context.Context, key, value string, ttl time.Duration) error {
	op, err := l.b.put(ctx, key, value, ttl)
	if err != nil {
		return err
	}
	resp, err := l.b.cli.Txn(ctx).If(l.mu.IsOwner()).Then(op).Commit()
	if err != nil {
		return ctxerr.First(ctx, err)
	}
	if !resp.Succeeded {
		return lock.ErrLost
	}
	return nil
}
