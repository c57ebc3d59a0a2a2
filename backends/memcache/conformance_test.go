package memcachebackend_test

import (
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	memcachebackend "github.com/wxtoken/wxtoken/backends/memcache"
	"github.com/wxtoken/wxtoken/conformance"
)

// TestConformance runs every suite a backend must pass (cache, locker,
// fence, farm; memcached has no watcher) against the memcached TestMain
// started, each client of its own. memcached keeps whole seconds, plus
// one for its once-a-second clock.
func TestConformance(t *testing.T) {
	newBackend := func(*testing.T) conformance.Backend {
		mc := memcache.New(memcachedAddr)
		mc.Timeout = 2 * time.Second
		return memcachebackend.New(mc)
	}
	conformance.TestBackend(t, newBackend, conformance.Options{TTLTolerance: 2100 * time.Millisecond, FarmAllowExtraFetch: true})
}
