package core

import (
	"context"
	"errors"
	"time"

	"github.com/wxtoken/wxtoken/internal/backoff"
	"github.com/wxtoken/wxtoken/lock"
)

// Token returns a usable credential for key. On the hot path (a fresh
// token in memory, re-checked within the local TTL) it takes no lock and
// allocates nothing. A stale token is returned while one background refresh
// replaces it; with no usable token, Token waits for a refresh, bounded by
// ctx.
func (m *Manager) Token(ctx context.Context, key string) (Token, error) {
	if tok, ok := m.Fresh(key); ok {
		return tok, nil
	}
	e := m.names.get(key)
	if e == nil {
		return Token{}, unknownKey(key)
	}
	return m.tokenSlow(ctx, e)
}

// Fresh returns the token Token would return at once from memory (fresh,
// and re-checked against the shared store within the local TTL), without
// a context, a lock or an allocation; false when Token would have to ask
// the store or upstream, or the key is unknown: call Token then. A server
// answers most requests with it and makes a request's deadline only for
// the others.
func (m *Manager) Fresh(key string) (Token, bool) {
	e := m.names.get(key)
	if e == nil {
		return Token{}, false
	}
	if s := e.snap.Load(); s != nil {
		now := m.cfg.clock.Now().UnixNano()
		if now < s.fresh && now < s.recheck {
			return s.tok, true
		}
	}
	return Token{}, false
}

func (m *Manager) tokenSlow(ctx context.Context, e *entry) (Token, error) {
	now := m.now()
	s := e.snap.Load()
	if s.isUsable(now) && now.UnixNano() >= s.confirm && !m.storeFailing() {
		// Not confirmed against the shared cache for a while (the node was
		// idle): another node may have replaced it long enough ago that it
		// is dead by now. Read the store before serving it.
		m.recheckNow(ctx, e)
		now, s = m.now(), e.snap.Load()
	}
	switch {
	case s.isFresh(now):
		m.startRecheck(e)
		return s.tok, nil
	case s.isUsable(now):
		m.startBackgroundRefresh(e)
		m.observe(EventStaleServed, e.id, 0, nil)
		return s.tok, nil
	}
	return m.await(ctx, e, want{fresh: true})
}

// await joins (or starts) the refresh for w and waits for it within ctx.
// The refresh itself runs detached from ctx, so one impatient caller does
// not fail the others waiting on it.
//
// A caller with no usable token is patient with upstream outages: when the
// refresh fails with an error that says upstream was briefly unavailable
// (errcode -1, HTTP 5xx, a dropped connection), it waits for the next
// attempt (or another node's token) for up to LockWait in all, within
// ctx, instead of failing its business call. Other failures (a wrong
// secret, a missing suite_ticket) answer at once, and are held.
func (m *Manager) await(ctx context.Context, e *entry, w want) (Token, error) {
	if !w.after.IsZero() {
		// An explicit Refresh or Invalidate: someone saying the cause is
		// gone (a ticket arrived, a secret was fixed) or asking now.
		return m.awaitFlight(ctx, e, w)
	}
	patience := time.Now().Add(m.cfg.LockWait)
	for {
		err := e.held(m.now())
		if err == nil {
			var tok Token
			if tok, err = m.awaitFlight(ctx, e, w); err == nil {
				return tok, nil
			}
		}
		if errors.Is(err, errLockBusy) && ctx.Err() == nil {
			// This caller joined a refresh begun while the node still had
			// a usable token, which does not wait for the lock; the token
			// has since passed its use. Wait in a refresh of its own.
			continue
		}
		if !outage(err) || errors.Is(err, ErrClosed) || ctx.Err() != nil || !time.Now().Before(patience) {
			return Token{}, err
		}
		if s := e.snap.Load(); s != nil && s.isUsable(m.now()) {
			return s.tok, nil // another caller's refresh (or adoption) got one
		}
		if backoff.Sleep(ctx, outagePoll) != nil {
			return Token{}, err
		}
	}
}

