package wechat

import (
	"context"
	"errors"
	"fmt"

	"github.com/wxtoken/wxtoken/core"
)

// hold remembers st as the newest link of the refresh token chain under
// key that this node has seen.
func (s *AuthorizerSource) hold(key string, st refreshState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.heldKey != key || st.Seq >= s.held.Seq {
		s.heldKey, s.held = key, st
	}
}

// holdNew makes st the link this node holds for key, whatever it held: a
// new chain (an authorization, a restored token) starts there.
func (s *AuthorizerSource) holdNew(key string, st refreshState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.heldKey, s.held = key, st
}

// heldFor returns the link this node holds for key, if any.
func (s *AuthorizerSource) heldFor(key string) (refreshState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held, s.heldKey == key && s.held.Sealed != ""
}

// current returns the newest link of the refresh token chain: the
// store's, or, when the store lost it (missing, unparsable, or an older
// link after a failover), the one this node holds, written back first
// through SetState (under the fleet lock, fenced). "Missing" in the store
// is never taken to mean the authorizer has no refresh token while this
// node holds one.
func (s *AuthorizerSource) current(ctx context.Context, req core.FetchRequest, key string) (refreshState, error) {
	raw, err := req.State.Get(ctx, key)
	var stored refreshState
	switch {
	case err == nil:
		stored, err = decodeRefreshState(raw)
	case !errors.Is(err, core.ErrNotFound):
		return refreshState{}, err
	}
	held, holds := s.heldFor(key)
	if err == nil && (!holds || stored.Seq >= held.Seq) {
		s.hold(key, stored)
		return stored, nil
	}
	if !holds {
		if errors.Is(err, core.ErrNotFound) {
			return refreshState{}, fmt.Errorf("%w (authorizer %s)", ErrNoRefreshToken, s.appID)
		}
		return refreshState{}, fmt.Errorf("wechat: authorizer %s: %w", s.appID, err)
	}
	if err := req.SetState(ctx, key, held.encode(), 0); err != nil {
		return refreshState{}, fmt.Errorf("wechat: authorizer %s: re-publishing the refresh token: %w", s.appID, err)
	}
	return held, nil
}

// Republish writes the refresh token this node holds back to the state
// store if the store lost it (it is missing, does not parse, or is an
// older link of the chain), and reports whether it did. Call it under the
// credential's fleet lock (core.Manager.UpdateState) after the store lost
// data: the node that refreshed an authorizer last is the only one that
// holds its newest refresh token.
func (s *AuthorizerSource) Republish(ctx context.Context, req core.FetchRequest) (bool, error) {
	if req.SetState == nil || req.State == nil {
		return false, ErrNeedsFleetLock
	}
	key := req.StatePrefix + RefreshTokenState
	held, holds := s.heldFor(key)
	if !holds {
		return false, nil
	}
	raw, err := req.State.Get(ctx, key)
	switch {
	case err == nil:
		if stored, err := decodeRefreshState(raw); err == nil && stored.Seq >= held.Seq {
			s.hold(key, stored)
			return false, nil
		}
	case !errors.Is(err, core.ErrNotFound):
		return false, err
	}
	if err := req.SetState(ctx, key, held.encode(), 0); err != nil {
		return false, err
	}
	return true, nil
}

// HoldsRefreshToken reports whether this node holds a refresh token of
// the authorizer (it refreshed it, or read it to do so): only such a
// node has anything to Republish.
func (s *AuthorizerSource) HoldsRefreshToken() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held.Sealed != ""
}
