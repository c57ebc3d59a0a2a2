package farm_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/internal/localserver"
	"github.com/wxtoken/wxtoken/tools/farm"
)

// Short farms, one per fault: 4 nodes x 4 workers through about three and
// a half lifetimes of 2 s. Each must end with zero failed business calls
// and no credential asked more than the ideal plus what the fault must
// cost; the table goes to the test log.
const (
	testLife = 2 * time.Second
	testRun  = 7 * time.Second
)

func quickFarm(t *testing.T, cfg farm.Config) *farm.Report {
	t.Helper()
	rep, _ := quickFarmTimeline(t, cfg)
	return rep
}

// quickFarmTimeline is quickFarm, also returning the run's timeline.
func quickFarmTimeline(t *testing.T, cfg farm.Config) (*farm.Report, *farm.Timeline) {
	t.Helper()
	cfg.Nodes, cfg.Workers = 4, 4
	cfg.Lifetime, cfg.Overlap, cfg.Duration = testLife, testLife/4, testRun
	if cfg.Pace == 0 {
		cfg.Pace = 5 * time.Millisecond
	}
	var log bytes.Buffer
	rep, tl, err := farm.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteTable(&log); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + log.String())
	if !rep.OK() {
		t.Fatalf("rule: zero failed business calls and upstream calls within the allowance; failed %v", rep.Failed)
	}
	var byKind int64
	for k, n := range rep.StoreOpsByKind {
		if k != "lock refused" {
			byKind += n
		}
	}
	if byKind != rep.StoreOps || rep.StoreOpsByKind["lock refused"] > rep.StoreOpsByKind["lock"] {
		t.Fatalf("store operations by kind %v do not add up to %d", rep.StoreOpsByKind, rep.StoreOps)
	}
	if tl == nil || len(tl.Gens) != cfg.Nodes {
		t.Fatal("no timeline")
	}
	if rep.GoroutinesEnd > rep.GoroutinesStart+2 {
		t.Fatalf("goroutines %d at the start, %d at the end: the farm leaks", rep.GoroutinesStart, rep.GoroutinesEnd)
	}
	return rep, tl
}

func TestFarmNoFault(t *testing.T) {
	rep := quickFarm(t, farm.Config{Credentials: []string{farm.KindOfficial, farm.KindWeCom}})
	for _, c := range rep.Credentials {
		if c.Billed() < c.Ideal-1 {
			t.Errorf("%s: %d upstream calls, ideal %d: the farm did not keep the token fresh", c.Identity, c.Billed(), c.Ideal)
		}
	}
}

func TestFarmKillHolder(t *testing.T) {
	rep := quickFarm(t, farm.Config{Faults: []farm.Fault{{Kind: farm.KillHolder, At: testLife}}})
	if len(rep.Killed) != 1 {
		t.Fatalf("killed %v, want one node", rep.Killed)
	}
}

func TestFarmRevoke(t *testing.T) {
	rep := quickFarm(t, farm.Config{Faults: []farm.Fault{{Kind: farm.Revoke, At: testLife * 3 / 2}}})
	if rep.Refused == 0 {
		t.Fatal("no business call saw the revoked token: the fault did nothing")
	}
}

func TestFarmSpurious(t *testing.T) {
	rep := quickFarm(t, farm.Config{Faults: []farm.Fault{{Kind: farm.Spurious, At: testLife / 2, For: testLife * 2, Rate: 0.05}}})
	if rep.SpuriousSent == 0 || rep.Events["spurious"] == 0 {
		t.Fatalf("spurious reports sent %d, seen as spurious %d: the fault did nothing", rep.SpuriousSent, rep.Events["spurious"])
	}
}

func TestFarmUpstreamLatency(t *testing.T) {
	quickFarm(t, farm.Config{Faults: []farm.Fault{{Kind: farm.UpstreamLatency, At: testLife / 2, For: testLife * 2, Latency: 300 * time.Millisecond}}})
}

func TestFarmUpstreamErrors(t *testing.T) {
	rep := quickFarm(t, farm.Config{Faults: []farm.Fault{{Kind: farm.UpstreamErrors, At: testLife, Count: 2}}})
	if c := rep.Credentials[0]; c.Calls <= c.Issued {
		t.Fatalf("calls %d, issued %d: the error burst never reached a node", c.Calls, c.Issued)
	}
}

