package containertest

import (
	"context"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"
)

// etcdTiming makes leases as short as 1 s possible (etcd's least lease TTL
// derives from the election timeout) and elections fast.
var etcdTiming = []string{"--heartbeat-interval", "50", "--election-timeout", "500"}

// Etcd starts a single-member etcd.
func Etcd(t testing.TB) *Server {
	t.Helper()
	c := run(t, image("WXTOKEN_ETCD_IMAGE", DefaultEtcdImage),
		testcontainers.WithCmd(append([]string{"etcd", "--name", "etcd0", "--data-dir", "/tmp/etcd",
			"--listen-client-urls", "http://0.0.0.0:2379", "--advertise-client-urls", "http://127.0.0.1:2379",
			"--listen-peer-urls", "http://0.0.0.0:2380"}, etcdTiming...)...),
		testcontainers.WithExposedPorts("2379/tcp"),
		testcontainers.WithWaitStrategy(wait.ForListeningPort("2379/tcp").SkipInternalCheck(),
			wait.ForLog("ready to serve client requests")),
	)
	return &Server{Addr: endpoint(t, c, "2379/tcp"), Container: c}
}

// EtcdCluster starts an n-member etcd cluster on a Docker network of its
// own; the members find each other by name, the test reaches each on a
// loopback port. It returns once every member answers.
func EtcdCluster(t testing.TB, n int) []*Server {
	t.Helper()
	Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	nw, err := network.New(ctx)
	testcontainers.CleanupNetwork(t, nw)
	if err != nil {
		t.Fatalf("creating a network: %v", err)
	}
	var peers []string
	for i := range n {
		peers = append(peers, "etcd"+itoa(i)+"=http://etcd"+itoa(i)+":2380")
	}
	var out []*Server
	// No wait strategy: a member is ready only once a quorum has started,
	// so all are started first and then asked in turn.
	for i := range n {
		name := "etcd" + itoa(i)
		c := run(t, image("WXTOKEN_ETCD_IMAGE", DefaultEtcdImage),
			network.WithNetwork([]string{name}, nw),
			testcontainers.WithCmd(append([]string{"etcd", "--name", name, "--data-dir", "/tmp/etcd",
				"--listen-client-urls", "http://0.0.0.0:2379", "--advertise-client-urls", "http://" + name + ":2379",
				"--listen-peer-urls", "http://0.0.0.0:2380", "--initial-advertise-peer-urls", "http://" + name + ":2380",
				"--initial-cluster", strings.Join(peers, ","), "--initial-cluster-state", "new",
				"--initial-cluster-token", "wxtoken-test"}, etcdTiming...)...),
			testcontainers.WithExposedPorts("2379/tcp"),
			testcontainers.WithWaitStrategy(wait.ForListeningPort("2379/tcp").SkipInternalCheck()),
		)
		out = append(out, &Server{Addr: endpoint(t, c, "2379/tcp"), Container: c})
	}
	for _, s := range out {
		waitEtcd(ctx, t, s.Addr)
	}
	return out
}

// waitEtcd polls one member until it answers a status request.
func waitEtcd(ctx context.Context, t testing.TB, addr string) {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{addr}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	for {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := cli.Status(sctx, addr)
		cancel()
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("etcd member %s never became ready: %v", addr, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
