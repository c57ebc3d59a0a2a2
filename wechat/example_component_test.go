package wechat_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wechat/callback"
	"github.com/wxtoken/wxtoken/wxsim"
)

// An Open Platform third-party platform: the component_verify_ticket the
// Open Platform pushes to the callback goes to the shared store, the
// component's token follows from it, and an account that authorizes the
// platform gets its own token, whose refresh token rotates under the fleet
// lock. In a real program the callback handler is your server's (or
// `wxtoken serve`'s /v1/callback/{app}) and WithBaseURL is left out.
func ExampleAuthorizerToken() {
	const appID, aesKey = "wxcomponent0001", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
	sim := wxsim.NewServer()
	defer sim.Close()
	sim.AddComponent(appID, "component-secret")
	store := core.NewMemoryCache()
	tickets := wechat.NewComponentTickets(store, "", appID)

	// The callback: tickets into the store, authorization codes out.
	crypto, err := callback.New("callback-token", aesKey, appID)
	if err != nil {
		log.Fatal(err)
	}
	codes := make(chan string, 1)
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, callback.MaxBody+1))
		e, err := crypto.OpenEvent(r.URL.Query(), body, time.Now())
		if err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		switch e.InfoType {
		case callback.InfoComponentVerifyTicket:
			if _, err := tickets.Put(r.Context(), e.Ticket, e.At()); err != nil {
				http.Error(w, err.Error(), http.StatusServiceUnavailable)
				return
			}
		case callback.InfoAuthorized:
			codes <- e.AuthorizationCode
		}
		io.WriteString(w, "success")
	}))
	defer cb.Close()
	sim.SetComponentCallback(appID, wxsim.Callback{URL: cb.URL, Token: "callback-token", EncodingAESKey: aesKey})

	m := core.New(core.WithCache(store))
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	comp := wechat.ComponentToken(appID, "component-secret", tickets, wechat.WithBaseURL(sim.URL))
	m.Register("platform", comp)
	if _, err := m.Token(ctx, "platform"); err != nil { // no ticket yet: a push is asked for, and lands
		log.Fatal(err)
	}

	sim.AuthorizeApp(ctx, appID, "wxauthorizer001")
	auth, err := comp.QueryAuth(ctx, m, "platform", <-codes)
	if err != nil {
		log.Fatal(err)
	}
	box, _ := wechat.NewSecretBox([]byte("0123456789abcdef0123456789abcdef")) // a key of your own, from a secret store
	shop := wechat.AuthorizerToken("platform", appID, auth.AuthorizerAppID, box, wechat.WithBaseURL(sim.URL))
	// Save the refresh token, and the access token the authorization came
	// with, before any node serves the authorizer.
	key, _ := m.SourceStateKey(shop, wechat.RefreshTokenState)
	if err := shop.SaveRefreshToken(ctx, store, key, auth.RefreshToken); err != nil {
		log.Fatal(err)
	}
	firstKey, _ := m.SourceStateKey(shop, wechat.FirstTokenState)
	if err := wechat.SaveFirstToken(ctx, store, firstKey, auth.AccessToken); err != nil {
		log.Fatal(err) // or go on: the first fetch then calls upstream
	}
	m.Register("shop", shop)
	tok, err := m.Token(ctx, "shop")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("first token is the authorization's:", tok.Value == auth.AccessToken.Value)
	tok, err = m.Refresh(ctx, "shop") // the next fetch spends the refresh token and stores its successor
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("authorizer token valid:", sim.Valid(tok.Value))
	rt, _ := wechat.LoadRefreshToken(ctx, store, box, key)
	fmt.Println("stored refresh token is upstream's newest:", rt.Token == sim.AuthorizerRefreshToken(appID, auth.AuthorizerAppID))
	// Output:
	// first token is the authorization's: true
	// authorizer token valid: true
	// stored refresh token is upstream's newest: true
}
