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
	time.Sleep(core.DefaultVerifyInterval * 2) // past the confirmation's window
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
// tokens: every report of the current token replaces it, until the day's
// budget, shared by the fleet through the store, is spent.
func TestInvalidateBudgetIsFleetWide(t *testing.T) {
	sim := newSim(t)
	store := core.NewMemoryCache()
	src := core.SourceFunc(func(ctx context.Context, req core.FetchRequest) (core.Token, error) {
		return account(sim).Fetch(ctx, req) // no Verifier: reports are trusted
	})
	var c counter
	a := newManager(t, core.WithCache(store), core.WithInvalidateBudget(3), core.WithObserver(c.observe))
	b := newManager(t, core.WithCache(store), core.WithInvalidateBudget(3))
	register(t, a, "shop", src)
	register(t, b, "shop", src)
	ctx := context.Background()
	tok := mustToken(t, a, "shop")
	for i := range 3 {
		m := []*core.Manager{a, b}[i%2]
		next, err := m.Invalidate(ctx, "shop", tok.Value)
		if err != nil || next.Value == tok.Value {
			t.Fatalf("report %d within the budget: %v", i, err)
		}
		tok = next
	}
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
