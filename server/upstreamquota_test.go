package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/internal/localserver"
	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/wxsim"
)

// Three instances on one Redis read upstream's own count of the shop's
// token calls: one asks per interval, under the store's lock, and every
// instance reports the count in wxtoken_upstream_quota and on the status
// page; the WeCom app, which has no such tool, reports none, and reading
// the count fetches no token.
func TestUpstreamQuotaIsReadByOneInstance(t *testing.T) {
	redisSrv := localserver.T(t, localserver.Redis)
	sim := wxsim.NewServer()
	defer sim.Close()
	sim.AddApp("wxshop", shopSecret)
	sim.AddApp("wxstable", stableSecret)
	sim.AddApp("wxrestricted", shopSecret)
	sim.AddApp("wxbad", "the-right-one")
	sim.AddWeComApp("wwcorp", "1000002", corpSecret)
	const every = 300 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var urls []string
	for range 3 {
		cfg := baseConfig(t, sim)
		cfg.Cache = "redis://" + redisSrv.Addr + "/0"
		srv, err := server.New(cfg, server.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))), server.WithUpstreamQuotaEvery(every))
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(srv)
		t.Cleanup(func() { hs.Close(); srv.Close() })
		wg.Go(func() { _ = srv.Run(ctx) })
		urls = append(urls, hs.URL)
	}
	get := func(base, path string) []byte {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+billingKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return b
	}
	start := time.Now()
	var metrics string
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if metrics = string(get(urls[2], "/metrics")); strings.Contains(metrics, `wxtoken_upstream_quota{app="shop",cgi_path="/cgi-bin/token",value="used"} 1`) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, want := range []string{
		`wxtoken_upstream_quota{app="shop",cgi_path="/cgi-bin/token",value="daily_limit"} 2000`,
		`wxtoken_upstream_quota{app="shop",cgi_path="/cgi-bin/token",value="used"} 1`,
		`wxtoken_upstream_quota{app="shop",cgi_path="/cgi-bin/token",value="remain"} 1999`,
	} {
		if !strings.Contains(metrics, want) {
			t.Fatalf("the third instance's metrics lack %s:\n%s", want, grepLines(metrics, "upstream_quota"))
		}
	}
	if strings.Contains(metrics, `wxtoken_upstream_quota{app="corp"`) {
		t.Error("a quota for the WeCom app, which upstream has no quota tool for")
	}
	page := get(urls[1], "/")
	if !regexp.MustCompile(`<td>1 / 2000 at \d\d:\d\d \(Beijing\)</td>`).Match(page) {
		t.Errorf("the status page does not show upstream's count:\n%s", grepLines(string(page), "Beijing"))
	}
	time.Sleep(4 * every)
	cancel()
	wg.Wait()
	asked := sim.Calls("wxshop", wxsim.QuotaPath)
	if most := int(time.Since(start)/every) + 2; asked < 1 || asked > most {
		t.Fatalf("quota/get asked %d times in %v by three instances, want 1..%d: one instance per interval", asked, time.Since(start).Round(time.Millisecond), most)
	}
	if n := len(sim.Issues("token:wxshop")); n != 1 {
		t.Fatalf("%d shop tokens issued, want 1: reading the quota must not fetch tokens", n)
	}
}
