package wechat_test

import (
	"fmt"
	"log"
	"regexp"
	"strings"

	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wxsim"
)

// Upstream's own count of an API for the account, and the explanation of a
// failed call's rid, with the account's token from the Manager. In a real
// program, leave out WithBaseURL: it points them at wxsim here.
func ExampleTools() {
	sim := wxsim.NewServer()
	defer sim.Close()
	sim.AddApp("wxexample0000001", "app-secret")

	m, ctx, done := exampleManager("shop", wechat.OfficialAccount("wxexample0000001", "app-secret", wechat.WithBaseURL(sim.URL)))
	defer done()
	tok, err := m.Token(ctx, "shop")
	if err != nil {
		log.Fatal(err)
	}
	tools := wechat.NewTools(wechat.WithBaseURL(sim.URL))
	q, err := tools.Quota(ctx, tok.Value, "/cgi-bin/token")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("/cgi-bin/token today: %d of %d used, %d left\n", q.Used, q.DailyLimit, q.Remain)

	// A call that fails: its errmsg ends with "rid: …".
	_, err = tools.Quota(ctx, tok.Value, "/cgi-bin/no/such/api")
	rid := regexp.MustCompile(`rid: (\S+)`).FindStringSubmatch(err.Error())[1]
	info, err := tools.Rid(ctx, tok.Value, rid)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("request:", info.RequestURL)
	fmt.Println("its answer named 76021:", strings.Contains(info.ResponseBody, "76021"))
	// Output:
	// /cgi-bin/token today: 1 of 2000 used, 1999 left
	// request: access_token=***
	// its answer named 76021: true
}
