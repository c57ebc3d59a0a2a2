package core_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wxsim"
)

// A Manager serves one official account's token. wxsim stands in for
// api.weixin.qq.com; a real program leaves out WithBaseURL.
func ExampleManager() {
	sim := wxsim.NewServer()
	defer sim.Close()
	sim.AddApp("wxexample0000001", "app-secret")

	m := core.New()
	defer m.Close()
	if err := m.Register("shop", wechat.OfficialAccount("wxexample0000001", "app-secret", wechat.WithBaseURL(sim.URL))); err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	first, err := m.Token(ctx, "shop")
	if err != nil {
		log.Fatal(err)
	}
	again, _ := m.Token(ctx, "shop") // served from memory
	fmt.Println("same token:", first.Value == again.Value)
	fmt.Println("valid for about:", first.ExpiresIn(time.Now()).Round(time.Hour))
	fmt.Println("upstream calls:", sim.Stats().TokenCalls())
	// Output:
	// same token: true
	// valid for about: 2h0m0s
	// upstream calls: 1
}

// A server answers from memory when it can and makes a deadline only for
// a request that has to wait for the store or upstream.
func ExampleManager_Fresh() {
	sim := wxsim.NewServer()
	defer sim.Close()
	sim.AddApp("wxexample0000001", "app-secret")
	m := core.New()
	defer m.Close()
	if err := m.Register("shop", wechat.OfficialAccount("wxexample0000001", "app-secret", wechat.WithBaseURL(sim.URL))); err != nil {
		log.Fatal(err)
	}
	token := func() (core.Token, error) {
		if tok, ok := m.Fresh("shop"); ok {
			return tok, nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return m.Token(ctx, "shop")
	}
	_, fresh := m.Fresh("shop")
	fmt.Println("fresh before the first fetch:", fresh)
	if _, err := token(); err != nil {
		log.Fatal(err)
	}
	_, fresh = m.Fresh("shop")
	fmt.Println("fresh after it:", fresh)
	// Output:
	// fresh before the first fetch: false
	// fresh after it: true
}

// Two nodes share one store. Each sees a business API refuse the same
// token (40001 after a secret reset, simulated by Revoke) and reports it:
// the fleet fetches one new token, not two.
func ExampleManager_Invalidate() {
	sim := wxsim.NewServer()
	defer sim.Close()
	sim.AddApp("wxexample0000002", "app-secret")

	shared := core.NewMemoryCache() // a fleet passes a Redis, etcd, memcached or file backend
	var nodes []*core.Manager
	for range 2 {
		m := core.New(core.WithCache(shared))
		defer m.Close()
		if err := m.Register("shop", wechat.OfficialAccount("wxexample0000002", "app-secret", wechat.WithBaseURL(sim.URL))); err != nil {
			log.Fatal(err)
		}
		nodes = append(nodes, m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	old, err := nodes[0].Token(ctx, "shop")
	if err != nil {
		log.Fatal(err)
	}
	sim.Revoke(old.Value) // upstream now answers 40001 for it

	var fresh [2]core.Token
	for i, m := range nodes {
		if fresh[i], err = m.Invalidate(ctx, "shop", old.Value); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("replaced:", fresh[0].Value != old.Value)
	fmt.Println("both nodes agree:", fresh[0].Value == fresh[1].Value)
	fmt.Println("upstream calls:", sim.Stats().TokenCalls())
	// Output:
	// replaced: true
	// both nodes agree: true
	// upstream calls: 2
}

// A report of a token upstream still accepts (a client that misread an
// error, say) is checked and costs no new token.
func ExampleManager_Invalidate_spurious() {
	sim := wxsim.NewServer()
	defer sim.Close()
	sim.AddApp("wxexample0000003", "app-secret")

	m := core.New()
	defer m.Close()
	if err := m.Register("shop", wechat.OfficialAccount("wxexample0000003", "app-secret", wechat.WithBaseURL(sim.URL))); err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := m.Token(ctx, "shop")
	if err != nil {
		log.Fatal(err)
	}
	after, err := m.Invalidate(ctx, "shop", tok.Value)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("kept:", after.Value == tok.Value)
	fmt.Println("upstream token calls:", sim.Stats().TokenCalls())
	// Output:
	// kept: true
	// upstream token calls: 1
}

// SetCache swaps the store of the process-wide Manager, the way TNWX users
// swap theirs. A fleet passes a shared backend, e.g.
// core.SetCache(redisbackend.New(rdb)).
func ExampleSetCache() {
	sim := wxsim.NewServer()
	defer sim.Close()
	sim.AddApp("wxexample0000004", "app-secret")

	store := core.NewMemoryCache()
	core.SetCache(store)
	if err := core.Default().Register("example-setcache", wechat.OfficialAccount("wxexample0000004", "app-secret", wechat.WithBaseURL(sim.URL))); err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := core.Default().Token(ctx, "example-setcache")
	if err != nil {
		log.Fatal(err)
	}
	key, _ := core.Default().CacheKey("example-setcache")
	raw, err := store.Get(ctx, key) // the shared entry every node reads
	if err != nil {
		log.Fatal(err)
	}
	shared, _ := core.DecodeToken(raw)
	fmt.Println("cache key:", key)
	fmt.Println("shared entry is the served token:", shared.Value == tok.Value)
	// Output:
	// cache key: wxtoken:{token:wxexample0000004}
	// shared entry is the served token: true
}

// Tunables are one struct: name what you change, the rest keeps its
// default. Validate is the strict check for a config a person wrote;
// core.New itself never fails, it fixes what cannot work and logs it.
func ExampleWithSettings() {
	s := core.Settings{LocalTTL: 5 * time.Second, RefreshAhead: 20 * time.Minute}
	if err := s.Validate(); err != nil {
		log.Fatal(err)
	}
	m := core.New(core.WithSettings(s))
	defer m.Close()

	fmt.Println("default lock TTL:", core.DefaultSettings().LockTTL)
	fmt.Println(core.Settings{ExpiryMargin: time.Hour}.Validate())
	// Output:
	// default lock TTL: 30s
	// refresh_ahead (10m0s) must be greater than expiry_margin (1h0m0s), or no token is ever served while it is replaced (using expiry_margin 5m0s)
}
