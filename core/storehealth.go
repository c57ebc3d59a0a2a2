package core

import (
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// storeHealth tells a store that is down from one that is slow. A node
// refreshes without the fleet lock only on evidence of an outage: store
// operations that have kept failing, with no answer in between, for a
// while (Settings.DegradedAfter, stretched by up to half again at random
// per Manager, so that a fleet which lost its store at one instant does
// not judge it down at one instant). A store that answers some operations
// and times out on others, as one does under a herd of new connections, is
// slow, not down: nodes with nothing to serve keep waiting for the lock
// holder's token, bounded by their callers' patience.
//
// Times are wall-clock Unix nanoseconds: they measure this process's own
// waiting, never a token's age.
type storeHealth struct {
	// failingSince is when the current run of failures began; 0 while the
	// store answers.
	failingSince atomic.Int64
	lastFailed   atomic.Int64
	after        time.Duration
	// gap: a failure this long after the previous one starts a new run,
	// since nothing was asked in between. A node waiting for a token asks
	// at least every two operation timeouts.
	gap time.Duration
}

func newStoreHealth(degradedAfter, opTimeout time.Duration) *storeHealth {
	after := degradedAfter + time.Duration(rand.Int64N(int64(degradedAfter)/2+1))
	return &storeHealth{after: after, gap: after + 2*opTimeout}
}

// failed notes a store operation that did not answer (an error other than
// a miss or a held lock). A failure long after the last one starts a new
// run: failures apart from each other, with nothing asked in between, are
// not evidence of an outage.
func (h *storeHealth) failed(now time.Time) {
	t := now.UnixNano()
	prev := h.lastFailed.Swap(t)
	if h.failingSince.Load() == 0 || t-prev > int64(h.gap) {
		h.failingSince.Store(t)
	}
}

// answered notes a store operation that got an answer (a miss and a held
// lock are answers).
func (h *storeHealth) answered() {
	if h.failingSince.Load() != 0 {
		h.failingSince.Store(0)
	}
}

// down reports whether the store has failed without answering for the
// node's degraded-after span.
func (h *storeHealth) down(now time.Time) bool {
	s := h.failingSince.Load()
	return s != 0 && now.UnixNano()-s >= int64(h.after)
}

// failedWithin reports whether an operation failed within d before now.
func (h *storeHealth) failedWithin(now time.Time, d time.Duration) bool {
	last := h.lastFailed.Load()
	return last != 0 && now.UnixNano()-last < int64(d)
}
