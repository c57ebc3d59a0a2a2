package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/wxtoken/wxtoken/client"
	"github.com/wxtoken/wxtoken/core"
)

// A redirect from the server (or whatever answers at its address) is not
// followed: the client key goes nowhere else, even on the same host,
// where net/http would keep the Authorization header. Before, a 307 to
// another path of the same host re-sent the key.
func TestSourceKeepsTheKeyOffRedirects(t *testing.T) {
	var keyed atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/token/shop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			keyed.Add(1)
		}
		w.Write([]byte(`{"access_token":"x","expires_in":7200}`))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for name, opts := range map[string][]client.Option{
		"default client":    nil,
		"a caller's client": {client.WithHTTPClient(&http.Client{})},
	} {
		_, err := client.Source(srv.URL, "shop", "client-key", opts...).Fetch(context.Background(), core.FetchRequest{})
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Status != http.StatusTemporaryRedirect {
			t.Errorf("%s: Fetch = %v, want the 307 as an Error", name, err)
		}
	}
	if n := keyed.Load(); n != 0 {
		t.Fatalf("rule: the client key is never sent along a redirect; sent %d times", n)
	}
}
