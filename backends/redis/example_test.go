package redisbackend_test

import (
	"context"
	"fmt"
	"log"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	redisbackend "github.com/wxtoken/wxtoken/backends/redis"
	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/internal/localserver"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wxsim"
)

// redisAddr is a redis-server this test binary started on loopback; in a
// program it is your Redis, e.g. "redis.internal:6379".
var redisAddr string

func TestMain(m *testing.M) { localserver.Main(m, localserver.Redis, &redisAddr) }

// Two instances of an application, each with its own Redis client, share
// one token: the first fetches it, the second reads it from Redis. The
// fleet-wide refresh lock lives in the same Redis. (wxsim stands in for
// WeChat here; a real program leaves out WithBaseURL.)
func ExampleNew() {
	sim := wxsim.NewServer()
	defer sim.Close()
	sim.AddApp("wxexample0000001", "app-secret")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var served []string
	for range 2 { // two instances
		rdb := redis.NewClient(&redis.Options{Addr: redisAddr, ContextTimeoutEnabled: true})
		defer rdb.Close()
		m := core.New(core.WithCache(redisbackend.New(rdb)))
		defer m.Close()
		if err := m.Register("shop", wechat.OfficialAccount("wxexample0000001", "app-secret", wechat.WithBaseURL(sim.URL))); err != nil {
			log.Fatal(err)
		}
		tok, err := m.Token(ctx, "shop")
		if err != nil {
			log.Fatal(err)
		}
		served = append(served, tok.Value)
	}
	fmt.Println("same token on both:", served[0] == served[1])
	fmt.Println("upstream calls:", sim.Stats().TokenCalls())
	// Output:
	// same token on both: true
	// upstream calls: 1
}
