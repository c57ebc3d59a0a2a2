package core

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wxtoken/wxtoken/internal/backoff"
	"github.com/wxtoken/wxtoken/lock"
)

// Polling and retry schedules of a refresh.
var (
	lockPoll   = backoff.Policy{Min: 20 * time.Millisecond, Max: 250 * time.Millisecond}
	fetchRetry = backoff.Policy{Min: 200 * time.Millisecond, Max: 5 * time.Second}
)

// transientHold caps how long a transient failure is held: long enough to
// stop a burst of callers from each retrying, short enough to recover fast.
const transientHold = time.Second

var errStoreDown = errors.New("core: lock store unreachable")

// errLockBusy: another node holds the lock while this one still has a
// usable token to serve; it waits for nothing and serves that.
var errLockBusy = errors.New("core: another node is refreshing")

// refresh obtains a token that satisfies w: from the shared cache if
// another node already published one, otherwise from upstream under the
// fleet lock. It runs detached from any caller, bounded by the lock wait
// plus the lease.
func (m *Manager) refresh(e *entry, w want) (Token, error) {
	ctx, cancel := context.WithTimeout(m.ctx, m.cfg.LockWait+m.cfg.LockTTL)
	defer cancel()
	st := m.store.Load()
	if tok, ok := m.adopt(ctx, e, st, w); ok {
		return tok, nil
	}
	h, tok, err := m.lockOrAdopt(ctx, e, st, w)
	switch {
	case errors.Is(err, errStoreDown):
		return m.degradedRefresh(ctx, e, st, w, err)
	case err != nil:
		return m.fallback(e, w, err)
	case h == nil:
		return tok, nil
	}
	defer m.unlock(ctx, e, h)
	return m.refreshHeld(ctx, e, st, w, h)
}

// refreshHeld is the part of a refresh done under the fleet lock.
func (m *Manager) refreshHeld(ctx context.Context, e *entry, st *store, w want, h *held) (Token, error) {
	// Double-check: the previous holder may have published just before
	// releasing the lock.
	shared, err := m.readShared(ctx, e, st)
	// Nothing anywhere: this fetch is part of a cold start.
	cold := errors.Is(err, ErrNotFound) && e.snap.Load() == nil && w.ordinary()
	if err == nil {
		if tok, ok := m.take(e, shared, w); ok {
			return tok, nil
		}
	}
	// The newest token this node knows of: generations count on from it.
	cur := shared
	if s := e.snap.Load(); s != nil && (err != nil || s.tok.Generation > cur.Generation) {
		cur = s.tok
	}
	if w.reject != "" && cur.Value == w.reject {
		verdict := m.verifyReport(ctx, e, st, cur)
		if verdict == reportAlive || verdict == reportUnknown && !m.allowUnverified(ctx, e, st, cur) {
			return cur, nil
		}
		if err := m.spendInvalidation(ctx, e, st, verdict == reportDead); err != nil {
			// cur is the newest token known and the one rejected: memory
			// holds nothing better to serve.
			return Token{}, err
		}
		m.cfg.logger.Info("wxtoken: replacing a token a caller reported as rejected", "id", e.id, "generation", cur.Generation,
			"verified_dead", verdict == reportDead)
	}
	if w.ordinary() {
		// Upstream hands out nothing new before RenewAt: asking sooner
		// would only return the same token.
		if wait := cur.RenewAt.Sub(m.now()); wait > 0 {
			if err := backoff.Sleep(ctx, min(wait, m.cfg.LockTTL)); err != nil {
				return m.fallback(e, w, err)
			}
		}
	}
	fctx, fcancel := h.bind(ctx)
	tok, calls, err := m.fetch(fctx, e, st, w, h)
	fcancel()
	// The day's calls are counted after the publish (still under the
	// lock), so that waiting nodes do not wait for the bookkeeping.
	defer m.countCalls(ctx, e, st, calls)
	if err != nil {
		return m.fallback(e, w, err)
	}
	tok.Generation = cur.Generation + 1
	if tok.Value == cur.Value {
		tok.Generation = cur.Generation // upstream answered the live token again
	}
	if cold {
		m.cold.spread(&tok, m.cfg.RefreshAhead, m.cfg.ExpiryMargin)
	}
	return m.publish(ctx, e, st, tok, h), nil
}

// nobodyWaits is the answer of a refresh that would have fetched without
// the fleet lock for no caller. It is transient: a caller that joined the
// refresh just as it decided looks again, and its own refresh may fetch.
type nobodyWaits struct{ err error }

