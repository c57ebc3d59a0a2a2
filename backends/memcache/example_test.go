package memcachebackend_test

import (
	"context"
	"fmt"
	"log"
	"testing"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	memcachebackend "github.com/wxtoken/wxtoken/backends/memcache"
	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/internal/localserver"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wxsim"
)

// memcachedAddr is a memcached this test binary started on loopback; in a
// program it is your memcached, e.g. "cache.internal:11211".
var memcachedAddr string

func TestMain(m *testing.M) { localserver.Main(m, localserver.Memcached, &memcachedAddr) }

// Two instances of an application, each with its own memcached client,
// share one token: the first fetches it, the second reads it. (wxsim
// stands in for WeChat here; a real program leaves out WithBaseURL.)
func ExampleNew() {
	sim := wxsim.NewServer()
	defer sim.Close()
	sim.AddApp("wxexample0000001", "app-secret")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var served []string
	for range 2 { // two instances
		mc := memcache.New(memcachedAddr)
		mc.Timeout = time.Second
		m := core.New(core.WithCache(memcachebackend.New(mc)))
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
