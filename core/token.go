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
