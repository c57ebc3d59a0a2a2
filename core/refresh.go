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

// refresh obtains a token that satisfies w: from the shared cache if
// another node already published one, otherwise from upstream under the
// fleet lock. It runs detached from any caller, bounded by the lock wait
// plus the lease.
func (m *Manager) refresh(e *entry, w want) (Token, error) {
	ctx, cancel := context.WithTimeout(m.ctx, m.cfg.lockWait+m.cfg.lockTTL)
	defer cancel()
	st := m.store.Load()
	if tok, ok := m.adopt(ctx, e, st, w); ok {
		return tok, nil
	}
	lease, tok, err := m.lockOrAdopt(ctx, e, st, w)
	switch {
	case errors.Is(err, errStoreDown):
		return m.degradedRefresh(ctx, e, st, w, err)
	case err != nil:
		return m.fallback(e, w, err)
	case lease == nil:
		return tok, nil
	}
	leaseEnd := time.Now().Add(m.cfg.lockTTL)
	defer m.unlock(ctx, e, lease)
	// Double-check under the lock: the previous holder may have published
	// just before releasing it.
	if tok, ok := m.adopt(ctx, e, st, w); ok {
		return tok, nil
	}
	// Stop the fetch well before the lease ends, leaving time to publish.
	fctx, fcancel := context.WithDeadline(ctx, leaseEnd.Add(-m.cfg.lockTTL/4))
	defer fcancel()
	tok, err = m.fetch(fctx, e, st, w)
	if err != nil {
		return m.fallback(e, w, err)
	}
	m.publish(ctx, e, st, tok, lease)
	return tok, nil
}

// adopt takes the shared token if it satisfies w.
func (m *Manager) adopt(ctx context.Context, e *entry, st *store, w want) (Token, bool) {
	tok, err := m.readShared(ctx, e, st)
	if err != nil {
		return Token{}, false
	}
	now := m.now()
	s := m.newSnapshot(tok, now)
	if !w.accepts(s, now) {
		return Token{}, false
	}
	if cur := e.snap.Load(); cur == nil || cur.tok.Value != tok.Value {
		m.observe(EventAdopt, e.id, 0, nil)
	}
	e.install(s)
	return tok, true
}

// lockOrAdopt takes the fleet lock, polling the shared cache between
// attempts: a token another node publishes meanwhile is adopted and no
// lease is returned. It gives up after the lock wait with ErrLockTimeout,
// or with errStoreDown when the lock's store cannot be asked.
func (m *Manager) lockOrAdopt(ctx context.Context, e *entry, st *store, w want) (lock.Lease, Token, error) {
	start := time.Now()
	deadline := start.Add(m.cfg.lockWait)
	for attempt := 0; ; attempt++ {
		lctx, cancel := context.WithTimeout(ctx, m.cfg.cacheTimeout)
		lease, err := st.locker.TryLock(lctx, e.lockKey, m.cfg.lockTTL)
		cancel()
		if err == nil {
			if attempt > 0 {
				m.observe(EventLockWait, e.id, time.Since(start), nil)
			}
			return lease, Token{}, nil
		}
		if ctx.Err() != nil {
			return nil, Token{}, ctx.Err()
		}
		if !errors.Is(err, lock.ErrNotAcquired) {
			return nil, Token{}, fmt.Errorf("%w: %w", errStoreDown, err)
		}
		wait := min(lockPoll.Delay(attempt), time.Until(deadline))
		if wait <= 0 {
			m.observe(EventLockWait, e.id, time.Since(start), ErrLockTimeout)
			return nil, Token{}, ErrLockTimeout
		}
		if err := backoff.Sleep(ctx, wait); err != nil {
			return nil, Token{}, err
		}
		if tok, ok := m.adopt(ctx, e, st, w); ok {
			m.observe(EventLockWait, e.id, time.Since(start), nil)
			return nil, tok, nil
		}
	}
}

