package wechat_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wxsim"
)

// exampleManager returns a Manager with src registered under key, and a
// context for the example's calls.
func exampleManager(key string, src core.Source) (*core.Manager, context.Context, func()) {
	m := core.New()
	if err := m.Register(key, src); err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	return m, ctx, func() { cancel(); m.Close() }
}

// An official account's token from /cgi-bin/token. MiniProgram and
// MiniGame take the same arguments and use the same endpoint. In a real
// program, leave out WithBaseURL: it points the Source at wxsim here.
func ExampleOfficialAccount() {
	sim := wxsim.NewServer()
	defer sim.Close()
	sim.AddApp("wxexample0000001", "app-secret")

	m, ctx, done := exampleManager("shop", wechat.OfficialAccount("wxexample0000001", "app-secret", wechat.WithBaseURL(sim.URL)))
	defer done()
	tok, err := m.Token(ctx, "shop")
	if err != nil {
		log.Fatal(err)
	}
	id, _ := m.Identity("shop")
	fmt.Println("identity:", id)
	fmt.Println("accepted upstream:", sim.Valid(tok.Value))
	// Output:
	// identity: token:wxexample0000001
	// accepted upstream: true
}

// The stable token (/cgi-bin/stable_token) is the same credential for every
// caller of the app, so a system outside the fleet that also asks for it
// does not invalidate the fleet's copy.
func ExampleStableToken() {
	sim := wxsim.NewServer()
	defer sim.Close()
	sim.AddApp("wxexample0000002", "app-secret")

	m, ctx, done := exampleManager("mini", wechat.StableToken("wxexample0000002", "app-secret", wechat.WithBaseURL(sim.URL)))
	defer done()
	tok, err := m.Token(ctx, "mini")
	if err != nil {
		log.Fatal(err)
	}
	again, _ := m.Refresh(ctx, "mini") // upstream hands back the live token
	fmt.Println("same token after refresh:", again.Value == tok.Value)
	// Output:
	// same token after refresh: true
}

// A WeCom app's token: one per corp and agent (its own secret).
func ExampleWeCom() {
	sim := wxsim.NewServer()
	defer sim.Close()
	sim.AddWeComApp("wwexample", "1000002", "agent-secret")

	m, ctx, done := exampleManager("oa", wechat.WeCom("wwexample", "1000002", "agent-secret", wechat.WithBaseURL(sim.URL)))
	defer done()
	tok, err := m.Token(ctx, "oa")
	if err != nil {
		log.Fatal(err)
	}
	key, _ := m.CacheKey("oa")
	fmt.Println("cache key:", key)
	fmt.Println("accepted upstream:", sim.Valid(tok.Value))
	// Output:
	// cache key: wxtoken:{wecom:wwexample:1000002}
	// accepted upstream: true
}

// A WeCom service provider's three tokens: the provider token, the suite
// token (which needs the suite_ticket WeCom pushes to the callback URL; the
// callback handler stores it with PushedTickets.Put) and an authorized
// corp's token, fetched with the suite token and the corp's permanent code.
func ExampleCorpToken() {
	sim := wxsim.NewServer()
	defer sim.Close()
	sim.AddProvider("wwprovider", "provider-secret")
	sim.AddSuite("suite1", "suite-secret")
	sim.AddAuthCorp("suite1", "wwcustomer", "permanent-code")

	store := core.NewMemoryCache() // shared: any node may receive the push
	m := core.New(core.WithCache(store))
	defer m.Close()
	base := wechat.WithBaseURL(sim.URL)
	tickets := wechat.NewSuiteTickets(store, "", "suite1")
	for key, src := range map[string]core.Source{
		"provider": wechat.ProviderToken("wwprovider", "provider-secret", base),
		"suite":    wechat.SuiteToken("suite1", "suite-secret", tickets, base),
	} {
		if err := m.Register(key, src); err != nil {
			log.Fatal(err)
		}
	}
	// The corp's token depends on "suite", so it is registered after it.
	if err := m.Register("customer", wechat.CorpToken("suite", "wwcustomer", "permanent-code", base)); err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// What the callback handler does when WeCom pushes a suite_ticket.
	if _, err := tickets.Put(ctx, sim.PushSuiteTicket("suite1"), time.Now()); err != nil {
		log.Fatal(err)
	}
	for _, key := range []string{"provider", "suite", "customer"} {
		tok, err := m.Token(ctx, key)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: accepted upstream %v\n", key, sim.Valid(tok.Value))
	}
	// Output:
	// provider: accepted upstream true
	// suite: accepted upstream true
	// customer: accepted upstream true
}

// A mini program's token: the same endpoint and identity as an official
// account's, so an account registered both ways shares one token.
func ExampleMiniProgram() {
	sim := wxsim.NewServer()
	defer sim.Close()
	sim.AddApp("wxexample0000005", "app-secret")

	m, ctx, done := exampleManager("mini", wechat.MiniProgram("wxexample0000005", "app-secret", wechat.WithBaseURL(sim.URL)))
	defer done()
	if err := m.Register("same-app", wechat.OfficialAccount("wxexample0000005", "app-secret", wechat.WithBaseURL(sim.URL))); err != nil {
		log.Fatal(err)
	}
	a, err := m.Token(ctx, "mini")
	if err != nil {
		log.Fatal(err)
	}
	b, _ := m.Token(ctx, "same-app")
	fmt.Println("shared:", a.Value == b.Value)
	fmt.Println("upstream calls:", sim.Stats().TokenCalls())
	// Output:
	// shared: true
	// upstream calls: 1
}

