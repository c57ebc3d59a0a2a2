package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/internal/localserver"
	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/wxsim"
)

// Eight instances on one Redis serve a corp's jsapi and agent_config
// tickets and an authorizer's jsapi ticket through three ticket
// lifetimes, every instance asked every 50 ms: the fleet asks upstream
// at most once per refresh cycle for each ticket, not once per instance,
// and no request fails.
func TestTenantTicketsAreFetchedOncePerCycleForTheFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("fleet test skipped in -short mode")
	}
	const life = 4 * time.Second
	redisSrv := localserver.T(t, localserver.Redis)
	sim := wxsim.NewServer(wxsim.WithLifetime(life), wxsim.WithOverlap(life/4))
	defer sim.Close()
	t.Setenv("SUITE_SECRET", "suite-s3cret-never-shown")
	sim.AddSuite("wwsuite01", "suite-s3cret-never-shown")
	sim.AddComponent("wxcomponent01", "suite-s3cret-never-shown")
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // before the Wait: deferred calls run last first
	var urls []string
	for i := range 8 {
		cfg := baseConfig(t, sim)
		cfg.Cache = "redis://" + redisSrv.Addr + "/0"
		cfg.TenantKeyEnv = "TENANT_KEY"
		cfg.Settings.RefreshAhead, cfg.Settings.ExpiryMargin = life*3/8, life/10
		cfg.Settings.LocalTTL, cfg.Settings.LockTTL = 200*time.Millisecond, time.Second
		cfg.Upstream.Timeout = time.Second
		cb := &server.CallbackConfig{TokenEnv: "CB_TOKEN", AESKeyEnv: "CB_AES", Receivers: []string{"wwprovider01"}}
		cfg.Apps = append(cfg.Apps[:1], // shop, and the two apps with tenants
			server.AppConfig{ID: "suite", Kind: "suite", SuiteID: "wwsuite01", SecretEnv: "SUITE_SECRET", Callback: cb},
			server.AppConfig{ID: "platform", Kind: "component", AppID: "wxcomponent01", SecretEnv: "SUITE_SECRET",
				Callback: &server.CallbackConfig{TokenEnv: "CB_TOKEN", AESKeyEnv: "CB_AES"}})
		srv, err := server.New(cfg, server.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(srv)
		t.Cleanup(func() { hs.Close(); srv.Close() })
		wg.Go(func() { _ = srv.Run(ctx) })
		urls = append(urls, hs.URL)
		if i == 0 {
			for _, err := range []error{
				sim.SetSuiteCallback("wwsuite01", wxsim.Callback{URL: hs.URL + "/v1/callback/suite", Token: cbToken, EncodingAESKey: cbAESKey}),
				sim.SetComponentCallback("wxcomponent01", wxsim.Callback{URL: hs.URL + "/v1/callback/platform", Token: cbToken, EncodingAESKey: cbAESKey}),
			} {
				if err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if _, err := sim.DeliverSuiteTicket(ctx, "wwsuite01"); err != nil {
		t.Fatal(err)
	}
	waitOn(t, urls, "/v1/token/suite")
	if _, err := sim.InstallCorp(ctx, "wwsuite01", "wwtenant01"); err != nil {
		t.Fatal(err)
	}
	waitOn(t, urls, "/v1/token/platform")
	if _, err := sim.AuthorizeApp(ctx, "wxcomponent01", "wxauthorizer01"); err != nil {
		t.Fatal(err)
	}
	routes := map[string]string{
		"/v1/ticket/suite/tenants/wwtenant01/jsapi":        "/cgi-bin/get_jsapi_ticket",
		"/v1/ticket/suite/tenants/wwtenant01/agent_config": "/cgi-bin/ticket/get",
		"/v1/ticket/platform/tenants/wxauthorizer01/jsapi": "/cgi-bin/ticket/getticket",
	}
	for route := range routes {
		waitOn(t, urls, route)
	}
	before := map[string]int{}
	for _, path := range routes {
		before[path] = sim.Stats().Calls[path]
	}
	start := time.Now()
	failed := 0
	for time.Since(start) < 3*life {
		for _, u := range urls {
			for route := range routes {
				if code := status(t, u, route); code != 200 {
					failed++
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	cycle := life - life*3/8
	ideal := int(time.Since(start)/cycle) + 1
	for route, path := range routes {
		n := sim.Stats().Calls[path] - before[path]
		t.Logf("%s: %d upstream calls over %v (refresh cycle %v, ideal %d)", route, n, time.Since(start).Round(time.Millisecond), cycle, ideal)
		// Each ticket lives one lifetime, so three lifetimes need three;
		// more than one per refresh cycle would be instances asking apart.
		if n < 3 || n > ideal+1 {
			t.Errorf("%s: %d upstream calls for 8 instances over three lifetimes, want 3 to %d: at most one per refresh cycle for the fleet", route, n, ideal+1)
		}
	}
	if failed != 0 {
		t.Errorf("%d ticket requests failed", failed)
	}
}

// waitOn waits until every server answers 200 for path.
func waitOn(t *testing.T, urls []string, path string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for _, u := range urls {
		for status(t, u, path) != 200 {
			if time.Now().After(deadline) {
				t.Fatalf("%s%s did not answer 200", u, path)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func status(t *testing.T, base, path string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", base+path, nil)
	req.Header.Set("Authorization", "Bearer "+reportsKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(fmt.Errorf("%s%s: %w", base, path, err))
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
