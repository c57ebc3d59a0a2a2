package farm

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/lock"
	"github.com/wxtoken/wxtoken/store"
)

// errKilled is what a killed node's store client answers: the process it
// stands for is gone, so nothing it asks reaches the store.
var errKilled = errors.New("farm: node killed")

// opKind is what a store operation was, so the report can say whether
// re-checks, lock attempts or writes dominate.
type opKind int

const (
	opGet     opKind = iota // a read of the shared token (re-check, adoption, double-check)
	opSet                   // a write (publish, write-back, ledger)
	opRemove                // a delete
	opLock                  // a lock attempt, won or refused
	opRefused               // a lock attempt refused: the lock was held
	opExtend                // a lease extension
	opUnlock                // a release
	opWatch                 // a watch set up by a node waiting for a token
	opKinds
)

var opNames = [opKinds]string{"get", "set", "remove", "lock", "lock refused", "extend", "unlock", "watch"}

// storeOps counts the store operations of this process's nodes, per
// second of the run and by kind.
type storeOps struct {
	start   time.Time
	buckets []atomic.Int64 // one per second of the run
	kinds   [opKinds]atomic.Int64
}

func newStoreOps(start time.Time, d time.Duration) *storeOps {
	return &storeOps{start: start, buckets: make([]atomic.Int64, int(d/time.Second)+2)}
}

// add counts one operation of kind k. A refused lock attempt is counted
// as a lock attempt by the caller and again here, by kind only.
func (o *storeOps) add(k opKind) {
	o.kinds[k].Add(1)
	if k == opRefused {
		return
	}
	i := min(max(int(time.Since(o.start)/time.Second), 0), len(o.buckets)-1)
	o.buckets[i].Add(1) // a straggler after the run counts in its last second
}

// byKind returns the counts by kind, leaving out kinds never seen.
func (o *storeOps) byKind() map[string]int64 {
	m := make(map[string]int64)
	for k := range o.kinds {
		if n := o.kinds[k].Load(); n > 0 {
			m[opNames[k]] = n
		}
	}
	return m
}

// meteredStore is one node's client of the shared store: it counts every
// operation, knows whether the node holds a refresh lease, and can be
// killed, after which it answers errKilled without touching the store (a
// lease it held stays in the store until its TTL runs out, as a process
// killed with SIGKILL leaves it).
type meteredStore struct {
	cache   core.Cache
	locker  lock.Locker
	ops     *storeOps
	killed  atomic.Bool
	holding atomic.Int32
	onHold  func(holding bool) // called when the node takes its first lease or drops its last
	// pollOnly hides the store's Watch (Config.PollOnly).
	pollOnly bool
	// cutUntil and pausedUntil (Unix ns) hold the node's operations while
	// it is cut off from the store (Partition) or frozen (PauseHolder).
	cutUntil, pausedUntil atomic.Int64
	// answeredAt is when the store last answered one of the node's
	// operations (Unix ns): the balancer's view of the node's readiness.
	answeredAt atomic.Int64
}

// gate is what every operation of the node's store client passes first: a
// killed node reaches nothing; a frozen one does nothing until it wakes;
// one cut off waits until its deadline, or until the cut heals and the
// operation goes through, as on a dropped route.
func (s *meteredStore) gate(ctx context.Context) error {
	if s.killed.Load() {
		return errKilled
	}
	_ = holdUntil(context.Background(), s.pausedUntil.Load())
	if err := holdUntil(ctx, s.cutUntil.Load()); err != nil {
		return err
	}
	if s.killed.Load() {
		return errKilled
	}
	return nil
}