func (e nobodyWaits) Error() string { return e.err.Error() }
func (e nobodyWaits) Unwrap() error { return e.err }
func (nobodyWaits) Transient() bool { return true }

// adopt takes the shared token if it satisfies w.
func (m *Manager) adopt(ctx context.Context, e *entry, st *store, w want) (Token, bool) {
	tok, err := m.readShared(ctx, e, st)
	if err != nil {
		return Token{}, false
	}
	return m.take(e, tok, w)
}

// take installs tok, read from the shared cache, if it satisfies w and is
// no older than the token in memory.
func (m *Manager) take(e *entry, tok Token, w want) (Token, bool) {
	now := m.now()
	s := m.newSnapshot(tok, now)
	if !w.accepts(s, now) {
		return Token{}, false
	}
	cur := e.snap.Load()
	if cur != nil && cur.tok.Generation > tok.Generation {
		return Token{}, false
	}
	if cur == nil || cur.tok.Value != tok.Value {
		m.observe(EventAdopt, e.id, 0, nil)
	}
	m.install(e, s)
	return tok, true
}

// lockOrAdopt takes the fleet lock, polling the shared cache between
// attempts: a token another node publishes meanwhile is adopted and no
// lease is returned. It gives up after the lock wait with ErrLockTimeout
// (ErrCacheUnavailable if the store failed without being down), or with
// errStoreDown once the store is down (see storeHealth: one slow answer
// under load is not an outage, and treating it as one would send every
// waiting node upstream on its own).
//
// A refresh whose node still holds a usable token (the background refresh
// of a stale one) does not wait: when another node holds the lock, that
// node is refreshing for the fleet, and this one adopts its token at its
// next re-check. Only nodes with nothing to serve wait, so a fleet of any
// size makes one lock attempt per node per refresh, not one per poll; and
// on a store that tells writes (a Watcher) those nodes sleep until the
// token is published, trying the lock again only every LockTTL/4 in case
// its holder died.
func (m *Manager) lockOrAdopt(ctx context.Context, e *entry, st *store, w want) (*held, Token, error) {
	start := time.Now()
	deadline := start.Add(m.cfg.LockWait)
	canServe := w.servesMeanwhile(e.snap.Load(), m.now())
	storeFailures := 0          // in a row
	var notices <-chan struct{} // writes of the token key, if the store tells
	watching := false
	for attempt := 0; ; attempt++ {
		h, err := m.tryLock(ctx, e, st)
		if err == nil {
			if attempt > 0 {
				m.observe(EventLockWait, e.id, time.Since(start), nil)
			}
			return h, Token{}, nil
		}
		if ctx.Err() != nil {
			return nil, Token{}, ctx.Err()
		}
		switch {
		case !errors.Is(err, lock.ErrNotAcquired):
			// A node with a token to serve serves it and asks nothing more
			// of a failing store; one with nothing goes upstream alone only
			// once the store has failed for a sustained while: a slow
			// answer is not an outage.
			storeFailures++
			if canServe || m.health.Load().down(time.Now()) {
				return nil, Token{}, fmt.Errorf("%w: %w", errStoreDown, err)
			}
		case canServe:
			e.busyUntil.Store(time.Now().Add(lockPoll.Max).UnixNano())
			return nil, Token{}, errLockBusy
		default:
			storeFailures = 0
			if !watching && w.ordinary() {
				// Nothing to serve and another node is refreshing: sleep
				// until it publishes, if the store can say when. (A report
				// or a forced refresh polls: its holder may end without a
				// write, having found the reported token alive.)
				watching = true
				var stop func()
				notices, stop = m.watchShared(ctx, e, st)
				defer stop()
				if notices != nil {
					// A publish since the last read would not be noticed.
					if tok, ok := m.adopt(ctx, e, st, w); ok {
						m.observe(EventLockWait, e.id, time.Since(start), nil)
						return nil, tok, nil
					}
				}
			}
		}
		poll := lockPoll.Delay(attempt)
		if notices != nil {
			poll = m.watchPoll()
		}
		wait := min(poll, time.Until(deadline))
		if wait <= 0 {
			if storeFailures > 0 {
				if m.health.Load().down(time.Now()) {
					return nil, Token{}, fmt.Errorf("%w: %w", errStoreDown, err)
				}
				// Slow, not down: the store answered now and then, never
				// with the lock or a token.
				return nil, Token{}, fmt.Errorf("%w: %w", ErrCacheUnavailable, err)
			}
			m.observe(EventLockWait, e.id, time.Since(start), ErrLockTimeout)
			return nil, Token{}, ErrLockTimeout
		}
		if err := sleepOrNotice(ctx, wait, notices); err != nil {
			return nil, Token{}, err
		}
		if tok, ok := m.adopt(ctx, e, st, w); ok {
			m.observe(EventLockWait, e.id, time.Since(start), nil)
			return nil, tok, nil
		}
	}
}

