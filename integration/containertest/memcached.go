package containertest

import (
	"testing"

	"github.com/testcontainers/testcontainers-go"
)

// Memcached starts a memcached server.
func Memcached(t testing.TB) *Server {
	t.Helper()
	c := run(t, image("WXTOKEN_MEMCACHED_IMAGE", DefaultMemcachedImage),
		// -u only matters when started as root (the FROM-scratch image).
		testcontainers.WithCmd("memcached", "-u", "nobody", "-p", "11211", "-m", "64"),
		testcontainers.WithExposedPorts("11211/tcp"),
		testcontainers.WithWaitStrategy(textProbe("11211/tcp", "version\r\n", "VERSION ")),
	)
	return &Server{Addr: endpoint(t, c, "11211/tcp"), Container: c}
}
