package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/internal/syncbuf"
	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wxsim"
)

const (
	shopSecret   = "shop-s3cret-never-shown"
	stableSecret = "stable-s3cret-never-shown"
	corpSecret   = "corp-s3cret-never-shown"
	billingKey   = "billing-k3y-never-shown"
	reportsKey   = "reports-k3y-never-shown"
	tenantKey    = "dGVuYW50LWtleS0zMi1ieXRlcy1uZXZlci1zaG93bgo=" // 32 bytes
	cbToken      = "callback-t0ken-never-shown"
	cbAESKey     = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
)

// env is a running server over a wxsim, with everything it logged.
type env struct {
	t    *testing.T
	sim  *wxsim.Server
	srv  *server.Server
	http *httptest.Server
	logs *syncbuf.Buffer
	// bodies collects every response body, to check none holds a secret.
	bodies *syncbuf.Buffer
}

func baseConfig(t *testing.T, sim *wxsim.Server) server.Config {
	t.Setenv("SHOP_SECRET", shopSecret)
	t.Setenv("STABLE_SECRET", stableSecret)
	t.Setenv("BILLING_KEY", billingKey)
	t.Setenv("BAD_SECRET", "bad-secret-value")
	t.Setenv("TENANT_KEY", tenantKey)
	t.Setenv("CB_TOKEN", cbToken)
	t.Setenv("CB_AES", cbAESKey)
	corpFile := filepath.Join(t.TempDir(), "corp")
	os.WriteFile(corpFile, []byte(corpSecret+"\n"), 0o600)
	reportsFile := filepath.Join(t.TempDir(), "reports")
	os.WriteFile(reportsFile, []byte(reportsKey+"\n"), 0o600)
	var cfg server.Config
	cfg.Listen = "127.0.0.1:0"
	cfg.AcceptVolatileState = true // memory:// unless a test says otherwise
	cfg.Upstream.WeChat, cfg.Upstream.WeCom = sim.URL, sim.URL
	cfg.Clients = []server.ClientConfig{{Name: "billing", KeyEnv: "BILLING_KEY"}, {Name: "reports", KeyFile: reportsFile}}
	cfg.Apps = []server.AppConfig{
		{ID: "shop", Kind: "official", AppID: "wxshop", SecretEnv: "SHOP_SECRET"},
		{ID: "stable", Kind: "stable", AppID: "wxstable", SecretEnv: "STABLE_SECRET"},
		{ID: "corp", Kind: "wecom", CorpID: "wwcorp", AgentID: "1000002", SecretFile: corpFile},
		{ID: "restricted", Kind: "official", AppID: "wxrestricted", SecretEnv: "SHOP_SECRET", Clients: []string{"reports"}},
		{ID: "bad", Kind: "official", AppID: "wxbad", SecretEnv: "BAD_SECRET"},
	}
	return cfg
}

func newEnv(t *testing.T, mutate ...func(*server.Config)) *env {
	t.Helper()
	sim := wxsim.NewServer()
	t.Cleanup(sim.Close)
	sim.AddApp("wxshop", shopSecret)
	sim.AddApp("wxstable", stableSecret)
	sim.AddApp("wxrestricted", shopSecret)
	sim.AddApp("wxbad", "the-right-one")
	sim.AddWeComApp("wwcorp", "1000002", corpSecret)
	cfg := baseConfig(t, sim)
	for _, f := range mutate {
		f(&cfg)
	}
	e := &env{t: t, sim: sim, logs: &syncbuf.Buffer{}, bodies: &syncbuf.Buffer{}}
	logger := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := server.New(cfg, server.WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	e.http = httptest.NewServer(srv)
	t.Cleanup(func() {
		e.http.Close()
		srv.Close()
		for _, secret := range []string{shopSecret, stableSecret, corpSecret, billingKey, reportsKey, "bad-secret-value", tenantKey, cbToken, cbAESKey} {
			if strings.Contains(e.logs.String(), secret) {
				t.Errorf("a secret or client key appears in the log: %q", secret)
			}
			if strings.Contains(e.bodies.String(), secret) {
				t.Errorf("a secret or client key appears in a response: %q", secret)
			}
		}
	})
	return e
}

// do sends a request with the client key given ("" for none) and returns
// the status and the body.
func (e *env) do(method, path, key string, body io.Reader) (int, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.http.URL+path, body)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	e.bodies.Write(b)
	return resp.StatusCode, b
}

type tokenJSON struct {
	AccessToken string `json:"access_token"`
	Ticket      string `json:"ticket"`
	ExpiresIn   int    `json:"expires_in"`
	ExpiresAt   string `json:"expires_at"`
	Errcode     int    `json:"errcode"`
	Errmsg      string `json:"errmsg"`
}

func decode(t *testing.T, b []byte) tokenJSON {
	t.Helper()
	var v tokenJSON
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %s", b)
	}
	return v
}

func TestToken(t *testing.T) {
	e := newEnv(t)
	for _, app := range []string{"shop", "stable", "corp"} {
		code, body := e.do("GET", "/v1/token/"+app, billingKey, nil)
		v := decode(t, body)
		if code != 200 || !e.sim.Valid(v.AccessToken) || v.ExpiresIn < 7100 || v.ExpiresIn > 7200 {
			t.Fatalf("GET /v1/token/%s = %d %s", app, code, body)
		}
		if at, err := time.Parse(time.RFC3339, v.ExpiresAt); err != nil || time.Until(at) < 7000*time.Second {
			t.Fatalf("expires_at %q", v.ExpiresAt)
		}
	}
}

