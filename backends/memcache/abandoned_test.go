package memcachebackend_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	memcachebackend "github.com/wxtoken/wxtoken/backends/memcache"
	"github.com/wxtoken/wxtoken/internal/localserver"
)

// A TryLock whose answer timed out while memcached was frozen may still
// run when the server resumes, after the commands of other connections (the
// order memcached serves its connections in is not set). The lock it
// leaves has no holder; it must not block the fleet for its TTL. Here a
// gate in front of a real memcached holds the Add and lets it through
// last, after everything else the backend sent.
func TestAnAddThatLandsLateDoesNotBlockTheLock(t *testing.T) {
	srv := localserver.T(t, localserver.Memcached)
	g := newGate(t, srv.Addr)
	mc := memcache.New(g.addr())
	mc.Timeout = 200 * time.Millisecond
	b := memcachebackend.New(mc)
	other := memcachebackend.New(memcache.New(srv.Addr))
	ctx := context.Background()

	g.freeze()
	if _, err := b.TryLock(ctx, "refresh", 5*time.Second); err == nil {
		t.Fatal("TryLock through a frozen server succeeded")
	}
	g.resume(func(held []byte) bool { return !bytes.HasPrefix(held, []byte("add ")) })
	time.Sleep(600 * time.Millisecond) // the backend's reads are answered: no lock there
	sets := storageCommands(t, srv.Addr)
	g.resume(func([]byte) bool { return true })
	for storageCommands(t, srv.Addr) == sets {
		time.Sleep(time.Millisecond) // until memcached has run the Add
	}
	landed := time.Now()
	for {
		l, err := other.TryLock(ctx, "refresh", 5*time.Second)
		if err == nil {
			t.Logf("the lock was free again %v after the abandoned Add landed", time.Since(landed).Round(time.Millisecond))
			l.Unlock(ctx)
			return
		}
		if time.Since(landed) > 3*time.Second {
			t.Fatalf("a lock nobody holds blocked others for 3 s after the abandoned Add landed (its TTL is 5 s): %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// storageCommands is memcached's count of storage commands run (set,
// add, cas, ...), read with the text protocol's stats command.
func storageCommands(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	io.WriteString(c, "stats\r\n")
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("memcached stats: %v", err)
		}
		if n, ok := strings.CutPrefix(strings.TrimSpace(line), "STAT cmd_set "); ok {
			return n
		}
		if strings.HasPrefix(line, "END") {
			t.Fatal("memcached stats has no cmd_set")
		}
	}
}

// gate is a TCP proxy to a server that can hold what clients send: while
// frozen, every byte is kept, per connection, until resume lets it through.
type gate struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	frozen bool
	conns  []*gated
}

type gated struct {
	server net.Conn
	held   []byte
}

func newGate(t *testing.T, target string) *gate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{ln: ln, target: target}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		g.mu.Lock()
		for _, c := range g.conns {
			c.server.Close()
		}
		g.mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			c := &gated{server: server}
			g.mu.Lock()
			g.conns = append(g.conns, c)
			g.mu.Unlock()
			wg.Go(func() { io.Copy(client, server); client.Close() })
			wg.Go(func() { g.pump(client, c) })
		}
	})
	return g
}

func (g *gate) addr() string { return g.ln.Addr().String() }

// pump forwards what the client sends, or holds it. The server side stays
// open after the client leaves, so held bytes still arrive, as they do in
// a real server's socket buffer.
func (g *gate) pump(client net.Conn, c *gated) {
	buf := make([]byte, 4096)
	for {
		n, err := client.Read(buf)
		if n > 0 {
			g.mu.Lock()
			if g.frozen || len(c.held) > 0 {
				c.held = append(c.held, buf[:n]...)
			} else {
				c.server.Write(buf[:n])
			}
			g.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

func (g *gate) freeze() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.frozen = true
}

// resume unfreezes the gate and lets through the held bytes of each
// connection whose held bytes pass let; the others stay held.
func (g *gate) resume(let func(held []byte) bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.frozen = false
	for _, c := range g.conns {
		if len(c.held) > 0 && let(c.held) {
			c.server.Write(c.held)
			c.held = nil
		}
	}
}
