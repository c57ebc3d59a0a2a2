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
	"log"
	"time"

	"github.com/redis/go-redis/v9"

	redisbackend "github.com/wxtoken/wxtoken/backends/redis"
	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/examples/internal/demo"
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
	demo.Run(ctx, core.Default())
}
