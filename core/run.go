package core

import (
	"context"
	"math/rand/v2"
	"time"
)

// runMinWait keeps Run from spinning while a refresh it started is still
// in flight.
const runMinWait = 50 * time.Millisecond

// Run keeps every registered credential fresh with no traffic: it wakes
// when a token turns stale (plus a little jitter, so the nodes of a fleet
// do not all wake at once) or its re-check is due, and refreshes or
// re-checks it in the background. It returns ctx's error when ctx ends, or
// ErrClosed after Close. Every node may run it: the fleet lock makes sure
// only one of them calls upstream.
func (m *Manager) Run(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-m.ctx.Done():
			return ErrClosed
		case <-m.wake:
		case <-timer.C:
		}
		next := m.runOnce()
		timer.Reset(max(next, runMinWait))
	}
}

// runOnce starts the work that is due and returns how long to sleep.
func (m *Manager) runOnce() time.Duration {
	now := m.now()
	sleep := m.cfg.LocalTTL
	for _, e := range m.entries() {
		s := e.snap.Load()
		var due time.Time
		switch {
		case !s.isFresh(now):
			m.startBackgroundRefresh(e)
			continue
		default:
			ahead := max(time.Duration(s.usable-s.fresh), 0)
			due = time.Unix(0, s.fresh).Add(time.Duration(rand.Int64N(int64(ahead)/5 + 1)))
			if recheck := time.Unix(0, s.recheck); recheck.Before(due) {
				due = recheck
			}
		}
		if d := due.Sub(now); d <= 0 {
			m.startRecheck(e)
		} else if d < sleep {
			sleep = d
		}
	}
	return sleep
}

// entries returns each credential once, however many keys share it.
func (m *Manager) entries() []*entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*entry, 0, len(m.byID))
	for _, e := range m.byID {
		out = append(out, e)
	}
	return out
}