// outagePoll is how often a caller patient with an upstream outage looks
// again; each look that finds the failure no longer held joins (or starts)
// one refresh, which adopts another node's token before it asks upstream.
const outagePoll = 20 * time.Millisecond

// outage reports whether err says upstream was briefly unavailable: an
// error that declares itself transient (see IsTransient), as APIError -1,
// HTTPError 5xx and TransportError do.
func outage(err error) bool {
	var t interface{ Transient() bool }
	return errors.As(err, &t) && t.Transient()
}

// awaitFlight joins (or starts) the refresh for w and waits for it.
func (m *Manager) awaitFlight(ctx context.Context, e *entry, w want) (Token, error) {
	e.waiting.Add(1)
	defer e.waiting.Add(-1)
	ch := m.flights.DoChan(w.flightKey(e.id), func() (any, error) {
		if !m.begin() {
			return nil, ErrClosed
		}
		defer m.bg.Done()
		return m.refresh(e, w)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return Token{}, r.Err
		}
		return r.Val.(Token), nil
	case <-ctx.Done():
		return Token{}, ctx.Err()
	}
}

// startBackgroundRefresh starts one refresh of a stale token unless one is
// running, or as many run as the node allows (maxBackgroundRefreshes).
func (m *Manager) startBackgroundRefresh(e *entry) {
	select {
	case m.slots <- struct{}{}:
	default:
		return // Run, or the next caller, asks again
	}
	if !m.refreshIn(e) {
		<-m.slots
	}
}

// refreshIn starts e's background refresh in a slot the caller took, and
// reports whether it did (the refresh then frees the slot). The flag is
// set before the goroutine starts, so a burst of callers starts one
// goroutine, not one each.
func (m *Manager) refreshIn(e *entry) bool {
	if time.Now().UnixNano() < e.busyUntil.Load() {
		return false // another node is refreshing; ask again a lock poll later
	}
	if !e.refreshing.CompareAndSwap(false, true) {
		return false
	}
	if e.held(m.now()) != nil || !m.begin() {
		e.refreshing.Store(false)
		return false
	}
	go func() {
		defer m.bg.Done()
		defer func() { <-m.slots }()
		defer e.refreshing.Store(false)
		w := want{fresh: true}
		m.flights.Do(w.flightKey(e.id), func() (any, error) { return m.refresh(e, w) })
	}()
	return true
}

// startRecheck re-reads the shared cache in the background for a token that
// is fresh in memory but has not been confirmed for the local TTL.
func (m *Manager) startRecheck(e *entry) {
	if !e.rechecking.CompareAndSwap(false, true) {
		return
	}
	if !m.begin() {
		e.rechecking.Store(false)
		return
	}
	go func() {
		defer m.bg.Done()
		defer e.rechecking.Store(false)
		m.recheck(e)
	}()
}

// recheck confirms L1 against the shared cache. A shared token of the
// same or a higher generation is adopted. When the shared copy is missing,
// corrupt or of a lower generation (a cache that lost its data, a write
// that failed earlier), L1 is written back under the fleet lock, so the
// fleet converges on the newest token without a new upstream call and no
// write ever lands over a newer token.
func (m *Manager) recheck(e *entry) {
	ctx, cancel := context.WithTimeout(m.ctx, m.cfg.CacheTimeout+m.cfg.LockTTL)
	defer cancel()
	st := m.store.Load()
	shared, err := m.readShared(ctx, e, st)
	now := m.now()
	cur := e.snap.Load()
	switch {
	case err == nil && (cur == nil || shared.Generation >= cur.tok.Generation):
		if cur != nil && shared.Value != cur.tok.Value {
			m.observe(EventAdopt, e.id, 0, nil)
		}
		m.install(e, m.newSnapshot(shared, now))
	case (err == nil || errors.Is(err, ErrNotFound)) && cur.isUsable(now):
		if tok, err := m.writeBack(ctx, e, st, cur.tok); err == nil {
			m.install(e, m.newSnapshot(tok, m.now()))
			return
		}
		m.install(e, m.newSnapshot(cur.tok, now))
	case cur != nil:
		// The cache is unreachable: keep serving L1, ask again later.
		m.install(e, m.newSnapshot(cur.tok, now))
	}
}

