// Package localserver runs Redis, memcached or etcd as a child process on
// a free loopback port, for the tests and runnable examples that need a
// real store but no container (the backend modules' examples, the server's
// end-to-end test) and for `wxtoken-farm --start-store`, which pauses it
// with SIGSTOP. The binaries are Debian's redis-server,
// memcached and etcd (scripts/install-test-deps installs them).
//
// The fault tests that pause, cut off or cluster a store run in
// containers instead, in the integration module.
package localserver

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startTimeout bounds how long a server may take to answer its first probe.
const startTimeout = 20 * time.Second

// Server is one running store process.
type Server struct {
	// Addr is host:port of the server on loopback.
	Addr string

	cmd  *exec.Cmd
	dir  string
	done chan struct{}
	log  *tail

	path string
	args func(port int, dir string) []string
	ping func(addr string) error
	port int
}

// Redis starts redis-server with persistence off.
func Redis() (*Server, error) {
	return start("redis-server", func(port int, dir string) []string {
		return []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port),
			"--save", "", "--appendonly", "no", "--dir", dir}
	}, pingRedis)
}

// RedisClusterNode starts redis-server as a node of a Redis Cluster,
// persistence off, holding no slots yet and knowing no other node: the
// caller forms the cluster (assigns slots, makes the nodes meet). It
// announces 127.0.0.1, so clients and the other nodes reach it on
// loopback, with no proxy in between.
func RedisClusterNode() (*Server, error) {
	return start("redis-server", func(port int, dir string) []string {
		return []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port),
			"--save", "", "--appendonly", "no", "--dir", dir,
			"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "2000", "--cluster-announce-ip", "127.0.0.1",
			"--cluster-require-full-coverage", "no"}
	}, pingRedis)
}

// Memcached starts memcached.
func Memcached() (*Server, error) {
	return start("memcached", func(port int, _ string) []string {
		args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0"}
		if os.Geteuid() == 0 {
			args = append(args, "-u", "root") // memcached refuses to run as root without it
		}
		return args
	}, pingMemcached)
}

// Etcd starts a one-member etcd cluster, with the election timeout short
// (500 ms) so that it grants leases of 1 s: its minimum lease TTL is one
// and a half election timeouts.
func Etcd() (*Server, error) {
	var peer int
	return start("etcd", func(port int, dir string) []string {
		p, err := freePort()
		if err != nil {
			p = port + 1
		}
		peer = p
		client := "http://127.0.0.1:" + strconv.Itoa(port)
		peerURL := "http://127.0.0.1:" + strconv.Itoa(peer)
		return []string{"--name", "local", "--data-dir", dir + "/etcd",
			"--listen-client-urls", client, "--advertise-client-urls", client,
			"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
			"--initial-cluster", "local=" + peerURL, "--log-level", "error",
			"--heartbeat-interval", "50", "--election-timeout", "500"}
	}, pingEtcd)
}

// T starts a server with start and stops it when t ends; a missing binary
// or a server that does not come up fails t.
func T(t testing.TB, start func() (*Server, error)) *Server {
	t.Helper()
	s, err := start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Main is a TestMain for a package whose tests and examples need one
// server: it starts it with start, puts its address in *addr, runs the
// tests, stops the server and exits. A server that cannot start fails the
// package with the reason (a missing binary names the package to install).
func Main(m *testing.M, start func() (*Server, error), addr *string) {
	srv, err := start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*addr = srv.Addr
	code := m.Run()
	_ = srv.Close()
	os.Exit(code)
}

// Pid returns the server's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Close stops the server and removes its data directory.
func (s *Server) Close() error {
	_ = s.cmd.Process.Kill()
	<-s.done
	return os.RemoveAll(s.dir)
}

// start runs bin with the arguments args gives for a free port, and waits
// until ping succeeds. A port taken between choosing and binding is tried
// again with another.
func start(bin string, args func(port int, dir string) []string, ping func(addr string) error) (*Server, error) {
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("localserver: %s is not installed (scripts/install-test-deps installs it): %w", bin, err)
	}
	var last error
	for attempt := 0; attempt < 3; attempt++ {
		var s *Server
		if s, last = try(path, args, ping); last == nil {
			return s, nil
		}
	}
	return nil, last
}

func try(path string, args func(port int, dir string) []string, ping func(addr string) error) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "localserver-")
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), dir: dir, path: path, args: args, ping: ping, port: port}
	if err := s.run(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// Restart kills the server and starts it again on the same port and data
// directory: for Redis, which runs without persistence, a restart that
// loses every key.
func (s *Server) Restart() error {
	_ = s.cmd.Process.Kill()
	<-s.done
	var err error
	for attempt := 0; attempt < 50; attempt++ { // the port may linger a moment
		if err = s.run(); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// run starts the process and waits until it answers.
func (s *Server) run() error {
	path, dir := s.path, s.dir
	s.done, s.log = make(chan struct{}), &tail{}
	s.cmd = exec.Command(path, s.args(s.port, dir)...)
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.SysProcAttr = procAttr()
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("localserver: start %s: %w", path, err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-s.done:
			return fmt.Errorf("localserver: %s exited at start: %s", path, s.log)
		default:
		}
		err := s.ping(s.Addr)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			_ = s.cmd.Process.Kill()
			<-s.done
			return fmt.Errorf("localserver: %s on %s did not answer within %v: %v; output: %s", path, s.Addr, startTimeout, err, s.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// exchange sends req on a fresh connection and returns the first line.
func exchange(addr, req string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

func pingRedis(addr string) error {
	line, err := exchange(addr, "PING\r\n")
	if err == nil && line != "+PONG" {
		err = fmt.Errorf("PING answered %q", line)
	}
	return err
}

func pingMemcached(addr string) error {
	line, err := exchange(addr, "version\r\n")
	if err == nil && !strings.HasPrefix(line, "VERSION") {
		err = fmt.Errorf("version answered %q", line)
	}
	return err
}

func pingEtcd(addr string) error {
	hc := &http.Client{Timeout: time.Second}
	resp, err := hc.Get("http://" + addr + "/health")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"true"`) {
		return errors.New("health answered " + resp.Status + ": " + string(b))
	}
	return nil
}