func TestAuth(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequest("GET", e.http.URL+"/v1/token/shop", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("no key: %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	for name, key := range map[string]string{"wrong key": "nope", "another client's key with a suffix": reportsKey + "x", "prefix of a key": billingKey[:5]} {
		if code, body := e.do("GET", "/v1/token/shop", key, nil); code != 401 || decode(t, body).Errcode != server.CodeUnauthorized {
			t.Errorf("%s: %d %s, want 401", name, code, body)
		}
	}
	if code, body := e.do("GET", "/v1/token/restricted", billingKey, nil); code != 403 || decode(t, body).Errcode != server.CodeForbidden {
		t.Fatalf("a client not allowed for the app: %d %s, want 403", code, body)
	}
	if code, _ := e.do("GET", "/v1/token/restricted", reportsKey, nil); code != 200 {
		t.Fatalf("the allowed client: %d, want 200", code)
	}
	if code, _ := e.do("GET", "/healthz", "", nil); code != 200 {
		t.Fatal("/healthz needs no key")
	}
	if code, _ := e.do("GET", "/readyz", "", nil); code != 200 && code != 503 {
		t.Fatalf("/readyz needs no key: %d", code)
	}
	if code, _ := e.do("GET", "/metrics", "", nil); code != 401 {
		t.Fatalf("/metrics without a key: %d, want 401 (default)", code)
	}
	if code, _ := e.do("GET", "/", "", nil); code != 401 {
		t.Fatalf("the status page without a key: %d, want 401 (default)", code)
	}
	if code, body := e.do("GET", "/v1/openapi.json", "", nil); code != 200 || !json.Valid(body) {
		t.Fatalf("/v1/openapi.json needs no key and is JSON: %d", code)
	}
}

// Every request log line names the client, and a refused key or a failed
// request is a warning (one per 10 s, so a client retrying a wrong key, or
// every client during an upstream outage, cannot flood the log), never
// showing the key.
func TestRequestLogNamesTheClientAndWarnsOfRefusals(t *testing.T) {
	e := newEnv(t)
	if code, _ := e.do("GET", "/v1/token/shop", billingKey, nil); code != 200 {
		t.Fatalf("token: %d", code)
	}
	for range 5 {
		e.do("GET", "/v1/token/shop", "wrong-key-123", nil)
	}
	for range 20 { // upstream refuses the app's secret: 502 each time
		e.do("GET", "/v1/token/bad", billingKey, nil)
	}
	var served, refusedWarn, refusedDebug, failedWarn, failedDebug int
	for _, line := range strings.Split(strings.TrimSpace(e.logs.String()), "\n") {
		var rec struct {
			Level, Msg, Client string
			Status             int
		}
		if json.Unmarshal([]byte(line), &rec) != nil || rec.Msg != "request" {
			continue
		}
		switch {
		case rec.Status == 200 && rec.Client == "billing":
			served++
		case rec.Status == 401 && rec.Level == "WARN":
			refusedWarn++
		case rec.Status == 401:
			refusedDebug++
		case rec.Status >= 500 && rec.Level == "WARN":
			failedWarn++
		case rec.Status >= 500:
			failedDebug++
		}
	}
	if failedWarn != 1 || failedDebug != 19 {
		t.Errorf("rule: failed requests are warned of, at most one per 10 s (an outage answers every request 5xx); %d warnings and %d debug lines for 20, want 1 and 19", failedWarn, failedDebug)
	}
	if served != 1 {
		t.Errorf("rule: a request's log line names its client; %d lines with client billing, want 1", served)
	}
	if refusedWarn != 1 || refusedDebug != 4 {
		t.Errorf("rule: refused keys are warned of, at most one per 10 s; %d warnings and %d debug lines for 5 refusals, want 1 and 4", refusedWarn, refusedDebug)
	}
	if strings.Contains(e.logs.String(), "wrong-key-123") {
		t.Error("a refused key appears in the log")
	}
}

func TestAuthOptionalForMetricsAndStatus(t *testing.T) {
	no := false
	e := newEnv(t, func(c *server.Config) { c.Auth.Metrics, c.Auth.Status = &no, &no })
	if code, _ := e.do("GET", "/metrics", "", nil); code != 200 {
		t.Fatalf("/metrics with auth.metrics false: %d", code)
	}
	if code, _ := e.do("GET", "/", "", nil); code != 200 {
		t.Fatalf("status page with auth.status false: %d", code)
	}
}

func TestUnknownAppAndRoute(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"/v1/token/nope", "/v1/ticket/nope/jsapi", "/v1/ticket/shop/agent_config", "/v1/nothing"} {
		if code, body := e.do("GET", p, billingKey, nil); code != 404 || decode(t, body).Errcode != server.CodeUnknownApp {
			t.Errorf("GET %s = %d %s, want 404", p, code, body)
		}
	}
	if code, body := e.do("POST", "/v1/token/shop", billingKey, nil); code != 405 || decode(t, body).Errcode != server.CodeMethod {
		t.Errorf("POST on a GET route = %d %s, want 405 with errcode 40500 (the status x 100)", code, body)
	}
}

