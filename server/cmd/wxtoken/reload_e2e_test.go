package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/internal/localserver"
	"github.com/wxtoken/wxtoken/internal/syncbuf"
	"github.com/wxtoken/wxtoken/wxsim"
)

// reloadConfig is the config of the reload test's server: the apps given
// (YAML flow mappings), the clients, and the log level.
func reloadConfig(listen, redisAddr, upstream, level string, clients, apps []string) string {
	return fmt.Sprintf(`listen: %s
cache: redis://%s/0
upstream: {wechat: %s, timeout: 5s}
clients: [%s]
apps:
%s
log: {level: %s}
`, listen, redisAddr, upstream, strings.Join(clients, ", "), "  - "+strings.Join(apps, "\n  - "), level)
}

// TestServeReloadsOnSIGHUP runs `wxtoken serve` as a process and sends it
// SIGHUP: an added app and client key are served, a removed app is gone,
// the log level follows, a request in flight is answered by the server it
// reached, business calls never fail, a bad config is refused with the
// reason logged and the running one kept, and the fleet's token is not
// fetched again.
func TestServeReloadsOnSIGHUP(t *testing.T) {
	redis := localserver.T(t, localserver.Redis)
	sim := wxsim.NewServer()
	t.Cleanup(sim.Close)
	sim.AddApp("wxreloadshop01", "shop-secret")
	sim.AddApp("wxreloadslow01", "slow-secret")
	sim.AddApp("wxreloadnew001", "new-secret")
	// The slow account's token takes 2 s to come, so a request for it is
	// in flight across a reload.
	var slowCalls atomic.Int64
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("appid") == "wxreloadslow01" {
			slowCalls.Add(1)
			time.Sleep(2 * time.Second)
		}
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(upstream.Close)

	addr := strings.TrimPrefix(tenantServerURLs(t)[0], "http://")
	base := "http://" + addr
	path := filepath.Join(t.TempDir(), "wxtoken.yaml")
	write := func(level string, clients, apps []string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(reloadConfig(addr, redis.Addr, upstream.URL, level, clients, apps)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	biz := "{name: biz, key_env: RELOAD_BIZ_KEY}"
	ops := "{name: ops, key_env: RELOAD_OPS_KEY}"
	shop := "{id: shop, appid: wxreloadshop01, secret_env: RELOAD_SHOP_SECRET}"
	slow := "{id: slow, appid: wxreloadslow01, secret_env: RELOAD_SLOW_SECRET}"
	added := "{id: added, appid: wxreloadnew001, secret_env: RELOAD_NEW_SECRET}"
	write("warn", []string{biz}, []string{shop, slow})

	var logs syncbuf.Buffer
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "WXTOKEN_E2E_ARGS=serve --config "+path, "RELOAD_BIZ_KEY=biz-client-key-0001", "RELOAD_OPS_KEY=ops-client-key-0002",
		"RELOAD_SHOP_SECRET=shop-secret", "RELOAD_SLOW_SECRET=slow-secret", "RELOAD_NEW_SECRET=new-secret")
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// exited is closed when the process ended, with its result in exitErr.
	exited := make(chan struct{})
	var exitErr error
	go func() {
		exitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	waitHealthy(t, base)
	status := func(path, key string) int {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := status("/v1/token/shop", "biz-client-key-0001"); code != 200 {
		t.Fatalf("shop before any reload: %d", code)
	}
	hangup := func() {
		t.Helper()
		if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	waitLog := func(what string, n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for strings.Count(logs.String(), what) < n {
			select {
			case <-exited:
				t.Fatalf("the server exited (%v) while the test waited for %q; its log:\n%s", exitErr, what, logs.String())
			case <-time.After(20 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the log within 10 s:\n%s", what, logs.String())
			}
		}
	}

	// Business calls on shop run through every reload below.
	ctx, stopLoad := context.WithCancel(context.Background())
	var calls, failed atomic.Int64
	var load sync.WaitGroup
	for range 4 {
		load.Go(func() {
			for ctx.Err() == nil {
				calls.Add(1)
				if code := status("/v1/token/shop", "biz-client-key-0001"); code != 200 {
					failed.Add(1)
				}
			}
		})
	}

	// A request for the slow account is waiting for upstream when the
	// config changes: added app, added client, log level info.
	slowDone := make(chan int, 1)
	go func() { slowDone <- status("/v1/token/slow", "biz-client-key-0001") }()
	for slowCalls.Load() == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	write("info", []string{biz, ops}, []string{shop, slow, added})
	hangup()
	waitLog("config reloaded", 1)
	if code := <-slowDone; code != 200 {
		t.Errorf("the request in flight across the reload was answered %d, want 200", code)
	}
	if code := status("/v1/token/added", "ops-client-key-0002"); code != 200 {
		t.Errorf("the added app with the added client key: %d, want 200", code)
	}
	if !strings.Contains(logs.String(), `added="[added]"`) && !strings.Contains(logs.String(), "added=[added]") {
		t.Errorf("the reload's log line does not name the added app:\n%s", logs.String())
	}

	// Refused: a broken config (a secret from an unset variable), then a
	// new listen address. The running config stays, the log says why.
	write("info", []string{biz, ops}, []string{shop, slow, added, "{id: broken, appid: wxbroken, secret_env: RELOAD_UNSET}"})
	hangup()
	waitLog("reload refused", 1)
	os.WriteFile(path, []byte(strings.Replace(reloadConfig(addr, redis.Addr, upstream.URL, "info", []string{biz, ops}, []string{shop, slow, added}),
		"listen: "+addr, "listen: 127.0.0.1:1", 1)), 0o600)
	hangup()
	waitLog("reload refused", 2)
	if !strings.Contains(logs.String(), "RELOAD_UNSET") || !strings.Contains(logs.String(), "listen: needs a restart") {
		t.Errorf("the refusals do not say why:\n%s", logs.String())
	}
	if code := status("/v1/token/added", "ops-client-key-0002"); code != 200 {
		t.Errorf("after the refused reloads the added app answers %d, want 200", code)
	}
	stopLoad()
	load.Wait()
	if failed.Load() != 0 || calls.Load() < 10 {
		t.Errorf("%d of %d business calls failed across the reloads", failed.Load(), calls.Load())
	}

	// Removed: the app and the client key.
	write("warn", []string{ops}, []string{slow, added})
	hangup()
	waitLog("config reloaded", 2)
	if code := status("/v1/token/shop", "ops-client-key-0002"); code != 404 {
		t.Errorf("the removed app: %d, want 404", code)
	}
	if code := status("/v1/token/added", "biz-client-key-0001"); code != 401 {
		t.Errorf("the removed client key: %d, want 401", code)
	}
	if n := len(sim.Issues("token:wxreloadshop01")); n != 1 {
		t.Errorf("shop's token was fetched %d times across the reloads, want 1", n)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if exitErr != nil {
			t.Fatalf("after SIGTERM: %v\n%s", exitErr, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the server did not stop within 20 s of SIGTERM")
	}
	// Retiring a generation closes its Manager mid-refresh at times: no
	// upstream failed here, and the log must not say one did.
	if strings.Contains(logs.String(), "upstream fetch failed") {
		t.Errorf("a reload was logged as an upstream failure:\n%s", logs.String())
	}
}
