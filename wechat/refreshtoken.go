package wechat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wxtoken/wxtoken/core"
)

// RefreshTokenState is the name, under an authorizer's state in the shared
// store (core.Manager.StateKey), of its sealed refresh token.
const RefreshTokenState = "refresh_token"

// refreshState is how an authorizer's refresh token is kept in the state
// store: sealed for its key, with the sequence number that orders the
// rotations of the chain.
//
//	{"v":1,"seq":1764000000123456,"sealed":"s2:…"}
//
// seq is when the token was obtained, in Unix microseconds, and never
// below the one it replaced plus one: a higher seq is a later link of the
// chain, whatever the clocks of the nodes that wrote them. A value that is
// a bare sealed string (written before seq existed) reads as seq 0.
type refreshState struct {
	V      int    `json:"v"`
	Seq    int64  `json:"seq"`
	Sealed string `json:"sealed"`
}

// errRefreshCorrupt is wrapped by decodeRefreshState for a value that is
// neither form.
var errRefreshCorrupt = errors.New("wechat: the stored refresh token does not parse")

func decodeRefreshState(raw string) (refreshState, error) {
	if strings.HasPrefix(raw, "s") && !strings.HasPrefix(raw, "{") {
		return refreshState{Sealed: raw}, nil
	}
	var st refreshState
	if err := json.Unmarshal([]byte(raw), &st); err != nil || st.V != 1 || st.Sealed == "" {
		return refreshState{}, errRefreshCorrupt
	}
	return st, nil
}

func (st refreshState) encode() string {
	b, _ := json.Marshal(st)
	return string(b)
}

// nextSeq is the seq of the link after prev.
func nextSeq(prev int64) int64 { return max(time.Now().UnixMicro(), prev+1) }

// SaveRefreshToken seals and stores an authorizer's refresh token under
// key (core.Manager.StateKey of the authorizer, RefreshTokenState), as the
// handler of an authorized notice does after QueryAuth: the first link of
// a new chain, numbered after any link the store holds.
func SaveRefreshToken(ctx context.Context, cache core.Cache, box *SecretBox, key, refreshToken string) error {
	st := refreshState{V: 1, Seq: nextSeq(storedSeq(ctx, cache, key)), Sealed: box.Seal(key, []byte(refreshToken))}
	return cache.Set(ctx, key, st.encode(), 0)
}

// storedSeq returns the seq of the link stored under key, 0 when there is
// none or it cannot be read.
func storedSeq(ctx context.Context, cache core.Cache, key string) int64 {
	raw, err := cache.Get(ctx, key)
	if err != nil {
		return 0
	}
	st, err := decodeRefreshState(raw)
	if err != nil {
		return 0
	}
	return st.Seq
}

// SaveRefreshToken is the package function SaveRefreshToken for a new
// authorizer (for one registered and served, use Restore with replace,
// under its fleet lock), numbered after the links this node holds too; the
// node holds the token from then on, even if the write fails: if the
// store loses it before the authorizer's first refresh, Republish or that
// refresh writes it back.
func (s *AuthorizerSource) SaveRefreshToken(ctx context.Context, cache core.Cache, key, refreshToken string) error {
	held, _ := s.heldFor(key)
	st := refreshState{V: 1, Seq: nextSeq(max(storedSeq(ctx, cache, key), held.Seq)), Sealed: s.box.Seal(key, []byte(refreshToken))}
	s.holdNew(key, st)
	return cache.Set(ctx, key, st.encode(), 0)
}

// StoredRefreshToken is an authorizer's refresh token as the state store
// holds it: the token, and the sequence number that orders the links of
// its chain (a higher one is later).
type StoredRefreshToken struct {
	Token string
	Seq   int64
}

// LoadRefreshToken reads and opens the refresh token stored under key
// (ErrNoRefreshToken when there is none), for tools that back it up.
func LoadRefreshToken(ctx context.Context, cache core.Cache, box *SecretBox, key string) (StoredRefreshToken, error) {
	raw, err := cache.Get(ctx, key)
	if errors.Is(err, core.ErrNotFound) {
		return StoredRefreshToken{}, ErrNoRefreshToken
	}
	if err != nil {
		return StoredRefreshToken{}, err
	}
	st, err := decodeRefreshState(raw)
	if err != nil {
		return StoredRefreshToken{}, err
	}
	rt, err := box.Open(key, st.Sealed)
	if err != nil {
		return StoredRefreshToken{}, fmt.Errorf("wechat: refresh token at %s: %w", key, err)
	}
	return StoredRefreshToken{Token: string(rt), Seq: st.Seq}, nil
}

// Restore writes t as the authorizer's refresh token, under the
// credential's fleet lock (core.Manager.UpdateState), where the store
// holds none, one that does not parse, or an older link of the chain; with
// replace, over whatever it holds (the token upstream lists as current,
// when the stored chain was broken). It reports whether it wrote. A
// restored token without a seq is numbered as new.
func (s *AuthorizerSource) Restore(ctx context.Context, req core.FetchRequest, t StoredRefreshToken, replace bool) (bool, error) {
	if req.SetState == nil || req.State == nil {
		return false, ErrNeedsFleetLock
	}
	if t.Token == "" {
		return false, errors.New("wechat: Restore: empty refresh token")
	}
	key := req.StatePrefix + RefreshTokenState
	raw, err := req.State.Get(ctx, key)
	var stored refreshState
	switch {
	case err == nil:
		stored, err = decodeRefreshState(raw)
		if err == nil && !replace && (t.Seq == 0 || stored.Seq >= t.Seq) {
			return false, nil // the store's chain goes on
		}
	case !errors.Is(err, core.ErrNotFound):
		return false, err
	}
	held, _ := s.heldFor(key)
	seq := t.Seq
	if seq == 0 || replace {
		seq = nextSeq(max(stored.Seq, t.Seq, held.Seq))
	}
	st := refreshState{V: 1, Seq: seq, Sealed: s.box.Seal(key, []byte(t.Token))}
	if err := req.SetState(ctx, key, st.encode(), 0); err != nil {
		return false, err
	}
	s.holdNew(key, st)
	return true, nil
}

// Reseal rewrites the authorizer's stored refresh token with the newest
// key of the ring if another sealed it (same link of the chain), under
// the credential's fleet lock (core.Manager.UpdateState), and reports
// whether it did.
func (s *AuthorizerSource) Reseal(ctx context.Context, req core.FetchRequest) (bool, error) {
	if req.SetState == nil || req.State == nil {
		return false, ErrNeedsFleetLock
	}
	key := req.StatePrefix + RefreshTokenState
	raw, err := req.State.Get(ctx, key)
	if errors.Is(err, core.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	st, err := decodeRefreshState(raw)
	if err != nil {
		return false, err
	}
	sealed, changed, err := s.box.Reseal(key, st.Sealed)
	if err != nil || !changed {
		return false, err
	}
	st.V, st.Sealed = 1, sealed
	if err := req.SetState(ctx, key, st.encode(), 0); err != nil {
		return false, err
	}
	s.hold(key, st)
	return true, nil
}
