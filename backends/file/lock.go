package filebackend

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gofrs/flock"

	"github.com/wxtoken/wxtoken/lock"
	"github.com/wxtoken/wxtoken/store"
)

// TryLock implements lock.Locker with a non-blocking flock on a file of
// its own descriptor, so it excludes other processes and other Backends
// and goroutines of this process alike.
func (b *Backend) TryLock(ctx context.Context, name string, ttl time.Duration) (lock.Lease, error) {
	if err := lock.Precheck(ctx, ttl); err != nil {
		return nil, err
	}
	p := b.path("locks", name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return nil, err
	}
	fl := flock.New(p)
	ok, err := fl.TryLock()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, lock.ErrNotAcquired
	}
	l := &lease{b: b, fl: fl}
	l.timer = time.AfterFunc(ttl, l.expire)
	return l, nil
}

var _ store.FencedLease = (*lease)(nil)

// lease holds a flock until Unlock or until its TTL runs out, when its own
// timer releases it (the kernel does so at once if the process dies).
type lease struct {
	b     *Backend
	mu    sync.Mutex
	fl    *flock.Flock
	timer *time.Timer
	ended bool
}

func (l *lease) expire() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.ended {
		l.ended = true
		_ = l.fl.Unlock()
	}
}

func (l *lease) Extend(ctx context.Context, ttl time.Duration) error {
	if err := lock.Precheck(ctx, ttl); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	// A timer that already fired is about to release the lock: too late.
	if l.ended || !l.timer.Stop() {
		return lock.ErrLost
	}
	l.timer.Reset(ttl)
	return nil
}

func (l *lease) Unlock(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended || !l.timer.Stop() {
		return lock.ErrLost
	}
	l.ended = true
	return l.fl.Unlock()
}

// SetIfHeld implements store.FencedLease: the write happens while the lease
// is held, under the lease's own mutex, so its TTL timer cannot release the
// flock (and let another process take it) until the write is done.
func (l *lease) SetIfHeld(ctx context.Context, key, value string, ttl time.Duration) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended {
		return lock.ErrLost
	}
	return l.b.Set(ctx, key, value, ttl)
}
