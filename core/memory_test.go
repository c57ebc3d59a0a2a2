package core_test

import (
	"context"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/conformance"
	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/lock"
)

func TestMemoryCacheConformance(t *testing.T) {
	t.Parallel()
	c := core.NewMemoryCache()
	conformance.TestCache(t, func(*testing.T) core.Cache { return c })
}

func TestMemoryLockerConformance(t *testing.T) {
	t.Parallel()
	c := core.NewMemoryCache()
	conformance.TestLocker(t, func(*testing.T) lock.Locker { return c })
}

func TestMemoryWatcherConformance(t *testing.T) {
	t.Parallel()
	c := core.NewMemoryCache()
	conformance.TestWatcher(t, func(*testing.T) conformance.Backend { return c })
}

func TestMemoryFenceConformance(t *testing.T) {
	t.Parallel()
	c := core.NewMemoryCache()
	conformance.TestFence(t, func(*testing.T) conformance.Backend { return c })
}

// TestMemoryFarm is the fleet in one process: 8 Managers x 64 goroutines on
// one MemoryCache and its in-process Locker.
func TestMemoryFarm(t *testing.T) {
	t.Parallel()
	c := core.NewMemoryCache()
	conformance.TestFarm(t, func(*testing.T) conformance.Backend { return c })
}

func TestMemoryCacheDropsExpiredEntries(t *testing.T) {
	ctx := context.Background()
	c := core.NewMemoryCache()
	for _, k := range []string{"a", "b", "c"} {
		if err := c.Set(ctx, k, "v", 20*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Set(ctx, "keep", "v", time.Hour); err != nil {
		t.Fatal(err)
	}
	time.Sleep(40 * time.Millisecond)
	core.MemorySweep(c)
	if n := core.MemoryLen(c); n != 1 {
		t.Fatalf("after a sweep %d entries remain, want only the unexpired one", n)
	}
	_ = c.Set(ctx, "d", "v", 10*time.Millisecond)
	time.Sleep(20 * time.Millisecond)
	if _, err := c.Get(ctx, "d"); err == nil {
		t.Fatal("expired entry still readable")
	}
	if n := core.MemoryLen(c); n != 1 {
		t.Fatalf("an expired entry read once must be dropped; %d entries remain", n)
	}
}

func BenchmarkMemoryBackend(b *testing.B) {
	c := core.NewMemoryCache()
	conformance.BenchmarkBackend(b, func(*testing.B) conformance.Backend { return c })
}
