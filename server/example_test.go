package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"github.com/wxtoken/wxtoken/client"
	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/wxsim"
)

// The central token server, configured from YAML, serving one official
// account; a business service reads the token through client.Source. wxsim
// stands in for WeChat (the upstream: line); secrets and client keys come
// from the environment, never from the file.
func ExampleNew() {
	sim := wxsim.NewServer()
	defer sim.Close()
	sim.AddApp("wxexample0000001", "app-secret")
	os.Setenv("SHOP_SECRET", "app-secret")       // e.g. from a Kubernetes secret
	os.Setenv("ORDERS_KEY", "orders-client-key") // the business service's key

	cfg, err := server.ParseConfig(strings.NewReader(`
cache: memory://
upstream:
  wechat: ` + sim.URL + `
clients:
  - name: orders
    key_env: ORDERS_KEY
apps:
  - id: shop
    appid: wxexample0000001
    secret_env: SHOP_SECRET
`))
	if err != nil {
		log.Fatal(err)
	}
	srv, err := server.New(cfg, server.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	hs := httptest.NewServer(srv) // `wxtoken serve` listens with its own http.Server
	defer hs.Close()

	// In the business service:
	m := core.New()
	defer m.Close()
	if err := m.Register("shop", client.Source(hs.URL, "shop", os.Getenv("ORDERS_KEY"))); err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := m.Token(ctx, "shop")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("accepted upstream:", sim.Valid(tok.Value))
	fmt.Println("upstream calls:", sim.Stats().TokenCalls())
	// Output:
	// accepted upstream: true
	// upstream calls: 1
}

// A process serving a changed config without a restart, as `wxtoken
// serve` does on SIGHUP: the new Server takes over the stores, so the
// token the old one fetched is served without asking upstream again.
func ExampleServer_Reload() {
	sim := wxsim.NewServer()
	defer sim.Close()
	sim.AddApp("wxreload0000001", "app-secret")
	sim.AddApp("wxreload0000002", "other-secret")
	os.Setenv("SHOP_SECRET", "app-secret")
	os.Setenv("BLOG_SECRET", "other-secret")
	quiet := server.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	config := func(apps string) server.Config {
		cfg, err := server.ParseConfig(strings.NewReader("cache: memory://\naccept_volatile_state: true\ninsecure_no_auth: true\nupstream: {wechat: " + sim.URL + "}\napps:\n" + apps))
		if err != nil {
			log.Fatal(err)
		}
		return cfg
	}
	shop := "  - {id: shop, appid: wxreload0000001, secret_env: SHOP_SECRET}\n"
	srv, err := server.New(config(shop), quiet)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := srv.Manager().Token(ctx, "shop"); err != nil {
		log.Fatal(err)
	}

	// The config changed: a second app. Route new requests to next, then
	// close srv once its requests are answered (it no longer closes the
	// stores).
	next, err := srv.Reload(config(shop+"  - {id: blog, appid: wxreload0000002, secret_env: BLOG_SECRET}\n"), quiet)
	if err != nil {
		log.Fatal(err)
	}
	srv.Close()
	defer next.Close()
	if _, err := next.Manager().Token(ctx, "shop"); err != nil {
		log.Fatal(err)
	}
	fmt.Println("apps:", next.AppIDs())
	fmt.Println("upstream calls:", sim.Stats().TokenCalls())

	// A change only a restart can make is refused; the running Server
	// stays as it was.
	moved := config(shop)
	moved.Listen = "127.0.0.1:9090"
	_, err = next.Reload(moved, quiet)
	fmt.Println(errors.Is(err, server.ErrNeedsRestart), err)
	// Output:
	// apps: [shop blog]
	// upstream calls: 1
	// true listen: needs a restart
}
