// File: several processes on one host share tokens through a directory.
// Start it twice at once; only one process calls upstream.
//
//	go run ./examples/file -dir /tmp/wxtoken
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	filebackend "github.com/wxtoken/wxtoken/backends/file"
	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wxsim"
)

func main() {
	dir := flag.String("dir", "/tmp/wxtoken", "directory shared by the processes")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	core.SetCache(filebackend.New(*dir))
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