// writeBack publishes tok, a token this node holds, under a lease of its
// own if the shared entry is missing, corrupt or of a lower generation,
// and returns it; if the shared entry is as new or newer, it returns that
// one. It returns an error when it could not decide: lock.ErrNotAcquired
// when another node holds the lock (its holder will publish), else the
// store's failure.
func (m *Manager) writeBack(ctx context.Context, e *entry, st *store, tok Token) (Token, error) {
	h, err := m.tryLock(ctx, e, st)
	if err != nil {
		return Token{}, err
	}
	defer m.unlock(ctx, e, h)
	shared, err := m.readShared(ctx, e, st)
	switch {
	case err == nil && shared.Generation >= tok.Generation:
		return shared, nil
	case err != nil && !errors.Is(err, ErrNotFound):
		return Token{}, err
	}
	doc, err := EncodeToken(tok)
	if err != nil {
		return Token{}, err
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.CacheTimeout)
	defer cancel()
	if err := h.write(wctx, st.cache, st.fenced, e.cacheKey, doc, cacheTTL(tok, m.now())); err != nil {
		if !errors.Is(err, lock.ErrLost) {
			m.cacheFailed(e, "set", err)
		}
		return Token{}, err
	}
	m.cfg.logger.Info("wxtoken: wrote the token held in memory back to the shared cache", "id", e.id, "generation", tok.Generation)
	return tok, nil
}

// readShared returns the shared token, ErrNotFound for a miss or a corrupt
// value (logged; the next write replaces it), or the cache's error.
func (m *Manager) readShared(ctx context.Context, e *entry, st *store) (Token, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.CacheTimeout)
	defer cancel()
	raw, err := st.cache.Get(ctx, e.cacheKey)
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			m.cacheFailed(e, "get", err)
		} else {
			m.health.Load().answered()
		}
		return Token{}, err
	}
	m.health.Load().answered()
	tok, err := DecodeToken(raw)
	if err != nil {
		m.observe(EventCorrupt, e.id, 0, err)
		m.cfg.logger.Warn("wxtoken: corrupt value in the shared cache, treated as a miss", "id", e.id, "key", e.cacheKey, "err", err)
		return Token{}, ErrNotFound
	}
	return tok, nil
}

func (m *Manager) cacheFailed(e *entry, op string, err error) {
	if m.ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return // cut off by Close, not a failing cache
	}
	m.health.Load().failed(time.Now())
	m.observe(EventCacheError, e.id, 0, err)
	m.cfg.logger.Warn("wxtoken: shared cache "+op+" failed", "id", e.id, "err", err)
}

// cacheTTL is how long the shared entry of tok lives: its remaining
// lifetime, never zero or negative (which a Cache reads as "forever").
func cacheTTL(tok Token, now time.Time) time.Duration {
	return max(tok.ExpiresAt.Sub(now), time.Second)
}

// recheckNow re-reads the shared cache for e, sharing the read with any
// other caller doing the same, and waits for it within ctx.
func (m *Manager) recheckNow(ctx context.Context, e *entry) {
	ch := m.flights.DoChan("recheck\x00"+e.id, func() (any, error) {
		if !m.begin() {
			return nil, ErrClosed
		}
		defer m.bg.Done()
		m.recheck(e)
		return nil, nil
	})
	select {
	case <-ch:
	case <-ctx.Done():
	}
}

// storeFailing reports whether a shared-cache operation failed within the
// last local TTL: while it did, a token not confirmed for a while is served
// without waiting for a read that would likely fail too.
func (m *Manager) storeFailing() bool {
	return m.health.Load().failedWithin(time.Now(), m.cfg.LocalTTL)
}
