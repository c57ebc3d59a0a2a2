package core

import (
	"sync"
	"sync/atomic"
	"time"
)

// recentFetchGrace caps the grace a just-fetched token gets against being
// judged stale (see snapshot), for upstreams that return the live token
// with its remaining lifetime instead of a new one.
const recentFetchGrace = 30 * time.Second

// entry is one credential: every key registered for the same identity
// shares it.
type entry struct {
	key         string // first key registered, for logs
	id          string
	cacheKey    string
	lockKey     string
	statePrefix string
	src         Source

	snap       atomic.Pointer[snapshot] // L1: read without locks on every Token call
	refreshing atomic.Bool              // a background refresh is running
	rechecking atomic.Bool              // a background re-check is running

	mu           sync.Mutex
	heldErr      error     // last refresh failure, returned until heldUntil
	heldUntil    time.Time //
	lastDegraded time.Time // last fetch made without the fleet lock
}

func (m *Manager) newEntry(key, id string, src Source) *entry {
	p := m.cfg.prefix
	return &entry{
		key: key, id: id, src: src,
		cacheKey:    p + ":" + id,
		lockKey:     p + ":lock:" + id,
		statePrefix: p + ":state:" + id + ":",
	}
}

// snapshot is an immutable view of the L1 token with its state boundaries
// precomputed as Unix nanoseconds, so the hot path compares integers.
type snapshot struct {
	tok     Token
	fresh   int64 // before this: fresh
	usable  int64 // before this: stale (served, refresh in background); after: wait
	recheck int64 // re-read the shared cache from here on
}

// newSnapshot judges tok as of checked, when it was last confirmed against
// the shared cache. Margins are relative to the lifetime the token actually
// got: refresh-ahead at most half of it, the expiry margin at most a tenth,
// so a token granted 300 s still has a fresh phase and never a negative
// one. A token fetched moments ago is not judged stale for a twentieth of
// its lifetime (at most recentFetchGrace), so an upstream that returns the
// live token with its remaining lifetime is not asked again at once.
func (m *Manager) newSnapshot(tok Token, checked time.Time) *snapshot {
	life := tok.lifetime()
	if life == 0 {
		life = tok.ExpiresAt.Sub(checked)
	}
	if life < 0 {
		life = 0
	}
	ahead := min(m.cfg.refreshAhead, life/2)
	margin := min(m.cfg.expiryMargin, life/10)
	exp := tok.ExpiresAt
	fresh, usable := exp.Add(-ahead), exp.Add(-margin)
	if !tok.IssuedAt.IsZero() {
		grace := tok.IssuedAt.Add(min(life/20, recentFetchGrace))
		if grace.After(exp) {
			grace = exp
		}
		if grace.After(fresh) {
			fresh = grace
		}
		if grace.After(usable) {
			usable = grace
		}
	}
	return &snapshot{
		tok:     tok,
		fresh:   fresh.UnixNano(),
		usable:  usable.UnixNano(),
		recheck: checked.Add(m.cfg.localTTL).UnixNano(),
	}
}

func (s *snapshot) isFresh(now time.Time) bool  { return s != nil && now.UnixNano() < s.fresh }
func (s *snapshot) isUsable(now time.Time) bool { return s != nil && now.UnixNano() < s.usable }

// install makes s the L1 snapshot unless L1 already holds a token issued
// later (a slow re-check must not undo a refresh).
func (e *entry) install(s *snapshot) {
	for {
		cur := e.snap.Load()
		if cur != nil && cur.tok.Value != s.tok.Value && s.tok.IssuedAt.Before(cur.tok.IssuedAt) {
			return
		}
		if e.snap.CompareAndSwap(cur, s) {
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

func (e *entry) hold(err error, until time.Time) {
	e.mu.Lock()
	e.heldErr, e.heldUntil = err, until
	e.mu.Unlock()
}
