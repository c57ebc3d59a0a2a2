package main

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/internal/localserver"
	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/wxsim"
)

const (
	tenantKeyB64 = "dGVuYW50LWtleS0zMi1ieXRlcy1uZXZlci1zaG93bgo="
	cbTokenE2E   = "e2e-callback-token"
	cbAESKeyE2E  = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
)

// tenantServerURLs picks the three servers' addresses.
func tenantServerURLs(t *testing.T) []string {
	t.Helper()
	var urls []string
	for range 3 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		urls = append(urls, "http://"+ln.Addr().String())
		ln.Close()
	}
	return urls
}

// startTenantServers starts three `wxtoken serve` processes on one Redis,
// at urls, each with a WeCom suite and an Open Platform component whose
// callbacks the simulator pushes to. They start one after the other, each
// listening before the next starts: a server refreshes every token as it
// starts, so the first push the fleet asks for can come before the test's
// first request, and it must find the receiving server (urls[0]) already
// listening. The Open Platform does not push again for a lost push; the
// fleet asks once a minute.
func startTenantServers(t *testing.T, urls []string, redisAddr, simURL string) []*exec.Cmd {
	t.Helper()
	var cmds []*exec.Cmd
	dir := t.TempDir()
	for i, u := range urls {
		addr := strings.TrimPrefix(u, "http://")
		path := filepath.Join(dir, fmt.Sprintf("server%d.yaml", i))
		os.WriteFile(path, []byte(tenantServerConfig(addr, redisAddr, simURL)), 0o600)
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(tenantServerEnv(), "WXTOKEN_E2E_ARGS=serve --config "+path)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { stopServer(cmd) })
		cmds = append(cmds, cmd)
		waitHealthy(t, u)
	}
	return cmds
}

// stopServer ends a server process as an operator does (SIGTERM) and
// waits for it; one already stopped is left alone.
func stopServer(cmd *exec.Cmd) {
	if cmd.ProcessState != nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
}

// tenantServerConfig is the config of one server of the tenant tests: a
// WeCom suite and an Open Platform component with callbacks, on Redis.
func tenantServerConfig(listen, redisAddr, simURL string) string {
	return fmt.Sprintf(`listen: %s
cache: redis://%s/0
accept_volatile_state: true  # the test's Redis runs without persistence
upstream: {wechat: %s, wecom: %s, timeout: 2s}
clients: [{name: biz, key_env: E2E_CLIENT_KEY}]
tenant_key_env: E2E_TENANT_KEY
apps:
  - {id: suite, kind: suite, suite_id: wwsuitee2e01, secret_env: E2E_SECRET,
     callback: {token_env: E2E_CB_TOKEN, aes_key_env: E2E_CB_AES, receivers: [wwprovidere2e]}}
  - {id: platform, kind: component, appid: wxcompe2e0001, secret_env: E2E_SECRET,
     callback: {token_env: E2E_CB_TOKEN, aes_key_env: E2E_CB_AES}}
log: {level: warn}
`, listen, redisAddr, simURL, simURL)
}

// tenantServerEnv is the environment its secrets come from.
func tenantServerEnv() []string {
	return append(os.Environ(), "E2E_CLIENT_KEY="+e2eKey, "E2E_SECRET=e2e-secret",
		"E2E_TENANT_KEY="+tenantKeyB64, "E2E_CB_TOKEN="+cbTokenE2E, "E2E_CB_AES="+cbAESKeyE2E)
}

// waitHealthy waits up to 20 s for the server at u to answer /healthz.
func waitHealthy(t *testing.T, u string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(u + "/healthz")
		if err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server %s did not start: %v", u, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// get asks one server for path and returns the status and the token (or
// ticket).
func get(t *testing.T, base, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+path, nil)
	req.Header.Set("Authorization", "Bearer "+e2eKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		AccessToken string `json:"access_token"`
		Ticket      string `json:"ticket"`
	}
	json.NewDecoder(resp.Body).Decode(&v)
	return resp.StatusCode, v.AccessToken + v.Ticket
}

// tenantTicketsOnEvery checks that every server serves the tenant's
// tickets of kinds (the same one on all, one upstream call per kind for
// the fleet, path the ticket endpoint) and signs a page with each so that
// the signature verifies by the JS-SDK rule, computed here.
func tenantTicketsOnEvery(t *testing.T, sim *wxsim.Server, urls []string, app, tenant string, kinds map[string]string) {
	t.Helper()
	for kind, path := range kinds {
		before := sim.Stats().Calls[path]
		tickets := onEvery(t, urls, "/v1/ticket/"+app+"/tenants/"+tenant+"/"+kind, 200, 5*time.Second)
		if tickets[0] != tickets[1] || tickets[1] != tickets[2] || !sim.Valid(tickets[0]) {
			t.Fatalf("the three servers serve different or invalid %s tickets of %s", kind, tenant)
		}
		if n := sim.Stats().Calls[path] - before; n != 1 {
			t.Fatalf("%s called %d times for three servers' %s tickets of %s, want 1", path, n, kind, tenant)
		}
		const page = "https://m.example.com/order?id=7"
		for _, u := range urls {
			req, _ := http.NewRequest("POST", u+"/v1/jsapi/"+app+"/tenants/"+tenant+"/signature",
				strings.NewReader(`{"url":"`+page+`","ticket":"`+kind+`"}`))
			req.Header.Set("Authorization", "Bearer "+e2eKey)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var sig struct {
				AppID     string `json:"appId"`
				Timestamp int64  `json:"timestamp"`
				NonceStr  string `json:"nonceStr"`
				Signature string `json:"signature"`
			}
			json.NewDecoder(resp.Body).Decode(&sig)
			resp.Body.Close()
			sum := sha1.Sum([]byte(fmt.Sprintf("jsapi_ticket=%s&noncestr=%s&timestamp=%d&url=%s", tickets[0], sig.NonceStr, sig.Timestamp, page)))
			if resp.StatusCode != 200 || sig.AppID != tenant || sig.Signature != hex.EncodeToString(sum[:]) {
				t.Fatalf("%s signature of %s from %s: %d %+v does not verify", kind, tenant, u, resp.StatusCode, sig)
			}
		}
	}
}

