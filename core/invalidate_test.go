package core_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/wxsim"
)

// TestSpuriousReportsCostNoFetch is the quota-burn fault: a client that
// keeps reporting the current, valid token as rejected (one app's token
// sent to another app's API) must not spend the daily quota. Against a
// daily limit of 40, 100 reports make no token call and the fleet is not
// locked out; once upstream really revokes the token, one report makes
// exactly one call.
func TestSpuriousReportsCostNoFetch(t *testing.T) {
	sim := newSim(t, wxsim.WithDailyLimit(40))
	store := core.NewMemoryCache()
	var c counter
	a := newManager(t, core.WithCache(store), core.WithObserver(c.observe))
	b := newManager(t, core.WithCache(store))
	register(t, a, "shop", account(sim))
	register(t, b, "shop", account(sim))
	ctx := context.Background()
	// 30 reports in about 2 s, each of the token the node serves at the
	// time (the reviewer's reproduction: 30 fetches, then 45009 all day).
	for range 30 {
		cur := mustToken(t, a, "shop")
		if _, err := a.Invalidate(ctx, "shop", cur.Value); err != nil {
			t.Fatalf("a report of a valid token: %v", err)
		}
		time.Sleep(60 * time.Millisecond)
	}
	if n := tokenCalls(sim); n != 1 {
		t.Fatalf("rule: reports of a valid token cost no upstream token call; 30 reports of the served token cost %d", n-1)
	}
	tok := mustToken(t, a, "shop")
	var wg sync.WaitGroup
	for i := range 100 {
		m := a
		if i%2 == 1 {
			m = b
		}
		wg.Go(func() {
			got, err := m.Invalidate(ctx, "shop", tok.Value)
			if err != nil || got.Value != tok.Value {
				t.Errorf("a report of a valid token: %v, kept=%v", err, got.Value == tok.Value)
			}
		})
		if i%10 == 9 {
			time.Sleep(20 * time.Millisecond) // 100 reports over about 200 ms
		}
	}
	wg.Wait()
	if n := tokenCalls(sim); n != 1 {
		t.Fatalf("rule: reports of a valid token cost no upstream token call; %d calls after 100 reports", n-1)
	}
	if p := sim.Stats().Probes; p < 1 || p > 3 {
		t.Errorf("100 reports within the verify window asked upstream %d times, want 1 (at most 3 as windows pass)", p)
	}
	if c.get(core.EventSpurious) == 0 {
		t.Error("spurious reports were not counted")
	}
	time.Sleep(core.DefaultSettings().VerifyInterval * 2) // past the confirmation's window
	sim.Revoke(tok.Value)
	fresh, err := b.Invalidate(ctx, "shop", tok.Value)
	if err != nil || fresh.Value == tok.Value || !sim.Valid(fresh.Value) {
		t.Fatalf("a report of a revoked token: %v, replaced=%v", err, fresh.Value != tok.Value)
	}
	if n := tokenCalls(sim); n != 2 {
		t.Fatalf("rule: a report of a revoked token costs exactly one upstream call; it cost %d", n-1)
	}
	if got := mustToken(t, a, "shop"); got.Value != fresh.Value {
		// A adopts at its next re-check; Invalidate from A gets it at once.
		if got, _ := a.Invalidate(ctx, "shop", tok.Value); got.Value != fresh.Value {
			t.Fatal("the other node did not take the replacement")
		}
	}
}

