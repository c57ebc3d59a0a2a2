package containertest

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/redis/go-redis/v9"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

var redisArgs = []string{"redis-server", "--save", "", "--appendonly", "no", "--protected-mode", "no"}

// Redis starts a standalone Redis.
func Redis(t testing.TB) *Server {
	t.Helper()
	c := run(t, image("WXTOKEN_REDIS_IMAGE", DefaultRedisImage),
		testcontainers.WithCmd(append(redisArgs, "--port", "6379")...),
		testcontainers.WithExposedPorts("6379/tcp"),
		testcontainers.WithWaitStrategy(wait.ForLog("Ready to accept connections"),
			textProbe("6379/tcp", "PING\r\n", "+PONG")),
	)
	return &Server{Addr: endpoint(t, c, "6379/tcp"), Container: c}
}

// RedisCluster starts a Redis Cluster of n masters (n >= 3) and returns
// their addresses. The nodes share one network namespace and announce
// 127.0.0.1 with ports that are the same inside and outside, so that both
// the nodes' gossip and a client on the host follow MOVED answers to the
// right place. The first Server owns the namespace.
func RedisCluster(t testing.TB, n int) []*Server {
	t.Helper()
	ports := freePorts(t, n)
	img := image("WXTOKEN_REDIS_IMAGE", DefaultRedisImage)
	nodeArgs := func(p int) []string {
		return append(append([]string{}, redisArgs...), "--port", itoa(p), "--cluster-enabled", "yes",
			"--cluster-config-file", "nodes-"+itoa(p)+".conf", "--cluster-node-timeout", "2000",
			"--cluster-announce-ip", "127.0.0.1", "--cluster-require-full-coverage", "no")
	}
	var exposed []string
	bindings := network.PortMap{}
	for _, p := range ports {
		port := network.MustParsePort(itoa(p) + "/tcp")
		exposed = append(exposed, port.String())
		bindings[port] = []network.PortBinding{{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: itoa(p)}}
	}
	first := run(t, img,
		testcontainers.WithCmd(nodeArgs(ports[0])...),
		testcontainers.WithExposedPorts(exposed...),
		testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) { hc.PortBindings = bindings }),
		testcontainers.WithWaitStrategy(wait.ForLog("Ready to accept connections")),
	)
	servers := []*Server{{Addr: "127.0.0.1:" + itoa(ports[0]), Container: first}}
	for _, p := range ports[1:] {
		c := run(t, img,
			testcontainers.WithCmd(nodeArgs(p)...),
			testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
				hc.NetworkMode = container.NetworkMode("container:" + first.GetContainerID())
			}),
			testcontainers.WithWaitStrategy(wait.ForLog("Ready to accept connections")),
		)
		servers = append(servers, &Server{Addr: "127.0.0.1:" + itoa(p), Container: c})
	}
	var addrs []string
	for _, s := range servers {
		addrs = append(addrs, s.Addr)
	}
	FormRedisCluster(t, addrs)
	return servers
}

// FormRedisCluster makes one Redis Cluster of the cluster-enabled nodes at
// addrs (host:port, all reachable from here and from each other at those
// addresses): it splits the 16384 slots among them, introduces them to
// each other and waits until every node reports the cluster ok.
func FormRedisCluster(t testing.TB, addrs []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	per := 16384 / len(addrs)
	host, port, err := net.SplitHostPort(addrs[0])
	must(t, err, "the first node's address")
	for i, addr := range addrs {
		c := redis.NewClient(&redis.Options{Addr: addr})
		lo, hi := i*per, (i+1)*per-1
		if i == len(addrs)-1 {
			hi = 16383
		}
		must(t, c.ClusterAddSlotsRange(ctx, lo, hi).Err(), "CLUSTER ADDSLOTSRANGE")
		if i > 0 {
			must(t, c.ClusterMeet(ctx, host, port).Err(), "CLUSTER MEET")
		}
		c.Close()
	}
	for _, addr := range addrs {
		c := redis.NewClient(&redis.Options{Addr: addr})
		for {
			info, err := c.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_known_nodes:"+itoa(len(addrs))) {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("Redis Cluster never became ok: %v %s", err, info)
			}
			time.Sleep(100 * time.Millisecond)
		}
		c.Close()
	}
}
