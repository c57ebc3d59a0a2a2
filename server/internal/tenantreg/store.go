package tenantreg

import (
	"context"
	"errors"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/internal/lockwait"
	"github.com/wxtoken/wxtoken/lock"
)

// readHead reads the head document. found is false for a missing head or
// one that does not parse (then corrupt holds its raw value); err is the
// store's error, never a miss.
func (r *Registry) readHead(ctx context.Context) (h headDoc, found bool, corrupt string, err error) {
	empty := headDoc{V: formatVersion, Buckets: map[string]int64{}}
	raw, err := r.store.Get(ctx, r.headKey)
	if errors.Is(err, core.ErrNotFound) {
		return empty, false, "", nil
	}
	if err != nil {
		return headDoc{}, false, "", err
	}
	h, err = decodeHead(raw)
	if err != nil {
		return empty, false, raw, nil
	}
	return h, true, "", nil
}

// stored is what the store held of one bucket.
type stored struct {
	recs    map[string]Record
	corrupt string // the raw value, when it did not parse
}

// readBucket reads one bucket. A missing bucket, or one that does not
// parse, reads as empty: what the instances hold repairs it, and a
// corrupt value is set aside before it is overwritten.
func (r *Registry) readBucket(ctx context.Context, b int) (stored, error) {
	raw, err := r.store.Get(ctx, r.bucketKey[b])
	if errors.Is(err, core.ErrNotFound) {
		return stored{recs: map[string]Record{}}, nil
	}
	if err != nil {
		return stored{}, err
	}
	recs, err := decodeBucket(raw, b)
	if err != nil {
		return stored{recs: map[string]Record{}, corrupt: raw}, nil
	}
	return stored{recs: recs}, nil
}

// locked runs f under the registry's fleet-wide lock, with a write
// function that lands only while the lease holds (through the store's
// fence when it has one).
func (r *Registry) locked(ctx context.Context, f func(write func(key, value string) error) error) error {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	lctx, cancel := context.WithTimeout(ctx, lockWait)
	lease, err := lockwait.Acquire(lctx, r.locker, r.lockKey, lockTTL)
	cancel()
	if err != nil {
		if errors.Is(err, lock.ErrNotAcquired) {
			return errors.Join(ErrLocked, err)
		}
		return err
	}
	defer lease.Unlock(context.WithoutCancel(ctx))
	until := time.Now().Add(lockTTL)
	fenced, isFenced := lease.(core.FencedLease)
	return f(func(key, value string) error {
		if time.Now().After(until) {
			return lock.ErrLost
		}
		if isFenced && r.ownLock {
			return fenced.SetIfHeld(ctx, key, value, 0)
		}
		return r.store.Set(ctx, key, value, 0)
	})
}
