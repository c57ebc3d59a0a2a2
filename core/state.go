package core

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wxtoken/wxtoken/internal/backoff"
	"github.com/wxtoken/wxtoken/lock"
)

// fetchRequest is what e's Source is given: its state in the shared
// store, and, under a lease h, SetState fenced by it.
func (m *Manager) fetchRequest(e *entry, st *store, w want, h *held) FetchRequest {
	prefix := m.statePrefix(e.id)
	req := FetchRequest{ID: e.id, Rejected: w.reject, Deps: m, State: st.state, StatePrefix: prefix, Now: m.now}
	if h != nil {
		req.SetState = func(ctx context.Context, key, value string, ttl time.Duration) error {
			if !strings.HasPrefix(key, prefix) {
				return fmt.Errorf("core: SetState %q: outside the credential's StatePrefix", key)
			}
			return h.write(ctx, st.state, st.stateFenced, key, value, ttl)
		}
	}
	return req
}

// UpdateState runs f under the fleet lock of key's credential, with a
// FetchRequest whose State, StatePrefix and SetState reach the
// credential's state as in a Fetch under the lock (SetState fenced by the
// lease): for code that repairs or rewrites a Source's state outside a
// fetch, such as a refresh token written back after the store lost it,
// resealed under a new key, or restored from a backup. No upstream call is
// made. It waits for the lock up to the lock wait, within ctx, and
// returns ErrLockTimeout if another node held it all that time.
func (m *Manager) UpdateState(ctx context.Context, key string, f func(ctx context.Context, req FetchRequest) error) error {
	e, err := m.lookup(key)
	if err != nil {
		return err
	}
	if !m.begin() {
		return ErrClosed
	}
	defer m.bg.Done()
	st := m.store.Load()
	deadline := time.Now().Add(m.cfg.LockWait)
	for attempt := 0; ; attempt++ {
		h, err := m.tryLock(ctx, e, st)
		if err == nil {
			defer m.unlock(ctx, e, h)
			hctx, cancel := h.bind(ctx)
			defer cancel()
			return f(hctx, m.fetchRequest(e, st, want{}, h))
		}
		if !errors.Is(err, lock.ErrNotAcquired) {
			return err
		}
		wait := min(lockPoll.Delay(attempt), time.Until(deadline))
		if wait <= 0 {
			return ErrLockTimeout
		}
		if err := backoff.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}