func TestInvalidateIsCompareAndRefresh(t *testing.T) {
	e := newEnv(t)
	_, body := e.do("GET", "/v1/token/shop", billingKey, nil)
	bad := decode(t, body).AccessToken
	// A report of a token upstream accepts keeps it and costs no fetch.
	code, b := e.do("POST", "/v1/token/shop/invalidate", billingKey, strings.NewReader(`{"access_token":"`+bad+`"}`))
	if code != 200 || decode(t, b).AccessToken != bad || len(e.sim.Issues("token:wxshop")) != 1 {
		t.Fatalf("a spurious report: %d %s, %d upstream calls", code, b, len(e.sim.Issues("token:wxshop")))
	}
	time.Sleep(core.DefaultSettings().VerifyInterval + 100*time.Millisecond) // past the confirmation's window
	e.sim.Revoke(bad)
	var wg sync.WaitGroup
	got := make([]string, 16)
	for i := range got {
		wg.Go(func() {
			code, b := e.do("POST", "/v1/token/shop/invalidate", billingKey, strings.NewReader(`{"access_token":"`+bad+`"}`))
			if code == 200 {
				got[i] = decode(t, b).AccessToken
			}
		})
	}
	wg.Wait()
	for _, v := range got {
		if v == "" || v == bad || v != got[0] {
			t.Fatalf("16 clients invalidating one token got %v", got)
		}
	}
	if n := len(e.sim.Issues("token:wxshop")); n != 2 {
		t.Fatalf("16 reports of one rejected token cost %d upstream calls in all, want 2 (first fetch + one refresh)", n)
	}
	// A stale report costs nothing.
	code, b = e.do("POST", "/v1/token/shop/invalidate", billingKey, strings.NewReader(`{"access_token":"`+bad+`"}`))
	if code != 200 || decode(t, b).AccessToken != got[0] || len(e.sim.Issues("token:wxshop")) != 2 {
		t.Fatal("reporting an already replaced token changed the token")
	}
}

func TestMalformedRequests(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name, path, body string
		status, code     int
	}{
		{"bad JSON", "/v1/token/shop/invalidate", `{"access_token":`, 400, server.CodeMalformed},
		{"not an object", "/v1/token/shop/invalidate", `"x"`, 400, server.CodeMalformed},
		{"empty token", "/v1/token/shop/invalidate", `{"access_token":""}`, 400, server.CodeMalformed},
		{"unknown field", "/v1/token/shop/invalidate", `{"token":"x"}`, 400, server.CodeMalformed},
		{"1 MiB body", "/v1/token/shop/invalidate", `{"access_token":"` + strings.Repeat("x", 1<<20) + `"}`, 413, server.CodeTooLarge},
		{"signature without url", "/v1/jsapi/shop/signature", `{}`, 400, server.CodeMalformed},
		{"signature 1 MiB", "/v1/jsapi/shop/signature", `{"url":"` + strings.Repeat("x", 1<<20) + `"}`, 413, server.CodeTooLarge},
	}
	for _, c := range cases {
		code, body := e.do("POST", c.path, billingKey, strings.NewReader(c.body))
		if code != c.status || decode(t, body).Errcode != c.code {
			t.Errorf("%s: %d %.200s, want %d errcode %d", c.name, code, body, c.status, c.code)
		}
	}
	if n := e.sim.Stats().TokenCalls(); n != 0 {
		t.Fatalf("malformed requests caused %d upstream calls", n)
	}
}

func TestUpstreamRefusalIs502WithItsErrcode(t *testing.T) {
	e := newEnv(t)
	code, body := e.do("GET", "/v1/token/bad", billingKey, nil)
	v := decode(t, body)
	if code != 502 || v.Errcode != 40125 || !strings.Contains(v.Errmsg, "invalid appsecret") {
		t.Fatalf("wrong secret upstream: %d %s, want 502 with errcode 40125", code, body)
	}
	// errmsg is upstream's message, once, not the Go error chain.
	if strings.Contains(v.Errmsg, "wechat:") || strings.Count(v.Errmsg, "40125") > 0 {
		t.Fatalf("errmsg %q carries the Go error chain; want upstream's message alone", v.Errmsg)
	}
}

// closedServerURL is the address of a server that no longer listens: a
// connection to it is refused at once.
func closedServerURL() string {
	dead := httptest.NewServer(nil)
	defer dead.Close()
	return dead.URL
}

func TestNoUsableTokenIs503(t *testing.T) {
	deadURL := closedServerURL()
	// A caller waits out an upstream outage for up to lock_wait, then gets
	// 503 (short settings keep the test fast).
	e := newEnv(t, func(c *server.Config) {
		c.Upstream.WeChat, c.Upstream.Timeout = deadURL, time.Second
		c.LockTTL, c.LockWait = time.Second, 2*time.Second
	})
	start := time.Now()
	code, body := e.do("GET", "/v1/token/shop", billingKey, nil)
	if code != 503 || decode(t, body).Errcode != server.CodeUnavailable {
		t.Fatalf("upstream unreachable: %d %s, want 503", code, body)
	}
	if d := time.Since(start); d < 2*time.Second || d > 10*time.Second {
		t.Fatalf("503 after %v, want after about lock_wait (2s)", d)
	}
}

