package farm_test

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/integration/containertest"
	"github.com/wxtoken/wxtoken/tools/farm"
)

// A fleet on a 3-master Redis Cluster in containers: every node has its
// own cluster client. By default 100 nodes through three lifetimes of 4 s
// (what CI runs); WXTOKEN_FARM_NODES=1000 WXTOKEN_FARM_LIFETIME=10s
// WXTOKEN_FARM_DURATION=55s is the scale run in docs/benchmarks.md,
// WXTOKEN_FARM_LOCAL_TTL sets how often each node re-reads the store,
// WXTOKEN_FARM_PACE how often each node's one worker makes a business call,
// WXTOKEN_FARM_RAMP spreads the nodes' start over that long (a rolling
// deploy), and WXTOKEN_FARM_POLL_ONLY=1 hides Redis's write notices (the
// herd's "before").
func TestFarmOnRedisCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("farm skipped in -short mode")
	}
	nodes := envInt(t, "WXTOKEN_FARM_NODES", 100)
	life := envDuration(t, "WXTOKEN_FARM_LIFETIME", 4*time.Second)
	d := envDuration(t, "WXTOKEN_FARM_DURATION", 3*life+life/2)
	settings := farm.Scaled(life)
	settings.LocalTTL = envDuration(t, "WXTOKEN_FARM_LOCAL_TTL", settings.LocalTTL)
	cluster := containertest.RedisCluster(t, 3)
	var addrs []string
	for _, s := range cluster {
		addrs = append(addrs, s.Addr)
	}
	pace := envDuration(t, "WXTOKEN_FARM_PACE", 100*time.Millisecond)
	rep, _, err := farm.Run(context.Background(), farm.Config{
		Nodes: nodes, Workers: 1, Pace: pace, PollOnly: os.Getenv("WXTOKEN_FARM_POLL_ONLY") == "1",
		Ramp:     envDuration(t, "WXTOKEN_FARM_RAMP", 0),
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
