package core_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/wxsim"
)

// fastClock is virtual time shared by a fleet and its upstream: it runs
// speed times faster than real time from start, so a test lives through
// lifetimes of realistic proportions in seconds.
type fastClock struct {
	start time.Time
	speed int64
}

func (c fastClock) Now() time.Time {
	return c.start.Add(time.Duration(int64(time.Since(c.start)) * c.speed))
}

// skewed is one node's view of a clock: off from the truth by a fixed
// amount, as a machine whose clock is wrong.
type skewed struct {
	base fastClock
	off  time.Duration
}

func (c skewed) Now() time.Time { return c.base.Now().Add(c.off) }

// stampedSource fetches /cgi-bin/token from the simulator and stamps the
// token by the node's own clock, as a Source on that machine would. It
// verifies reported tokens as the wechat sources do.
type stampedSource struct {
	simURL string
	clock  core.Clock
	hc     *http.Client
}

func newStampedSource(simURL string, clock core.Clock) *stampedSource {
	return &stampedSource{simURL: simURL, clock: clock, hc: &http.Client{Timeout: 5 * time.Second}}
}

func (s *stampedSource) get(ctx context.Context, path string, q url.Values, v any) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.simURL+path+"?"+q.Encode(), nil)
	resp, err := s.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

func (s *stampedSource) Fetch(ctx context.Context, _ core.FetchRequest) (core.Token, error) {
	start := s.clock.Now()
	var body struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		Errcode     int    `json:"errcode"`
	}
	q := url.Values{"grant_type": {"client_credential"}, "appid": {testApp}, "secret": {testSecret}}
	if err := s.get(ctx, "/cgi-bin/token", q, &body); err != nil || body.AccessToken == "" {
		return core.Token{}, fmt.Errorf("token answer: errcode %d, %v", body.Errcode, err)
	}
	return core.Token{Value: body.AccessToken, ExpiresAt: start.Add(time.Duration(body.ExpiresIn) * time.Second)}, nil
}

func (s *stampedSource) Verify(ctx context.Context, token string) (bool, error) {
	var body struct {
		Errcode int `json:"errcode"`
	}
	if err := s.get(ctx, wxsim.ProbePath, url.Values{"access_token": {token}}, &body); err != nil {
		return false, err
	}
	return body.Errcode == 0, nil
}

// sharedHistory watches the shared cache's value and reports a token that
// comes back after it was replaced: an older token written over a newer.
type sharedHistory struct {
	mu       sync.Mutex
	seen     map[string]int // value -> position in the sequence
	seq      []string
	regress  []string
	lastGen  uint64
	genDrops []string
}

func (h *sharedHistory) observe(raw string) {
	tok, err := core.DecodeToken(raw)
	if err != nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seen == nil {
		h.seen = map[string]int{}
	}
	if tok.Generation < h.lastGen {
		h.genDrops = append(h.genDrops, fmt.Sprintf("generation %d after %d", tok.Generation, h.lastGen))
	}
	h.lastGen = max(h.lastGen, tok.Generation)
	if n := len(h.seq); n > 0 && h.seq[n-1] == tok.Value {
		return
	}
	if at, ok := h.seen[tok.Value]; ok {
		h.regress = append(h.regress, fmt.Sprintf("token #%d came back after #%d", at, len(h.seq)-1))
	}
	h.seen[tok.Value] = len(h.seq)
	h.seq = append(h.seq, tok.Value)
}

// values is how many distinct values the store held, one after another,
// so far.
func (h *sharedHistory) values() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.seq)
}

