package server_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/wxsim"
)

const opsKey = "ops-k3y-never-shown-0123"

// GET /v1/quota/{app} answers upstream's count for a client that may use
// the app; POST /v1/quota/{app}/clear only for a client with the admin
// scope that repeats the app's id, and 429 past the month's ten.
func TestQuotaRoutes(t *testing.T) {
	t.Setenv("OPS_KEY", opsKey)
	e := newEnv(t, func(c *server.Config) {
		c.Clients = append(c.Clients, server.ClientConfig{Name: "ops", KeyEnv: "OPS_KEY", Scopes: []string{server.ScopeAdmin}})
	})
	code, body := e.do("GET", "/v1/quota/shop", billingKey, nil)
	var q struct {
		App        string `json:"app"`
		CgiPath    string `json:"cgi_path"`
		DailyLimit int    `json:"daily_limit"`
		Used       int    `json:"used"`
		Remain     int    `json:"remain"`
	}
	if code != 200 || json.Unmarshal(body, &q) != nil || q != struct {
		App        string `json:"app"`
		CgiPath    string `json:"cgi_path"`
		DailyLimit int    `json:"daily_limit"`
		Used       int    `json:"used"`
		Remain     int    `json:"remain"`
	}{"shop", "/cgi-bin/token", 2000, 1, 1999} {
		t.Fatalf("GET /v1/quota/shop: %d %s", code, body)
	}
	// However often clients ask, upstream's quota/get (which has a daily
	// limit of its own) is asked once a minute per app and API.
	for range 20 {
		if code, _ := e.do("GET", "/v1/quota/shop", reportsKey, nil); code != 200 {
			t.Fatalf("GET /v1/quota/shop: %d", code)
		}
	}
	if n := e.sim.Calls("wxshop", wxsim.QuotaPath); n != 1 {
		t.Fatalf("21 quota requests made %d quota/get calls upstream, want 1", n)
	}
	if code, body := e.do("GET", "/v1/quota/shop?cgi_path=/sns/oauth2/access_token", billingKey, nil); code != 502 || decode(t, body).Errcode != 76022 {
		t.Fatalf("quota of a /sns/ API: %d %s, want 502 errcode 76022", code, body)
	}
	if code, body := e.do("GET", "/v1/quota/corp", billingKey, nil); code != 404 {
		t.Fatalf("quota of a WeCom app: %d %s, want 404", code, body)
	}
	if code, _ := e.do("GET", "/v1/quota/restricted", billingKey, nil); code != 403 {
		t.Fatalf("quota of an app the client may not use: %d, want 403", code)
	}
	clear := func(key, confirm string) (int, []byte) {
		return e.do("POST", "/v1/quota/shop/clear", key, strings.NewReader(`{"confirm":"`+confirm+`"}`))
	}
	if code, body := clear(billingKey, "shop"); code != 403 || e.sim.Clears("wxshop") != 0 {
		t.Fatalf("clear by a client without the admin scope: %d %s", code, body)
	}
	if code, body := clear(opsKey, "shopp"); code != 400 || e.sim.Clears("wxshop") != 0 {
		t.Fatalf("clear confirming another id: %d %s", code, body)
	}
	for i := 1; i <= server.ClearsPerMonth; i++ {
		code, body := clear(opsKey, "shop")
		var res struct {
			Cleared bool `json:"cleared"`
			N       int  `json:"clears_this_month"`
		}
		if code != 200 || json.Unmarshal(body, &res) != nil || !res.Cleared || res.N != i {
			t.Fatalf("clear %d: %d %s", i, code, body)
		}
	}
	if code, body := clear(opsKey, "shop"); code != 429 || e.sim.Clears("wxshop") != server.ClearsPerMonth {
		t.Fatalf("an eleventh clear: %d %s (upstream clears %d)", code, body, e.sim.Clears("wxshop"))
	}

	cfg := baseConfig(t, e.sim)
	cfg.Clients[0].Scopes = []string{"root"}
	if _, err := server.New(cfg); err == nil || !strings.Contains(err.Error(), "scopes") || !strings.Contains(err.Error(), `"root"`) {
		t.Fatalf("an unknown scope: %v, want a refusal naming scopes and the scope", err)
	}
}