// TestFarmSkew puts one node's clock a minute fast and another's a minute
// slow, thirty lifetimes either way: shared tokens are judged by the
// store's clock, so neither storms upstream nor serves an expired token.
func TestFarmSkew(t *testing.T) {
	quickFarm(t, farm.Config{Faults: []farm.Fault{
		{Kind: farm.Skew, Node: 1, Skew: time.Minute},
		{Kind: farm.Skew, Node: 2, Skew: -time.Minute},
	}})
}

// TestFarmSmallSkew is the skew a margin absorbs: a tenth of the lifetime,
// below what the store's clock corrects.
func TestFarmSmallSkew(t *testing.T) {
	quickFarm(t, farm.Config{Faults: []farm.Fault{
		{Kind: farm.Skew, Node: 1, Skew: testLife / 10},
		{Kind: farm.Skew, Node: 2, Skew: -testLife / 10},
	}})
}

func TestFarmPauseStore(t *testing.T) {
	srv := localserver.T(t, localserver.Redis)
	rep := quickFarm(t, farm.Config{Cache: "redis://" + srv.Addr + "/0", StoreControl: farm.ProcessControl{Pid: srv.Pid()},
		Faults: []farm.Fault{{Kind: farm.PauseStore, At: testLife, For: testLife / 2}}})
	if rep.Events["cache_error"] == 0 && rep.Events["degraded"] == 0 {
		t.Fatal("no node noticed the paused store: the fault did nothing")
	}
}

// TestFarmPauseHolder freezes the node that sends the first refresh's
// upstream request, right after sending it, for longer than its lease: a
// second node takes the lock and publishes, and the paused one wakes with
// a token upstream already retired, which it must not publish over the
// fleet's.
func TestFarmPauseHolder(t *testing.T) {
	srv := localserver.T(t, localserver.Redis)
	rep := quickFarm(t, farm.Config{Cache: "redis://" + srv.Addr + "/0",
		Faults: []farm.Fault{{Kind: farm.PauseHolder, At: testLife / 2, For: testLife * 3 / 4}}})
	if len(rep.Paused) != 1 {
		t.Fatalf("paused nodes %v, want one: the fault did nothing", rep.Paused)
	}
}

// TestFarmPartition cuts one node off the store (not upstream) for longer
// than a token lifetime. Behind the balancer the farm models, the node
// leaves the rotation once its store stops answering, its callers go to
// the others, and it rejoins when the cut heals; without one, its callers
// stay and it serves them alone.
func TestFarmPartition(t *testing.T) {
	srv := localserver.T(t, localserver.Redis)
	cut := farm.Fault{Kind: farm.Partition, Node: 3, At: testLife * 3 / 4, For: testLife * 5 / 4}
	t.Run("Balanced", func(t *testing.T) {
		rep, tl := quickFarmTimeline(t, farm.Config{Cache: "redis://" + srv.Addr + "/0", Faults: []farm.Fault{cut}})
		if rep.Events["cache_error"] == 0 {
			t.Fatal("no cache error: the cut-off node did not notice")
		}
		if rep.Routed == 0 {
			t.Fatal("no call routed away from the cut-off node")
		}
		var out []farm.Span
		for _, s := range tl.Spans {
			if s.Fault == "out of rotation" {
				out = append(out, s)
			}
		}
		if len(out) != 1 || out[0].Node != 3 {
			t.Fatalf("out-of-rotation spans %+v, want one, of node 3", out)
		}
		if s := out[0]; s.Start < cut.At || s.End > cut.At+cut.For+testLife/2 {
			t.Fatalf("node 3 out of rotation %v..%v, for a cut %v..%v: it left too early or rejoined too late", s.Start, s.End, cut.At, cut.At+cut.For)
		}
	})
	t.Run("NoBalancer", func(t *testing.T) {
		rep := quickFarm(t, farm.Config{Cache: "redis://" + srv.Addr + "/1", NoBalancer: true, Faults: []farm.Fault{cut}})
		if rep.Routed != 0 {
			t.Fatalf("%d calls routed away without a balancer", rep.Routed)
		}
	})
}

