package core_test

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/core"
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
		m := newManager(t, core.WithCache(store), core.WithRefreshAhead(life*3/8), core.WithExpiryMargin(life/10),
			core.WithLocalTTL(200*time.Millisecond))
		register(t, m, "app", wechat.WeCom("ww1", "1000002", "wecom-secret", wechat.WithBaseURL(sim.URL)))
		ms = append(ms, m)
		runs.Go(func() { _ = m.Run(ctx) })
	}
	run, stop := context.WithTimeout(ctx, lifetimes*life)
	defer stop()
	var served, failed atomic.Int64
	hc := &http.Client{Timeout: 5 * time.Second}
	var wg sync.WaitGroup
	for _, m := range ms {
		for range 2 {
			wg.Go(func() {
				for run.Err() == nil {
					tok, err := m.Token(run, "app")
					if err != nil {
						if run.Err() == nil {
							failed.Add(1)
						}
						continue
					}
					served.Add(1)
					if resp, err := hc.Get(sim.URL + wxsim.BusinessPath + "?access_token=" + url.QueryEscape(tok.Value)); err == nil {
						resp.Body.Close()
					}
					time.Sleep(5 * time.Millisecond)
				}
			})
		}
	}
	wg.Wait()
	st := sim.Stats()
	calls := st.Calls["/cgi-bin/gettoken"]
	t.Logf("8 managers through %d lifetimes of %v: %d tokens served, %d business calls, %d refused %v, %d gettoken calls",
		lifetimes, life, served.Load(), st.Checks, st.FailedChecks(), st.CheckErrors, calls)
	// Each renewal waits out the second expires_in was rounded down by,
	// so five lifetimes of wall time hold four or five tokens.
	if calls < lifetimes-1 || calls > lifetimes+1 {
		t.Errorf("rule: a live-token upstream is asked once per lifetime; %d gettoken calls over %d lifetimes", calls, lifetimes)
	}
	if n := st.FailedChecks(); n != 0 {
		t.Errorf("rule: zero failed business calls; %d (%v)", n, st.CheckErrors)
	}
	if n := failed.Load(); n != 0 {
		t.Errorf("rule: Token never fails while upstream is healthy; %d failed", n)
	}
}
