package core_test

import (
	"context"
	"testing"

	"github.com/wxtoken/wxtoken/core"
)

// The day's upstream calls are counted in the store, so any node can say
// how much of the fleet's daily quota is spent.
func TestCallsTodayIsFleetWide(t *testing.T) {
	sim := newSim(t)
	store := core.NewMemoryCache()
	a := newManager(t, core.WithCache(store))
	b := newManager(t, core.WithCache(store))
	register(t, a, "shop", account(sim))
	register(t, b, "shop", account(sim))
	ctx := context.Background()
	if n, err := a.CallsToday(ctx, "shop"); n != 0 || err != nil {
		t.Fatalf("before any call: %d, %v", n, err)
	}
	mustToken(t, a, "shop")
	mustToken(t, b, "shop") // adopts: no call
	if _, err := b.Refresh(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Refresh(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	want := tokenCalls(sim)
	for name, m := range map[string]*core.Manager{"a": a, "b": b} {
		if n, err := m.CallsToday(ctx, "shop"); n != want || err != nil {
			t.Errorf("node %s: CallsToday = %d, %v; upstream saw %d", name, n, err, want)
		}
	}
	if _, err := a.CallsToday(ctx, "nope"); err == nil {
		t.Error("CallsToday of an unknown key succeeded")
	}
}