// onEvery waits until every server answers path with want, and returns
// the tokens they served.
func onEvery(t *testing.T, urls []string, path string, want int, within time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var toks []string
		ok := true
		for _, u := range urls {
			code, tok := get(t, u, path)
			ok = ok && code == want
			toks = append(toks, tok)
		}
		if ok {
			return toks
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s did not answer %d on every server within %v", path, want, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The third-party flows offline, across three server processes on Redis,
// with no config change and no restart: the simulator pushes encrypted
// tickets and installs to one server's callback URL; every server serves
// the new tenant's token (the same one); an uninstall removes it from
// every server within the registry's sync interval; a later ticket push is
// taken.
func TestThirdPartyTenantsAcrossThreeServers(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	redisSrv := localserver.T(t, localserver.Redis)
	sim := wxsim.NewServer()
	defer sim.Close()
	sim.AddSuite("wwsuitee2e01", "e2e-secret")
	sim.AddComponent("wxcompe2e0001", "e2e-secret")
	// The callback URLs are known before the servers start (their ports
	// are chosen first): the fleet's first refresh may already ask for a
	// push, as a real deployment's would. The component's receiver is the
	// server that starts first (see startTenantServers).
	urls := tenantServerURLs(t)
	for _, err := range []error{
		sim.SetSuiteCallback("wwsuitee2e01", wxsim.Callback{URL: urls[1] + "/v1/callback/suite", Token: cbTokenE2E, EncodingAESKey: cbAESKeyE2E}),
		sim.SetComponentCallback("wxcompe2e0001", wxsim.Callback{URL: urls[0] + "/v1/callback/platform", Token: cbTokenE2E, EncodingAESKey: cbAESKeyE2E}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	startTenantServers(t, urls, redisSrv.Addr, sim.URL)
	store, closer, err := server.OpenCache("redis://" + redisSrv.Addr + "/0")
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	ctx := context.Background()
	sync := server.TenantSyncInterval + 2*time.Second

	t.Run("WeComProvider", func(t *testing.T) {
		if _, err := sim.DeliverSuiteTicket(ctx, "wwsuitee2e01"); err != nil {
			t.Fatal(err)
		}
		if _, err := sim.InstallCorp(ctx, "wwsuitee2e01", "wwtenante2e01"); err != nil {
			t.Fatal(err)
		}
		toks := onEvery(t, urls, "/v1/token/suite/tenants/wwtenante2e01", 200, 5*time.Second)
		if toks[0] != toks[1] || toks[1] != toks[2] || !sim.Valid(toks[0]) {
			t.Fatalf("the three servers serve different or invalid tenant tokens: %.8s %.8s %.8s", toks[0], toks[1], toks[2])
		}
		tenantTicketsOnEvery(t, sim, urls, "suite", "wwtenante2e01",
			map[string]string{"jsapi": "/cgi-bin/get_jsapi_ticket", "agent_config": "/cgi-bin/ticket/get"})
		if err := sim.UninstallCorp(ctx, "wwsuitee2e01", "wwtenante2e01"); err != nil {
			t.Fatal(err)
		}
		onEvery(t, urls, "/v1/token/suite/tenants/wwtenante2e01", 404, sync)
		// Pushes are ordered by their TimeStamp, in whole seconds: a push
		// in the same second as the first is not later. The removal now
		// reaches every server at the registry's write notice, well
		// within that second.
		time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
		ticket, err := sim.DeliverSuiteTicket(ctx, "wwsuitee2e01")
		if err != nil {
			t.Fatalf("a later ticket push: %v", err)
		}
		if v, err := store.Get(ctx, "wxtoken:suite_ticket:wwsuitee2e01"); err != nil || !strings.Contains(v, ticket) {
			t.Fatalf("the later ticket was not stored: %v", err)
		}
	})

	t.Run("OpenPlatform", func(t *testing.T) {
		// No ticket yet: the first request has the fleet ask for a push.
		onEvery(t, urls, "/v1/token/platform", 200, 10*time.Second)
		if n := sim.Stats().Calls["/cgi-bin/component/api_start_push_ticket"]; n != 1 {
			t.Fatalf("api_start_push_ticket called %d times by the fleet, want 1", n)
		}
		if _, err := sim.AuthorizeApp(ctx, "wxcompe2e0001", "wxauthe2e0001"); err != nil {
			t.Fatal(err)
		}
		toks := onEvery(t, urls, "/v1/token/platform/tenants/wxauthe2e0001", 200, 5*time.Second)
		if toks[0] != toks[1] || toks[1] != toks[2] || !sim.Valid(toks[0]) {
			t.Fatalf("the three servers serve different or invalid authorizer tokens")
		}
		tenantTicketsOnEvery(t, sim, urls, "platform", "wxauthe2e0001", map[string]string{"jsapi": "/cgi-bin/ticket/getticket"})
		if err := sim.UnauthorizeApp(ctx, "wxcompe2e0001", "wxauthe2e0001"); err != nil {
			t.Fatal(err)
		}
		onEvery(t, urls, "/v1/token/platform/tenants/wxauthe2e0001", 404, sync)
		if _, err := sim.DeliverComponentTicket(ctx, "wxcompe2e0001"); err != nil {
			t.Fatalf("a later ticket push: %v", err)
		}
	})
}
