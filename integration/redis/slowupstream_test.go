package redisbackend_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	redisbackend "github.com/wxtoken/wxtoken/backends/redis"
	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/integration/containertest"
	"github.com/wxtoken/wxtoken/internal/fleet"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wxsim"
)

// TestUpstreamSlowerThanTheLockTTL: every /cgi-bin/token answer takes
// 1.5 x the lock TTL. The holder keeps its lease alive while it waits, so
// no other node fetches meanwhile; the shared generation never goes down
// and no business call fails, through three lifetimes, eight nodes on one
// Redis, each with its own client.
func TestUpstreamSlowerThanTheLockTTL(t *testing.T) {
	const (
		life    = 6 * time.Second
		lockTTL = time.Second
	)
	srv := containertest.Redis(t)
	sim := wxsim.NewServer(wxsim.WithLifetime(life), wxsim.WithOverlap(1500*time.Millisecond))
	defer sim.Close()
	sim.AddApp("wxslow", "slow-secret")
	sim.InjectFault(wxsim.Fault{Path: "/cgi-bin/token", Latency: lockTTL * 3 / 2})
	ctx, cancel := context.WithCancel(context.Background())
	var runs sync.WaitGroup
	defer runs.Wait()
	defer cancel()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	var ms []*core.Manager
	for range 8 {
		rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
		t.Cleanup(func() { rdb.Close() })
		m := core.New(core.WithCache(redisbackend.New(rdb)), core.WithLogger(logger), core.WithSettings(core.Settings{LockTTL: lockTTL, LockWait: 4 * time.Second, RefreshAhead: life * 3 / 8, ExpiryMargin: life / 10, LocalTTL: 200 * time.Millisecond}))
		t.Cleanup(func() { m.Close() })
		hc := &http.Client{Timeout: 5 * time.Second}
		if err := m.Register("slow", wechat.OfficialAccount("wxslow", "slow-secret", wechat.WithBaseURL(sim.URL), wechat.WithHTTPClient(hc))); err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
		runs.Go(func() { _ = m.Run(ctx) })
	}
	key, _ := ms[0].CacheKey("slow")
	watcher := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer watcher.Close()
	var lastGen atomic.Uint64
	var drops atomic.Int64
	runs.Go(func() {
		for ctx.Err() == nil {
			if raw, err := watcher.Get(ctx, key).Result(); err == nil {
				if tok, err := core.DecodeToken(raw); err == nil {
					if g := lastGen.Load(); tok.Generation < g {
						drops.Add(1)
					}
					lastGen.Store(max(lastGen.Load(), tok.Generation))
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	run, stop := context.WithTimeout(ctx, 3*life)
	defer stop()
	total := fleet.DriveFleet(run, ms, "slow", 4, sim.URL)
	st := sim.Stats()
	calls := st.Calls["/cgi-bin/token"]
	t.Logf("8 nodes x 4 callers, upstream latency %v > lock TTL %v, 3 lifetimes of %v: %d served, %d business calls, %d refused %v, %d upstream calls, generation %d",
		lockTTL*3/2, lockTTL, life, total.Served, st.Checks, st.FailedChecks(), st.CheckErrors, calls, lastGen.Load())
	if n := drops.Load(); n != 0 {
		t.Errorf("rule: the shared cache never holds an older generation after a newer one; it went down %d times", n)
	}
	if n := st.FailedChecks(); n != 0 {
		t.Errorf("rule: a slow upstream fails no business call; %d refused (%v)", n, st.CheckErrors)
	}
	if total.TokenErrors != 0 {
		t.Errorf("rule: Token never fails while upstream answers; %d failed, the first with %v", total.TokenErrors, total.FirstError)
	}
	if calls > 3+2 {
		t.Errorf("rule: a slow upstream does not multiply fetches; %d upstream calls over 3 lifetimes", calls)
	}
}
