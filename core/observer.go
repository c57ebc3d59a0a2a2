package core

import "time"

// EventKind names something a Manager did that is worth counting.
type EventKind int

// The events a Manager reports to its Observer.
const (
	// EventFetch: an upstream fetch finished; Err is set when it failed.
	// Duration is the whole fetch, retries included.
	EventFetch EventKind = iota + 1
	// EventAdopt: a token another node published was taken from the shared
	// cache instead of fetching.
	EventAdopt
	// EventLockWait: a refresh waited for the lock; Duration is the wait,
	// Err is set when it never got the lock.
	EventLockWait
	// EventCacheError: the shared cache failed; Err says how.
	EventCacheError
	// EventCorrupt: the shared cache held a value that is not a cache
	// document; it was treated as a miss.
	EventCorrupt
	// EventDegraded: a token was fetched without the fleet lock because
	// the shared store was unreachable.
	EventDegraded
	// EventStaleServed: a token was served while a refresh ran in the
	// background.
	EventStaleServed
	// EventFenced: a fetched token was not published because the lease it
	// was fetched under ended first; the node adopted the shared token.
	EventFenced
	// EventSpurious: a caller reported as rejected a token upstream still
	// accepts; no token was fetched.
	EventSpurious
	// EventVerified: a reported token was confirmed dead upstream and one
	// fetch replaced it.
	EventVerified
	// EventBudget: a reported token was not replaced because the day's
	// invalidation budget is spent; Err is ErrInvalidateBudget.
	EventBudget
	// EventUnverified: a reported token that could not be checked (its
	// Source has no Verifier, the check failed, or the day's probes are
	// spent) was replaced by one fetch.
	EventUnverified
	// EventUnverifiedHeld: such a report was not acted on: one replaced
	// the token less than a window ago (the window doubles for each in a
	// row, up to an hour). The caller got the token it reported.
	EventUnverifiedHeld
)

var eventNames = [...]string{
	EventFetch: "fetch", EventAdopt: "adopt", EventLockWait: "lock_wait",
	EventCacheError: "cache_error", EventCorrupt: "corrupt", EventDegraded: "degraded",
	EventStaleServed: "stale_served", EventFenced: "fenced", EventSpurious: "spurious",
	EventVerified: "verified", EventBudget: "budget",
	EventUnverified: "unverified", EventUnverifiedHeld: "unverified_held",
}

// String returns the event's name, as used in metric labels.
func (k EventKind) String() string {
	if k > 0 && int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "unknown"
}

// Event is one observation. ID is the credential's identity (never a
// secret).
type Event struct {
	Kind     EventKind
	ID       string
	Duration time.Duration
	Err      error
}

// Observer receives events synchronously from the goroutine that caused
// them: it must be fast and safe for concurrent use.
type Observer func(Event)
