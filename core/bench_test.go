package core_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/core"
)

// benchManager returns a Manager holding a fresh token for "shop", so that
// the benchmark measures the hot path only.
func benchManager(b *testing.B, opts ...core.Option) *core.Manager {
	now := time.Now()
	src := core.SourceFunc(func(context.Context, core.FetchRequest) (core.Token, error) {
		return core.Token{Value: "ACCESS_TOKEN_BENCH", IssuedAt: now, ExpiresAt: now.Add(2 * time.Hour)}, nil
	})
	m := core.New(append([]core.Option{core.WithLogger(quietLogger()), core.WithSettings(core.Settings{LocalTTL: time.Hour})}, opts...)...)
	b.Cleanup(func() { m.Close() })
	if err := m.Register("shop", src); err != nil {
		b.Fatal(err)
	}
	if _, err := m.Token(context.Background(), "shop"); err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkToken is the hot path: a fresh token in memory. Target: at most
// 100 ns/op and 0 allocs/op on a 2-core machine.
func BenchmarkToken(b *testing.B) {
	m := benchManager(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Token(ctx, "shop"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTokenParallel(b *testing.B) {
	m := benchManager(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := m.Token(ctx, "shop"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkTokenRecheckEveryCall forces the slow path on every call (local
// TTL of one nanosecond): the cost of a background re-check trigger.
func BenchmarkTokenRecheckEveryCall(b *testing.B) {
	m := benchManager(b, core.WithSettings(core.Settings{LocalTTL: time.Nanosecond}))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Token(ctx, "shop"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRegisterMany registers 100,000 credentials (a service
// provider's tenants, each Dependent on one suite key) with a token each
// in memory, and reports the time per registration and the heap each
// credential holds. Registering copies one shard of the key table, so it
// does not grow with the count.
func BenchmarkRegisterMany(b *testing.B) {
	const n = 100_000
	now := time.Now()
	for range b.N {
		b.StopTimer()
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		m := core.New(core.WithLogger(quietLogger()))
		suite := identifiedSource{id: "suite:bench", tok: core.Token{Value: "suite-token", IssuedAt: now, ExpiresAt: now.Add(2 * time.Hour)}}
		if err := m.Register("suite", suite); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		for i := range n {
			key := fmt.Sprintf("suite/wwcorp%06d", i)
			if err := m.Register(key, dependentSource{id: fmt.Sprintf("corp:wwcorp%06d", i), dep: "suite"}); err != nil {
				b.Fatal(err)
			}
		}
		perRegister := time.Since(start) / n
		b.StopTimer()
		ctx := context.Background()
		for i := range n {
			if _, err := m.Token(ctx, fmt.Sprintf("suite/wwcorp%06d", i)); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(perRegister.Nanoseconds()), "ns/register")
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-bytes/credential")
		m.Close()
		b.StartTimer()
	}
}

// identifiedSource serves one token under an identity.
type identifiedSource struct {
	id  string
	tok core.Token
}

func (s identifiedSource) Identity() string { return s.id }
func (s identifiedSource) Fetch(context.Context, core.FetchRequest) (core.Token, error) {
	return s.tok, nil
}

// dependentSource serves a tenant-sized token (WeCom's are 100-odd
// characters) depending on another key.
type dependentSource struct{ id, dep string }

func (s dependentSource) Identity() string  { return s.id }
func (s dependentSource) DependsOn() string { return s.dep }
func (s dependentSource) Fetch(context.Context, core.FetchRequest) (core.Token, error) {
	now := time.Now()
	return core.Token{Value: strings.Repeat("x", 100) + s.id, IssuedAt: now, ExpiresAt: now.Add(2 * time.Hour)}, nil
}
