package wechat_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wxsim"
)

func newManager(t *testing.T, opts ...core.Option) *core.Manager {
	t.Helper()
	m := core.New(append([]core.Option{core.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}, opts...)...)
	t.Cleanup(func() { m.Close() })
	return m
}

func newSim(t *testing.T, opts ...wxsim.Option) *wxsim.Server {
	sim := wxsim.NewServer(opts...)
	t.Cleanup(sim.Close)
	return sim
}

// ok returns a checker that fails t on an error and passes the token on.
func ok(t *testing.T) func(core.Token, error) core.Token {
	return func(tok core.Token, err error) core.Token {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
}

func reg(t *testing.T, m *core.Manager, key string, src core.Source) {
	t.Helper()
	if err := m.Register(key, src); err != nil {
		t.Fatal(err)
	}
}

func TestStableTokenReportedAliveIsKept(t *testing.T) {
	sim := newSim(t)
	sim.AddApp("wxs", "sec")
	m := newManager(t)
	reg(t, m, "s", wechat.StableToken("wxs", "sec", wechat.WithBaseURL(sim.URL)))
	ctx := context.Background()
	first := ok(t)(m.Token(ctx, "s"))
	if id, _ := m.Identity("s"); id != "stable:wxs" {
		t.Fatalf("identity %q, want stable:wxs", id)
	}
	// Upstream still accepts first: a report of it is spurious and costs
	// no stable_token call, forced or not.
	if again := ok(t)(m.Invalidate(ctx, "s", first.Value)); again.Value != first.Value {
		t.Fatal("a report of a token upstream accepts replaced it")
	}
	if n := sim.Stats().Calls["/cgi-bin/stable_token"]; n != 1 {
		t.Fatalf("stable_token calls = %d, want 1", n)
	}
	// Revoked (after the confirmation's window), it is replaced by normal
	// mode, which now answers a new one.
	time.Sleep(core.DefaultSettings().VerifyInterval + 100*time.Millisecond)
	sim.Revoke(first.Value)
	second := ok(t)(m.Invalidate(ctx, "s", first.Value))
	if second.Value == first.Value || !sim.Valid(second.Value) {
		t.Fatal("Invalidate of a revoked stable token did not replace it")
	}
	if n := sim.Stats().Calls["/cgi-bin/stable_token"]; n != 2 {
		t.Fatalf("stable_token calls = %d, want 2 (initial, normal)", n)
	}
}

// TestStableSourceForcesOnlyForTheSameRejectedToken drives the Source as
// the Manager does once a reported token is confirmed dead: when normal
// mode still answers the rejected token, the source forces a new one,
// within the fleet-wide quota.
func TestStableSourceForcesOnlyForTheSameRejectedToken(t *testing.T) {
	sim := newSim(t)
	sim.AddApp("wxs", "sec")
	src := wechat.StableToken("wxs", "sec", wechat.WithBaseURL(sim.URL))
	state := core.NewMemoryCache()
	req := core.FetchRequest{ID: src.Identity(), State: state, StatePrefix: "p:"}
	ctx := context.Background()
	first := ok(t)(src.Fetch(ctx, req))
	req.Rejected = first.Value
	second := ok(t)(src.Fetch(ctx, req))
	if second.Value == first.Value || !sim.Valid(second.Value) || sim.Valid(first.Value) {
		t.Fatal("a rejected live stable token was not forced out (and retired)")
	}
	if n := sim.Stats().Calls["/cgi-bin/stable_token"]; n != 3 {
		t.Fatalf("stable_token calls = %d, want 3 (initial, normal, forced)", n)
	}
	// A rejected token normal mode no longer answers needs no force.
	if again := ok(t)(src.Fetch(ctx, req)); again.Value != second.Value {
		t.Fatal("a report of an already replaced token changed the token")
	}
	if n := sim.Stats().Calls["/cgi-bin/stable_token"]; n != 4 {
		t.Fatalf("stable_token calls = %d, want 4 (no second force)", n)
	}
	// A second force within 30 s is refused before calling upstream.
	req.Rejected = second.Value
	if _, err := src.Fetch(ctx, req); !errors.Is(err, wechat.ErrForceRefreshQuota) {
		t.Fatalf("a force_refresh 30 s after the last = %v, want ErrForceRefreshQuota", err)
	}
}

func TestWeComTokensAreKeyedByCorpAndAgent(t *testing.T) {
	sim := newSim(t)
	sim.AddWeComApp("ww1", "1000002", "secret-a")
	sim.AddWeComApp("ww1", "1000003", "secret-b")
	m := newManager(t)
	reg(t, m, "a", wechat.WeCom("ww1", "1000002", "secret-a", wechat.WithBaseURL(sim.URL)))
	reg(t, m, "b", wechat.WeCom("ww1", "1000003", "secret-b", wechat.WithBaseURL(sim.URL)))
	ctx := context.Background()
	a, b := ok(t)(m.Token(ctx, "a")), ok(t)(m.Token(ctx, "b"))
	if a.Value == b.Value || !sim.Valid(a.Value) || !sim.Valid(b.Value) {
		t.Fatal("two agents of one corp must have their own valid tokens")
	}
	if ka, _ := m.CacheKey("a"); ka != "wxtoken:{wecom:ww1:1000002}" {
		t.Fatalf("cache key %q, want wxtoken:{wecom:ww1:1000002}", ka)
	}
	// gettoken returns the live token while valid.
	if again := ok(t)(m.Refresh(ctx, "a")); again.Value != a.Value {
		t.Fatal("WeCom returned a different token while the first is valid")
	}
	reg(t, m, "bad", wechat.WeCom("ww1", "1000004", "wrong", wechat.WithBaseURL(sim.URL)))
	if _, err := m.Token(ctx, "bad"); wechat.Code(err) != 40001 {
		t.Fatalf("WeCom with a wrong secret = %v, want errcode 40001", err)
	}
}

func TestJSAPITicketFollowsItsAccessToken(t *testing.T) {
	sim := newSim(t, wxsim.WithOverlap(0))
	sim.AddApp("wxt", "sec")
	m := newManager(t)
	reg(t, m, "mp", wechat.OfficialAccount("wxt", "sec", wechat.WithBaseURL(sim.URL)))
	reg(t, m, "mp-jsapi", wechat.JSAPITicket("mp", wechat.WithBaseURL(sim.URL)))
	ctx := context.Background()
	if id, _ := m.Identity("mp-jsapi"); id != "jsapi@token:wxt" {
		t.Fatalf("ticket identity %q, want jsapi@token:wxt", id)
	}
	ticket := ok(t)(m.Token(ctx, "mp-jsapi"))
	if ticket.Value != sim.Current("jsapi@token:wxt") {
		t.Fatal("the ticket served is not the one issued for this account")
	}
	// Someone outside the fleet takes a new access_token; with no overlap
	// the one in the Manager dies at once. The ticket source must notice
	// (40001), invalidate the token and retry once.
	resp, err := http.Get(sim.URL + "/cgi-bin/token?grant_type=client_credential&appid=wxt&secret=sec")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	fresh := ok(t)(m.Refresh(ctx, "mp-jsapi"))
	if fresh.Value == ticket.Value || fresh.Value != sim.Current("jsapi@token:wxt") {
		t.Fatal("the ticket was not refreshed after its access_token was replaced behind the fleet's back")
	}
	tok := ok(t)(m.Token(ctx, "mp"))
	if !sim.Valid(tok.Value) {
		t.Fatal("the access_token was not replaced after the ticket endpoint refused it")
	}
}

func TestWeComServiceProviderChain(t *testing.T) {
	sim := newSim(t)
	sim.AddProvider("wwprov", "prov-secret")
	sim.AddSuite("suite1", "suite-secret")
	sim.AddAuthCorp("suite1", "wwcorp", "perm-code")
	store := core.NewMemoryCache()
	m := newManager(t, core.WithCache(store))
	tickets := wechat.NewSuiteTickets(store, "", "suite1")
	base := wechat.WithBaseURL(sim.URL)
	reg(t, m, "prov", wechat.ProviderToken("wwprov", "prov-secret", base))
	reg(t, m, "suite", wechat.SuiteToken("suite1", "suite-secret", tickets, base))
	reg(t, m, "corp", wechat.CorpToken("suite", "wwcorp", "perm-code", base))
	ctx := context.Background()

	if !sim.Valid(ok(t)(m.Token(ctx, "prov")).Value) {
		t.Fatal("provider_access_token not valid")
	}
	if _, err := m.Token(ctx, "suite"); !errors.Is(err, wechat.ErrNoSuiteTicket) {
		t.Fatalf("suite token before any suite_ticket push = %v, want ErrNoSuiteTicket", err)
	}
	now := time.Now()
	newer := sim.PushSuiteTicket("suite1")
	if stored, err := tickets.Put(ctx, newer, now); !stored || err != nil {
		t.Fatalf("the first push was not stored: %v", err)
	}
	if stored, err := tickets.Put(ctx, "older-ticket", now.Add(-5*time.Minute)); stored || err != nil {
		t.Fatalf("an older push arriving late replaced a newer ticket (%v)", err)
	}
	if stored, err := tickets.Put(ctx, "from-tomorrow", now.Add(24*time.Hour)); stored || !errors.Is(err, wechat.ErrPushTime) {
		t.Fatalf("a push stamped a day ahead: stored %v, %v; want ErrPushTime", stored, err)
	}
	m2 := newManager(t, core.WithCache(store)) // the held error stays with m
	reg(t, m2, "suite", wechat.SuiteToken("suite1", "suite-secret", tickets, base))
	reg(t, m2, "corp", wechat.CorpToken("suite", "wwcorp", "perm-code", base))
	corp := ok(t)(m2.Token(ctx, "corp"))
	if !sim.Valid(corp.Value) || corp.Value != sim.Current("corp:wwcorp@suite:suite1") {
		t.Fatal("authorized corp token not valid")
	}
	if id, _ := m2.Identity("corp"); id != "corp:wwcorp@suite:suite1" {
		t.Fatalf("corp identity %q", id)
	}
	sim.AddAuthCorp("suite1", "wwcorp2", "perm-code-2")
	reg(t, m2, "corp-bad", wechat.CorpToken("suite", "wwcorp2", "wrong-code", base))
	_, err := m2.Token(ctx, "corp-bad")
	if wechat.Code(err) != 40084 || strings.Contains(err.Error(), "wrong-code") {
		t.Fatalf("corp token with a wrong permanent code = %v, want 40084 without the code", err)
	}
}

func TestSignatureVector(t *testing.T) {
	got := wechat.JSSDKSignature("sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg",
		"Wm3WZYTPz0wzccnW", 1414587457, "http://mp.weixin.qq.com#section")
	if got != "f4d90daf4b3bca3078ab155816175ba34c443a7b" {
		t.Fatalf("signature %s, want the official vector's f4d90daf…", got)
	}
}

func TestErrorClassification(t *testing.T) {
	cases := []struct {
		err              error
		token, transient bool
	}{
		{&wechat.APIError{Code: 40001}, true, false},
		{&wechat.APIError{Code: 40014}, true, false},
		{&wechat.APIError{Code: 42001}, true, false},
		{&wechat.APIError{Code: 40125}, false, false},
		{&wechat.APIError{Code: 45009}, false, false},
		{&wechat.APIError{Code: -1}, false, true},
		{&wechat.HTTPError{Status: 502}, false, true},
		{&wechat.HTTPError{Status: 404}, false, false},
		{&wechat.TransportError{Err: errors.New("reset")}, false, true},
		{context.Canceled, false, false},
	}
	for _, c := range cases {
		if got := wechat.IsTokenError(c.err); got != c.token {
			t.Errorf("IsTokenError(%v) = %v", c.err, got)
		}
		if got := core.IsTransient(c.err); got != c.transient {
			t.Errorf("IsTransient(%v) = %v", c.err, got)
		}
	}
}
