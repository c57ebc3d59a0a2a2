package core

import (
	"context"
	"time"
)

// Source fetches a new credential from upstream. The Manager calls it only
// while holding the credential's fleet-wide lock, so a Source need not guard
// against concurrent refreshes of the same credential.
type Source interface {
	Fetch(ctx context.Context, req FetchRequest) (Token, error)
}

// FetchRequest tells a Source why and for what it is called.
type FetchRequest struct {
	// ID is the credential's identity, the {kind}:{id} part of its cache key.
	ID string
	// Rejected is the value a business API refused (passive refresh via
	// Invalidate), or "" for an ordinary refresh. A Source whose upstream
	// returns the live token until told otherwise (stable_token) uses it to
	// decide whether to force a new one.
	Rejected string
	// Deps reaches the other credentials of the same Manager, for a Source
	// that needs one (a ticket needs its access_token).
	Deps Tokens
	// State is the shared Cache, for a Source that keeps fleet-wide
	// bookkeeping (a quota counter). Keys used there must start with
	// StatePrefix.
	State Cache
	// StatePrefix is the key prefix reserved in State for this credential.
	StatePrefix string
	// SetState writes a key under StatePrefix only while this node still
	// holds the credential's fleet lock (through the store's fence when it
	// has one), and returns lock.ErrLost otherwise. A Source that must
	// persist something together with the token it fetches (a rotated
	// refresh token) writes it here before returning. It is nil when the
	// Manager refreshes without the lock because the store is unreachable;
	// such a Source then refuses to fetch.
	SetState func(ctx context.Context, key, value string, ttl time.Duration) error
	// Now is the Manager's clock. A Source that turns a relative lifetime
	// (expires_in) into Token.ExpiresAt reads the time here, so that the
	// token is judged by the same clock that stamped it. Nil means
	// time.Now.
	Now func() time.Time
}

// Tokens is the part of a Manager that a Source may call for other
// credentials.
type Tokens interface {
	Token(ctx context.Context, key string) (Token, error)
	Invalidate(ctx context.Context, key, rejected string) (Token, error)
}

// Identified is implemented by a Source that knows the upstream identity of
// its credential, such as "token:wx123" for /cgi-bin/token and app wx123.
// The identity names the cache key, so two registrations of the same
// credential share one token instead of invalidating each other. It must
// never contain a secret. A Source without it is identified by the name it
// is registered under.
type Identified interface {
	Identity() string
}

// Dependent is implemented by a Source whose credential is derived from
// another registered credential (a jsapi_ticket from its access_token). Its
// identity is Identity() + "@" + the identity of the dependency, and the
// dependency must be registered first.
type Dependent interface {
	Identified
	DependsOn() string
}

// Verifier is implemented by a Source that can ask upstream whether a
// token is still accepted, with a call that spends none of the token
// quota (WeChat's and WeCom's /cgi-bin/get_api_domain_ip). The Manager asks
// it before replacing a token a caller reported as rejected, so reports of
// a token that is in fact valid cost no token fetch.
type Verifier interface {
	// Verify returns true if upstream accepts token, false if it refuses
	// it as invalid or expired, and an error if it could not tell.
	Verify(ctx context.Context, token string) (bool, error)
}

// SourceFunc adapts a function to Source.
type SourceFunc func(ctx context.Context, req FetchRequest) (Token, error)

// Fetch calls f.
func (f SourceFunc) Fetch(ctx context.Context, req FetchRequest) (Token, error) { return f(ctx, req) }
