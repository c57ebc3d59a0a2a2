package core_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/lock"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wxsim"
)

const (
	testApp    = "wxapp0001"
	testSecret = "s3cr3t-d0-not-l0g-me"
)

// offsetClock runs at real speed, shifted by an offset a test moves, so
// that token states can be reached without waiting.
type offsetClock struct{ off atomic.Int64 }

func (c *offsetClock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *offsetClock) Advance(d time.Duration) { c.off.Add(int64(d)) }

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newSim(t *testing.T, opts ...wxsim.Option) *wxsim.Server {
	t.Helper()
	sim := wxsim.NewServer(opts...)
	t.Cleanup(sim.Close)
	sim.AddApp(testApp, testSecret)
	return sim
}

func newManager(t *testing.T, opts ...core.Option) *core.Manager {
	t.Helper()
	m := core.New(append([]core.Option{core.WithLogger(quietLogger())}, opts...)...)
	t.Cleanup(func() { m.Close() })
	return m
}

func register(t *testing.T, m *core.Manager, key string, src core.Source) {
	t.Helper()
	if err := m.Register(key, src); err != nil {
		t.Fatal(err)
	}
}

func account(sim *wxsim.Server) *wechat.AccountSource {
	return wechat.OfficialAccount(testApp, testSecret, wechat.WithBaseURL(sim.URL))
}

func mustToken(t *testing.T, m *core.Manager, key string) core.Token {
	t.Helper()
	tok, err := m.Token(context.Background(), key)
	if err != nil {
		t.Fatalf("Token(%q): %v", key, err)
	}
	return tok
}

func tokenCalls(sim *wxsim.Server) int { return sim.Stats().Calls["/cgi-bin/token"] }

// eventually polls cond for up to d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// flakyCache is a MemoryCache whose operations can be made to fail, as a
// store that went down would. It passes the lock through, failing it too.
type flakyCache struct {
	*core.MemoryCache
	failGet, failSet, failLock atomic.Bool
}

var errStoreDown = errors.New("store unreachable")

func newFlaky() *flakyCache { return &flakyCache{MemoryCache: core.NewMemoryCache()} }

func (f *flakyCache) Get(ctx context.Context, k string) (string, error) {
	if f.failGet.Load() {
		return "", errStoreDown
	}
	return f.MemoryCache.Get(ctx, k)
}

func (f *flakyCache) Set(ctx context.Context, k, v string, ttl time.Duration) error {
	if f.failSet.Load() {
		return errStoreDown
	}
	return f.MemoryCache.Set(ctx, k, v, ttl)
}

// Watch fails while the store is down, as a subscription would.
func (f *flakyCache) Watch(ctx context.Context, k string) (<-chan struct{}, func(), error) {
	if f.failGet.Load() {
		return nil, nil, errStoreDown
	}
	return f.MemoryCache.Watch(ctx, k)
}

func (f *flakyCache) TryLock(ctx context.Context, name string, ttl time.Duration) (lock.Lease, error) {
	if f.failLock.Load() {
		return nil, errStoreDown
	}
	return f.MemoryCache.TryLock(ctx, name, ttl)
}

func (f *flakyCache) down(b bool) { f.failGet.Store(b); f.failSet.Store(b); f.failLock.Store(b) }

// counter counts Events by kind.
type counter struct {
	mu sync.Mutex
	n  map[core.EventKind]int
}

func (c *counter) observe(e core.Event) {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[core.EventKind]int{}
	}
	c.n[e.Kind]++
	c.mu.Unlock()
}

func (c *counter) get(k core.EventKind) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[k]
}
