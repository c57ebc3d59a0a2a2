package core

import (
	"context"
	"time"
)

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
