package farm_test

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/integration/containertest"
	"github.com/wxtoken/wxtoken/internal/localserver"
	"github.com/wxtoken/wxtoken/tools/farm"
)

// A fleet on a 3-master Redis Cluster in containers: every node has its
// own cluster client. By default 100 nodes through three lifetimes of 4 s
// (what CI runs); WXTOKEN_FARM_NODES=1000 WXTOKEN_FARM_LIFETIME=10s
// WXTOKEN_FARM_DURATION=55s is the scale run in docs/benchmarks.md,
// WXTOKEN_FARM_LOCAL_TTL sets how often each node re-reads the store,
// WXTOKEN_FARM_PACE how often each node's one worker makes a business call,
// WXTOKEN_FARM_RAMP spreads the nodes' start over that long (a rolling
// deploy; 0, the default, starts them in the same instant), and
// WXTOKEN_FARM_POLL_ONLY=1 hides Redis's write notices (the herd's
// "before").
func TestFarmOnRedisCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("farm skipped in -short mode")
	}
	var addrs []string
	for _, s := range containertest.RedisCluster(t, 3) {
		addrs = append(addrs, s.Addr)
	}
	scaleFarm(t, addrs)
}

// The same fleet on a Redis Cluster of three local redis-server processes:
// the clients reach the masters on loopback, with no container port proxy
// in the way, so a thousand nodes dialling at once meet only the store.
func TestFarmOnLocalRedisCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("farm skipped in -short mode")
	}
	var addrs []string
	for range 3 {
		addrs = append(addrs, localserver.T(t, localserver.RedisClusterNode).Addr)
	}
	containertest.FormRedisCluster(t, addrs)
	scaleFarm(t, addrs)
}

// scaleFarm runs the fleet the environment describes on the Redis Cluster
// at addrs and fails t unless it kept the farm's promises.
func scaleFarm(t *testing.T, addrs []string) {
	nodes := envInt(t, "WXTOKEN_FARM_NODES", 100)
	life := envDuration(t, "WXTOKEN_FARM_LIFETIME", 4*time.Second)
	d := envDuration(t, "WXTOKEN_FARM_DURATION", 3*life+life/2)
	settings := farm.Scaled(life)
	settings.LocalTTL = envDuration(t, "WXTOKEN_FARM_LOCAL_TTL", settings.LocalTTL)
	// A connection storm lasts seconds of wall clock whatever the tokens'
	// lifetime, so the store must fail for as long as in production
	// before a node fetches alone (Scaled would make it an eighth of the
	// lifetime: 1.25 s at 10 s, shorter than the storm itself).
	settings.DegradedAfter = envDuration(t, "WXTOKEN_FARM_DEGRADED_AFTER", core.DefaultSettings().DegradedAfter)
	pace := envDuration(t, "WXTOKEN_FARM_PACE", 100*time.Millisecond)
	var ramp time.Duration
	if os.Getenv("WXTOKEN_FARM_RAMP") != "" {
		ramp = envDuration(t, "WXTOKEN_FARM_RAMP", 0)
	}
	rep, _, err := farm.Run(context.Background(), farm.Config{
		Nodes: nodes, Workers: 1, Pace: pace, PollOnly: os.Getenv("WXTOKEN_FARM_POLL_ONLY") == "1",
		Ramp:     ramp,
		Lifetime: life, Overlap: life / 8, Duration: d, Settings: settings,
		// Each node's client is kept small: two connections per master.
		Cache: "redis+cluster://" + strings.Join(addrs, ",") + "?pool_size=2",
	})
	if err != nil {
		t.Fatal(err)
	}
	var table bytes.Buffer
	_ = rep.WriteTable(&table)
	t.Log("\n" + table.String())
	if ramp == 0 && nodes >= 500 {
		// A large fleet started in one instant: its nodes' first tokens
		// wait on the storm of connections, and a caller may time out
		// before its node has one; after that, nothing fails.
		for _, c := range rep.Credentials {
			if c.Billed() > c.Ideal+2 {
				t.Errorf("%s: %d upstream calls for an ideal of %d: more than ideal + 2", c.Identity, c.Billed(), c.Ideal)
			}
		}
		if after := rep.FailedTotal - rep.FailedColdStart; after != 0 {
			t.Errorf("%d business calls failed after their node's first token", after)
		}
		return
	}
	if !rep.OK() {
		t.Fatalf("rule: zero failed business calls and upstream calls within the allowance; failed %v", rep.Failed)
	}
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive duration", name, v)
	}
	return d
}
