// Quickstart: two "nodes" (Managers) sharing one store serve one official
// account's token against the built-in simulator, and a rejected token is
// invalidated once for both. Run it with:
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wxsim"
)

func main() {
	sim := wxsim.NewServer()
	defer sim.Close()
	sim.AddApp("wxquickstart0001", "quickstart-secret")

	store := core.NewMemoryCache() // a real fleet passes a shared backend here
	var nodes []*core.Manager
	for range 2 {
		m := core.New(core.WithCache(store))
		defer m.Close()
		src := wechat.OfficialAccount("wxquickstart0001", "quickstart-secret", wechat.WithBaseURL(sim.URL))
		if err := m.Register("shop", src); err != nil {
			log.Fatal(err)
		}
		nodes = append(nodes, m)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, m := range nodes {
		tok, err := m.Token(ctx, "shop")
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("node %d serves %.16s… (expires in %v)\n", i, tok.Value, tok.ExpiresIn(time.Now()).Round(time.Second))
	}
	bad, _ := nodes[0].Token(ctx, "shop")
	for i, m := range nodes { // both nodes see 40001 for the same token
		tok, err := m.Invalidate(ctx, "shop", bad.Value)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("node %d after invalidation serves %.16s…\n", i, tok.Value)
	}
	fmt.Printf("upstream /cgi-bin/token calls: %d\n", sim.Stats().Calls["/cgi-bin/token"])
}