func (m *Manager) unlock(ctx context.Context, e *entry, lease lock.Lease) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.cacheTimeout)
	defer cancel()
	if err := lease.Unlock(ctx); err != nil {
		m.cfg.logger.Warn("wxtoken: releasing the refresh lock failed; it expires by itself", "id", e.id, "err", err)
	}
}

// fetch calls the Source, retrying transient errors with backoff while ctx
// allows. A failure is held (see WithErrorHold) so that callers arriving
// next do not each call upstream again.
func (m *Manager) fetch(ctx context.Context, e *entry, st *store, w want) (Token, error) {
	req := FetchRequest{ID: e.id, Rejected: w.reject, Deps: m, State: st.cache, StatePrefix: e.statePrefix}
	start := time.Now()
	var (
		tok Token
		err error
	)
	for attempt := 0; attempt < m.cfg.fetchAttempts; attempt++ {
		if attempt > 0 {
			if backoff.Sleep(ctx, fetchRetry.Delay(attempt-1)) != nil {
				break
			}
		}
		tok, err = e.src.Fetch(ctx, req)
		if err == nil {
			err = m.checkFetched(&tok)
		}
		if err == nil || !IsTransient(err) || ctx.Err() != nil {
			break
		}
	}
	m.observe(EventFetch, e.id, time.Since(start), err)
	if err != nil {
		holdFor := m.cfg.errorHold
		if IsTransient(err) {
			holdFor = min(holdFor, transientHold)
		}
		e.hold(err, m.now().Add(holdFor))
		m.cfg.logger.Warn("wxtoken: upstream fetch failed", "id", e.id, "err", err)
		return Token{}, err
	}
	e.hold(nil, time.Time{})
	m.cfg.logger.Debug("wxtoken: fetched a new token", "id", e.id, "expires_in", tok.ExpiresAt.Sub(tok.IssuedAt).Round(time.Second))
	return tok, nil
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
	return nil
}

// publish installs a fetched token in L1 first, so that a failed cache
// write never throws away a token the daily quota paid for. Under a lease
// that can fence its writes, the write happens only while the lock is
// still held.
func (m *Manager) publish(ctx context.Context, e *entry, st *store, tok Token, lease lock.Lease) {
	now := m.now()
	e.install(m.newSnapshot(tok, now))
	fl, fenced := lease.(FencedLease)
	if !fenced {
		m.writeShared(ctx, e, st, tok, now)
		return
	}
	doc, err := EncodeToken(tok)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.cacheTimeout)
	defer cancel()
	switch err := fl.SetIfHeld(ctx, e.cacheKey, doc, cacheTTL(tok, now)); {
	case errors.Is(err, lock.ErrLost):
		m.cfg.logger.Warn("wxtoken: the refresh lock ran out before the token was published; not overwriting the shared token", "id", e.id)
	case err != nil:
		m.cacheFailed(e, "fenced set", err)
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
// refresh keeps serving L1 while it is usable; otherwise one fetch without
// the fleet lock is allowed per degraded interval, logged and counted.
func (m *Manager) degradedRefresh(ctx context.Context, e *entry, st *store, w want, cause error) (Token, error) {
	now := m.now()
	if s := e.snap.Load(); w.reject == "" && w.after.IsZero() && s.isUsable(now) {
		return s.tok, nil
	}
	e.mu.Lock()
	allowed := e.lastDegraded.IsZero() || now.Sub(e.lastDegraded) >= m.cfg.degradedInterval
	if allowed {
		e.lastDegraded = now
	}
	e.mu.Unlock()
	if !allowed {
		return m.fallback(e, w, fmt.Errorf("%w (%w); the next local refresh is rate limited", ErrCacheUnavailable, cause))
	}
	m.observe(EventDegraded, e.id, 0, cause)
	m.cfg.logger.Warn("wxtoken: shared store unreachable, refreshing without the fleet lock", "id", e.id, "err", cause)
	fctx, cancel := context.WithTimeout(ctx, m.cfg.lockTTL)
	defer cancel()
	tok, err := m.fetch(fctx, e, st, w)
	if err != nil {
		return m.fallback(e, w, err)
	}
	m.publish(ctx, e, st, tok, nil)
	return tok, nil
}