// sleepOrNotice waits for d, a notice (when notices is not nil), or the
// end of ctx, whichever comes first; it returns ctx's error only.
func sleepOrNotice(ctx context.Context, d time.Duration, notices <-chan struct{}) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-notices:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// tryLock makes one attempt at the fleet lock and starts the lease's
// heartbeat. The lease's end is counted from before the attempt.
func (m *Manager) tryLock(ctx context.Context, e *entry, st *store) (*held, error) {
	asked := time.Now()
	lctx, cancel := context.WithTimeout(ctx, m.cfg.CacheTimeout)
	defer cancel()
	lease, err := st.locker.TryLock(lctx, m.lockKey(e), m.cfg.LockTTL)
	switch {
	case err == nil || errors.Is(err, lock.ErrNotAcquired):
		m.health.Load().answered()
	case ctx.Err() == nil:
		m.health.Load().failed(time.Now())
	}
	if err != nil {
		return nil, err
	}
	return hold(lease, m.cfg.LockTTL, asked, m.cfg.CacheTimeout), nil
}

func (m *Manager) unlock(ctx context.Context, e *entry, h *held) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.CacheTimeout)
	defer cancel()
	if err := h.release(ctx); err != nil && !errors.Is(err, lock.ErrLost) {
		m.cfg.logger.Warn("wxtoken: releasing the refresh lock failed; it expires by itself", "id", e.id, "err", err)
	}
}

// fetch calls the Source, retrying transient errors with backoff while ctx
// allows. A failure is held (see Settings.ErrorHold) so that callers
// arriving next do not each call upstream again.
//
// It also returns how many calls it made.
func (m *Manager) fetch(ctx context.Context, e *entry, st *store, w want, h *held) (Token, int, error) {
	req := m.fetchRequest(e, st, w, h)
	start := time.Now()
	var (
		tok   Token
		err   error
		calls int
	)
	for attempt := 0; attempt < m.cfg.FetchAttempts; attempt++ {
		if attempt > 0 {
			if backoff.Sleep(ctx, fetchRetry.Delay(attempt-1)) != nil {
				break
			}
		}
		calls++
		tok, err = e.src.Fetch(ctx, req)
		if err == nil {
			err = m.checkFetched(&tok)
		}
		if err == nil || !IsTransient(err) || ctx.Err() != nil {
			break
		}
	}
	m.observe(EventFetch, e.id, time.Since(start), err)
	if err != nil && m.ctx.Err() != nil {
		// Close cut the fetch short: not upstream's failure, and nothing
		// to hold for callers that come next.
		m.cfg.logger.Debug("wxtoken: fetch abandoned, the Manager is closing", "id", e.id)
		return Token{}, calls, err
	}
	if err != nil {
		m.failed(e, err, m.now())
		return Token{}, calls, err
	}
	e.succeeded()
	m.cfg.logger.Info("wxtoken: fetched a token", "id", e.id, "expires_in", tok.ExpiresAt.Sub(tok.IssuedAt).Round(time.Second), "calls", calls)
	return tok, calls, nil
}

// checkFetched refuses an empty or expired token (never cache an error as
// a token) and stamps the fetch time.
func (m *Manager) checkFetched(tok *Token) error {
	now := m.now()
	if tok.Value == "" {
		return errors.New("core: Source returned an empty token")
	}
	if !tok.ExpiresAt.After(now) {
		return fmt.Errorf("core: Source returned a token that expired at %s", tok.ExpiresAt.Format(time.RFC3339))
	}
	if tok.IssuedAt.IsZero() || tok.IssuedAt.After(now) {
		tok.IssuedAt = now
	}
	// Keep exactly what the cache document can hold, so that the copy in
	// memory and the shared copy of one token compare equal.
	tok.IssuedAt = tok.IssuedAt.Round(0).Truncate(time.Millisecond)
	tok.ExpiresAt = tok.ExpiresAt.Round(0).Truncate(time.Millisecond)
	if !tok.RenewAt.IsZero() {
		tok.RenewAt = tok.RenewAt.Round(0).Truncate(time.Millisecond)
	}
	tok.Generation = 0
	return nil
}

