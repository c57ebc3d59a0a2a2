package etcdbackend_test

import (
	"context"
	"fmt"
	"log"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	etcdbackend "github.com/wxtoken/wxtoken/backends/etcd"
	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/internal/localserver"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wxsim"
)

// etcdAddr is a one-member etcd this test binary started on loopback; in a
// program it is your cluster's endpoints.
var etcdAddr string

func TestMain(m *testing.M) { localserver.Main(m, localserver.Etcd, &etcdAddr) }

// Two instances of an application, each with its own etcd client, share
// one token: the first fetches it, the second reads it. The refresh lock
// is an etcd lease, and the token is published in a transaction that
// checks the lease still holds. (wxsim stands in for WeChat here; a real
// program leaves out WithBaseURL.)
func ExampleNew() {
	sim := wxsim.NewServer()
	defer sim.Close()
	sim.AddApp("wxexample0000001", "app-secret")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var served []string
	for range 2 { // two instances
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{etcdAddr}, DialTimeout: 5 * time.Second})
		if err != nil {
			log.Fatal(err)
		}
		defer cli.Close()
		m := core.New(core.WithCache(etcdbackend.New(cli)))
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
