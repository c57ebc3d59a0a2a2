// Package containertest starts the servers the backend tests run against
// (Redis, Redis Cluster, memcached, etcd, an etcd cluster) in containers
// with testcontainers-go, and removes them when the test ends.
//
// Image names come from WXTOKEN_REDIS_IMAGE, WXTOKEN_MEMCACHED_IMAGE and
// WXTOKEN_ETCD_IMAGE, defaulting to the official images a user would pull.
// scripts/build-test-images builds local FROM-scratch images out of
// Debian's binaries for machines that reach no registry; scripts/test uses
// them. Without Docker a test is skipped with a note on how to run it,
// except under CI (CI set), where it fails: CI must run these tests.
package containertest

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
)

// Default images, as a user of the official images would pull them.
const (
	DefaultRedisImage     = "redis:7"
	DefaultMemcachedImage = "memcached:1.6"
	DefaultEtcdImage      = "gcr.io/etcd-development/etcd:v3.5.17"
)

func image(env, def string) string {
	if v := os.Getenv(env); v != "" {
		return v
	}
	return def
}

var (
	dockerOnce sync.Once
	dockerErr  error
)

// Require skips t when Docker is unreachable, or fails it under CI.
func Require(t testing.TB) {
	t.Helper()
	dockerOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		p, err := testcontainers.NewDockerProvider()
		if err != nil {
			dockerErr = err
			return
		}
		defer p.Close()
		dockerErr = p.Health(ctx)
	})
	if dockerErr == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("Docker is required under CI and is not reachable: %v", dockerErr)
	}
	t.Skipf("Docker is not reachable (%v); run ./scripts/test on a machine with Docker to run the backend tests", dockerErr)
}

// Server is one running container.
type Server struct {
	// Addr is host:port of the server's main port, on loopback.
	Addr string
	// Container is the running container.
	Container *testcontainers.DockerContainer
}

// ID returns the container's ID.
func (s *Server) ID() string { return s.Container.GetContainerID() }

// Pause freezes the server's processes (docker pause): connections stay
// open but nothing answers, as with a hung server or a cut network.
func (s *Server) Pause(t testing.TB) { docker(t, "pause", s.ID()) }

// Unpause resumes a paused server.
func (s *Server) Unpause(t testing.TB) { docker(t, "unpause", s.ID()) }

// Kill stops the server at once (SIGKILL).
func (s *Server) Kill(t testing.TB) { docker(t, "kill", s.ID()) }

// Restart starts a stopped or killed server again, on the same ports.
func (s *Server) Restart(t testing.TB) { docker(t, "start", s.ID()) }

func docker(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// run starts a container and registers its removal with t before checking
// the error, since with Ryuk off nothing else removes it.
func run(t testing.TB, img string, opts ...testcontainers.ContainerCustomizer) *testcontainers.DockerContainer {
	t.Helper()
	Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := testcontainers.Run(ctx, img, opts...)
	testcontainers.CleanupContainer(t, c)
	if err != nil {
		t.Fatalf("starting %s: %v", img, err)
	}
	return c
}

func endpoint(t testing.TB, c *testcontainers.DockerContainer, port string) string {
	t.Helper()
	ep, err := c.PortEndpoint(context.Background(), port, "")
	if err != nil {
		t.Fatalf("port %s: %v", port, err)
	}
	return ep
}

// freePorts returns n distinct free TCP ports on loopback, for servers
// that must announce the port clients reach them on.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

func itoa(i int) string { return strconv.Itoa(i) }

func must(t testing.TB, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
