package core_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/wechat"
)

// A tenant that withdraws its authorization is unregistered: its key is
// unknown from then on, a key depending on it must go first, and it can be
// registered again later.
func TestUnregister(t *testing.T) {
	sim := newSim(t)
	m := newManager(t)
	register(t, m, "shop", account(sim))
	register(t, m, "shop-jsapi", wechat.JSAPITicket("shop"))
	mustToken(t, m, "shop")
	if err := m.Unregister("shop"); err == nil || !strings.Contains(err.Error(), "shop-jsapi") {
		t.Fatalf("Unregister of a key another depends on = %v, want a refusal naming it", err)
	}
	if err := m.Unregister("shop-jsapi"); err != nil {
		t.Fatal(err)
	}
	if err := m.Unregister("shop"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Token(context.Background(), "shop"); !errors.Is(err, core.ErrUnknownKey) {
		t.Fatalf("Token after Unregister = %v, want ErrUnknownKey", err)
	}
	if err := m.Unregister("shop"); !errors.Is(err, core.ErrUnknownKey) {
		t.Fatalf("a second Unregister = %v, want ErrUnknownKey", err)
	}
	for _, k := range core.RegisteredKeys(m) {
		if k == "shop" {
			t.Fatal("the key table still lists an unregistered key")
		}
	}
	register(t, m, "shop", account(sim))
	mustToken(t, m, "shop")
}
