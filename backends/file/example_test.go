package filebackend_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	filebackend "github.com/wxtoken/wxtoken/backends/file"
	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wxsim"
)

// Processes on one machine share a token through a directory: the first
// fetches it, the others read it; the refresh lock is an flock in the same
// directory. (wxsim stands in for WeChat here; a real program leaves out
// WithBaseURL.)
func ExampleNew() {
	sim := wxsim.NewServer()
	defer sim.Close()
	sim.AddApp("wxexample0000001", "app-secret")
	dir, err := os.MkdirTemp("", "wxtoken-example-") // e.g. /var/lib/wxtoken
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var served []string
	for range 2 { // two processes, here two Managers
		m := core.New(core.WithCache(filebackend.New(dir)))
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
