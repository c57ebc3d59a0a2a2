package core_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/internal/syncbuf"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wxsim"
)

func TestTokenFetchesOnceThenServesFromMemory(t *testing.T) {
	sim := newSim(t)
	m := newManager(t)
	register(t, m, "shop", account(sim))
	first := mustToken(t, m, "shop")
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 100 {
				if tok := mustToken(t, m, "shop"); tok.Value != first.Value {
					t.Errorf("served %q, want the one token fetched", tok.Value)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := tokenCalls(sim); n != 1 {
		t.Fatalf("upstream calls = %d, want 1", n)
	}
	if !sim.Valid(first.Value) {
		t.Fatal("the token served is not accepted upstream")
	}
	if got := first.ExpiresIn(time.Now()); got < 7100*time.Second || got > 7200*time.Second {
		t.Fatalf("ExpiresIn = %v, want about 7200s", got)
	}
}

func TestUnknownKey(t *testing.T) {
	m := newManager(t)
	for name, call := range map[string]func() error{
		"Token":      func() error { _, err := m.Token(context.Background(), "nope"); return err },
		"Invalidate": func() error { _, err := m.Invalidate(context.Background(), "nope", "x"); return err },
		"Refresh":    func() error { _, err := m.Refresh(context.Background(), "nope"); return err },
	} {
		if err := call(); !errors.Is(err, core.ErrUnknownKey) || !strings.Contains(err.Error(), `"nope"`) {
			t.Errorf("%s of an unregistered key = %v, want ErrUnknownKey naming the key", name, err)
		}
	}
}

func TestRegisterRefusesBadInput(t *testing.T) {
	sim := newSim(t)
	m := newManager(t)
	if err := m.Register("", account(sim)); err == nil {
		t.Error("Register with an empty key succeeded")
	}
	if err := m.Register("x", nil); err == nil {
		t.Error("Register with a nil Source succeeded")
	}
	register(t, m, "shop", account(sim))
	if err := m.Register("shop", account(sim)); err == nil {
		t.Error("Register of a key twice succeeded")
	}
	if err := m.Register("ticket", wechat.JSAPITicket("missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("Register of a ticket whose token key is unregistered = %v, want an error naming it", err)
	}
}

// The same appid registered under two names shares one token: two keys
// for one credential would invalidate each other.
func TestSameIdentitySharesOneToken(t *testing.T) {
	sim := newSim(t)
	m := newManager(t)
	register(t, m, "shop", account(sim))
	register(t, m, "shop-again", account(sim))
	a, b := mustToken(t, m, "shop"), mustToken(t, m, "shop-again")
	if a.Value != b.Value || tokenCalls(sim) != 1 {
		t.Fatalf("two keys for one appid: tokens equal=%v, upstream calls %d; want one shared token", a.Value == b.Value, tokenCalls(sim))
	}
	k1, _ := m.CacheKey("shop")
	k2, _ := m.CacheKey("shop-again")
	if k1 != "wxtoken:{token:"+testApp+"}" || k1 != k2 {
		t.Fatalf("cache keys %q and %q, want both wxtoken:{token:%s}", k1, k2, testApp)
	}
}

func TestPermanentErrorIsReturnedAtOnceAndHeld(t *testing.T) {
	sim := newSim(t)
	m := newManager(t, core.WithSettings(core.Settings{ErrorHold: time.Minute}))
	register(t, m, "shop", wechat.OfficialAccount(testApp, "wrong-secret", wechat.WithBaseURL(sim.URL)))
	start := time.Now()
	_, err := m.Token(context.Background(), "shop")
	var ae *wechat.APIError
	if !errors.As(err, &ae) || ae.Code != 40125 {
		t.Fatalf("Token with a wrong secret = %v, want *wechat.APIError 40125", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("a permanent error took %v: it was retried", d)
	}
	for range 20 {
		if _, err := m.Token(context.Background(), "shop"); !errors.As(err, &ae) {
			t.Fatalf("held error = %v, want the same APIError", err)
		}
	}
	if n := tokenCalls(sim); n != 1 {
		t.Fatalf("upstream calls = %d after 21 Token calls with a wrong secret, want 1 (no storm)", n)
	}
}

func TestTransientErrorsAreRetried(t *testing.T) {
	for name, f := range map[string]wxsim.Fault{
		"errcode -1": {Path: "/cgi-bin/token", Times: 2, Errcode: -1},
		"HTTP 500":   {Path: "/cgi-bin/token", Times: 2, HTTPStatus: 500},
		"dropped":    {Path: "/cgi-bin/token", Times: 2, Drop: true},
	} {
		t.Run(name, func(t *testing.T) {
			sim := newSim(t)
			sim.InjectFault(f)
			m := newManager(t)
			register(t, m, "shop", account(sim))
			tok := mustToken(t, m, "shop")
			if !sim.Valid(tok.Value) {
				t.Fatal("token not valid upstream")
			}
			if n := tokenCalls(sim); n != 3 {
				t.Fatalf("upstream calls = %d, want 3 (two transient failures, then success)", n)
			}
		})
	}
}

func TestStaleTokenIsServedWhileOneRefreshRuns(t *testing.T) {
	sim := newSim(t)
	clock := &offsetClock{}
	obs := &counter{}
	m := newManager(t, core.WithClock(clock), core.WithObserver(obs.observe))
	register(t, m, "shop", account(sim))
	old := mustToken(t, m, "shop")
	sim.InjectFault(wxsim.Fault{Path: "/cgi-bin/token", Times: 1, Latency: 300 * time.Millisecond})
	// Inside refresh-ahead (10 min) and past the latest point a refresh is
	// spread to (80% of the window to the 1 min margin: 2.8 min before expiry).
	clock.Advance(7200*time.Second - 2*time.Minute)
	start := time.Now()
	for range 50 {
		if tok := mustToken(t, m, "shop"); tok.Value != old.Value {
			t.Fatal("a stale token must be served, not replaced synchronously")
		}
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Fatalf("serving a stale token waited %v for the refresh", d)
	}
	eventually(t, 3*time.Second, "the background refresh never replaced the stale token", func() bool {
		return mustToken(t, m, "shop").Value != old.Value
	})
	if n := tokenCalls(sim); n != 2 {
		t.Fatalf("upstream calls = %d, want 2: one background refresh for 50 stale reads", n)
	}
	if obs.get(core.EventStaleServed) == 0 {
		t.Fatal("no EventStaleServed reported")
	}
}

func TestUnusableTokenWaitsForRefresh(t *testing.T) {
	sim := newSim(t)
	clock := &offsetClock{}
	m := newManager(t, core.WithClock(clock))
	register(t, m, "shop", account(sim))
	old := mustToken(t, m, "shop")
	clock.Advance(7200*time.Second - 30*time.Second) // inside the expiry margin (1 min)
	tok := mustToken(t, m, "shop")
	if tok.Value == old.Value {
		t.Fatal("a token inside its expiry margin was served")
	}
	if tokenCalls(sim) != 2 {
		t.Fatalf("upstream calls = %d, want 2", tokenCalls(sim))
	}
}

// One impatient caller must not fail the others waiting on the same
// refresh.
func TestCancelledCallerDoesNotFailOtherWaiters(t *testing.T) {
	sim := newSim(t)
	sim.InjectFault(wxsim.Fault{Path: "/cgi-bin/token", Times: 1, Latency: 300 * time.Millisecond})
	m := newManager(t)
	register(t, m, "shop", account(sim))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	var patientErr error
	var patient core.Token
	wg.Go(func() { patient, patientErr = m.Token(context.Background(), "shop") })
	time.Sleep(5 * time.Millisecond)
	if _, err := m.Token(ctx, "shop"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("impatient caller got %v, want its own DeadlineExceeded", err)
	}
	wg.Wait()
	if patientErr != nil || !sim.Valid(patient.Value) {
		t.Fatalf("patient caller got %v: the impatient one's cancellation leaked into the shared refresh", patientErr)
	}
	if n := tokenCalls(sim); n != 1 {
		t.Fatalf("upstream calls = %d, want 1", n)
	}
}

func TestSecondNodeAdoptsSharedToken(t *testing.T) {
	sim := newSim(t)
	c := core.NewMemoryCache()
	a, b := newManager(t, core.WithCache(c)), newManager(t, core.WithCache(c))
	register(t, a, "shop", account(sim))
	register(t, b, "shop", account(sim))
	ta, tb := mustToken(t, a, "shop"), mustToken(t, b, "shop")
	if ta.Value != tb.Value || tokenCalls(sim) != 1 {
		t.Fatalf("second node: same token=%v, upstream calls %d; want the shared token and 1 call", ta.Value == tb.Value, tokenCalls(sim))
	}
}

// A node re-reads the shared cache every local TTL, so a token another
// node replaced is not served past the overlap.
func TestNodeAdoptsReplacementWithinLocalTTL(t *testing.T) {
	sim := newSim(t)
	c := core.NewMemoryCache()
	obs := &counter{}
	a := newManager(t, core.WithCache(c))
	b := newManager(t, core.WithCache(c), core.WithSettings(core.Settings{LocalTTL: 50 * time.Millisecond}), core.WithObserver(obs.observe))
	register(t, a, "shop", account(sim))
	register(t, b, "shop", account(sim))
	old := mustToken(t, b, "shop")
	fresh, err := a.Refresh(context.Background(), "shop")
	if err != nil || fresh.Value == old.Value {
		t.Fatalf("Refresh = %v, %v; want a new token", fresh.Value == old.Value, err)
	}
	eventually(t, time.Second, "node b kept serving the replaced token", func() bool {
		return mustToken(t, b, "shop").Value == fresh.Value
	})
	if n := tokenCalls(sim); n != 2 {
		t.Fatalf("upstream calls = %d, want 2", n)
	}
	if obs.get(core.EventAdopt) == 0 {
		t.Fatal("no EventAdopt reported")
	}
}

func TestCorruptSharedValueIsAMissAndOverwritten(t *testing.T) {
	sim := newSim(t)
	c := core.NewMemoryCache()
	obs := &counter{}
	m := newManager(t, core.WithCache(c), core.WithObserver(obs.observe))
	register(t, m, "shop", account(sim))
	key, _ := m.CacheKey("shop")
	for _, garbage := range []string{"not json", `{"v":1,"access_token":"","expires_at":1}`, `{"errcode":40001,"errmsg":"invalid credential"}`} {
		_ = c.Set(context.Background(), key, garbage, time.Hour)
		m2 := newManager(t, core.WithCache(c), core.WithObserver(obs.observe))
		register(t, m2, "shop", account(sim))
		tok := mustToken(t, m2, "shop")
		raw, _ := c.Get(context.Background(), key)
		stored, err := core.DecodeToken(raw)
		if err != nil || stored.Value != tok.Value {
			t.Fatalf("after reading corrupt value %q the cache holds %q (%v), want the fetched token", garbage, raw, err)
		}
	}
	// Each refresh reads the shared value before and after taking the lock.
	if n := obs.get(core.EventCorrupt); n < 3 {
		t.Fatalf("EventCorrupt reported %d times, want one or more per corrupt value (3)", n)
	}
}

// A token the quota paid for is not thrown away because the cache refused
// the write: it is served from memory and written at the next re-check.
func TestFailedCacheWriteKeepsTokenAndRetriesWrite(t *testing.T) {
	sim := newSim(t)
	c := newFlaky()
	c.failSet.Store(true)
	m := newManager(t, core.WithCache(c), core.WithSettings(core.Settings{LocalTTL: 30 * time.Millisecond}))
	register(t, m, "shop", account(sim))
	tok := mustToken(t, m, "shop")
	if again := mustToken(t, m, "shop"); again.Value != tok.Value {
		t.Fatal("the token was not kept in memory after a failed write")
	}
	c.failSet.Store(false)
	key, _ := m.CacheKey("shop")
	eventually(t, 2*time.Second, "the token was never written to the recovered cache", func() bool {
		mustToken(t, m, "shop") // traffic drives the re-check
		raw, err := c.MemoryCache.Get(context.Background(), key)
		if err != nil {
			return false
		}
		stored, err := core.DecodeToken(raw)
		return err == nil && stored.Value == tok.Value
	})
	if n := tokenCalls(sim); n != 1 {
		t.Fatalf("upstream calls = %d, want 1", n)
	}
}

func TestDegradedRefreshWhenStoreIsDown(t *testing.T) {
	sim := newSim(t)
	c := newFlaky()
	clock := &offsetClock{}
	obs := &counter{}
	m := newManager(t, core.WithCache(c), core.WithClock(clock), core.WithObserver(obs.observe),
		core.WithSettings(core.Settings{DegradedInterval: time.Hour, LocalTTL: time.Hour, DegradedAfter: 200 * time.Millisecond}))
	register(t, m, "shop", account(sim))
	first := mustToken(t, m, "shop")
	c.down(true)

	clock.Advance(7200*time.Second - 2*time.Minute) // stale (past the latest spread point): keep serving L1, no fetch
	if tok := mustToken(t, m, "shop"); tok.Value != first.Value {
		t.Fatal("a usable token was not served while the store is down")
	}
	time.Sleep(50 * time.Millisecond)
	if n := tokenCalls(sim); n != 1 {
		t.Fatalf("upstream calls = %d while the L1 token is usable and the store down, want 1", n)
	}

	// Unusable: one local refresh, once the store has failed for the
	// degraded-after span (a single slow answer is not an outage).
	clock.Advance(4*time.Minute + 50*time.Second)
	second := mustToken(t, m, "shop")
	if second.Value == first.Value || tokenCalls(sim) != 2 || obs.get(core.EventDegraded) != 1 {
		t.Fatalf("degraded refresh: new=%v calls=%d degraded events=%d; want a new token, 2 calls, 1 event",
			second.Value != first.Value, tokenCalls(sim), obs.get(core.EventDegraded))
	}

	if _, err := m.Invalidate(context.Background(), "shop", second.Value); !errors.Is(err, core.ErrCacheUnavailable) {
		t.Fatalf("a second local refresh within the interval = %v, want ErrCacheUnavailable", err)
	}
	if n := tokenCalls(sim); n != 2 {
		t.Fatalf("upstream calls = %d, want 2: local refreshes are rate limited", n)
	}
}

// Margins are relative to the lifetime a token actually got: a token
// granted 300 s under a 10-minute refresh-ahead still has a fresh phase.
func TestMarginsAreRelativeToLifetime(t *testing.T) {
	var calls int
	var mu sync.Mutex
	clock := &offsetClock{}
	src := core.SourceFunc(func(ctx context.Context, req core.FetchRequest) (core.Token, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		now := clock.Now()
		return core.Token{Value: "t" + strings.Repeat("x", calls), IssuedAt: now, ExpiresAt: now.Add(300 * time.Second)}, nil
	})
	m := newManager(t, core.WithClock(clock), core.WithSettings(core.Settings{RefreshAhead: 10 * time.Minute}))
	register(t, m, "short", src)
	first := mustToken(t, m, "short")
	clock.Advance(100 * time.Second)
	if tok := mustToken(t, m, "short"); tok.Value != first.Value {
		t.Fatal("a 300 s token was refreshed after 100 s: refresh-ahead was not capped at half its lifetime")
	}
	time.Sleep(20 * time.Millisecond)
	mu.Lock()
	n := calls
	mu.Unlock()
	if n != 1 {
		t.Fatalf("fetches = %d at 100 s of a 300 s token, want 1", n)
	}
	clock.Advance(100 * time.Second) // 200 s: stale (refresh-ahead capped to 150 s)
	mustToken(t, m, "short")
	eventually(t, time.Second, "no refresh at 200 s of a 300 s token", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return calls == 2
	})
}

func TestRunKeepsTokensFreshWithoutTraffic(t *testing.T) {
	sim := newSim(t, wxsim.WithLifetime(2*time.Second))
	m := newManager(t, core.WithSettings(core.Settings{RefreshAhead: 500 * time.Millisecond, LocalTTL: 200 * time.Millisecond}))
	register(t, m, "shop", account(sim))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	time.Sleep(4 * time.Second)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	issues := sim.Issues("token:" + testApp)
	if len(issues) < 3 || len(issues) > 4 {
		t.Fatalf("Run fetched %d tokens in 4 s of 2 s tokens refreshed 0.5 s ahead, want 3 or 4", len(issues))
	}
	for i := 1; i < len(issues); i++ {
		if gap := issues[i].Sub(issues[i-1]); gap < 1400*time.Millisecond {
			t.Fatalf("Run refreshed after %v, before the token turned stale (1.5 s)", gap)
		}
	}
}

func TestCloseStopsBackgroundWork(t *testing.T) {
	sim := newSim(t)
	m := core.New(core.WithLogger(quietLogger()))
	register(t, m, "shop", account(sim))
	tok := mustToken(t, m, "shop")
	done := make(chan error, 1)
	go func() { done <- m.Run(context.Background()) }()
	m.Close()
	if err := <-done; !errors.Is(err, core.ErrClosed) {
		t.Fatalf("Run after Close = %v, want ErrClosed", err)
	}
	if got := mustToken(t, m, "shop"); got.Value != tok.Value {
		t.Fatal("a closed Manager must still serve the token it holds")
	}
	if _, err := m.Refresh(context.Background(), "shop"); !errors.Is(err, core.ErrClosed) {
		t.Fatalf("Refresh after Close = %v, want ErrClosed", err)
	}
}

func TestDefaultManagerSetCache(t *testing.T) {
	sim := newSim(t)
	c := core.NewMemoryCache()
	core.SetCache(c)
	register(t, core.Default(), "default-shop", account(sim))
	tok := mustToken(t, core.Default(), "default-shop")
	raw, err := c.Get(context.Background(), "wxtoken:{token:"+testApp+"}")
	if err != nil || !strings.Contains(raw, tok.Value) {
		t.Fatalf("the default manager did not write through the cache given to SetCache: %q, %v", raw, err)
	}
}

// cacheOnly hides the Locker of a MemoryCache: a store with no lock of its
// own.
type cacheOnly struct{ core.Cache }

func TestCacheWithoutLockerUsesProcessLockAndSaysSo(t *testing.T) {
	sim := newSim(t)
	var logs syncbuf.Buffer
	shared := cacheOnly{core.NewMemoryCache()}
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	a := newManager(t, core.WithCache(shared), core.WithLogger(logger))
	b := newManager(t, core.WithCache(shared), core.WithLogger(logger))
	if !strings.Contains(logs.String(), "no Locker") {
		t.Fatalf("no warning that the cache brings no Locker: %q", logs.String())
	}
	register(t, a, "shop", account(sim))
	register(t, b, "shop", account(sim))
	var wg sync.WaitGroup
	for _, m := range []*core.Manager{a, b, a, b} {
		wg.Go(func() { mustToken(t, m, "shop") })
	}
	wg.Wait()
	if n := tokenCalls(sim); n != 1 {
		t.Fatalf("two Managers of one process on a lock-less cache made %d upstream calls, want 1", n)
	}
}

func TestCachedAndLastErrorHaveNoSideEffects(t *testing.T) {
	sim := newSim(t)
	m := newManager(t)
	register(t, m, "shop", account(sim))
	register(t, m, "bad", wechat.OfficialAccount("wxunknown", "wrong", wechat.WithBaseURL(sim.URL)))
	if _, ok := m.Cached("shop"); ok || tokenCalls(sim) != 0 {
		t.Fatal("Cached reported a token, or fetched one, before any Token call")
	}
	tok := mustToken(t, m, "shop")
	if got, ok := m.Cached("shop"); !ok || got.Value != tok.Value {
		t.Fatal("Cached does not return the token in memory")
	}
	if m.LastError("shop") != nil {
		t.Fatal("LastError set after a successful fetch")
	}
	m.Token(context.Background(), "bad")
	if wechat.Code(m.LastError("bad")) != 40013 {
		t.Fatalf("LastError = %v, want the held 40013", m.LastError("bad"))
	}
	if _, ok := m.Cached("nope"); ok {
		t.Fatal("Cached of an unknown key reported a token")
	}
}

func TestRefreshBypassesHeldFailure(t *testing.T) {
	sim := newSim(t)
	m := newManager(t, core.WithSettings(core.Settings{ErrorHold: time.Hour}))
	register(t, m, "late", wechat.OfficialAccount("wxlate", "late-secret", wechat.WithBaseURL(sim.URL)))
	if _, err := m.Token(context.Background(), "late"); wechat.Code(err) != 40013 {
		t.Fatalf("unknown appid = %v, want 40013", err)
	}
	sim.AddApp("wxlate", "late-secret") // the cause goes away
	if _, err := m.Token(context.Background(), "late"); wechat.Code(err) != 40013 {
		t.Fatalf("Token within the hold = %v, want the held 40013", err)
	}
	if _, err := m.Refresh(context.Background(), "late"); err != nil {
		t.Fatalf("Refresh after the cause went away = %v, want a token", err)
	}
	if _, err := m.Token(context.Background(), "late"); err != nil {
		t.Fatalf("Token after a successful Refresh = %v", err)
	}
}

// A fetch that Close cuts short is not upstream's failure: it is neither
// logged as one (a reload of wxtoken serve closes a Manager every time)
// nor held for the callers that come next.
func TestCloseDuringAFetchIsNoUpstreamFailure(t *testing.T) {
	var logs syncbuf.Buffer
	m := core.New(core.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	started := make(chan struct{})
	var once sync.Once
	err := m.Register("slow", core.SourceFunc(func(ctx context.Context, _ core.FetchRequest) (core.Token, error) {
		once.Do(func() { close(started) })
		<-ctx.Done()
		return core.Token{}, ctx.Err()
	}))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := m.Token(context.Background(), "slow")
		done <- err
	}()
	<-started
	m.Close()
	if err := <-done; err == nil {
		t.Fatal("Token succeeded without a token")
	}
	if strings.Contains(logs.String(), "upstream fetch failed") {
		t.Errorf("a fetch ended by Close was logged as an upstream failure:\n%s", logs.String())
	}
}
