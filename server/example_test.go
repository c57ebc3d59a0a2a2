package server_test

import (
	"context"
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
