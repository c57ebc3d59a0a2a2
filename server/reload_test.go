package server_test

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/wxsim"
)

// switched serves through whichever Server it holds, as `wxtoken serve`
// does across reloads.
type switched struct{ cur atomic.Pointer[server.Server] }

func (h *switched) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.cur.Load().ServeHTTP(w, r) }

func TestReloadTakesOverTheStoresAndForgetsRemovedApps(t *testing.T) {
	sim := wxsim.NewServer()
	t.Cleanup(sim.Close)
	sim.AddApp("wxshop", shopSecret)
	sim.AddApp("wxstable", stableSecret)
	cfg := baseConfig(t, sim)
	cfg.Apps = cfg.Apps[:1] // shop
	quiet := server.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	old, err := server.New(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	h := &switched{}
	h.cur.Store(old)
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	get := func(path, key string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", hs.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/v1/token/shop", billingKey)
	if code != 200 {
		t.Fatalf("before the reload: %d %s", code, body)
	}
	shopToken := decode(t, []byte(body)).AccessToken

	// Refused: a field only a restart can change, and a config New refuses.
	moved := cfg
	moved.Cache = "file://" + t.TempDir()
	if _, err := old.Reload(moved, quiet); !errors.Is(err, server.ErrNeedsRestart) || !strings.Contains(err.Error(), "cache") {
		t.Fatalf("a changed cache: %v, want ErrNeedsRestart naming cache", err)
	}
	broken := cfg
	broken.Apps = append([]server.AppConfig{}, cfg.Apps...)
	broken.Apps[0].SecretEnv = ""
	if _, err := old.Reload(broken, quiet); err == nil {
		t.Fatal("a config without a secret was taken")
	}
	if code, _ := get("/v1/token/shop", billingKey); code != 200 {
		t.Fatalf("after the refused reloads the old server answers %d", code)
	}

	// Taken: shop goes, stable comes, and only the reports client stays.
	next := cfg
	next.Apps = []server.AppConfig{
		{ID: "stable", Kind: "stable", AppID: "wxstable", SecretEnv: "STABLE_SECRET"},
		{ID: "shop2", Kind: "official", AppID: "wxshop", SecretEnv: "SHOP_SECRET"},
	}
	next.Clients = cfg.Clients[1:]
	n, err := old.Reload(next, quiet)
	if err != nil {
		t.Fatal(err)
	}
	h.cur.Store(n)
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })

	if code, _ := get("/v1/token/shop", reportsKey); code != 404 {
		t.Errorf("removed app: %d, want 404", code)
	}
	if code, _ := get("/v1/token/stable", billingKey); code != 401 {
		t.Errorf("removed client: %d, want 401", code)
	}
	code, body = get("/v1/token/shop2", reportsKey)
	if code != 200 {
		t.Fatalf("added app on the old account: %d %s", code, body)
	}
	if tok := decode(t, []byte(body)).AccessToken; tok != shopToken {
		t.Error("the reloaded server fetched a new token although the store held one (closing the old server must not close the stores)")
	}
	if code, body := get("/v1/token/stable", reportsKey); code != 200 {
		t.Fatalf("added app: %d %s", code, body)
	}
	if calls := sim.Stats().TokenCalls(); calls != 2 {
		t.Errorf("upstream token calls: %d, want 2 (shop once, stable once)", calls)
	}
	_, metrics := get("/metrics", reportsKey)
	if strings.Contains(metrics, `app="shop"`) {
		t.Error("the metrics still hold series of the removed app shop")
	}
	if !strings.Contains(metrics, `wxtoken_app_healthy{app="stable"}`) {
		t.Error("the metrics lack the added app stable")
	}
	if strings.Contains(metrics, `wxtoken_client_requests_total{client="billing"`) {
		t.Error("the metrics still hold series of the removed client billing")
	}

	// billing comes back: its requests are counted again, from 1.
	again := next
	again.Clients = cfg.Clients
	n2, err := n.Reload(again, quiet)
	if err != nil {
		t.Fatal(err)
	}
	h.cur.Store(n2)
	t.Cleanup(func() { n2.Close() })
	get("/v1/token/stable", billingKey)
	if _, metrics := get("/metrics", reportsKey); !strings.Contains(metrics, `wxtoken_client_requests_total{client="billing",code="200"} 1`) {
		t.Errorf("a client added back is not counted afresh:\n%s", grepLines(metrics, "client_requests"))
	}
}
