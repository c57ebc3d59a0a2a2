package core_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/internal/fleet"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wxsim"
)

// TestWeComIsAskedOncePerLifetime is the shrinking-schedule fault: WeCom's
// gettoken answers the live token with its remaining lifetime until it
// expires, so asking ahead of expiry only returns the same token again.
// Eight Managers on one store through five lifetimes must call gettoken
// about once per lifetime, and no business call may fail.
func TestWeComIsAskedOncePerLifetime(t *testing.T) {
	const (
		life      = 4 * time.Second
		lifetimes = 5
	)
	sim := newSim(t, wxsim.WithLifetime(life))
	sim.AddWeComApp("ww1", "1000002", "wecom-secret")
	store := core.NewMemoryCache()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var runs sync.WaitGroup
	defer runs.Wait()
	defer cancel()
	var ms []*core.Manager
	for range 8 {
		m := newManager(t, core.WithCache(store), core.WithSettings(core.Settings{RefreshAhead: life * 3 / 8, ExpiryMargin: life / 10, LocalTTL: 200 * time.Millisecond}))
		register(t, m, "app", wechat.WeCom("ww1", "1000002", "wecom-secret", wechat.WithBaseURL(sim.URL)))
		ms = append(ms, m)
		runs.Go(func() { _ = m.Run(ctx) })
	}
	run, stop := context.WithTimeout(ctx, lifetimes*life)
	defer stop()
	total := fleet.DriveFleet(run, ms, "app", 2, sim.URL)
	st := sim.Stats()
	calls := st.Calls["/cgi-bin/gettoken"]
	t.Logf("8 managers through %d lifetimes of %v: %d tokens served, %d business calls, %d refused %v, %d gettoken calls",
		lifetimes, life, total.Served, st.Checks, st.FailedChecks(), st.CheckErrors, calls)
	if n := st.FailedChecks(); n != 0 {
		t.Errorf("rule: zero failed business calls; %d (%v)", n, st.CheckErrors)
	}
	if total.TokenErrors != 0 {
		t.Errorf("rule: Token never fails while upstream is healthy; %d failed, the first with %v", total.TokenErrors, total.FirstError)
	}
	// Each renewal waits out the second expires_in was rounded down by,
	// so five lifetimes of wall time hold four or five tokens.
	if calls < lifetimes-1 || calls > lifetimes+1 {
		t.Errorf("rule: a live-token upstream is asked once per lifetime; %d gettoken calls over %d lifetimes", calls, lifetimes)
	}
}
