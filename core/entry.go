package core

import (
	"hash/fnv"
	"sync"
	"sync/atomic"
	"time"
)

// liveGuard is the most a live token (one whose upstream hands out no new
// token before it expires) is withheld before its expiry: enough for a
// business call made with it to arrive in time.
const liveGuard = 2 * time.Second

// entry is one credential: every key registered for the same identity
// shares it.
type entry struct {
	key      string // first key registered, for logs
	id       string
	cacheKey string
	src      Source

	snap       atomic.Pointer[snapshot] // L1: read without locks on every Token call
	refreshing atomic.Bool              // a background refresh is running
	rechecking atomic.Bool              // a background re-check is running
	// busyUntil (Unix ns, wall clock): another node held the lock when this
	// one last tried to refresh a usable token; no new attempt before then.
	busyUntil atomic.Int64
	// waiting counts the callers of this node waiting for a refresh of
	// this key right now: a fetch without the fleet lock is made only for
	// someone who waits.
	waiting atomic.Int32

	// keys is how many keys are registered for it (under Manager.mu).
	keys int

	// Run's schedule (under scheduler.mu): when e is due, its place in
	// the schedule (-1: not in it), and whether it was unregistered.
	dueAt     int64
	heapIndex int
	gone      bool

	mu           sync.Mutex
	heldErr      error     // last refresh failure, returned until heldUntil
	heldUntil    time.Time //
	lastDegraded time.Time // last fetch made without the fleet lock
	// failures counts permanent failures in a row (the hold doubles with
	// each); logged is the failure last logged at warn, and when.
	failures int
	logged   failureLog
}

func (m *Manager) newEntry(key, id string, src Source) *entry {
	p := m.cfg.KeyPrefix
	return &entry{
		key: key, id: id, src: src, heapIndex: -1,
		cacheKey: p + ":" + hashTag(id),
	}
}

// hashTag puts an identity in braces, a Redis Cluster hash tag: a
// credential's value, lock and state keys live in one slot, so one script
// can check the lock and write the value.
func hashTag(id string) string { return "{" + id + "}" }

// lockKey is the key of e's fleet lock (made when needed: a node may hold
// a hundred thousand entries).
func (m *Manager) lockKey(e *entry) string { return m.cfg.KeyPrefix + ":lock:" + hashTag(e.id) }

// statePrefix is FetchRequest.StatePrefix of the credential with identity id.
func (m *Manager) statePrefix(id string) string {
	return m.cfg.KeyPrefix + ":state:" + hashTag(id) + ":"
}

// snapshot is an immutable view of the L1 token with its state boundaries
// precomputed as Unix nanoseconds, so the hot path compares integers.
type snapshot struct {
	tok     Token
	fresh   int64 // before this: fresh
	usable  int64 // before this: stale (served, refresh in background); after: wait
	recheck int64 // re-read the shared cache from here on, in the background
	confirm int64 // from here on, re-read the shared cache before serving
}

// newSnapshot judges tok as of checked, when it was last confirmed against
// the shared cache. Margins are relative to the lifetime the token actually
// got: refresh-ahead at most half of it, the expiry margin at most a tenth,
// so a token granted 300 s still has a fresh phase and never a negative
// one. A token whose upstream hands out no other before RenewAt stays
// fresh until then; if that is no sooner than it would turn unusable, it
// is served until liveGuard before its expiry instead (waiting for a token
// that cannot come yet helps nobody). Fresh never ends after usable.
func (m *Manager) newSnapshot(tok Token, checked time.Time) *snapshot {
	life := tok.lifetime()
	if life == 0 {
		life = tok.ExpiresAt.Sub(checked)
	}
	life = max(life, 0)
	ahead := min(m.cfg.RefreshAhead, life/2)
	margin := min(m.cfg.ExpiryMargin, life/10)
	exp := tok.ExpiresAt
	fresh, usable := exp.Add(-ahead), exp.Add(-margin)
	if !tok.RenewAt.IsZero() {
		fresh = tok.RenewAt
		if !tok.RenewAt.Before(usable) {
			usable = exp.Add(-min(margin, life/50, liveGuard))
		}
	}
	if tok.RenewAt.IsZero() && usable.After(fresh) {
		// Spread: tokens issued together (a fleet's cold start, a store
		// that lost every token) are refreshed over the window, not at
		// once. The point depends on the token alone, so every node
		// agrees on it.
		fresh = fresh.Add(time.Duration(float64(usable.Sub(fresh)) * spread(tok.Value)))
	}
	if !tok.RefreshAt.IsZero() && tok.RenewAt.IsZero() {
		fresh = tok.RefreshAt // a cold start's spread (see coldStart)
	}
	if fresh.After(usable) {
		fresh = usable
	}
	return &snapshot{
		tok:     tok,
		fresh:   fresh.UnixNano(),
		usable:  usable.UnixNano(),
		recheck: checked.Add(m.cfg.LocalTTL).UnixNano(),
		confirm: checked.Add(confirmAfter * m.cfg.LocalTTL).UnixNano(),
	}
}

// maxSpread is how far into the refresh-ahead window a token's refresh
// may be put off: the rest of the window is left for the refresh.
const maxSpread = 0.8

// spread returns, for a token value, a fraction in [0, maxSpread).
func spread(value string) float64 {
	h := fnv.New64a()
	h.Write([]byte(value))
	return float64(h.Sum64()%1_000_000) / 1_000_000 * maxSpread
}

// confirmAfter is, in local TTLs, how long a token not confirmed against
// the shared cache is served without reading it first. Another node may
// have replaced it since, and the old token dies 5 minutes after its
// replacement; a local TTL is at most a minute.
const confirmAfter = 2

func (s *snapshot) isFresh(now time.Time) bool  { return s != nil && now.UnixNano() < s.fresh }
func (s *snapshot) isUsable(now time.Time) bool { return s != nil && now.UnixNano() < s.usable }

// install makes s the L1 snapshot unless L1 already holds a token of a
// higher generation (a slow re-check must not undo a refresh), and
// reschedules Run's refresh of e when the token's stale time moved.
func (m *Manager) install(e *entry, s *snapshot) {
	for {
		cur := e.snap.Load()
		if cur != nil && cur.tok.Generation > s.tok.Generation {
			return
		}
		if e.snap.CompareAndSwap(cur, s) {
			if cur == nil || cur.fresh != s.fresh {
				m.schedule(e)
			}
			return
		}
	}
}

// held returns the error of a recent failed refresh, while it is held.
func (e *entry) held(now time.Time) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.heldErr != nil && now.Before(e.heldUntil) {
		return e.heldErr
	}
	return nil
}
