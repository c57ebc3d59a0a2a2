package silenceper_test

import (
	"context"
	"fmt"
	"log"
	"net/http"

	"github.com/silenceper/wechat/v2"
	"github.com/silenceper/wechat/v2/cache"
	offConfig "github.com/silenceper/wechat/v2/officialaccount/config"
	"github.com/silenceper/wechat/v2/util"

	"github.com/wxtoken/wxtoken/adapters/silenceper"
	"github.com/wxtoken/wxtoken/core"
	wxwechat "github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wxsim"
)

// An official account of the SDK taking its token from wxtoken: the three
// lines are the Manager, the registration and SetAccessTokenHandle. A
// business call that gets 40001 (here: the token revoked upstream) is
// repaired by Do with one upstream call. In a real program the Manager has
// a shared backend (core.WithCache(redisbackend.New(rdb))), and neither
// WithBaseURL nor the SDK's HTTP client is touched: they point at the
// simulator here.
func ExampleHandle_Do() {
	sim := wxsim.NewServer()
	defer sim.Close()
	sim.AddApp("wxexample000001", "app-secret")
	rt, _ := wxsim.Hosts(sim.URL, nil)
	util.DefaultHTTPClient = &http.Client{Transport: rt}
	defer func() { util.DefaultHTTPClient = http.DefaultClient }()

	m := core.New()
	defer m.Close()
	m.Register("shop", wxwechat.OfficialAccount("wxexample000001", "app-secret", wxwechat.WithBaseURL(sim.URL)))
	oa := wechat.NewWechat().GetOfficialAccount(&offConfig.Config{AppID: "wxexample000001", AppSecret: "app-secret", Cache: cache.NewMemory()})
	handle := silenceper.New(m, "shop")
	oa.SetAccessTokenHandle(handle)

	ctx := context.Background()
	if _, err := oa.GetBasic().GetCallbackIP(); err != nil {
		log.Fatal(err)
	}
	sim.Revoke(sim.Current("token:wxexample000001"))
	_, err := oa.GetBasic().GetCallbackIP()
	fmt.Println("after the revocation:", silenceper.IsTokenError(err))
	err = handle.Do(ctx, func() error {
		_, err := oa.GetBasic().GetCallbackIP()
		return err
	})
	fmt.Println("through Do:", err)
	fmt.Println("token calls upstream:", sim.Stats().Calls["/cgi-bin/token"])
	// Output:
	// after the revocation: true
	// through Do: <nil>
	// token calls upstream: 2
}
