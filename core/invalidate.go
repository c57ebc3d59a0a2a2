package core

import "context"

// Invalidate is the passive refresh, for a caller whose business API call
// was refused with 40001, 40014 or 42001 while using rejected. It is a
// compare-and-refresh: if the shared cache already holds another usable
// token, that token is returned and upstream is not called; only when the
// shared value is still rejected (or missing) is anything done, once for
// the whole fleet: upstream is asked whether the token is really dead (for
// a Source that is a Verifier), and only then is a new one fetched, within
// the day's invalidation budget (Settings.InvalidateBudget). A report of a
// token upstream still accepts returns that same token: the caller's
// request failed for another reason. An empty rejected behaves like Token.
func (m *Manager) Invalidate(ctx context.Context, key, rejected string) (Token, error) {
	e, err := m.lookup(key)
	if err != nil {
		return Token{}, err
	}
	if rejected == "" {
		return m.Token(ctx, key)
	}
	w := want{reject: rejected}
	if s := e.snap.Load(); s != nil && s.tok.Value != rejected && s.isUsable(m.now()) {
		// This node holds another token, but the report may name a newer
		// one (a client of a wxtoken serve fleet got it from another
		// node): the shared cache says which is current.
		shared, err := m.readShared(ctx, e, m.store.Load())
		if err != nil || shared.Value != rejected {
			if tok, ok := m.take(e, shared, w); err == nil && ok {
				return tok, nil
			}
			return s.tok, nil
		}
	}
	return m.await(ctx, e, w)
}

// Refresh fetches a new token for key now, unless another node publishes
// one while this call waits for the lock. It ignores a held failure (see
// Settings.ErrorHold): call it when the cause of a failure is gone. Use it for
// an explicit rotation; after a refused token, Invalidate is the right
// call.
func (m *Manager) Refresh(ctx context.Context, key string) (Token, error) {
	e, err := m.lookup(key)
	if err != nil {
		return Token{}, err
	}
	return m.await(ctx, e, want{after: m.now()})
}
