package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/wxtoken/wxtoken/client"
	"github.com/wxtoken/wxtoken/core"
)

// A service in the fleet takes the "shop" token from a central
// `wxtoken serve` instead of from WeChat. In this example a handler that
// answers GET /v1/token/{app} the way the server does stands in for it, so
// the example runs without the server module; the server module's own
// example and tests run the client against the real server.
func ExampleSource() {
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer client-key" || r.URL.Path != "/v1/token/shop" {
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(map[string]any{"errcode": 40100, "errmsg": "no or wrong client key"})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "TOKEN-FROM-THE-SERVER", "expires_in": 7000})
	}))
	defer server.Close()

	m := core.New()
	defer m.Close()
	if err := m.Register("shop", client.Source(server.URL, "shop", "client-key")); err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := m.Token(ctx, "shop")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("token:", tok.Value)
	// Kept in memory for at most a minute, so a token the server replaced
	// is dropped soon even without a refusal.
	fmt.Println("kept for at most:", tok.ExpiresIn(time.Now()).Round(time.Minute))

	m2 := core.New()
	defer m2.Close()
	_ = m2.Register("shop", client.Source(server.URL, "shop", "wrong-key"))
	_, err = m2.Token(ctx, "shop")
	fmt.Println("wrong key:", err)
	// Output:
	// token: TOKEN-FROM-THE-SERVER
	// kept for at most: 1m0s
	// wrong key: wxtoken server: HTTP 401: errcode 40100: no or wrong client key
}