// publish writes a fetched token to the shared cache while the lease
// holds, and returns the token callers should get. If the lease ended
// first, the token is not written: the node adopts whatever the shared
// cache holds from the node that took the lock next (see lostLease). A
// write that fails for another reason keeps the token in memory (the daily
// quota paid for it); the next re-check writes it back.
func (m *Manager) publish(ctx context.Context, e *entry, st *store, tok Token, h *held) Token {
	now := m.now()
	doc, err := EncodeToken(tok)
	if err != nil {
		return tok
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.CacheTimeout)
	defer cancel()
	switch err := h.write(wctx, st.cache, st.fenced, e.cacheKey, doc, cacheTTL(tok, now)); {
	case errors.Is(err, lock.ErrLost):
		m.observe(EventFenced, e.id, 0, nil)
		m.cfg.logger.Warn("wxtoken: the refresh lock ran out before the token was published; not overwriting the shared token", "id", e.id, "generation", tok.Generation)
		return m.lostLease(ctx, e, st, tok)
	case err != nil:
		m.cacheFailed(e, "set", err)
	}
	m.install(e, m.newSnapshot(tok, now))
	return tok
}

// lostLease settles a token fetched under a lease that ended before it
// was published. It never overwrites the shared token: under a lease of
// its own it adopts a shared token as new or newer, or writes tok back
// where the entry is missing or older. When another node holds the lock,
// that node is refreshing for the fleet: lostLease waits, at most the lock
// wait, for its publish and adopts it. Only when nothing can be decided is
// tok itself returned (upstream issued it; it is valid until retired).
func (m *Manager) lostLease(ctx context.Context, e *entry, st *store, tok Token) Token {
	deadline := time.Now().Add(m.cfg.LockWait)
	for attempt := 0; ; attempt++ {
		got, err := m.writeBack(ctx, e, st, tok)
		if err == nil {
			m.install(e, m.newSnapshot(got, m.now()))
			return got
		}
		wait := min(lockPoll.Delay(attempt), time.Until(deadline))
		if !errors.Is(err, lock.ErrNotAcquired) || wait <= 0 || sleepOrNotice(ctx, wait, nil) != nil {
			return tok
		}
	}
}

// fallback answers a refresh that failed: with the L1 token when it still
// satisfies a relaxed w (usable, not the rejected value), else the error.
func (m *Manager) fallback(e *entry, w want, err error) (Token, error) {
	s := e.snap.Load()
	if (want{reject: w.reject}).accepts(s, m.now()) {
		return s.tok, nil
	}
	return Token{}, err
}

// degradedRefresh runs when the lock's store is unreachable. An ordinary
// refresh keeps serving L1 while it is usable; otherwise, when a caller
// waits, one fetch without the fleet lock is allowed per degraded
// interval, logged and counted. The
// token is numbered after the one in memory and kept there; the re-check
// writes it back under the lock once the store answers.
func (m *Manager) degradedRefresh(ctx context.Context, e *entry, st *store, w want, cause error) (Token, error) {
	now := m.now()
	s := e.snap.Load()
	if w.servesMeanwhile(s, now) {
		return s.tok, nil
	}
	if e.waiting.Load() == 0 {
		// A background refresh (Run's) with no caller waiting: a token
		// fetched alone would serve no one and retire the fleet's.
		return Token{}, nobodyWaits{fmt.Errorf("%w (%w); no caller waits, so nothing is fetched without the fleet lock", ErrCacheUnavailable, cause)}
	}
	e.mu.Lock()
	allowed := e.lastDegraded.IsZero() || now.Sub(e.lastDegraded) >= m.cfg.DegradedInterval
	if allowed {
		e.lastDegraded = now
	}
	e.mu.Unlock()
	if !allowed {
		return m.fallback(e, w, fmt.Errorf("%w (%w); the next local refresh is rate limited", ErrCacheUnavailable, cause))
	}
	m.observe(EventDegraded, e.id, 0, cause)
	m.cfg.logger.Warn("wxtoken: shared store unreachable, refreshing without the fleet lock", "id", e.id, "err", cause)
	fctx, cancel := context.WithTimeout(ctx, m.cfg.LockTTL)
	defer cancel()
	// Calls made without the lock are not counted in the store: it is
	// unreachable, and the count is kept only under the lock.
	tok, _, err := m.fetch(fctx, e, st, w, nil)
	if err != nil {
		return m.fallback(e, w, err)
	}
	if s != nil {
		tok.Generation = s.tok.Generation + 1
	} else {
		tok.Generation = 1
	}
	m.install(e, m.newSnapshot(tok, m.now()))
	return tok, nil
}
