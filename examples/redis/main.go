// Redis: every instance of an application points wxtoken at the same Redis
// and gets the same token; only one of them ever calls WeChat.
//
//	WX_APPID=wx... WX_SECRET=... go run ./examples/redis -addr 127.0.0.1:6379
//
// Without WX_APPID it runs against the built-in simulator.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	redisbackend "github.com/wxtoken/wxtoken/backends/redis"
	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wxsim"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:6379", "Redis address (a Cluster takes several, comma-separated, with redis.NewClusterClient)")
	flag.Parse()
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs: []string{*addr},
		// Let the Manager's deadlines cut off a hung server.
		ContextTimeoutEnabled: true,
	})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		log.Fatalf("Redis at %s: %v", *addr, err)
	}
	core.SetCache(redisbackend.New(rdb))
	run(ctx, core.Default())
}

// run registers an official account on m (real credentials from WX_APPID
// and WX_SECRET, else the built-in simulator), prints its token twice (the
// second served from memory), as a business server would use it, and
// closes m. Each example carries its own copy, so that it can be copied
// into a module of yours as it is.
func run(ctx context.Context, m *core.Manager) {
	defer m.Close()
	appID, secret := os.Getenv("WX_APPID"), os.Getenv("WX_SECRET")
	var opts []wechat.Option
	if appID == "" {
		sim := wxsim.NewServer()
		defer sim.Close()
		appID, secret = "wxexample00000001", "example-secret"
		sim.AddApp(appID, secret)
		opts = append(opts, wechat.WithBaseURL(sim.URL))
		fmt.Println("no WX_APPID: using the built-in simulator")
	}
	if err := m.Register("app", wechat.OfficialAccount(appID, secret, opts...)); err != nil {
		log.Fatal(err)
	}
	for range 2 {
		start := time.Now()
		tok, err := m.Token(ctx, "app")
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("access_token %.12s… expires in %v (served in %v)\n", tok.Value,
			tok.ExpiresIn(time.Now()).Round(time.Second), time.Since(start).Round(time.Microsecond))
	}
	key, _ := m.CacheKey("app")
	fmt.Println("shared under key", key)
}
