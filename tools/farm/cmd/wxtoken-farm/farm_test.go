package main

import (
	"context"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/wxsim"
)

// wxtoken-farm on a store it starts itself, with a fault, writes the
// table, the JSON report and a PNG timeline, and exits 0 when the fleet
// kept its promises.
func TestFarmCommand(t *testing.T) {
	dir := t.TempDir()
	jsonPath, plotPath := filepath.Join(dir, "farm.json"), filepath.Join(dir, "farm.png")
	out, err := run(t, context.Background(), "--start-store", "redis", "--nodes", "3", "--workers", "2",
		"--lifetime", "2s", "--overlap", "500ms", "--duration", "5s", "--quiet",
		"--revoke", "2500ms", "--pause-store", "400ms@1s", "--json", jsonPath, "--plot", plotPath)
	if err != nil {
		t.Fatalf("farm: %v\n%s", err, out)
	}
	for _, want := range []string{"3 nodes x 2 workers", "store     redis://127.0.0.1:", "revoke at 2.5s", "pause-store 400ms at 1s", "verdict", "PASS"} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q:\n%s", want, out)
		}
	}
	var rep struct {
		Nodes         int   `json:"nodes"`
		BusinessCalls int64 `json:"business_calls"`
		FailedTotal   int64 `json:"failed_total"`
		Credentials   []struct {
			Calls int `json:"upstream_calls"`
		} `json:"credentials"`
	}
	b, err := os.ReadFile(jsonPath)
	if err != nil || json.Unmarshal(b, &rep) != nil || rep.Nodes != 3 || rep.BusinessCalls == 0 || len(rep.Credentials) != 1 {
		t.Fatalf("JSON report %s: %v", b, err)
	}
	f, err := os.Open(plotPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if cfg, err := png.DecodeConfig(f); err != nil || cfg.Width < 500 {
		t.Fatalf("plot is not a PNG of a useful size: %+v, %v", cfg, err)
	}
}

func TestFarmCommandRefusesBadFaults(t *testing.T) {
	for _, args := range [][]string{
		{"--kill-holder", "soon"},
		{"--pause-store", "1s@1s"}, // memory:// cannot be paused
		{"--credentials", "official,minigame"},
		{"--start-store", "oracle"},
	} {
		if out, err := run(t, context.Background(), args...); err == nil {
			t.Errorf("%v succeeded:\n%s", args, out)
		}
	}
}

// With an upstream of its own (here `wxtoken sim` in the process), the farm
// asks for the account the flags name, with the secret from the
// environment.
func TestFarmCommandAgainstAnUpstreamOfItsOwn(t *testing.T) {
	sim := wxsim.NewServer(wxsim.WithLifetime(2 * time.Second))
	defer sim.Close()
	sim.AddApp("wxownupstream01", "own-secret")
	t.Setenv("OWN_SECRET", "own-secret")
	out, err := run(t, context.Background(), "--upstream", sim.URL, "--appid", "wxownupstream01",
		"--secret-env", "OWN_SECRET", "--nodes", "2", "--workers", "2", "--lifetime", "2s", "--duration", "3s", "--quiet")
	if err != nil || !strings.Contains(out, "token:wxownupstream01") || sim.Stats().TokenCalls() < 1 {
		t.Fatalf("farm against its own upstream: %v\n%s", err, out)
	}
	if _, err := run(t, context.Background(), "--upstream", sim.URL, "--appid", "wxownupstream01", "--duration", "1s"); err == nil {
		t.Fatal("a farm with an upstream of its own and no secret started")
	}
}

// With --procs every node is a process of its own (here the test binary,
// which TestMain turns into `wxtoken-farm node`), and --kill-holder kills
// the one holding the refresh lock with SIGKILL; the rest of the fleet
// carries on without a failed call.
func TestFarmCommandProcsKillHolder(t *testing.T) {
	t.Setenv("WXTOKEN_FARM_ARGS", "node")
	out, err := run(t, context.Background(), "--procs", "--start-store", "redis", "--nodes", "3", "--workers", "2",
		"--lifetime", "2s", "--overlap", "500ms", "--duration", "6s", "--quiet", "--kill-holder", "2s")
	if err != nil {
		t.Fatalf("farm --procs: %v\n%s", err, out)
	}
	if !strings.Contains(out, "killed nodes") || !strings.Contains(out, "PASS") {
		t.Fatalf("no node was killed, or the fleet failed:\n%s", out)
	}
	if _, err := run(t, context.Background(), "--procs", "--duration", "1s"); err == nil || !strings.Contains(err.Error(), "memory://") {
		t.Fatalf("--procs on memory:// = %v, want a refusal naming memory://", err)
	}
}

// --pause-holder with --procs stops the node process that sent the first
// token request with SIGSTOP, for longer than its lease, and resumes it:
// the fleet serves on without a failed call, and the woken node does not
// publish its stale token over the fleet's.
func TestFarmCommandProcsPauseHolder(t *testing.T) {
	t.Setenv("WXTOKEN_FARM_ARGS", "node")
	out, err := run(t, context.Background(), "--procs", "--start-store", "redis", "--nodes", "3", "--workers", "2",
		"--lifetime", "2s", "--overlap", "500ms", "--duration", "6s", "--quiet", "--pause-holder", "1500ms@1s")
	if err != nil {
		t.Fatalf("farm --procs --pause-holder: %v\n%s", err, out)
	}
	if !strings.Contains(out, "paused nodes") || !strings.Contains(out, "PASS") {
		t.Fatalf("no node was paused, or the fleet failed:\n%s", out)
	}
}

// --partition with --procs cuts one node process off the store: the
// balancer takes it out of rotation (it says so on its output, and the
// report counts its callers' calls as routed away), the fleet serves on
// without a failed call, and the JSON report carries the count.
func TestFarmCommandProcsPartition(t *testing.T) {
	t.Setenv("WXTOKEN_FARM_ARGS", "node")
	js := filepath.Join(t.TempDir(), "farm.json")
	out, err := run(t, context.Background(), "--procs", "--start-store", "redis", "--nodes", "3", "--workers", "2",
		"--lifetime", "2s", "--overlap", "500ms", "--duration", "6s", "--quiet", "--partition", "1=3s@1500ms", "--json", js)
	if err != nil {
		t.Fatalf("farm --procs --partition: %v\n%s", err, out)
	}
	if !strings.Contains(out, "routed away") || !strings.Contains(out, "PASS") {
		t.Fatalf("no call was routed away from the cut-off node, or the fleet failed:\n%s", out)
	}
	b, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Routed int64 `json:"routed_away"`
	}
	if err := json.Unmarshal(b, &rep); err != nil || rep.Routed == 0 {
		t.Fatalf("JSON report: routed_away %d, err %v", rep.Routed, err)
	}
}
