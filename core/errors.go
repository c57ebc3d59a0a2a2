package core

import (
	"context"
	"errors"
)

var (
	// ErrUnknownKey is returned for a key that was never registered.
	ErrUnknownKey = errors.New("core: unknown key")
	// ErrLockTimeout is returned when no usable token exists and another
	// node held the refresh lock for longer than the lock wait without
	// publishing a new token.
	ErrLockTimeout = errors.New("core: timed out waiting for another node's refresh")
	// ErrCacheUnavailable is returned when the shared cache cannot be
	// reached, no usable token is held in memory, and the rate limit of
	// local refreshes forbids fetching one now.
	ErrCacheUnavailable = errors.New("core: shared cache unavailable")
	// ErrInvalidateBudget is returned by Invalidate when the reported
	// token would be replaced but the credential's daily budget of
	// invalidation-driven fetches (Settings.InvalidateBudget) is spent,
	// fleet-wide.
	ErrInvalidateBudget = errors.New("core: daily invalidation budget spent")
	// ErrClosed is returned by a Manager after Close.
	ErrClosed = errors.New("core: manager closed")
)

// IsTransient reports whether err is worth retrying soon. An error decides
// for itself by a method Transient() bool anywhere in its chain (upstream
// errcodes do); a cancellation is not transient; anything else (network
// errors, timeouts, garbled answers) is.
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	var t interface{ Transient() bool }
	if errors.As(err, &t) {
		return t.Transient()
	}
	return !errors.Is(err, context.Canceled)
}
