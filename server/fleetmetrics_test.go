package server_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/wxtoken/wxtoken/server"
)

// The metrics an operator alerts on: the fleet's calls today from the
// store (an instance that fetched nothing reports them too), the daily
// limit, the renew time of tokens upstream renews only near their end,
// requests per configured client, and what the binary was built from.
func TestFleetMetrics(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	os.MkdirAll(dir, 0o700)
	onFile := func(c *server.Config) { c.Cache = "file://" + dir }
	a := newEnv(t, onFile)
	for _, app := range []string{"shop", "corp"} {
		if code, body := a.do("GET", "/v1/token/"+app, billingKey, nil); code != 200 {
			t.Fatalf("%s: %d %s", app, code, body)
		}
	}
	b := newEnv(t, onFile, func(c *server.Config) { c.Upstream.WeChat, c.Upstream.WeCom = a.sim.URL, a.sim.URL })
	b.do("GET", "/v1/token/shop", reportsKey, nil)
	b.do("GET", "/v1/token/shop", "not-a-key", nil)
	_, raw := b.do("GET", "/metrics", billingKey, nil)
	metrics := string(raw)
	for _, want := range []string{
		`wxtoken_upstream_calls_today{app="shop",credential="access_token"} 1`,
		`wxtoken_upstream_calls_today{app="shop",credential="jsapi"} 0`,
		`wxtoken_upstream_daily_limit{app="shop"} 2000`,
		`wxtoken_client_requests_total{client="reports",code="200"} 1`,
		`wxtoken_client_requests_total{client="none",code="401"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("the second instance's metrics lack %s", want)
		}
	}
	if strings.Contains(metrics, "not-a-key") {
		t.Error("a refused key appears in the metrics")
	}
	if !regexp.MustCompile(`wxtoken_build_info\{goversion="go1\.[^"]+",revision="[^"]*",version="[^"]+"\} 1`).MatchString(metrics) {
		t.Error("no wxtoken_build_info with goversion, revision and version")
	}
	_, raw = a.do("GET", "/metrics", billingKey, nil)
	if !regexp.MustCompile(`wxtoken_token_renew_timestamp_seconds\{app="corp"\} \d`).Match(raw) {
		t.Error("no renew timestamp for the WeCom token")
	}
	if strings.Contains(string(raw), `wxtoken_token_renew_timestamp_seconds{app="shop"}`) {
		t.Error("a renew timestamp for an official token, which upstream replaces at any time")
	}
}
