package redisbackend_test

import (
	"testing"

	"github.com/redis/go-redis/v9"

	redisbackend "github.com/wxtoken/wxtoken/backends/redis"
	"github.com/wxtoken/wxtoken/conformance"
)

// TestConformance runs every suite a backend must pass (cache, locker,
// fence, watcher, farm) against the redis-server TestMain started, each
// client of its own, as the nodes of a fleet would have. integration/
// runs the same suites on Redis Cluster, Sentinel and a container matrix.
func TestConformance(t *testing.T) {
	newBackend := func(t *testing.T) conformance.Backend {
		rdb := redis.NewClient(&redis.Options{Addr: redisAddr, ContextTimeoutEnabled: true})
		t.Cleanup(func() { rdb.Close() })
		return redisbackend.New(rdb)
	}
	conformance.TestBackend(t, newBackend, conformance.Options{FarmAllowExtraFetch: true})
}
