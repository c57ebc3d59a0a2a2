package redisbackend_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	redisbackend "github.com/wxtoken/wxtoken/backends/redis"
	"github.com/wxtoken/wxtoken/conformance"
	"github.com/wxtoken/wxtoken/integration/containertest"
)

// suites runs the three conformance suites, each client made by newClient.
func suites(t *testing.T, newClient func(t *testing.T) redis.UniversalClient) {
	newBackend := func(t *testing.T) conformance.Backend {
		c := newClient(t)
		t.Cleanup(func() { c.Close() })
		return redisbackend.New(c)
	}
	conformance.TestBackend(t, newBackend, conformance.Options{FarmAllowExtraFetch: true})
}

func TestStandalone(t *testing.T) {
	srv := containertest.Redis(t)
	suites(t, func(t *testing.T) redis.UniversalClient {
		return redis.NewClient(&redis.Options{Addr: srv.Addr})
	})
}

func TestCluster(t *testing.T) {
	nodes := containertest.RedisCluster(t, 3)
	var addrs []string
	for _, n := range nodes {
		addrs = append(addrs, n.Addr)
	}
	suites(t, func(t *testing.T) redis.UniversalClient {
		return redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ReadTimeout: 2 * time.Second})
	})
}

func TestOutage(t *testing.T) {
	srv := containertest.Redis(t)
	conformance.TestOutage(t, func(t *testing.T) conformance.Backend {
		// ContextTimeoutEnabled: give up on a paused server when the
		// Manager's context says so, not after the 3 s read timeout.
		c := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true, MaxRetries: -1})
		t.Cleanup(func() { c.Close() })
		return redisbackend.New(c)
	}, srv.Pause, srv.Unpause)
}

func BenchmarkRedis(b *testing.B) {
	srv := containertest.Redis(b)
	conformance.BenchmarkBackend(b, func(b *testing.B) conformance.Backend {
		c := redis.NewClient(&redis.Options{Addr: srv.Addr})
		b.Cleanup(func() { c.Close() })
		return redisbackend.New(c)
	})
}
