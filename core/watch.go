package core

import (
	"context"
	"time"

	contract "github.com/wxtoken/wxtoken/store"
)

// Watcher is store.Watcher: a Cache that can tell a client that a key
// was written. The contract lives in package store; this alias is kept
// for a release.
type Watcher = contract.Watcher

// watchPollDivisor sets how often a node that waits for a notice still
// tries the lock: LockTTL / watchPollDivisor. A holder that died leaves
// its lease to expire after LockTTL; a waiter then gets the lock at most
// LockTTL/4 later, within the lock wait (which must exceed the lock TTL).
const watchPollDivisor = 4

// watchPoll is the longest a watching waiter sleeps between two lock
// attempts.
func (m *Manager) watchPoll() time.Duration {
	return max(m.cfg.LockTTL/watchPollDivisor, lockPoll.Max)
}

// watchShared starts watching e's cache key if the store can. It returns
// a nil channel otherwise, or when the watch failed: the caller then
// polls. stop is never nil.
func (m *Manager) watchShared(ctx context.Context, e *entry, st *store) (<-chan struct{}, func()) {
	w, ok := st.cache.(Watcher)
	if !ok {
		return nil, func() {}
	}
	wctx, cancel := context.WithTimeout(ctx, m.cfg.CacheTimeout)
	defer cancel()
	ch, stop, err := w.Watch(wctx, e.cacheKey)
	if err != nil {
		m.cacheFailed(e, "watch", err)
		return nil, func() {}
	}
	return ch, stop
}
