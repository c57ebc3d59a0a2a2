// Custombackend shows a store of your own plugged into wxtoken. Run its
// test to prove it with the conformance suites every wxtoken backend
// passes:
//
//	go test ./examples/custombackend
//	go run ./examples/custombackend
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wxsim"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	core.SetCache(NewStore()) // a Cache and a Locker in one value
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