// A request never waits past request_timeout: with upstream down and a
// lock wait longer than it, the client gets a 503 in JSON when the
// request's time is up, not a connection the server's WriteTimeout cut.
func TestRequestTimeoutAnswers503(t *testing.T) {
	deadURL := closedServerURL()
	e := newEnv(t, func(c *server.Config) {
		c.Upstream.WeChat, c.Upstream.Timeout = deadURL, time.Second
		c.LockTTL, c.LockWait = 5*time.Second, 20*time.Second
		c.RequestTimeout = time.Second
	})
	start := time.Now()
	code, body := e.do("GET", "/v1/token/shop", billingKey, nil)
	if code != 503 || decode(t, body).Errcode != server.CodeUnavailable || !strings.Contains(string(body), "request_timeout") {
		t.Fatalf("a token upstream cannot give: %d %s, want 503 naming request_timeout", code, body)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Fatalf("503 after %v, want after about request_timeout (1s)", d)
	}
}

func TestTicketsAndSignature(t *testing.T) {
	e := newEnv(t)
	code, body := e.do("GET", "/v1/ticket/shop/jsapi", billingKey, nil)
	ticket := decode(t, body).Ticket
	if code != 200 || ticket == "" || ticket != e.sim.Current("jsapi@token:wxshop") {
		t.Fatalf("jsapi ticket: %d %s", code, body)
	}
	code, body = e.do("GET", "/v1/ticket/corp/agent_config", billingKey, nil)
	if code != 200 || decode(t, body).Ticket != e.sim.Current("wecom_agent@wecom:wwcorp:1000002") {
		t.Fatalf("agent_config ticket: %d %s", code, body)
	}
	code, body = e.do("POST", "/v1/jsapi/shop/signature", billingKey, strings.NewReader(`{"url":"https://shop.example.com/pay?id=1#top"}`))
	var sig struct {
		AppID     string `json:"appId"`
		Timestamp int64  `json:"timestamp"`
		NonceStr  string `json:"nonceStr"`
		Signature string `json:"signature"`
	}
	json.Unmarshal(body, &sig)
	want := wechat.JSSDKSignature(ticket, sig.NonceStr, sig.Timestamp, "https://shop.example.com/pay?id=1")
	if code != 200 || sig.AppID != "wxshop" || sig.NonceStr == "" || sig.Signature != want {
		t.Fatalf("signature: %d %s; want signature %s", code, body, want)
	}
	code, body = e.do("POST", "/v1/jsapi/corp/signature", billingKey, strings.NewReader(`{"url":"https://x.example.com/","ticket":"agent_config"}`))
	if code != 200 || !strings.Contains(string(body), `"agentId":"1000002"`) || !strings.Contains(string(body), `"appId":"wwcorp"`) {
		t.Fatalf("WeCom agentConfig signature: %d %s", code, body)
	}
}

