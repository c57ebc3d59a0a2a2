package core_test

import (
	"context"
	"strings"
	"testing"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/wechat"
)

// SourceStateKey names, before a Source is registered, the state key
// StateKey names after: code that seeds a new tenant's state needs no
// registration first (which a concurrent registry sync could undo).
func TestSourceStateKeyBeforeRegistering(t *testing.T) {
	sim := newSim(t)
	m := newManager(t, core.WithSettings(core.Settings{KeyPrefix: "svc"}))
	register(t, m, "shop", account(sim))
	for _, c := range []struct {
		key string
		src core.Source
	}{
		{"shop2", wechat.OfficialAccount("wxother0001", "x", wechat.WithBaseURL(sim.URL))},
		{"shop-jsapi", wechat.JSAPITicket("shop")}, // Dependent: its identity names shop's
	} {
		before, err := m.SourceStateKey(c.src, "seed")
		if err != nil {
			t.Fatal(err)
		}
		register(t, m, c.key, c.src)
		after, err := m.StateKey(c.key, "seed")
		if err != nil || after != before {
			t.Fatalf("%s: SourceStateKey %q before registering, StateKey %q after (%v)", c.key, before, after, err)
		}
		if !strings.HasPrefix(before, "svc:state:") {
			t.Fatalf("%s: state key %q ignores the key prefix", c.key, before)
		}
	}

	anonymous := core.SourceFunc(func(context.Context, core.FetchRequest) (core.Token, error) { return core.Token{}, nil })
	if _, err := m.SourceStateKey(anonymous, "seed"); err == nil || !strings.Contains(err.Error(), "Identified") {
		t.Fatalf("SourceStateKey of a Source without an identity = %v, want a refusal", err)
	}
	if _, err := m.SourceStateKey(wechat.JSAPITicket("nobody"), "seed"); err == nil || !strings.Contains(err.Error(), `"nobody"`) {
		t.Fatalf("SourceStateKey of a Dependent whose key is not registered = %v, want a refusal naming it", err)
	}
}
