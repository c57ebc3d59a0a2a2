package conformance

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/core"
)

// TestCache checks the core.Cache contract: get after set, misses,
// overwrite, remove, TTL expiry, no expiry for ttl <= 0, odd keys, 4 KiB
// values, concurrent use, and prompt return on a cancelled context.
func TestCache(t *testing.T, newCache func(t *testing.T) core.Cache, opts ...Options) {
	o := first(opts)
	ctx := context.Background()
	p := uniquePrefix()

	t.Run("GetAfterSet", func(t *testing.T) {
		c := newCache(t)
		mustSet(t, c, p+"a", "value-a", time.Minute)
		mustGet(t, c, p+"a", "value-a", "Get after Set must return the value set")
	})
	t.Run("MissIsErrNotFound", func(t *testing.T) {
		c := newCache(t)
		if v, err := c.Get(ctx, p+"never-set"); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("rule: a miss returns core.ErrNotFound; got value %q, err %v", v, err)
		}
	})
	t.Run("Overwrite", func(t *testing.T) {
		c := newCache(t)
		mustSet(t, c, p+"ow", "first", time.Minute)
		mustSet(t, c, p+"ow", "second", time.Minute)
		mustGet(t, c, p+"ow", "second", "a second Set must replace the first")
	})
	t.Run("Remove", func(t *testing.T) {
		c := newCache(t)
		mustSet(t, c, p+"rm", "x", time.Minute)
		if err := c.Remove(ctx, p+"rm"); err != nil {
			t.Fatalf("rule: Remove of a present key succeeds; got %v", err)
		}
		mustMiss(t, c, p+"rm", "a removed key must be a miss")
	})
	t.Run("RemoveAbsent", func(t *testing.T) {
		c := newCache(t)
		if err := c.Remove(ctx, p+"absent"); err != nil {
			t.Fatalf("rule: Remove of an absent key returns nil; got %v", err)
		}
	})
	t.Run("TTLExpires", func(t *testing.T) {
		c := newCache(t)
		ttl := time.Second
		mustSet(t, c, p+"ttl", "short", ttl)
		mustGet(t, c, p+"ttl", "short", "a value must be there before its TTL")
		time.Sleep(ttl + o.TTLTolerance + 50*time.Millisecond)
		mustMiss(t, c, p+"ttl", fmt.Sprintf("a value must be gone after its TTL (%v) plus the stated tolerance (%v)", ttl, o.TTLTolerance))
	})
	t.Run("NoExpiryForNonPositiveTTL", func(t *testing.T) {
		c := newCache(t)
		mustSet(t, c, p+"zero", "kept", 0)
		mustSet(t, c, p+"neg", "kept", -time.Second)
		time.Sleep(time.Second + o.TTLTolerance + 50*time.Millisecond)
		mustGet(t, c, p+"zero", "kept", "ttl 0 means no expiry")
		mustGet(t, c, p+"neg", "kept", "a negative ttl means no expiry")
		_ = c.Remove(ctx, p+"zero")
		_ = c.Remove(ctx, p+"neg")
	})
	t.Run("OddKeys", func(t *testing.T) {
		c := newCache(t)
		keys := []string{
			p + "with:colons:in:it",
			p + "with/slashes/and.dots",
			p + "unicode-令牌-🔑",
			p + strings.Repeat("k", 250-len(p)), // 250 bytes in all
		}
		for i, k := range keys {
			v := fmt.Sprintf("value-%d", i)
			if err := c.Set(ctx, k, v, time.Minute); err != nil {
				t.Fatalf("rule: keys may hold colons, slashes, unicode and be 250 bytes long; Set(%q) = %v", k, err)
			}
			mustGet(t, c, k, v, fmt.Sprintf("odd key %q must round-trip", k))
		}
	})
	t.Run("LargeValue", func(t *testing.T) {
		c := newCache(t)
		v := strings.Repeat("0123456789abcdef", 256) // 4 KiB
		mustSet(t, c, p+"large", v, time.Minute)
		mustGet(t, c, p+"large", v, "a 4 KiB value must round-trip intact")
	})
	t.Run("Concurrent", func(t *testing.T) {
		c := newCache(t)
		var wg sync.WaitGroup
		errs := make(chan error, 32)
		for g := range 32 {
			wg.Go(func() {
				k := fmt.Sprintf("%sconc-%d", p, g%4)
				for i := range 20 {
					if err := c.Set(ctx, k, fmt.Sprintf("g%d-i%d", g, i), time.Minute); err != nil {
						errs <- fmt.Errorf("Set: %w", err)
						return
					}
					v, err := c.Get(ctx, k)
					if err != nil {
						errs <- fmt.Errorf("Get: %w", err)
						return
					}
					if !strings.HasPrefix(v, "g") || !strings.Contains(v, "-i") {
						errs <- fmt.Errorf("Get returned a torn value %q", v)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("rule: the cache is safe for concurrent use by 32 goroutines: %v", err)
		}
	})
	t.Run("CancelledContext", func(t *testing.T) {
		c := newCache(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		for name, call := range map[string]func() error{
			"Get":    func() error { _, err := c.Get(cctx, p+"cancel"); return err },
			"Set":    func() error { return c.Set(cctx, p+"cancel", "v", time.Minute) },
			"Remove": func() error { return c.Remove(cctx, p+"cancel") },
		} {
			start := time.Now()
			err := call()
			if !errors.Is(err, context.Canceled) {
				t.Errorf("rule: %s with a cancelled ctx returns ctx's error; got %v", name, err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("rule: %s with a cancelled ctx returns promptly; took %v", name, d)
			}
		}
	})
}

func mustSet(t *testing.T, c core.Cache, k, v string, ttl time.Duration) {
	t.Helper()
	if err := c.Set(context.Background(), k, v, ttl); err != nil {
		t.Fatalf("Set(%q): %v", k, err)
	}
}

func mustGet(t *testing.T, c core.Cache, k, want, rule string) {
	t.Helper()
	got, err := c.Get(context.Background(), k)
	if err != nil || got != want {
		t.Fatalf("rule: %s; Get(%q) = %.60q, %v; want %.60q", rule, k, got, err, want)
	}
}

func mustMiss(t *testing.T, c core.Cache, k, rule string) {
	t.Helper()
	if v, err := c.Get(context.Background(), k); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("rule: %s; Get(%q) = %.60q, %v; want core.ErrNotFound", rule, k, v, err)
	}
}