// One app's wrong secret must not take the instance out of service: a
// readiness probe answers for the process and the cache, the healthy app
// serves, and the broken one shows in GET /v1/status and in the metrics.
// The probe needs no key, so it carries no error text.
func TestReadiness(t *testing.T) {
	e := newEnv(t) // "bad" has a wrong secret; the others are right
	if code, _ := e.do("GET", "/v1/token/shop", billingKey, nil); code != 200 {
		t.Fatalf("the healthy app: %d", code)
	}
	if code, _ := e.do("GET", "/v1/token/bad", billingKey, nil); code != 502 {
		t.Fatalf("the app with a wrong secret: %d, want 502", code)
	}
	code, body := e.do("GET", "/readyz", "", nil)
	if code != 200 || strings.Contains(string(body), "40125") || strings.Contains(string(body), "appsecret") {
		t.Fatalf("/readyz with one app failing: %d %s; want 200 and no error text", code, body)
	}
	code, body = e.do("GET", "/v1/status", billingKey, nil)
	var st struct {
		Cache string
		Apps  map[string]struct {
			Healthy bool
			State   string
		}
	}
	if err := json.Unmarshal(body, &st); code != 200 || err != nil {
		t.Fatalf("/v1/status: %d %s", code, body)
	}
	if !st.Apps["shop"].Healthy || st.Apps["bad"].Healthy || !strings.Contains(st.Apps["bad"].State, "40125") || st.Cache != "ok" {
		t.Fatalf("/v1/status = %s; want shop healthy, bad failing with its errcode, cache ok", body)
	}
	if _, seen := st.Apps["restricted"]; seen {
		t.Fatal("/v1/status shows billing an app it may not use")
	}
	if code, _ := e.do("GET", "/v1/status", "", nil); code != 401 {
		t.Fatalf("/v1/status without a key: %d, want 401", code)
	}
	_, metrics := e.do("GET", "/metrics", billingKey, nil)
	for _, want := range []string{`wxtoken_app_healthy{app="bad"} 0`, `wxtoken_app_healthy{app="shop"} 1`, `wxtoken_token_expiry_timestamp_seconds{app="shop"}`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	dead := newEnv(t, func(c *server.Config) { c.Cache = "redis://127.0.0.1:1/0?dial_timeout=200ms" })
	code, body = dead.do("GET", "/readyz", "", nil)
	if code != 503 || strings.Contains(string(body), "127.0.0.1") {
		t.Fatalf("/readyz with the cache down: %d %s; want 503 without the cache's address", code, body)
	}
}

func TestMetricsAndStatusPage(t *testing.T) {
	e := newEnv(t)
	e.do("GET", "/v1/token/shop", billingKey, nil)
	e.do("GET", "/v1/token/bad", billingKey, nil)
	e.do("GET", "/v1/ticket/shop/jsapi", billingKey, nil)
	code, body := e.do("GET", "/metrics", billingKey, nil)
	for _, want := range []string{
		`wxtoken_tokens_served_total{app="shop",credential="access_token"} 1`,
		`wxtoken_upstream_fetches_total{app="shop",credential="access_token",errcode="0"} 1`,
		`wxtoken_upstream_fetches_total{app="bad",credential="access_token",errcode="40125"} 1`,
		`wxtoken_refresh_duration_seconds_count{app="shop",credential="access_token"} 1`,
		`wxtoken_http_requests_total{code="200",handler="/v1/token/{app}",method="get"} 1`,
		`wxtoken_http_requests_total{code="502",handler="/v1/token/{app}",method="get"} 1`,
		`wxtoken_http_request_duration_seconds_count{handler="/v1/token/{app}",method="get"} 2`,
		// Counters an alert watches exist at zero before their first event.
		`wxtoken_events_total{app="stable",event="spurious"} 0`,
	} {
		if code != 200 || !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	tok, _ := e.srv.Manager().Cached("shop")
	code, body = e.do("GET", "/", billingKey, nil)
	page := string(body)
	for _, app := range []string{"shop", "stable", "corp", "bad"} {
		if !strings.Contains(page, "<code>"+app+"</code>") {
			t.Errorf("status page lacks app %s", app)
		}
	}
	// Like GET /v1/status: only the apps the client may use.
	if strings.Contains(page, "<code>restricted</code>") {
		t.Error("rule: the status page shows only what the client may see; billing saw app restricted (reports only)")
	}
	if code, body := e.do("GET", "/", reportsKey, nil); code != 200 || !strings.Contains(string(body), "<code>restricted</code>") {
		t.Errorf("the status page for the client allowed app restricted: %d, lacks it", code)
	}
	if code != 200 || strings.Contains(page, tok.Value) || !strings.Contains(page, tok.Value[:6]+"…") {
		t.Fatalf("status page: %d; it must show the token masked, never whole", code)
	}
	if !strings.Contains(page, "40125") || !strings.Contains(page, "1 / 2000") {
		t.Fatal("status page lacks the last error or the calls against the daily limit")
	}
	if !strings.Contains(page, "jsapi: 1h59m") && !strings.Contains(page, "jsapi: 2h0m0s left") {
		t.Error("status page lacks the jsapi ticket's time left")
	}
	if host, _ := os.Hostname(); !strings.Contains(page, "instance <code>"+host+"</code>") || !strings.Contains(page, "Beijing day") {
		t.Fatal("status page lacks the instance name or the Beijing day")
	}
}

// Two servers on one store: the second shows the calls the first made,
// since the daily quota is the fleet's.
func TestStatusPageCountsTheFleetsCalls(t *testing.T) {
	cache := "file://" + t.TempDir()
	a := newEnv(t, func(c *server.Config) { c.Cache = cache })
	b := newEnv(t, func(c *server.Config) { c.Cache, c.Upstream.WeChat = cache, a.sim.URL; c.Instance = "node-b" })
	if code, _ := a.do("GET", "/v1/token/shop", billingKey, nil); code != 200 {
		t.Fatal("the first server got no token")
	}
	_, body := b.do("GET", "/", billingKey, nil)
	page := string(body)
	i := strings.Index(page, "<code>shop</code>")
	if i < 0 || !strings.Contains(page[i:], "1 / 2000") || !strings.Contains(page, "instance <code>node-b</code>") {
		t.Fatalf("the second server's status page does not count the first's call:\n%s", page)
	}
}

func TestConfigRefusals(t *testing.T) {
	sim := wxsim.NewServer()
	defer sim.Close()
	cases := map[string]func(*server.Config){
		"no clients":                  func(c *server.Config) { c.Clients = nil },
		"no auth off loopback":        func(c *server.Config) { c.InsecureNoAuth = true; c.Listen = "0.0.0.0:8080" },
		"secret env unset":            func(c *server.Config) { c.Apps[0].SecretEnv = "WXTOKEN_TEST_UNSET" },
		"inline-less app":             func(c *server.Config) { c.Apps[0].SecretEnv = "" },
		"unknown kind":                func(c *server.Config) { c.Apps[0].Kind = "alipay" },
		"duplicate app":               func(c *server.Config) { c.Apps[1].ID = "shop" },
		"unknown client in app":       func(c *server.Config) { c.Apps[0].Clients = []string{"ghost"} },
		"bad cache scheme":            func(c *server.Config) { c.Cache = "mongodb://x" },
		"client key file missing":     func(c *server.Config) { c.Clients[1].KeyFile = "/nonexistent/key" },
		"wecom without agent":         func(c *server.Config) { c.Apps[2].AgentID = "" },
		"password not in cache error": func(c *server.Config) { c.Cache = "mongodb://user:hunter2@x" },
		"refresh_ahead below margin":  func(c *server.Config) { c.RefreshAhead = 30 * time.Second },
		"negative duration":           func(c *server.Config) { c.LockWait = -time.Second },
		"lock_ttl below upstream":     func(c *server.Config) { c.LockTTL = 2 * time.Second },
		"lock_wait below lock_ttl":    func(c *server.Config) { c.LockTTL, c.LockWait = time.Minute, 30*time.Second },
		"tls cert without key":        func(c *server.Config) { c.TLS.Cert = "/etc/wxtoken/tls.crt" },
		"tls key without cert":        func(c *server.Config) { c.TLS.Key = "/etc/wxtoken/tls.key" },
		"no apps":                     func(c *server.Config) { c.Apps = nil },
		"one appid under two ids": func(c *server.Config) {
			c.Apps = append(c.Apps, server.AppConfig{ID: "shop2", AppID: c.Apps[0].AppID, SecretEnv: c.Apps[0].SecretEnv})
		},
		"one wecom agent under two ids": func(c *server.Config) {
			dup := c.Apps[2]
			dup.ID = "corp2"
			c.Apps = append(c.Apps, dup)
		},
		"file cache with a host":   func(c *server.Config) { c.Cache = "file://var/lib/wxtoken" },
		"redis unknown option":     func(c *server.Config) { c.Cache = "redis://127.0.0.1:6379/0?bogus=1" },
		"cluster unknown option":   func(c *server.Config) { c.Cache = "redis+cluster://h1:1,h2:2?bogus=1" },
		"sentinel unknown option":  func(c *server.Config) { c.Cache = "redis+sentinel://:hunter2@h1:1,h2:2/mymaster?db=3&bogus=1" },
		"sentinel without master":  func(c *server.Config) { c.Cache = "redis+sentinel://h1:1,h2:2" },
		"negative request_timeout": func(c *server.Config) { c.RequestTimeout = -time.Second },
		"client without a name":    func(c *server.Config) { c.Clients[0].Name = "" },
		"client name twice":        func(c *server.Config) { c.Clients[1].Name = c.Clients[0].Name },
		"app id not URL-safe":      func(c *server.Config) { c.Apps[0].ID = "shop/1" },
		"corp before its suite": func(c *server.Config) {
			c.Apps = append(c.Apps, server.AppConfig{ID: "t", Kind: "corp", CorpID: "ww", Suite: "nosuite", SecretEnv: "X"})
		},
		"component without a callback": func(c *server.Config) {
			c.TenantKeyEnv = "TENANT_KEY"
			c.Apps = append(c.Apps, server.AppConfig{ID: "op", Kind: "component", AppID: "wxcomp", SecretEnv: "SHOP_SECRET"})
		},
		"callback without a tenant key": func(c *server.Config) {
			c.Apps = append(c.Apps, server.AppConfig{ID: "op", Kind: "component", AppID: "wxcomp", SecretEnv: "SHOP_SECRET",
				Callback: &server.CallbackConfig{TokenEnv: "CB_TOKEN", AESKeyEnv: "CB_AES"}})
		},
		"callback without an aes key": func(c *server.Config) {
			c.TenantKeyEnv = "TENANT_KEY"
			c.Apps = append(c.Apps, server.AppConfig{ID: "op", Kind: "component", AppID: "wxcomp", SecretEnv: "SHOP_SECRET",
				Callback: &server.CallbackConfig{TokenEnv: "CB_TOKEN"}})
		},
		"callback on an official account": func(c *server.Config) {
			c.TenantKeyEnv = "TENANT_KEY"
			c.Apps[0].Callback = &server.CallbackConfig{TokenEnv: "CB_TOKEN", AESKeyEnv: "CB_AES"}
		},
		"aes key of the wrong length": func(c *server.Config) {
			t.Setenv("CB_AES_SHORT", "tooshort")
			c.TenantKeyEnv = "TENANT_KEY"
			c.Apps = append(c.Apps, server.AppConfig{ID: "op", Kind: "component", AppID: "wxcomp", SecretEnv: "SHOP_SECRET",
				Callback: &server.CallbackConfig{TokenEnv: "CB_TOKEN", AESKeyEnv: "CB_AES_SHORT"}})
		},
		"tenant key not 32 bytes": func(c *server.Config) {
			t.Setenv("TENANT_KEY_SHORT", "c2hvcnQ=")
			c.TenantKeyEnv = "TENANT_KEY_SHORT"
			c.Apps = append(c.Apps, server.AppConfig{ID: "op", Kind: "component", AppID: "wxcomp", SecretEnv: "SHOP_SECRET",
				Callback: &server.CallbackConfig{TokenEnv: "CB_TOKEN", AESKeyEnv: "CB_AES"}})
		},
		"tenant key ring, one bad": func(c *server.Config) {
			t.Setenv("TENANT_KEY_RING", os.Getenv("TENANT_KEY")+", c2hvcnQ=")
			c.TenantKeyEnv = "TENANT_KEY_RING"
			c.Apps = append(c.Apps, server.AppConfig{ID: "op", Kind: "component", AppID: "wxcomp", SecretEnv: "SHOP_SECRET",
				Callback: &server.CallbackConfig{TokenEnv: "CB_TOKEN", AESKeyEnv: "CB_AES"}})
		},
		"memcached as the state store": func(c *server.Config) {
			c.Cache = "memcache://127.0.0.1:1"
			c.Apps = append(c.Apps, server.AppConfig{ID: "isv", Kind: "suite", SuiteID: "wwsuite", SecretEnv: "SHOP_SECRET"})
		},
		"memcached named as state": func(c *server.Config) {
			c.State = "memcache://127.0.0.1:1"
			c.Apps = append(c.Apps, server.AppConfig{ID: "isv", Kind: "suite", SuiteID: "wwsuite", SecretEnv: "SHOP_SECRET"})
		},
		"memory state not accepted": func(c *server.Config) {
			c.AcceptVolatileState = false
			c.Apps = append(c.Apps, server.AppConfig{ID: "isv", Kind: "suite", SuiteID: "wwsuite", SecretEnv: "SHOP_SECRET"})
		},
		"tenant key ring, a repeat": func(c *server.Config) {
			t.Setenv("TENANT_KEY_TWICE", os.Getenv("TENANT_KEY")+"\n"+os.Getenv("TENANT_KEY"))
			c.TenantKeyEnv = "TENANT_KEY_TWICE"
			c.Apps = append(c.Apps, server.AppConfig{ID: "op", Kind: "component", AppID: "wxcomp", SecretEnv: "SHOP_SECRET",
				Callback: &server.CallbackConfig{TokenEnv: "CB_TOKEN", AESKeyEnv: "CB_AES"}})
		},
		"weak client key": func(c *server.Config) {
			t.Setenv("WEAK_KEY", "letmein")
			c.Clients[0].KeyEnv = "WEAK_KEY"
		},
		"repetitive client key": func(c *server.Config) {
			t.Setenv("WEAK_KEY", "abababababababababababab")
			c.Clients[0].KeyEnv = "WEAK_KEY"
		},
		"two clients, one key": func(c *server.Config) { c.Clients[1] = server.ClientConfig{Name: "reports", KeyEnv: "BILLING_KEY"} },
		"ticket_clients without a callback": func(c *server.Config) {
			c.Apps = append(c.Apps, server.AppConfig{ID: "isv", Kind: "suite", SuiteID: "wwsuite", SecretEnv: "SHOP_SECRET", TicketClients: []string{"billing"}})
		},
		"ticket_clients naming no client": func(c *server.Config) {
			c.TenantKeyEnv = "TENANT_KEY"
			c.Apps = append(c.Apps, server.AppConfig{ID: "isv", Kind: "suite", SuiteID: "wwsuite", SecretEnv: "SHOP_SECRET",
				Callback: &server.CallbackConfig{TokenEnv: "CB_TOKEN", AESKeyEnv: "CB_AES"}, TicketClients: []string{"nobody"}})
		},
	}
	wants := map[string]string{
		"weak client key":                   "client billing key: too short or repetitive",
		"repetitive client key":             "client billing key: too short or repetitive",
		"two clients, one key":              "clients billing and reports have the same key",
		"ticket_clients without a callback": "(isv): ticket_clients is for a suite with a callback",
		"ticket_clients naming no client":   `(isv): ticket_clients: unknown client "nobody"`,
		"refresh_ahead below margin":        "refresh_ahead (30s) must be greater than expiry_margin (1m0s)",
		"negative duration":                 "lock_wait is -1s: it must not be negative",
		"lock_ttl below upstream":           "lock_ttl (2s) must be at least upstream.timeout (10s)",
		"lock_wait below lock_ttl":          "lock_wait (30s) must be greater than lock_ttl (1m0s)",
		"tls cert without key":              "tls: give both cert and key",
		"tls key without cert":              "tls: give both cert and key",
		"no apps":                           "apps: none configured",
		"one appid under two ids":           `apps[5] (shop2): the same official account as app "shop"`,
		"one wecom agent under two ids":     `(corp2): the same wecom account as app`,
		"file cache with a host":            "write file:///var/lib/wxtoken",
		"redis unknown option":              "bogus",
		"cluster unknown option":            "bogus",
		"sentinel unknown option":           "bogus",
		"sentinel without master":           "name the master",
		"negative request_timeout":          "request_timeout is -1s",
		"client without a name":             "clients[0]: no name",
		"client name twice":                 "used twice",
		"app id not URL-safe":               "id must be set and URL-safe",
		"corp before its suite":             `suite "nosuite" is not a suite app listed before it`,
		"component without a callback":      "apps[5] (op): callback is required",
		"callback without a tenant key":     "set tenant_key_env or tenant_key_file",
		"callback without an aes key":       "callback: give aes_key_env or aes_key_file",
		"callback on an official account":   "callback is for suite and component apps only",
		"aes key of the wrong length":       "app op callback: callback: bad EncodingAESKey: 8 characters, want 43",
		"tenant key not 32 bytes":           "tenant key 1 of 1: want 32 bytes in base64",
		"tenant key ring, one bad":          "tenant key 2 of 2: want 32 bytes in base64",
		"tenant key ring, a repeat":         "tenant key: wechat: secret box key 2 is a repeat",
		"memcached as the state store":      "cache (also the state store: set state: to keep tenants elsewhere): memcached cannot be the state store",
		"memcached named as state":          "state: memcached cannot be the state store",
		"memory state not accepted":         "memory:// loses every tenant's permanent code",
	}
	if len(cases) < 25 {
		t.Fatalf("%d broken configs; the table keeps at least 25", len(cases))
	}
	for name, mutate := range cases {
		cfg := baseConfig(t, sim)
		mutate(&cfg)
		_, err := server.New(cfg, server.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
		if err == nil {
			t.Errorf("%s: New succeeded", name)
			continue
		}
		if want := wants[name]; want != "" && !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %q does not name the field and rule %q", name, err, want)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error shows the cache password: %v", name, err)
		}
	}
	cfg := baseConfig(t, sim)
	cfg.Clients, cfg.InsecureNoAuth, cfg.Apps = nil, true, cfg.Apps[:3]
	srv, err := server.New(cfg, server.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatalf("no auth on loopback: %v", err)
	}
	srv.Close()
	if _, err := server.ParseConfig(strings.NewReader("listen: x\nlisen: y\n")); err == nil {
		t.Fatal("a misspelt config field was accepted")
	}
	if _, err := server.ParseConfig(strings.NewReader("refresh_ahead: 600\n")); err == nil || !strings.Contains(err.Error(), "10m") {
		t.Fatalf("a duration without a unit: %v; want an error saying how to write it", err)
	}
}

func TestGracefulClose(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.srv.Run(ctx) }()
	e.do("GET", "/v1/token/shop", billingKey, nil)
	cancel()
	if err := <-done; err == nil {
		t.Fatal("Run returned nil after its context ended")
	}
}

