package filebackend_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	filebackend "github.com/wxtoken/wxtoken/backends/file"
	"github.com/wxtoken/wxtoken/conformance"
	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/internal/fleet"
	"github.com/wxtoken/wxtoken/lock"
	"github.com/wxtoken/wxtoken/wxsim"
)

// TestMain doubles as the child process of the multi-process tests: with
// WXTOKEN_FILE_ROLE set it plays that role and exits.
func TestMain(m *testing.M) {
	switch os.Getenv("WXTOKEN_FILE_ROLE") {
	case "node":
		os.Exit(runNode())
	case "holder":
		os.Exit(runHolder())
	}
	os.Exit(m.Run())
}

// Every Backend on the same directory is an independent client: its locks
// are flocks on descriptors of their own.
func TestConformance(t *testing.T) {
	dir := t.TempDir()
	newBackend := func(*testing.T) conformance.Backend { return filebackend.New(dir) }
	conformance.TestBackend(t, newBackend)
}

func TestSweepDropsExpiredFiles(t *testing.T) {
	dir := t.TempDir()
	b := filebackend.New(dir)
	ctx := context.Background()
	_ = b.Set(ctx, "short", "v", 10*time.Millisecond)
	_ = b.Set(ctx, "long", "v", time.Hour)
	time.Sleep(20 * time.Millisecond)
	if err := b.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	files, _ := os.ReadDir(filepath.Join(dir, "values"))
	if len(files) != 1 {
		t.Fatalf("%d value files after a sweep, want 1", len(files))
	}
}

func TestCorruptFileIsAMiss(t *testing.T) {
	dir := t.TempDir()
	b := filebackend.New(dir)
	ctx := context.Background()
	_ = b.Set(ctx, "k", "v", time.Hour)
	files, _ := os.ReadDir(filepath.Join(dir, "values"))
	os.WriteFile(filepath.Join(dir, "values", files[0].Name()), []byte("{garbage"), 0o600)
	if _, err := b.Get(ctx, "k"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("Get of a corrupt file = %v, want ErrNotFound", err)
	}
	if err := b.Set(ctx, "k", "v2", time.Hour); err != nil {
		t.Fatal(err)
	}
	if v, _ := b.Get(ctx, "k"); v != "v2" {
		t.Fatalf("Set did not replace the corrupt file: %q", v)
	}
}

// child starts this test binary in a role.
func child(t *testing.T, role string, env ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{"WXTOKEN_FILE_ROLE=" + role}, env...)...)
	cmd.Stderr = os.Stderr
	return cmd
}

// A lock held by a process that dies is free at once, long before its TTL.
func TestLockReleasedWhenHolderProcessDies(t *testing.T) {
	dir := t.TempDir()
	cmd := child(t, "holder", "WXTOKEN_FILE_DIR="+dir)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := out.Read(buf); err != nil || string(buf[:4]) != "held" {
		t.Fatalf("holder did not take the lock: %q %v", buf, err)
	}
	b := filebackend.New(dir)
	ctx := context.Background()
	if _, err := b.TryLock(ctx, "shared-lock", time.Minute); !errors.Is(err, lock.ErrNotAcquired) {
		t.Fatalf("TryLock while another process holds the lock = %v, want ErrNotAcquired", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	start := time.Now()
	lease, err := b.TryLock(ctx, "shared-lock", time.Minute)
	if err != nil {
		t.Fatalf("TryLock after the holder died = %v; its hour-long lease should have died with it", err)
	}
	lease.Unlock(ctx)
	t.Logf("lock free %v after SIGKILL of its holder (its TTL was an hour)", time.Since(start))
}

func runHolder() int {
	b := filebackend.New(os.Getenv("WXTOKEN_FILE_DIR"))
	if _, err := b.TryLock(context.Background(), "shared-lock", time.Hour); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Print("held")
	time.Sleep(time.Hour)
	return 0
}

// Four OS processes, each a Manager with 16 goroutines, share one
// directory against one wxsim: one upstream call per refresh cycle and no
// refused business call, across processes.
func TestProcessFarm(t *testing.T) {
	const (
		procs    = 4
		lifetime = 4 * time.Second
		run      = 3*lifetime + lifetime/2
	)
	sim := wxsim.NewServer(wxsim.WithLifetime(lifetime), wxsim.WithOverlap(time.Second))
	defer sim.Close()
	sim.AddApp("wxfileprocs", "file-secret")
	dir := t.TempDir()
	var cmds []*exec.Cmd
	var outs []*strings.Builder
	for range procs {
		cmd := child(t, "node", "WXTOKEN_FILE_DIR="+dir, "WXTOKEN_SIM_URL="+sim.URL, "WXTOKEN_RUN="+run.String())
		out := &strings.Builder{}
		cmd.Stdout = out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	var total fleet.NodeReport
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		var r fleet.NodeReport
		if err := json.Unmarshal([]byte(outs[i].String()), &r); err != nil {
			t.Fatalf("node %d printed %q", i, outs[i].String())
		}
		total.Add(r)
	}
	t.Logf("%d processes: %+v", procs, total)
	if total.Checks == 0 || total.Refused != 0 || total.TokenErrors != 0 {
		t.Fatalf("rule: zero refused business calls and no Token error across processes; got %+v", total)
	}
	fleet.CheckRefreshes(t, sim.Issues("token:wxfileprocs"), lifetime, 3, false)
}

func runNode() int {
	run, _ := time.ParseDuration(os.Getenv("WXTOKEN_RUN"))
	f, err := fleet.RunNode(context.Background(), fleet.NodeConfig{
		Backend:    filebackend.New(os.Getenv("WXTOKEN_FILE_DIR")),
		SimURL:     os.Getenv("WXTOKEN_SIM_URL"),
		AppID:      "wxfileprocs",
		Secret:     "file-secret",
		Lifetime:   4 * time.Second,
		Goroutines: 16,
		Duration:   run,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	json.NewEncoder(os.Stdout).Encode(f)
	return 0
}

func BenchmarkFile(b *testing.B) {
	dir := b.TempDir()
	conformance.BenchmarkBackend(b, func(*testing.B) conformance.Backend { return filebackend.New(dir) })
}
