package wechat

import (
	"context"
	"errors"
	"time"

	"github.com/wxtoken/wxtoken/core"
)

// FirstTokenState is the name, under a tenant credential's state in the
// shared store (core.Manager.StateKey or SourceStateKey), of the access
// token upstream handed out with the authorization itself: api_query_auth's
// authorizer_access_token, get_permanent_code's access_token. Saved there
// with SaveFirstToken, it is what the credential's first fetch returns, so
// that a new tenant's first token costs no upstream call.
const FirstTokenState = "first_token"

// SaveFirstToken stores tok, the token an authorization came with, under
// key (the tenant credential's state key for FirstTokenState) until it
// expires. The credential's next fetch under the fleet lock takes it
// instead of calling upstream, once: that fetch removes it whether it
// serves it or not, and it is not served to replace itself (a rejected
// token) or with less than half its lifetime left.
func SaveFirstToken(ctx context.Context, cache core.Cache, key string, tok core.Token) error {
	ttl := time.Until(tok.ExpiresAt)
	if tok.Value == "" || ttl <= 0 {
		return errors.New("wechat: SaveFirstToken: the token is empty or expired")
	}
	doc, err := core.EncodeToken(tok)
	if err != nil {
		return err
	}
	return cache.Set(ctx, key, doc, ttl)
}

// takeFirstToken returns the token saved with SaveFirstToken for the
// credential req fetches, if there is one worth serving, and removes it.
// Without the fleet lock (SetState nil) it leaves it for a fetch that has
// the lock. A store that cannot be read sends the fetch upstream.
func takeFirstToken(ctx context.Context, req core.FetchRequest) (core.Token, bool, error) {
	if req.State == nil || req.SetState == nil {
		return core.Token{}, false, nil
	}
	key := req.StatePrefix + FirstTokenState
	doc, err := req.State.Get(ctx, key)
	if err != nil || doc == "" {
		return core.Token{}, false, nil
	}
	// Removed under the lock before it is served: one fetch takes it.
	if err := req.SetState(ctx, key, "", time.Second); err != nil {
		return core.Token{}, false, err
	}
	tok, err := core.DecodeToken(doc)
	if err != nil || tok.Value == req.Rejected {
		return core.Token{}, false, nil
	}
	now := time.Now()
	if req.Now != nil {
		now = req.Now()
	}
	if tok.IssuedAt.IsZero() || now.After(tok.IssuedAt.Add(tok.ExpiresAt.Sub(tok.IssuedAt)/2)) {
		return core.Token{}, false, nil
	}
	return tok, true, nil
}
