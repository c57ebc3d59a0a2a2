// Package conformance checks that a store keeps the contracts wxtoken
// relies on. A backend author calls the suites from a test of their own,
// against a real server. Each suite runs one subtest per rule (t.Run), so
// a single run lists every rule the store breaks, each failure message
// starting with "rule:".
//
//	func TestConformance(t *testing.T) {
//		newBackend := func(t *testing.T) conformance.Backend { return mybackend.New(newClient(t)) }
//		conformance.TestBackend(t, newBackend) // TestCache, TestLocker, TestFence, TestWatcher, TestFarm
//		conformance.TestOutage(t, newBackend, pauseStore, resumeStore)
//	}
//
// BenchmarkBackend measures a store the way wxtoken uses it.
//
// Every call of a factory must return a new, independent client of the
// same store (for an in-process store, the same value): the lock tests
// contend through two clients, as two nodes would.
package conformance

import (
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/wxtoken/wxtoken/store"
)

// Backend is store.Backend: a store that is both the shared Cache and the
// fleet Locker, as every wxtoken backend is.
type Backend = store.Backend

// Options tune the suites to what a backend can promise.
type Options struct {
	// TTLTolerance is how late past its TTL a value or a lease may still be
	// seen (memcached counts whole seconds). Default 250ms.
	TTLTolerance time.Duration
	// LeaseTTL is the lease used by the expiry tests; a backend whose
	// leases have a minimum (etcd) raises it. Default 1s.
	LeaseTTL time.Duration

	// FarmManagers is how many Managers TestFarm runs, each on its own
	// client of the store. Default 8.
	FarmManagers int
	// FarmGoroutines is how many goroutines call each Manager. Default 64.
	FarmGoroutines int
	// FarmExpiries is how many token lifetimes TestFarm lives through.
	// Default 3.
	FarmExpiries int
	// FarmLifetime is the token lifetime wxsim grants. Default 4s.
	FarmLifetime time.Duration
	// FarmAllowExtraFetch tolerates one upstream call beyond one per
	// expiry, for a store whose lease can legitimately time out under load
	// (a network round trip slower than the lease). The test logs it when
	// it happens.
	FarmAllowExtraFetch bool
}

func (o Options) withDefaults() Options {
	if o.TTLTolerance <= 0 {
		o.TTLTolerance = 250 * time.Millisecond
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = time.Second
	}
	if o.FarmManagers <= 0 {
		o.FarmManagers = 8
	}
	if o.FarmGoroutines <= 0 {
		o.FarmGoroutines = 64
	}
	if o.FarmExpiries <= 0 {
		o.FarmExpiries = 3
	}
	if o.FarmLifetime <= 0 {
		o.FarmLifetime = 4 * time.Second
	}
	return o
}

func first(opts []Options) Options {
	if len(opts) > 0 {
		return opts[0].withDefaults()
	}
	return Options{}.withDefaults()
}

// uniquePrefix keeps the keys of one run apart from every other run on a
// shared server.
func uniquePrefix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "wxtoken-conformance:" + hex.EncodeToString(b) + ":"
}
