// etcd: the same token for every instance, through an etcd cluster.
//
//	go run ./examples/etcd -endpoints 127.0.0.1:2379
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	etcdbackend "github.com/wxtoken/wxtoken/backends/etcd"
	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wxsim"
)

func main() {
	endpoints := flag.String("endpoints", "127.0.0.1:2379", "etcd endpoints, comma-separated")
	flag.Parse()
	cli, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(*endpoints, ","), DialTimeout: 5 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	core.SetCache(etcdbackend.New(cli))
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
