package core

import "time"

// Token is a credential (an access_token or a ticket) and its lifetime.
type Token struct {
	// Value is the credential itself. WeChat asks for room for at least
	// 512 characters.
	Value string
	// ExpiresAt is when upstream stops accepting Value.
	ExpiresAt time.Time
	// IssuedAt is when Value was fetched from upstream.
	IssuedAt time.Time
	// RenewAt, when set by a Source, is the earliest time upstream will
	// hand out a different token: upstreams that return the live token
	// until then (WeCom gettoken, stable_token in normal mode) set it, and
	// the Manager asks again no sooner, fleet-wide.
	RenewAt time.Time
	// RefreshAt, when set, is when the fleet refreshes this token, in place
	// of the point its refresh-ahead window gives: the Manager sets it on
	// tokens fetched in a cold start of many credentials at once (a new
	// fleet, one that lost every token), spread over about one refresh
	// cycle, so that their next refreshes do not all come together. It is
	// ignored on a token with RenewAt (nothing new can be had before).
	RefreshAt time.Time
	// Generation orders the tokens of one credential across the fleet: a
	// token published under the fleet lock gets the generation it replaced
	// plus one. Which of two tokens is newer is decided by it, never by a
	// node's clock. Sources leave it 0; the Manager assigns it.
	Generation uint64
}

// ExpiresIn returns the lifetime left at now, never negative.
func (t Token) ExpiresIn(now time.Time) time.Duration {
	d := t.ExpiresAt.Sub(now)
	if d < 0 {
		return 0
	}
	return d
}

// Valid reports whether t holds a value that has not expired at now.
func (t Token) Valid(now time.Time) bool {
	return t.Value != "" && now.Before(t.ExpiresAt)
}

// lifetime is the span upstream granted, from fetch to expiry.
func (t Token) lifetime() time.Duration {
	if t.IssuedAt.IsZero() || !t.IssuedAt.Before(t.ExpiresAt) {
		return 0
	}
	return t.ExpiresAt.Sub(t.IssuedAt)
}