// A WeCom service provider's own token (provider_access_token), from the
// provider secret.
func ExampleProviderToken() {
	sim := wxsim.NewServer()
	defer sim.Close()
	sim.AddProvider("wwprovider", "provider-secret")

	m, ctx, done := exampleManager("provider", wechat.ProviderToken("wwprovider", "provider-secret", wechat.WithBaseURL(sim.URL)))
	defer done()
	tok, err := m.Token(ctx, "provider")
	if err != nil {
		log.Fatal(err)
	}
	id, _ := m.Identity("provider")
	fmt.Println("identity:", id)
	fmt.Println("accepted upstream:", sim.Valid(tok.Value))
	// Output:
	// identity: provider:wwprovider
	// accepted upstream: true
}

// A suite token cannot be had before WeCom has pushed a suite_ticket; the
// error says so, and the first push stored with Put (on any node) unblocks
// every node.
func ExampleSuiteToken() {
	sim := wxsim.NewServer()
	defer sim.Close()
	sim.AddSuite("suite1", "suite-secret")

	store := core.NewMemoryCache() // the fleet's shared store
	tickets := wechat.NewSuiteTickets(store, "", "suite1")
	m := core.New(core.WithCache(store))
	defer m.Close()
	if err := m.Register("suite", wechat.SuiteToken("suite1", "suite-secret", tickets, wechat.WithBaseURL(sim.URL))); err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	_, err := m.Token(ctx, "suite")
	fmt.Println("before the first push:", errors.Is(err, wechat.ErrNoSuiteTicket))

	stored, err := tickets.Put(ctx, sim.PushSuiteTicket("suite1"), time.Now())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("push stored:", stored)
	tok, err := m.Refresh(ctx, "suite") // a held error is retried at once by Refresh
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("accepted upstream:", sim.Valid(tok.Value))
	// Output:
	// before the first push: true
	// push stored: true
	// accepted upstream: true
}

// A jsapi_ticket is fetched with the account's access_token, registered
// under its own key first. WeComJSAPITicket and WeComAgentTicket work the
// same way over a WeCom app's key.
func ExampleJSAPITicket() {
	sim := wxsim.NewServer()
	defer sim.Close()
	sim.AddApp("wxexample0000003", "app-secret")

	m, ctx, done := exampleManager("shop", wechat.OfficialAccount("wxexample0000003", "app-secret", wechat.WithBaseURL(sim.URL)))
	defer done()
	if err := m.Register("shop-jsapi", wechat.JSAPITicket("shop", wechat.WithBaseURL(sim.URL))); err != nil {
		log.Fatal(err)
	}
	ticket, err := m.Token(ctx, "shop-jsapi")
	if err != nil {
		log.Fatal(err)
	}
	id, _ := m.Identity("shop-jsapi")
	fmt.Println("identity:", id)
	fmt.Println("the current ticket:", ticket.Value == sim.Current(id))
	// Output:
	// identity: jsapi@token:wxexample0000003
	// the current ticket: true
}

// The wx.config signature for a page, from the JS-SDK's documented sample
// values.
func ExampleJSSDKSignature() {
	sig := wechat.JSSDKSignature(
		"sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg",
		"Wm3WZYTPz0wzccnW", 1414587457, "http://mp.weixin.qq.com?params=value#section")
	fmt.Println(sig)
	// Output:
	// 0f9de62fce790f9a083d5c99e95740ceb90c27ed
}

// Transport adds the access_token to every business call and, when
// upstream answers 40001, 40014 or 42001, reports the token once for the
// fleet and sends the request again with the new one.
func ExampleTransport() {
	sim := wxsim.NewServer(wxsim.WithOverlap(0)) // a replaced token dies at once
	defer sim.Close()
	sim.AddApp("wxexample0000004", "app-secret")

	m, ctx, done := exampleManager("shop", wechat.OfficialAccount("wxexample0000004", "app-secret", wechat.WithBaseURL(sim.URL)))
	defer done()
	// The token goes only to the hosts named (nil: WeChat's and WeCom's).
	simHost := strings.TrimPrefix(sim.URL, "http://")
	hc := &http.Client{Transport: &wechat.Transport{Tokens: m, Key: "shop", Hosts: []string{simHost}}}

	old, err := m.Token(ctx, "shop")
	if err != nil {
		log.Fatal(err)
	}
	sim.Revoke(old.Value) // e.g. the secret was reset: the token in memory is dead

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, sim.URL+wxsim.BusinessPath, nil)
	resp, err := hc.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var answer struct {
		Errcode int `json:"errcode"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		log.Fatal(err)
	}
	fmt.Println("errcode:", answer.Errcode)
	fmt.Println("refused, then repaired:", sim.Stats().CheckErrors[wechat.CodeInvalidCredential], "refusal")
	// Output:
	// errcode: 0
	// refused, then repaired: 1 refusal
}
