package wxsim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/wxtoken/wxtoken/wxsim"
)

// The simulator answers /cgi-bin/token like api.weixin.qq.com, with
// lifetimes short enough for a test to live through many of them, and
// counts every call.
func ExampleNewServer() {
	sim := wxsim.NewServer(wxsim.WithLifetime(3 * time.Second))
	defer sim.Close()
	sim.AddApp("wxexample0000001", "app-secret")

	resp, err := http.Get(sim.URL + "/cgi-bin/token?grant_type=client_credential&appid=wxexample0000001&secret=app-secret")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var answer struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil {
		log.Fatal(err)
	}
	fmt.Println("expires_in:", answer.ExpiresIn)
	fmt.Println("valid:", sim.Valid(answer.AccessToken))
	fmt.Println("token calls:", sim.Stats().TokenCalls())
	// Output:
	// expires_in: 3
	// valid: true
	// token calls: 1
}

// Business calls (BusinessPath, made here with Check) are refused with
// 40001 once a token is revoked, as after a secret reset.
func ExampleSim_Revoke() {
	sim := wxsim.NewServer()
	defer sim.Close()
	sim.AddApp("wxexample0000002", "app-secret")
	resp, err := http.Get(sim.URL + "/cgi-bin/token?grant_type=client_credential&appid=wxexample0000002&secret=app-secret")
	if err != nil {
		log.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()

	check := func() int {
		code, err := wxsim.Check(context.Background(), http.DefaultClient, sim.URL, tok.AccessToken)
		if err != nil {
			log.Fatal(err)
		}
		return code
	}
	fmt.Println("before:", check())
	sim.Revoke(tok.AccessToken)
	fmt.Println("after:", check())
	// Output:
	// before: 0
	// after: 40001
}