// TestInvalidateBudgetIsFleetWide covers a Source that cannot verify
// tokens: a report of the current token, once the last such replacement
// is a window behind, replaces it, until the day's budget, shared by the
// fleet through the store, is spent.
func TestInvalidateBudgetIsFleetWide(t *testing.T) {
	sim := newSim(t)
	store := core.NewMemoryCache()
	src := core.SourceFunc(func(ctx context.Context, req core.FetchRequest) (core.Token, error) {
		return account(sim).Fetch(ctx, req) // no Verifier
	})
	var c counter
	clock := &offsetClock{}
	a := newManager(t, core.WithCache(store), core.WithSettings(core.Settings{InvalidateBudget: 3}), core.WithObserver(c.observe), core.WithClock(clock))
	b := newManager(t, core.WithCache(store), core.WithSettings(core.Settings{InvalidateBudget: 3}), core.WithClock(clock))
	register(t, a, "shop", src)
	register(t, b, "shop", src)
	ctx := context.Background()
	tok := mustToken(t, a, "shop")
	for i := range 3 {
		clock.Advance(5 * time.Minute) // past the unverified window
		m := []*core.Manager{a, b}[i%2]
		next, err := m.Invalidate(ctx, "shop", tok.Value)
		if err != nil || next.Value == tok.Value {
			t.Fatalf("report %d within the budget: %v", i, err)
		}
		tok = next
	}
	clock.Advance(5 * time.Minute)
	for _, m := range []*core.Manager{a, b} {
		got, err := m.Invalidate(ctx, "shop", tok.Value)
		if !errors.Is(err, core.ErrInvalidateBudget) {
			t.Fatalf("rule: past the fleet's invalidation budget a report is refused; got %v (same token %v)", err, got.Value == tok.Value)
		}
	}
	if n := tokenCalls(sim); n != 4 {
		t.Fatalf("upstream calls = %d, want 4 (1 + a budget of 3)", n)
	}
	if c.get(core.EventBudget) != 1 {
		t.Errorf("budget refusals counted on node a: %d, want 1", c.get(core.EventBudget))
	}
	// Ordinary refreshes are not limited by the budget.
	if _, err := a.Refresh(ctx, "shop"); err != nil {
		t.Fatalf("Refresh after the budget is spent: %v", err)
	}
}

// A report that cannot be verified (a suite, provider or component token
// has no cheap check upstream) replaces the token at most once per
// window, which doubles for each such replacement in a row: before, each
// of 20 reports of a good token was a fetch, and a client could spend the
// day's invalidation budget in a second. The caller whose report is held
// gets the token it reported (its request failed for another reason, or
// it will report again after the window).
func TestUnverifiedReportsReplaceAtMostOncePerWindow(t *testing.T) {
	sim := newSim(t)
	src := core.SourceFunc(func(ctx context.Context, req core.FetchRequest) (core.Token, error) {
		return account(sim).Fetch(ctx, req) // no Verifier
	})
	var c counter
	clock := &offsetClock{}
	m := newManager(t, core.WithClock(clock), core.WithObserver(c.observe))
	register(t, m, "shop", src)
	ctx := context.Background()
	tok := mustToken(t, m, "shop")
	report := func() core.Token {
		t.Helper()
		got, err := m.Invalidate(ctx, "shop", tok.Value)
		if err != nil {
			t.Fatalf("report: %v", err)
		}
		return got
	}
	tok = report() // the first, after a quiet spell: acted on at once
	if tokenCalls(sim) != 2 {
		t.Fatalf("upstream calls %d after the first report, want 2", tokenCalls(sim))
	}
	for range 20 {
		if got := report(); got.Value != tok.Value {
			t.Fatal("a held report replaced the token")
		}
	}
	if n := tokenCalls(sim); n != 2 {
		t.Fatalf("rule: unverifiable reports replace a token at most once per window; %d upstream calls for 21 reports, want 2", n)
	}
	if c.get(core.EventUnverified) != 1 || c.get(core.EventUnverifiedHeld) != 20 || c.get(core.EventVerified) != 0 {
		t.Fatalf("events: unverified %d, held %d, verified %d; want 1, 20, 0",
			c.get(core.EventUnverified), c.get(core.EventUnverifiedHeld), c.get(core.EventVerified))
	}
	clock.Advance(61 * time.Second) // past the first window (1 min)
	tok = report()
	if tokenCalls(sim) != 3 {
		t.Fatalf("upstream calls %d a window later, want 3", tokenCalls(sim))
	}
	clock.Advance(61 * time.Second) // the window doubled to 2 min
	report()
	if tokenCalls(sim) != 3 {
		t.Fatalf("upstream calls %d: the second replacement in a row doubles the window", tokenCalls(sim))
	}
	clock.Advance(time.Minute)
	report()
	if tokenCalls(sim) != 4 {
		t.Fatalf("upstream calls %d past the doubled window, want 4", tokenCalls(sim))
	}
}
