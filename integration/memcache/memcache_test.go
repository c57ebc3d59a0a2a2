package memcachebackend_test

import (
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	memcachebackend "github.com/wxtoken/wxtoken/backends/memcache"
	"github.com/wxtoken/wxtoken/conformance"
	"github.com/wxtoken/wxtoken/integration/containertest"
)

// memcached keeps whole seconds, plus one for its once-a-second clock.
var opts = conformance.Options{TTLTolerance: 2100 * time.Millisecond, FarmAllowExtraFetch: true}

func TestConformance(t *testing.T) {
	srv := containertest.Memcached(t)
	newBackend := func(*testing.T) conformance.Backend {
		mc := memcache.New(srv.Addr)
		mc.Timeout = 2 * time.Second
		return memcachebackend.New(mc)
	}
	conformance.TestBackend(t, newBackend, opts)
}

func TestOutage(t *testing.T) {
	srv := containertest.Memcached(t)
	conformance.TestOutage(t, func(*testing.T) conformance.Backend {
		mc := memcache.New(srv.Addr)
		mc.Timeout = 500 * time.Millisecond
		return memcachebackend.New(mc)
	}, srv.Pause, srv.Unpause)
}

func BenchmarkMemcached(b *testing.B) {
	srv := containertest.Memcached(b)
	conformance.BenchmarkBackend(b, func(*testing.B) conformance.Backend {
		mc := memcache.New(srv.Addr)
		mc.MaxIdleConns = 8
		return memcachebackend.New(mc)
	})
}
