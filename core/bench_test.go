package core_test

import (
	"context"
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
	m := core.New(append([]core.Option{core.WithLogger(quietLogger()), core.WithLocalTTL(time.Hour)}, opts...)...)
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
	m := benchManager(b, core.WithLocalTTL(time.Nanosecond))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Token(ctx, "shop"); err != nil {
			b.Fatal(err)
		}
	}
}