// TestFarmRamp starts the nodes one after another over a lifetime: each
// serves nothing before its turn, and the late ones find the token in the
// store.
func TestFarmRamp(t *testing.T) {
	rep, tl := quickFarmTimeline(t, farm.Config{Ramp: testLife})
	if c := rep.Credentials[0]; c.Issued > c.Ideal {
		t.Fatalf("%d tokens for an ideal of %d: late nodes did not adopt the fleet's", c.Issued, c.Ideal)
	}
	for node, row := range tl.Gens {
		first := slices.IndexFunc(row, func(g int64) bool { return g >= 0 })
		start := testLife * time.Duration(node) / time.Duration(len(tl.Gens))
		if first < 0 || time.Duration(first+1)*tl.Step < start {
			t.Errorf("node %d served from column %d (step %v), before its start at %v", node, first, tl.Step, start)
		}
	}
}

func TestParseFault(t *testing.T) {
	good := map[string]farm.Fault{
		"kill-holder 30s":                {Kind: farm.KillHolder, At: 30 * time.Second},
		"pause-store 4s@30s":             {Kind: farm.PauseStore, At: 30 * time.Second, For: 4 * time.Second},
		"skew 3=-60s":                    {Kind: farm.Skew, Node: 3, Skew: -time.Minute},
		"upstream-latency 800ms@20s+10s": {Kind: farm.UpstreamLatency, At: 20 * time.Second, For: 10 * time.Second, Latency: 800 * time.Millisecond},
		"upstream-errors 5@50s":          {Kind: farm.UpstreamErrors, At: 50 * time.Second, Count: 5},
		"revoke 1m":                      {Kind: farm.Revoke, At: time.Minute},
		"spurious 0.01@10s":              {Kind: farm.Spurious, At: 10 * time.Second, Rate: 0.01},
		"pause-holder 8s@20s":            {Kind: farm.PauseHolder, At: 20 * time.Second, For: 8 * time.Second},
		"partition 3=50s@30s":            {Kind: farm.Partition, Node: 3, At: 30 * time.Second, For: 50 * time.Second},
	}
	for in, want := range good {
		kind, spec, _ := strings.Cut(in, " ")
		got, err := farm.ParseFault(farm.FaultKind(kind), spec)
		if err != nil || got != want {
			t.Errorf("ParseFault(%s) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"kill-holder soon", "pause-store 4s", "skew 3", "skew x=1s", "upstream-errors 5@50s+1s",
		"spurious lots@1s", "upstream-latency @1s", "melt 1s", "pause-holder 8s", "partition 50s@30s", "partition 3=50s"} {
		kind, spec, _ := strings.Cut(in, " ")
		if _, err := farm.ParseFault(farm.FaultKind(kind), spec); err == nil || !strings.Contains(err.Error(), "farm:") {
			t.Errorf("ParseFault(%s) = %v, want an error naming the flag", in, err)
		}
	}
}

func TestConfigRefusedNamingTheField(t *testing.T) {
	for _, c := range []struct {
		cfg  farm.Config
		want string
	}{
		{farm.Config{Credentials: []string{"minigame"}}, "credential kind"},
		{farm.Config{Upstream: "http://127.0.0.1:1", Faults: []farm.Fault{{Kind: farm.Revoke, At: time.Second}}}, "built-in simulator"},
		{farm.Config{Faults: []farm.Fault{{Kind: farm.PauseStore, At: time.Second, For: time.Second}}}, "pause"},
		{farm.Config{Faults: []farm.Fault{{Kind: farm.Skew, Node: 99, Skew: time.Second}}}, "no node 99"},
		{farm.Config{Duration: time.Minute, Ramp: 2 * time.Minute}, "ramp"},
		{farm.Config{Duration: time.Second, Faults: []farm.Fault{{Kind: farm.Revoke, At: time.Minute}}}, "outside the run"},
		{farm.Config{Settings: shortLockWait()}, "lock_wait"},
	} {
		_, _, err := farm.Run(context.Background(), c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Run(%+v) = %v, want an error about %q", c.cfg, err, c.want)
		}
	}
}

func shortLockWait() core.Settings {
	s := farm.Scaled(time.Second)
	s.LockWait = s.LockTTL / 2
	return s
}
