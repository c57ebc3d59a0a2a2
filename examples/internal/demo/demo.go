// Package demo is the part the backend examples share: register an
// official account (real credentials from WX_APPID / WX_SECRET, else the
// built-in simulator) and print the token, as a business server would use
// it.
package demo

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

// Run registers the account on m, prints its token twice (the second
// served from memory) and closes m.
func Run(ctx context.Context, m *core.Manager) {
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
