package wechat_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wxsim"
)

// corpSetup is a suite with its ticket, registered as "suite" in a
// Manager on store, and the unregistered Source of a corp that installed
// it.
func corpSetup(t *testing.T) (*wxsim.Server, *core.MemoryCache, *core.Manager, *wechat.CorpSource) {
	t.Helper()
	sim := newSim(t)
	sim.AddSuite("suite1", "suite-secret")
	sim.AddAuthCorp("suite1", "wwcorp01", "perm-code-01")
	store := core.NewMemoryCache()
	m := newManager(t, core.WithCache(store))
	tickets := wechat.NewSuiteTickets(store, "", "suite1")
	if _, err := tickets.Put(context.Background(), sim.PushSuiteTicket("suite1"), time.Now()); err != nil {
		t.Fatal(err)
	}
	base := wechat.WithBaseURL(sim.URL)
	reg(t, m, "suite", wechat.SuiteToken("suite1", "suite-secret", tickets, base))
	return sim, store, m, wechat.CorpToken("suite", "wwcorp01", "perm-code-01", base)
}

// The token an authorization came with serves the tenant's first fetch,
// with no upstream call, once: a report that it was rejected fetches from
// upstream and never brings it back.
func TestFirstTokenServesTheFirstFetchOnce(t *testing.T) {
	sim, store, m, corp := corpSetup(t)
	ctx := context.Background()
	key, err := m.SourceStateKey(corp, wechat.FirstTokenState)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	first := core.Token{Value: "first-token-from-the-authorization", IssuedAt: now, ExpiresAt: now.Add(2 * time.Hour)}
	if err := wechat.SaveFirstToken(ctx, store, key, first); err != nil {
		t.Fatal(err)
	}
	reg(t, m, "corp", corp)
	if tok := ok(t)(m.Token(ctx, "corp")); tok.Value != first.Value {
		t.Fatalf("first token served: %.12s, want the authorization's", tok.Value)
	}
	if n := sim.Stats().Calls["/cgi-bin/service/get_corp_token"]; n != 0 {
		t.Fatalf("get_corp_token called %d times with a first token saved, want 0", n)
	}
	tok := ok(t)(m.Invalidate(ctx, "corp", first.Value))
	if tok.Value == first.Value || !sim.Valid(tok.Value) {
		t.Fatal("a rejected first token was served again, or its replacement is not valid")
	}
	if n := sim.Stats().Calls["/cgi-bin/service/get_corp_token"]; n != 1 {
		t.Fatalf("get_corp_token called %d times after the first token was rejected, want 1", n)
	}
	if v, err := store.Get(ctx, key); err == nil && v != "" {
		t.Fatal("the first token is still in the store after a fetch")
	}
}

// A saved first token is not served in place of itself (a rejected one),
// nor with less than half its lifetime left, nor by a fetch without the
// fleet lock, which leaves it for one that has it. Every fetch with the
// lock removes it, served or not.
func TestFirstTokenRefusals(t *testing.T) {
	sim, store, m, corp := corpSetup(t)
	ctx := context.Background()
	const prefix = "test:state:corp:"
	key := prefix + wechat.FirstTokenState
	setState := func(ctx context.Context, k, v string, ttl time.Duration) error { return store.Set(ctx, k, v, ttl) }
	now := time.Now()
	fresh := core.Token{Value: "first-token", IssuedAt: now, ExpiresAt: now.Add(2 * time.Hour)}
	old := core.Token{Value: "first-token", IssuedAt: now.Add(-61 * time.Minute), ExpiresAt: now.Add(59 * time.Minute)}
	for _, c := range []struct {
		name     string
		saved    core.Token
		rejected string
		locked   bool
		served   bool
		kept     bool
	}{
		{"fresh", fresh, "", true, true, false},
		{"rejected", fresh, fresh.Value, true, false, false},
		{"past half its life", old, "", true, false, false},
		{"without the lock", fresh, "", false, false, true},
	} {
		if err := wechat.SaveFirstToken(ctx, store, key, c.saved); err != nil {
			t.Fatal(err)
		}
		req := core.FetchRequest{ID: "corp:wwcorp01", Rejected: c.rejected, Deps: m, State: store, StatePrefix: prefix}
		if c.locked {
			req.SetState = setState
		}
		tok, err := corp.Fetch(ctx, req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if served := tok.Value == c.saved.Value; served != c.served {
			t.Fatalf("%s: first token served = %v, want %v", c.name, served, c.served)
		}
		if !c.served && !sim.Valid(tok.Value) {
			t.Fatalf("%s: the token fetched instead is not valid", c.name)
		}
		v, _ := store.Get(ctx, key)
		if kept := v != ""; kept != c.kept {
			t.Fatalf("%s: first token still saved = %v, want %v", c.name, kept, c.kept)
		}
	}
	if err := wechat.SaveFirstToken(ctx, store, key, core.Token{Value: "x", ExpiresAt: now.Add(-time.Second)}); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("SaveFirstToken of an expired token = %v, want a refusal", err)
	}
}
