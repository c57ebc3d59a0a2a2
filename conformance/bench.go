package conformance

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/core"
)

// BenchmarkBackend measures a store the way wxtoken uses it: Get of a
// present key, Set, TryLock+Unlock, and the Manager's Token over it. The
// last reports the store reads per Token call ("gets/op"): a round trip is
// paid only when the in-memory copy is re-checked (every local TTL), not
// per call.
func BenchmarkBackend(b *testing.B, newBackend func(b *testing.B) Backend) {
	ctx := context.Background()
	p := uniquePrefix()
	value := `{"v":1,"access_token":"` + strings.Repeat("A", 136) + `","expires_at":1764000000,"issued_at":1763992800}`

	b.Run("GetHit", func(b *testing.B) {
		s := newBackend(b)
		if err := s.Set(ctx, p+"get", value, time.Hour); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Get(ctx, p+"get"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Set", func(b *testing.B) {
		s := newBackend(b)
		b.ReportAllocs()
		for b.Loop() {
			if err := s.Set(ctx, p+"set", value, time.Hour); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("TryLockUnlock", func(b *testing.B) {
		s := newBackend(b)
		b.ReportAllocs()
		for b.Loop() {
			l, err := s.TryLock(ctx, p+"lock", 10*time.Second)
			if err != nil {
				b.Fatal(err)
			}
			if err := l.Unlock(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ManagerToken", func(b *testing.B) {
		s := &countingBackend{Backend: newBackend(b)}
		now := time.Now()
		src := core.SourceFunc(func(context.Context, core.FetchRequest) (core.Token, error) {
			return core.Token{Value: "BENCH", IssuedAt: now, ExpiresAt: now.Add(2 * time.Hour)}, nil
		})
		m := core.New(core.WithCache(s), core.WithSettings(core.Settings{KeyPrefix: strings.TrimSuffix(p, ":"), LocalTTL: 100 * time.Millisecond}),
			core.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
		defer m.Close()
		if err := m.Register("shop", src); err != nil {
			b.Fatal(err)
		}
		if _, err := m.Token(ctx, "shop"); err != nil {
			b.Fatal(err)
		}
		s.gets.Store(0)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := m.Token(ctx, "shop"); err != nil {
					panic(fmt.Sprint(err))
				}
			}
		})
		b.ReportMetric(float64(s.gets.Load())/float64(b.N), "gets/op")
	})
}

// countingBackend counts the store reads a Manager makes.
type countingBackend struct {
	Backend
	gets atomic.Int64
}

func (c *countingBackend) Get(ctx context.Context, key string) (string, error) {
	c.gets.Add(1)
	return c.Backend.Get(ctx, key)
}