// holdUntil waits until the Unix time until (0: no wait) or the end of
// ctx, and returns ctx's error if that came first.
func holdUntil(ctx context.Context, until int64) error {
	d := time.Until(time.Unix(0, until))
	if until == 0 || d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func newMeteredStore(c core.Cache, ops *storeOps, onHold func(bool), pollOnly bool) *meteredStore {
	l, _ := c.(lock.Locker)
	return &meteredStore{cache: c, locker: l, ops: ops, onHold: onHold, pollOnly: pollOnly}
}

// lockerless wraps a store that brings no Locker of its own: the Manager
// then serialises refreshes within the process only, as it would for the
// real store.
type lockerless struct{ s *meteredStore }

func (l lockerless) Get(ctx context.Context, key string) (string, error) { return l.s.Get(ctx, key) }
func (l lockerless) Remove(ctx context.Context, key string) error        { return l.s.Remove(ctx, key) }
func (l lockerless) Set(ctx context.Context, key, value string, ttl time.Duration) error {
	return l.s.Set(ctx, key, value, ttl)
}

// backend returns the value to hand the Manager: a Cache, a Locker only
// when the store has one, and a Watcher only when the store is one.
func (s *meteredStore) backend() core.Cache {
	if s.locker == nil {
		return lockerless{s}
	}
	if w, ok := s.cache.(store.Watcher); ok && !s.pollOnly {
		return watchingStore{s, w}
	}
	return s
}

// watchingStore is a meteredStore on a store that tells writes.
type watchingStore struct {
	*meteredStore
	w store.Watcher
}

// Watch implements store.Watcher.
func (s watchingStore) Watch(ctx context.Context, key string) (<-chan struct{}, func(), error) {
	if err := s.gate(ctx); err != nil {
		return nil, nil, err
	}
	s.ops.add(opWatch)
	ch, stop, err := s.w.Watch(ctx, key)
	return ch, stop, s.note(err)
}

func (s *meteredStore) Get(ctx context.Context, key string) (string, error) {
	if err := s.gate(ctx); err != nil {
		return "", err
	}
	s.ops.add(opGet)
	v, err := s.cache.Get(ctx, key)
	return v, s.note(err)
}

func (s *meteredStore) Set(ctx context.Context, key, value string, ttl time.Duration) error {
	if err := s.gate(ctx); err != nil {
		return err
	}
	s.ops.add(opSet)
	return s.note(s.cache.Set(ctx, key, value, ttl))
}

func (s *meteredStore) Remove(ctx context.Context, key string) error {
	if err := s.gate(ctx); err != nil {
		return err
	}
	s.ops.add(opRemove)
	return s.note(s.cache.Remove(ctx, key))
}

// TryLock implements lock.Locker; the lease it returns offers SetIfHeld
// exactly when the store's does.
func (s *meteredStore) TryLock(ctx context.Context, name string, ttl time.Duration) (lock.Lease, error) {
	if err := s.gate(ctx); err != nil {
		return nil, err
	}
	s.ops.add(opLock)
	l, err := s.locker.TryLock(ctx, name, ttl)
	if s.note(err) != nil {
		if errors.Is(err, lock.ErrNotAcquired) {
			s.ops.add(opRefused)
		}
		return nil, err
	}
	if s.holding.Add(1) == 1 && s.onHold != nil {
		s.onHold(true)
	}
	ml := &meteredLease{lease: l, s: s}
	if fl, ok := l.(store.FencedLease); ok {
		return &fencedLease{meteredLease: ml, fenced: fl}, nil
	}
	return ml, nil
}

// holds reports whether the node holds a refresh lease right now.
func (s *meteredStore) holds() bool { return s.holding.Load() > 0 }

type meteredLease struct {
	lease lock.Lease
	s     *meteredStore
	done  atomic.Bool
}

func (l *meteredLease) Extend(ctx context.Context, ttl time.Duration) error {
	if err := l.s.gate(ctx); err != nil {
		return err
	}
	l.s.ops.add(opExtend)
	return l.s.note(l.lease.Extend(ctx, ttl))
}

func (l *meteredLease) Unlock(ctx context.Context) error {
	if l.done.CompareAndSwap(false, true) && l.s.holding.Add(-1) == 0 && l.s.onHold != nil {
		l.s.onHold(false)
	}
	if err := l.s.gate(ctx); err != nil {
		return err
	}
	l.s.ops.add(opUnlock)
	return l.s.note(l.lease.Unlock(ctx))
}

type fencedLease struct {
	*meteredLease
	fenced store.FencedLease
}

func (l *fencedLease) SetIfHeld(ctx context.Context, key, value string, ttl time.Duration) error {
	if err := l.s.gate(ctx); err != nil {
		return err
	}
	l.s.ops.add(opSet)
	return l.s.note(l.fenced.SetIfHeld(ctx, key, value, ttl))
}
