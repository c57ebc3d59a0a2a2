package core

import (
	"context"
	"math/rand/v2"
	"time"
)

// staleRetry is how soon Run looks again at a credential whose stale
// token it could not replace yet (another node held the lock, the store
// or upstream failed): a replacement installed meanwhile reschedules it.
const staleRetry = time.Second

// Run keeps every registered credential fresh with no traffic: each
// credential has a timer for when its token turns stale (a point spread
// over the refresh-ahead window, see Settings.RefreshAhead, plus a little
// jitter per node), and a refresh, or the adoption of the token another
// node already fetched, starts then in the background. A credential
// costs nothing between two of its refreshes, however many are
// registered. It returns ctx's error when ctx ends, or ErrClosed after
// Close. Every node may run it: the fleet lock makes sure only one of
// them calls upstream. Concurrent calls share one schedule.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.runs++; m.runs == 1 {
		m.running.Store(true)
		for _, e := range m.byID {
			m.schedule(e)
		}
	}
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.runs--; m.runs == 0 {
			m.running.Store(false)
			for _, e := range m.byID {
				e.disarm()
			}
		}
	}()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-m.ctx.Done():
		return ErrClosed
	}
}

// schedule arms e's timer for when its token turns stale (at once when it
// has none, or none fresh), while Run runs.
func (m *Manager) schedule(e *entry) {
	if !m.running.Load() {
		return
	}
	var wait time.Duration
	if s := e.snap.Load(); s != nil {
		now := m.now().UnixNano()
		jitter := max(s.usable-s.fresh, 0) / 10
		wait = time.Duration(s.fresh - now + rand.Int64N(jitter+1))
	}
	e.arm(max(wait, 0), func() { m.due(e) })
}

// due runs when e's timer fires: a stale or missing token is refreshed in
// the background, and looked at again staleRetry later unless the new
// token reschedules it first.
func (m *Manager) due(e *entry) {
	if !m.running.Load() || m.ctx.Err() != nil {
		return
	}
	if s := e.snap.Load(); s.isFresh(m.now()) {
		m.schedule(e) // replaced meanwhile
		return
	}
	e.arm(staleRetry, func() { m.due(e) })
	m.startBackgroundRefresh(e)
}

// arm sets e's timer to run f after d, unless e was unregistered.
func (e *entry) arm(d time.Duration, f func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.gone {
		return
	}
	if e.timer == nil {
		e.timer = time.AfterFunc(d, f)
		return
	}
	e.timer.Reset(d)
}

// disarm stops e's timer.
func (e *entry) disarm() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.timer != nil {
		e.timer.Stop()
	}
}

// stopTimer stops e's timer for good: e was unregistered.
func (e *entry) stopTimer() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.gone = true
	if e.timer != nil {
		e.timer.Stop()
	}
}
