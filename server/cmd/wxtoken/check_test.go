package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/wxsim"
)

func writeCheckConfig(t *testing.T, simURL, cache string) string {
	t.Helper()
	cfg := fmt.Sprintf(`listen: 127.0.0.1:0
cache: %s
upstream: {wechat: %s, wecom: %s}
clients:
  - {name: billing, key_env: CHECK_CLIENT_KEY}
apps:
  - {id: good, kind: official, appid: wxgood, secret_env: CHECK_GOOD_SECRET}
  - {id: bad, kind: official, appid: wxbad, secret_env: CHECK_BAD_SECRET}
`, cache, simURL, simURL)
	path := filepath.Join(t.TempDir(), "wxtoken.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// `wxtoken check` names what is wrong before a server goes live: a
// missing secret, an unreachable cache, and (with --upstream) an app
// whose secret upstream refuses. Secrets appear nowhere in its output.
func TestCheckCommand(t *testing.T) {
	sim := wxsim.NewServer()
	defer sim.Close()
	sim.AddApp("wxgood", "good-secret")
	sim.AddApp("wxbad", "the-right-one")
	t.Setenv("CHECK_CLIENT_KEY", "check-client-key")
	t.Setenv("CHECK_GOOD_SECRET", "good-secret")
	t.Setenv("CHECK_BAD_SECRET", "a-wrong-secret")
	ctx := context.Background()
	path := writeCheckConfig(t, sim.URL, "memory://")

	out, err := run(t, ctx, "check", "--config", path)
	if err != nil || !strings.Contains(out, "cache") || sim.Stats().TokenCalls() != 0 {
		t.Fatalf("check without --upstream: %v\n%s\n(upstream calls %d, want 0)", err, out, sim.Stats().TokenCalls())
	}
	out, err = run(t, ctx, "check", "--config", path, "--upstream")
	if !errors.Is(err, errCheckFailed) || !strings.Contains(out, "app good") || !strings.Contains(out, "40125") {
		t.Fatalf("check --upstream with one wrong secret: %v\n%s", err, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "app good") && !strings.Contains(line, "ok:") {
			t.Errorf("the good app is not ok: %q", line)
		}
	}
	if strings.Contains(out, "good-secret") || strings.Contains(out, "a-wrong-secret") {
		t.Fatal("a secret appears in check's output")
	}

	t.Setenv("CHECK_GOOD_SECRET", "")
	if _, err := run(t, ctx, "check", "--config", path); err == nil || !strings.Contains(err.Error(), "CHECK_GOOD_SECRET") {
		t.Fatalf("a missing secret: %v; want an error naming its variable", err)
	}
	t.Setenv("CHECK_GOOD_SECRET", "good-secret")
	dead := writeCheckConfig(t, sim.URL, "redis://127.0.0.1:1/0?dial_timeout=200ms")
	if out, err := run(t, ctx, "check", "--config", dead); !errors.Is(err, errCheckFailed) || !strings.Contains(out, "FAILED") {
		t.Fatalf("an unreachable cache: %v\n%s", err, out)
	}
}

// `wxtoken check --upstream` on a live fleet takes the fleet's token from
// the shared store and asks upstream nothing: before, it fetched a token
// of its own on an empty in-memory cache, which retired the one every
// instance was serving (on an upstream with no overlap: at once).
func TestCheckUpstreamKeepsTheFleetsToken(t *testing.T) {
	sim := wxsim.NewServer(wxsim.WithOverlap(0)) // a replaced token dies at once
	defer sim.Close()
	sim.AddApp("wxgood", "good-secret")
	sim.AddApp("wxbad", "the-right-one")
	t.Setenv("CHECK_CLIENT_KEY", "check-client-key")
	t.Setenv("CHECK_GOOD_SECRET", "good-secret")
	t.Setenv("CHECK_BAD_SECRET", "the-right-one")
	ctx := context.Background()
	path := writeCheckConfig(t, sim.URL, "file://"+t.TempDir())
	cfg, err := server.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	fleet, err := server.New(cfg, server.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer fleet.Close()
	live, err := fleet.Manager().Token(ctx, "good")
	if err != nil {
		t.Fatal(err)
	}
	before := sim.Stats().TokenCalls()
	out, err := run(t, ctx, "check", "--config", path, "--upstream")
	if err != nil {
		t.Fatalf("check --upstream: %v\n%s", err, out)
	}
	if !sim.Valid(live.Value) {
		t.Fatalf("rule: check --upstream never retires the fleet's token; it is dead after the check:\n%s", out)
	}
	if !strings.Contains(out, "from the shared store") {
		t.Errorf("the check does not say the token was the fleet's:\n%s", out)
	}
	// good's token came from the store; bad had none there and was
	// fetched under the fleet lock: one call.
	if n := sim.Stats().TokenCalls() - before; n != 1 {
		t.Errorf("upstream calls during the check: %d, want 1 (bad only)\n%s", n, out)
	}
}
