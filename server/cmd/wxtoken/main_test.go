package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/wxsim"
)

func run(t *testing.T, ctx context.Context, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := newRoot()
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

func TestTokenAgainstBuiltInSimulator(t *testing.T) {
	for _, kind := range []string{"official", "stable", "wecom"} {
		out, err := run(t, context.Background(), "token", "--sim", "--kind", kind)
		if err != nil {
			t.Fatalf("token --sim --kind %s: %v", kind, err)
		}
		var v struct {
			AccessToken string `json:"access_token"`
			ExpiresIn   int    `json:"expires_in"`
			ExpiresAt   string `json:"expires_at"`
		}
		if err := json.Unmarshal([]byte(out), &v); err != nil || len(v.AccessToken) < 100 || v.ExpiresIn < 7100 {
			t.Fatalf("token --sim --kind %s printed %q (%v)", kind, out, err)
		}
		if _, err := time.Parse(time.RFC3339, v.ExpiresAt); err != nil {
			t.Fatalf("expires_at %q is not RFC 3339", v.ExpiresAt)
		}
	}
}

func TestTokenSecretSources(t *testing.T) {
	ctx := context.Background()
	if _, err := run(t, ctx, "token", "--appid", "wx1"); err == nil || !strings.Contains(err.Error(), "secret") {
		t.Fatalf("token without a secret = %v, want an error asking for one", err)
	}
	if _, err := run(t, ctx, "token", "--appid", "wx1", "--secret-env", "WXTOKEN_TEST_UNSET_VAR"); err == nil || !strings.Contains(err.Error(), "WXTOKEN_TEST_UNSET_VAR") {
		t.Fatalf("token with an unset env var = %v, want an error naming it", err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	if _, err := run(t, ctx, "token", "--appid", "wx1", "--secret-file", empty); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("token with an empty secret file = %v", err)
	}
	if _, err := run(t, ctx, "token", "--sim", "--kind", "nope"); err == nil {
		t.Fatal("an unknown kind was accepted")
	}
}

// token against a `wxtoken sim` started by the same binary, with the secret
// from a file, as a person would check a setup.
func TestSimCommandServesTokenCommand(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := run(t, ctx, "sim", "--addr", "127.0.0.1:18981", "--app", "wxcli:cli-secret")
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get("http://127.0.0.1:18981" + wxsim.BusinessPath)
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("wxtoken sim did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("cli-secret\n"), 0o600)
	out, err := run(t, context.Background(), "token", "--appid", "wxcli", "--secret-file", secret, "--base-url", "http://127.0.0.1:18981")
	if err != nil || !strings.Contains(out, "access_token") {
		t.Fatalf("token against wxtoken sim: %q, %v", out, err)
	}
	_, err = run(t, context.Background(), "token", "--appid", "wxcli", "--secret-env", "PATH", "--base-url", "http://127.0.0.1:18981")
	if err == nil || !strings.Contains(err.Error(), "40125") || strings.Contains(err.Error(), os.Getenv("PATH")) {
		t.Fatalf("a wrong secret = %v, want errcode 40125 without the secret", err)
	}
	// The calls, counted by the simulator's admin route, for a fleet's test.
	resp, err := http.Get("http://127.0.0.1:18981" + wxsim.AdminStatsPath)
	if err != nil {
		t.Fatal(err)
	}
	var stats struct {
		TokenCalls int `json:"token_calls"`
	}
	json.NewDecoder(resp.Body).Decode(&stats)
	resp.Body.Close()
	if stats.TokenCalls != 2 {
		t.Errorf("%s says %d token calls, want 2", wxsim.AdminStatsPath, stats.TokenCalls)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("wxtoken sim did not shut down cleanly: %v", err)
	}
}

// The README's main job: `wxtoken serve` on its embedded default serves
// tokens from the built-in simulator with no WeChat account, and stops
// cleanly when its context ends.
func TestServeEmbeddedDefault(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := run(t, ctx, "serve", "--listen", "127.0.0.1:18982", "--log-level", "warn")
		done <- err
	}()
	var body []byte
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://127.0.0.1:18982/v1/token/demo")
		if err == nil {
			body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("GET /v1/token/demo = %d %s", resp.StatusCode, body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("wxtoken serve did not start: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var v struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &v); err != nil || len(v.AccessToken) < 100 || v.ExpiresIn < 7000 {
		t.Fatalf("token from the embedded demo: %s", body)
	}
	resp, err := http.Get("http://127.0.0.1:18982/v1/ticket/demo-wecom/agent_config")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("WeCom agent ticket from the demo: %v %v", resp, err)
	}
	resp.Body.Close()
	// A web page rebound by DNS to 127.0.0.1 still names its own host: the
	// demo, which has no client keys, does not answer it.
	req, _ := http.NewRequest("GET", "http://127.0.0.1:18982/v1/token/demo", nil)
	req.Host = "rebound.attacker.example"
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusMisdirectedRequest {
		t.Fatalf("a request for another host to the loopback demo: %v %v, want 421", resp, err)
	} else {
		resp.Body.Close()
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve did not stop cleanly: %v", err)
	}
}

func TestServeRefusesNoAuthOffLoopback(t *testing.T) {
	_, err := run(t, context.Background(), "serve", "--listen", "0.0.0.0:18983")
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("serve without keys on 0.0.0.0 = %v, want a refusal naming loopback", err)
	}
	t.Setenv("WXTOKEN_CACHE", "nosuch://x")
	if _, err := run(t, context.Background(), "serve"); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Fatalf("WXTOKEN_CACHE did not override the config: %v", err)
	}
	cfg := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(cfg, []byte("listen: 127.0.0.1:0\nclients: []\napps: []\nlisen: typo\n"), 0o600)
	if _, err := run(t, context.Background(), "serve", "--config", cfg); err == nil || !strings.Contains(err.Error(), "lisen") {
		t.Fatalf("a config with a misspelt field = %v, want an error naming it", err)
	}
}

func TestVersion(t *testing.T) {
	out, err := run(t, context.Background(), "version")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"wxtoken ", "go       go1.", "revision "} {
		if !strings.Contains(out, want) {
			t.Errorf("version output lacks %q:\n%s", want, out)
		}
	}
}

func TestVersionSaysHowToRecordTheRevision(t *testing.T) {
	var with, without bytes.Buffer
	printVersion(&with, server.BuildInfo{Version: "v1.2.3", Revision: "4438e4bdf9086fd5aab8a14146fee37c8fb83d0e", Time: "2026-12-03T09:29:09Z", GoVersion: "go1.26.8"})
	printVersion(&without, server.BuildInfo{Version: "(devel)", GoVersion: "go1.26.8"})
	if !strings.Contains(with.String(), "revision 4438e4bdf9086fd5aab8a14146fee37c8fb83d0e\ntime     2026-12-03T09:29:09Z\nmodified false") {
		t.Errorf("with a revision:\n%s", with.String())
	}
	if !strings.Contains(without.String(), "-buildvcs=true") {
		t.Errorf("without a revision it does not say how to record one:\n%s", without.String())
	}
}

func TestInstanceNameFromTheEnvironment(t *testing.T) {
	t.Setenv("WXTOKEN_INSTANCE", "pod-7")
	cfg, err := loadServeConfig(serveFlags{})
	if err != nil || cfg.Instance != "pod-7" {
		t.Fatalf("WXTOKEN_INSTANCE: instance %q, %v; want pod-7", cfg.Instance, err)
	}
}