func (h *sharedHistory) watch(ctx context.Context, c core.Cache, key string) {
	for ctx.Err() == nil {
		if raw, err := c.Get(ctx, key); err == nil {
			h.observe(raw)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestSkewedNodesKeepTheFleetOnTheNewestToken runs eight Managers on one
// store through four lifetimes of virtual time, one node's clock 60 s fast
// and one 60 s slow, with traffic, spurious reports and explicit rotations
// from the nodes whose clocks are right. Which token is newer must never
// be decided by a clock: the shared cache never goes back to a replaced
// token, and no business call fails.
func TestSkewedNodesKeepTheFleetOnTheNewestToken(t *testing.T) {
	const (
		speed    = 240 // 20 virtual minutes of lifetime = 5 s
		life     = 20 * time.Minute
		lifetime = 4
		nodes    = 8
	)
	clk := fastClock{start: time.Now(), speed: speed}
	sim := newSim(t, wxsim.WithClock(clk.Now), wxsim.WithLifetime(life), wxsim.WithOverlap(5*time.Minute))
	store := core.NewMemoryCache()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ms []*core.Manager
	var bg sync.WaitGroup
	defer bg.Wait()
	defer cancel()
	for i := range nodes {
		var c core.Clock = clk
		switch i {
		case 0:
			c = skewed{clk, 60 * time.Second}
		case 1:
			c = skewed{clk, -60 * time.Second}
		}
		m := newManager(t, core.WithCache(store), core.WithClock(c), core.WithSettings(core.Settings{RefreshAhead: 10 * time.Minute, ExpiryMargin: time.Minute, LocalTTL: 30 * time.Second}))
		register(t, m, "shop", newStampedSource(sim.URL, c))
		ms = append(ms, m)
		bg.Go(func() { _ = m.Run(ctx) })
	}
	key, _ := ms[0].CacheKey("shop")
	var hist sharedHistory
	watchCtx, stopWatch := context.WithCancel(ctx)
	var watcher sync.WaitGroup
	watcher.Go(func() { hist.watch(watchCtx, store, key) })
	defer stopWatch()

	var served, tokenErrs, rotations atomic.Int64
	var firstErr atomic.Value
	hc := &http.Client{Timeout: 5 * time.Second}
	run, stop := context.WithTimeout(ctx, lifetime*life/speed)
	defer stop()
	var wg sync.WaitGroup
	for i, m := range ms {
		for w := range 3 {
			wg.Go(func() {
				for n := 0; run.Err() == nil; n++ {
					tok, err := m.Token(run, "shop")
					if err != nil {
						if run.Err() == nil {
							tokenErrs.Add(1)
							firstErr.CompareAndSwap(nil, err)
						}
						continue
					}
					served.Add(1)
					resp, err := hc.Get(sim.URL + wxsim.BusinessPath + "?access_token=" + url.QueryEscape(tok.Value))
					if err == nil {
						resp.Body.Close()
					}
					switch {
					case n%50 == 7:
						// A caller reports a good token as rejected.
						_, _ = m.Invalidate(run, "shop", tok.Value)
					case w == 0 && i >= 2 && n%400 == 399:
						// An explicit rotation from a node whose clock is
						// right: its token is newer than the fast node's,
						// though issued "earlier" by that node's clock.
						if _, err := m.Refresh(run, "shop"); err == nil {
							rotations.Add(1)
						}
					}
					time.Sleep(2 * time.Millisecond)
				}
			})
		}
	}
	wg.Wait()
	stopWatch()
	watcher.Wait() // the history is read below, after its last write
	st := sim.Stats()
	t.Logf("%d nodes (one +60 s, one -60 s) through %d lifetimes of %v: %d tokens served, %d business calls, %d refused %v, %d upstream calls, %d rotations, %d probes, %d shared values",
		nodes, lifetime, life, served.Load(), st.Checks, st.FailedChecks(), st.CheckErrors, tokenCalls(sim), rotations.Load(), st.Probes, hist.values())
	// One fetch per lifetime and one per rotation; spurious reports cost
	// none. A rotation landing in a refresh window may save one.
	if calls, want := tokenCalls(sim), lifetime+1+int(rotations.Load()); calls > want+1 {
		t.Errorf("rule: spurious reports and skewed clocks cost no upstream call; %d calls, want at most %d", calls, want+1)
	}
	if rotations.Load() == 0 || hist.values() < lifetime {
		t.Fatalf("the run did not exercise refreshes: %d rotations, %d shared values", rotations.Load(), hist.values())
	}
	if n := st.FailedChecks(); n != 0 {
		t.Errorf("rule: a skewed clock fails no business call; %d refused (%v)", n, st.CheckErrors)
	}
	if n := tokenErrs.Load(); n != 0 {
		t.Errorf("rule: Token never fails while upstream is healthy; %d failed, the first with %v", n, firstErr.Load())
	}
	hist.mu.Lock()
	defer hist.mu.Unlock()
	if n := len(hist.regress); n != 0 {
		t.Errorf("rule: an older token is never written over a newer one; %d times, the first: %v", n, hist.regress[:min(n, 3)])
	}
	if len(hist.genDrops) != 0 {
		t.Errorf("rule: the shared generation never goes down; %v", hist.genDrops)
	}
}

// TestFastNodeDoesNotRestoreAReplacedToken is the smallest form of the
// clock-skew fault: node A's clock is 60 s fast; A fetches T1; T1 is
// revoked and B, reporting it, fetches T2. A's next re-checks must adopt
// T2, never write T1 (stamped "later" by A's clock) back over it.
func TestFastNodeDoesNotRestoreAReplacedToken(t *testing.T) {
	sim := newSim(t)
	store := core.NewMemoryCache()
	fast := &offsetClock{}
	fast.Advance(60 * time.Second)
	a := newManager(t, core.WithCache(store), core.WithClock(fast), core.WithSettings(core.Settings{LocalTTL: 20 * time.Millisecond}))
	b := newManager(t, core.WithCache(store), core.WithSettings(core.Settings{LocalTTL: 20 * time.Millisecond}))
	register(t, a, "shop", newStampedSource(sim.URL, fast))
	register(t, b, "shop", newStampedSource(sim.URL, systemClockForTest{}))
	t1 := mustToken(t, a, "shop")
	if got := mustToken(t, b, "shop"); got.Value != t1.Value {
		t.Fatal("B did not adopt A's token")
	}
	sim.Revoke(t1.Value)
	t2, err := b.Invalidate(context.Background(), "shop", t1.Value)
	if err != nil || t2.Value == t1.Value {
		t.Fatalf("Invalidate of a revoked token: %v, same token %v", err, t2.Value == t1.Value)
	}
	key, _ := a.CacheKey("shop")
	deadline := time.Now().Add(300 * time.Millisecond) // 15 local TTLs
	for time.Now().Before(deadline) {
		_, _ = a.Token(context.Background(), "shop")
		raw, err := store.Get(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		if tok, _ := core.DecodeToken(raw); tok.Value != t2.Value {
			t.Fatalf("rule: an older token is never written over a newer one; the shared cache went back to T1")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := mustToken(t, a, "shop"); got.Value != t2.Value {
		t.Fatal("rule: a node adopts the fleet's newer token within a few local TTLs; A still serves T1")
	}
}

type systemClockForTest struct{}

func (systemClockForTest) Now() time.Time { return time.Now() }