// newBenchEnv serves the standard config for a benchmark, with the shop
// token already fetched.
func newBenchEnv(b *testing.B) *httptest.Server {
	sim := wxsim.NewServer()
	b.Cleanup(sim.Close)
	sim.AddApp("wxshop", shopSecret)
	for k, v := range map[string]string{"SHOP_SECRET": shopSecret, "STABLE_SECRET": stableSecret, "BILLING_KEY": billingKey, "BAD_SECRET": "x"} {
		b.Setenv(k, v)
	}
	reports := filepath.Join(b.TempDir(), "reports")
	os.WriteFile(reports, []byte(reportsKey), 0o600)
	var cfg server.Config
	cfg.Upstream.WeChat = sim.URL
	cfg.Clients = []server.ClientConfig{{Name: "billing", KeyEnv: "BILLING_KEY"}, {Name: "reports", KeyFile: reports}}
	cfg.Apps = []server.AppConfig{{ID: "shop", AppID: "wxshop", SecretEnv: "SHOP_SECRET"}}
	srv, err := server.New(cfg, server.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	b.Cleanup(func() { hs.Close(); srv.Close() })
	if _, err := srv.Manager().Token(context.Background(), "shop"); err != nil {
		b.Fatal(err)
	}
	return hs
}

// A WeCom service provider: its provider token, a suite token that waits
// for the suite_ticket WeCom pushes (taken in through the server, newest
// push wins), and an authorized corp's token through the suite.
func TestServiceProviderKinds(t *testing.T) {
	e := newEnv(t, func(c *server.Config) {
		t.Setenv("PROV_SECRET", "prov-secret")
		t.Setenv("SUITE_SECRET", "suite-secret")
		t.Setenv("PERM_CODE", "perm-code")
		c.Apps = append(c.Apps,
			server.AppConfig{ID: "prov", Kind: "provider", CorpID: "wwprov", SecretEnv: "PROV_SECRET"},
			server.AppConfig{ID: "suite", Kind: "suite", SuiteID: "suite1", SecretEnv: "SUITE_SECRET"},
			server.AppConfig{ID: "tenant", Kind: "corp", Suite: "suite", CorpID: "wwtenant", SecretEnv: "PERM_CODE"},
		)
	})
	e.sim.AddProvider("wwprov", "prov-secret")
	e.sim.AddSuite("suite1", "suite-secret")
	e.sim.AddAuthCorp("suite1", "wwtenant", "perm-code")
	code, body := e.do("GET", "/v1/token/prov", billingKey, nil)
	if code != 200 || !e.sim.Valid(decode(t, body).AccessToken) {
		t.Fatalf("provider token: %d %s", code, body)
	}
	code, body = e.do("GET", "/v1/token/suite", billingKey, nil)
	if code != 503 || !strings.Contains(string(body), "suite_ticket") {
		t.Fatalf("suite token before any push: %d %s, want 503 saying no suite_ticket", code, body)
	}
	now := time.Now().Unix()
	ticket := e.sim.PushSuiteTicket("suite1")
	code, body = e.do("POST", "/v1/suite_ticket/suite", billingKey, strings.NewReader(fmt.Sprintf(`{"suite_ticket":%q,"timestamp":%d}`, ticket, now)))
	if code != 200 || !strings.Contains(string(body), `"stored":true`) {
		t.Fatalf("suite_ticket intake: %d %s", code, body)
	}
	code, body = e.do("POST", "/v1/suite_ticket/suite", billingKey, strings.NewReader(fmt.Sprintf(`{"suite_ticket":"older","timestamp":%d}`, now-300)))
	if code != 200 || !strings.Contains(string(body), `"stored":false`) {
		t.Fatalf("an older push: %d %s, want stored false", code, body)
	}
	if code, body := e.do("POST", "/v1/suite_ticket/shop", billingKey, strings.NewReader(`{"suite_ticket":"x","timestamp":1}`)); code != 404 {
		t.Fatalf("suite_ticket for a non-suite app: %d %s", code, body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, body = e.do("GET", "/v1/token/suite", billingKey, nil)
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("suite token after the push: %d %s", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	code, body = e.do("GET", "/v1/token/tenant", billingKey, nil)
	if v := decode(t, body).AccessToken; code != 200 || v != e.sim.Current("corp:wwtenant@suite:suite1") {
		t.Fatalf("authorized corp token: %d %s", code, body)
	}
}
