package server

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wxtoken/wxtoken/internal/localserver"
	"github.com/wxtoken/wxtoken/server/internal/tenantreg"
	"github.com/wxtoken/wxtoken/wxsim"
)

// The tenant farm: a service provider's fleet of `wxtoken serve` instances
// (each a Server with its own Redis client) on one Redis, with N installed
// corps. Its defaults are a small run that CI makes on every change;
// docs/benchmarks.md records the 100,000-tenant runs, made with
//
//	go test ./server -run TestTenantFarm -v -timeout 60m \
//	  -tenant-farm.tenants 100000 -tenant-farm.life 2h -tenant-farm.rest 60s
//	go test ./server -run TestTenantFarm -v -timeout 60m \
//	  -tenant-farm.tenants 100000 -tenant-farm.life 10m -tenant-farm.run 25m
var (
	farmTenants = flag.Int("tenant-farm.tenants", 2000, "corps installed in the suite")
	farmNodes   = flag.Int("tenant-farm.nodes", 8, "server instances")
	farmLife    = flag.Duration("tenant-farm.life", 40*time.Second, "token lifetime upstream grants")
	farmRest    = flag.Duration("tenant-farm.rest", 10*time.Second, "how long store operations are counted with no traffic")
	farmRun     = flag.Duration("tenant-farm.run", 90*time.Second, "how long business traffic runs (0: none)")
	farmRate    = flag.Int("tenant-farm.rate", 400, "business calls a second, over the fleet")
)

const (
	farmSuite  = "wwfarmsuite01"
	farmSecret = "farm-suite-secret"
)

func farmCorp(i int) string { return fmt.Sprintf("wwfarm%07d", i) }

// farmNode is one instance.
type farmNode struct {
	srv  *Server
	app  *app
	http *httptest.Server // node 0 only: the callback URL
	stop context.CancelFunc
	done chan struct{}
}

func TestTenantFarm(t *testing.T) {
	if testing.Short() {
		t.Skip("the tenant farm is skipped in -short mode")
	}
	n, life := *farmTenants, *farmLife
	overlap := min(5*time.Minute, life/8)
	redisSrv := localserver.T(t, localserver.Redis)
	rdb := redis.NewClient(&redis.Options{Addr: redisSrv.Addr})
	defer rdb.Close()
	sim := wxsim.NewServer(wxsim.WithLifetime(life), wxsim.WithOverlap(overlap))
	defer sim.Close()
	sim.AddSuite(farmSuite, farmSecret)
	codes := make([]string, n)
	for i := range n {
		codes[i] = fmt.Sprintf("perm-%d-%x", i, rand.Uint64())
		sim.AddAuthCorp(farmSuite, farmCorp(i), codes[i])
	}
	for k, v := range map[string]string{"FARM_SECRET": farmSecret, "FARM_TENANT_KEY": "ZmFybS10ZW5hbnQta2V5LTMyLWJ5dGVzLWxvbmchISE=",
		"FARM_CB_TOKEN": "farm-callback-token", "FARM_CB_AES": "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"} {
		t.Setenv(k, v)
	}
	cfg := Config{Listen: "127.0.0.1:0", InsecureNoAuth: true, Cache: "redis://" + redisSrv.Addr + "/0", AcceptVolatileState: true,
		TenantKeyEnv: "FARM_TENANT_KEY",
		Apps: []AppConfig{{ID: "suite", Kind: KindSuite, SuiteID: farmSuite, SecretEnv: "FARM_SECRET",
			Callback: &CallbackConfig{TokenEnv: "FARM_CB_TOKEN", AESKeyEnv: "FARM_CB_AES"}}}}
	cfg.Upstream.WeChat, cfg.Upstream.WeCom, cfg.Upstream.Timeout = sim.URL, sim.URL, 5*time.Second
	// Margins scaled to the lifetime, as the defaults are to two hours.
	cfg.RefreshAhead = min(10*time.Minute, life/4)
	cfg.ExpiryMargin = min(time.Minute, life/40)
	cfg.LocalTTL = min(30*time.Second, overlap/4)
	cfg.LockTTL, cfg.LockWait = 10*time.Second, 15*time.Second
	ctx := context.Background()

	// The registry holds every corp before the fleet starts, as after
	// months of installs.
	seed, err := New(cfg, WithLogger(quietLog()))
	if err != nil {
		t.Fatal(err)
	}
	recs := make([]tenantreg.Restored, n)
	for i := range n {
		recs[i] = tenantreg.Restored{ID: farmCorp(i), Record: tenantreg.Record{AddedAt: time.Now().Unix()}, Plain: codes[i]}
	}
	if _, _, err := seed.apps["suite"].tenants.Import(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if _, err := seed.apps["suite"].pushed.Put(ctx, sim.PushSuiteTicket(farmSuite), time.Now()); err != nil {
		t.Fatal(err)
	}
	seed.Close()

	heap0 := heapNow()
	nodes := make([]*farmNode, *farmNodes)
	start := time.Now()
	for i := range nodes {
		srv, err := New(cfg, WithLogger(quietLog()))
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(ctx)
		nd := &farmNode{srv: srv, app: srv.apps["suite"], stop: cancel, done: make(chan struct{})}
		if i == 0 {
			nd.http = httptest.NewServer(srv)
			if err := sim.SetSuiteCallback(farmSuite, wxsim.Callback{URL: nd.http.URL + "/v1/callback/suite",
				Token: "farm-callback-token", EncodingAESKey: "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"}); err != nil {
				t.Fatal(err)
			}
		}
		go func() { defer close(nd.done); srv.Run(rctx) }()
		nodes[i] = nd
	}
	defer func() {
		for _, nd := range nodes {
			if nd != nil {
				nd.close()
			}
		}
	}()
	// Every node serves every tenant, with a token in memory.
	waitFor(t, 30*time.Minute, "every node holding a token for every tenant", func() bool {
		for _, nd := range nodes {
			if nd.held() < n {
				return false
			}
		}
		return true
	})
	warm := time.Since(start)
	t.Logf("fleet of %d nodes, %d tenants: every node holds every tenant's token after %v; get_corp_token calls %d",
		len(nodes), n, warm.Round(time.Millisecond), sim.Stats().Calls["/cgi-bin/service/get_corp_token"])
	heapFleet := heapNow()
	if path := os.Getenv("TENANT_FARM_HEAPPROF"); path != "" {
		if f, err := os.Create(path); err == nil {
			pprof.WriteHeapProfile(f)
			f.Close()
		}
	}

	// At rest: no traffic, no install. Store operations of the fleet,
	// from Redis's own count, per node and second.
	rest := *farmRest
	before := redisCalls(t, rdb)
	callsBefore := sim.Stats().Calls["/cgi-bin/service/get_corp_token"]
	time.Sleep(rest)
	restOps := float64(redisCalls(t, rdb)-before) / rest.Seconds() / float64(len(nodes))
	restRefreshes := sim.Stats().Calls["/cgi-bin/service/get_corp_token"] - callsBefore
	t.Logf("at rest: %.1f store operations a second per node over %v (%d corp token refreshes meanwhile)", restOps, rest, restRefreshes)

	// An install on node 0's callback, served by every node.
	installed := time.Now()
	newCorp := "wwfarmnewcorp01"
	if _, err := sim.InstallCorp(ctx, farmSuite, newCorp); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the new corp served by every node", func() bool {
		for _, nd := range nodes {
			if code, _ := nd.get("/v1/token/suite/tenants/" + newCorp); code != 200 {
				return false
			}
		}
		return true
	})
	propagation := time.Since(installed)
	t.Logf("install to its first token served by every node: %v", propagation.Round(time.Microsecond))

	// Business traffic over random tenants and nodes, through refreshes.
	var calls, failed atomic.Int64
	runFor := *farmRun
	refreshesBefore := sim.Stats().Calls["/cgi-bin/service/get_corp_token"]
	runStart := time.Now()
	if runFor > 0 {
		hc := &http.Client{Timeout: 10 * time.Second}
		var wg sync.WaitGroup
		tick := time.NewTicker(time.Second / time.Duration(max(*farmRate, 1)))
		deadline := time.Now().Add(runFor)
		sem := make(chan struct{}, 32)
		for now := range tick.C {
			if now.After(deadline) {
				break
			}
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				nd := nodes[rand.IntN(len(nodes))]
				path := "/v1/token/suite/tenants/" + farmCorp(rand.IntN(n))
				code, tok := nd.get(path)
				calls.Add(1)
				if code != 200 {
					failed.Add(1)
					t.Logf("GET %s: %d", path, code)
					return
				}
				if errcode, err := wxsim.Check(ctx, hc, sim.URL, tok); err != nil || errcode != 0 {
					// Report it and retry once, as wechat.Transport does.
					nd.invalidate(path, tok)
					if _, tok2 := nd.get(path); tok2 == "" || !sim.Valid(tok2) {
						failed.Add(1)
						t.Logf("GET %s: a token upstream refuses (%d), not repaired by a report", path, errcode)
					}
				}
			})
		}
		tick.Stop()
		wg.Wait()
	}
	ran := time.Since(runStart)
	refreshes := sim.Stats().Calls["/cgi-bin/service/get_corp_token"] - refreshesBefore

	// Memory: what the fleet's heap grew by, warm, per node and tenant
	// (an upper bound: the simulator's tokens and each node's connection
	// pool are in it too).
	perTenant := float64(heapFleet-heap0) / float64(len(nodes)) / float64(n)

	// Refreshes: one call per tenant per cycle at most, spread.
	cycle := life - cfg.RefreshAhead + time.Duration(float64(cfg.RefreshAhead-cfg.ExpiryMargin)*0.4) // the spread's mean point
	ideal := float64(n) * ran.Seconds() / cycle.Seconds()
	perSecond := make([]int, int(ran/time.Second)+1)
	worst := 0 // the most fetches of one tenant within one lifetime, after its first refresh
	// (a cold start refreshes its tokens once early, to spread them: see core's coldStart)
	for i := range n {
		issued := sim.Issues("corp:" + farmCorp(i) + "@suite:" + farmSuite)
		for j, at := range issued {
			if at.After(runStart) && at.Sub(runStart) < ran {
				perSecond[int(at.Sub(runStart)/time.Second)]++
			}
			if j == 0 {
				continue
			}
			k := j
			for k+1 < len(issued) && issued[k+1].Sub(at) < life {
				k++
			}
			worst = max(worst, k-j+1)
		}
	}
	peak := slices.Max(perSecond)
	mean := float64(refreshes) / max(ran.Seconds(), 1)
	// Per ten seconds: a one-second peak on this machine is as often a
	// catch-up after a pause of the process (GC of a 2 GB heap, the two
	// cores busy) as a herd.
	var tens []int
	for i, c := range perSecond {
		if i%10 == 0 {
			tens = append(tens, 0)
		}
		tens[len(tens)-1] += c
	}
	peak10 := slices.Max(append(tens, 0))
	t.Logf("corp token refreshes per ten seconds: %v", tens)
	idealText := fmt.Sprintf("ideal about %.0f", ideal)
	if ran < life {
		idealText = "a run shorter than a lifetime: refreshes come as the first tokens turn stale"
	}
	t.Logf("traffic %v: %d business calls, %d failed; %d corp token refreshes (%s), %.1f a second on average, %d at the busiest second",
		ran.Round(time.Second), calls.Load(), failed.Load(), refreshes, idealText, mean, peak)
	t.Logf("the most upstream fetches of one tenant within one lifetime: %d", worst)
	t.Logf("memory: %.0f bytes of heap per tenant per node (the fleet's heap grew %d MB for %d nodes, the simulator's tokens and connection pools included)",
		perTenant, (heapFleet-heap0)>>20, len(nodes))

	if failed.Load() != 0 {
		t.Errorf("%d business calls failed", failed.Load())
	}
	if runFor > 0 && float64(refreshes) > ideal*1.25+float64(n)/100+5 {
		t.Errorf("%d refreshes in %v for an ideal of %.0f: more than one call per tenant per lifetime", refreshes, ran.Round(time.Second), ideal)
	}
	if worst > 2 {
		t.Errorf("a tenant's token was fetched %d times within one lifetime", worst)
	}
	// The first refreshes after a cold start come within the spread of
	// the refresh-ahead window (80% of it, to the margin): no ten seconds
	// may hold much more than that window's share.
	spreadWindow := time.Duration(float64(cfg.RefreshAhead-cfg.ExpiryMargin) * 0.8)
	if bound := 2*float64(n)*(10*time.Second).Seconds()/spreadWindow.Seconds() + 20; runFor >= 2*life && float64(peak10) > bound {
		t.Errorf("refreshes herd: %d in the busiest ten seconds, more than twice the spread window's share (%.0f)", peak10, bound/2)
	}
	if n >= 20000 && perTenant > 2048 { // below, each node's fixed cost (its connection pool) dominates
		t.Errorf("%.0f bytes of heap per tenant per node, want at most 2 KiB", perTenant)
	}
	if restRefreshes == 0 && restOps > 50 {
		t.Errorf("%.1f store operations a second per node at rest, want at most 50", restOps)
	}
	if propagation > 5*time.Second {
		t.Errorf("an install took %v to be served by every node", propagation)
	}
}

// held counts the tenants this node serves with a token in memory.
func (nd *farmNode) held() int {
	c := 0
	for _, reg := range nd.app.registeredSources() {
		if _, ok := nd.srv.mgr.Cached(reg.key); ok {
			c++
		}
	}
	return c
}

func (nd *farmNode) get(path string) (int, string) {
	rec := httptest.NewRecorder()
	nd.srv.ServeHTTP(rec, httptest.NewRequest("GET", "http://127.0.0.1"+path, nil))
	var tok string
	if rec.Code == 200 {
		tok = tokenField(rec.Body.String())
	}
	return rec.Code, tok
}

func (nd *farmNode) invalidate(path, tok string) {
	rec := httptest.NewRecorder()
	nd.srv.ServeHTTP(rec, httptest.NewRequest("POST", "http://127.0.0.1"+path+"/invalidate", strings.NewReader(`{"access_token":"`+tok+`"}`)))
}

func (nd *farmNode) close() {
	nd.stop()
	<-nd.done
	if nd.http != nil {
		nd.http.Close()
	}
	nd.srv.Close()
}

var tokenRE = regexp.MustCompile(`"access_token":"([^"]+)"`)

func tokenField(body string) string {
	if m := tokenRE.FindStringSubmatch(body); m != nil {
		return m[1]
	}
	return ""
}

var callsRE = regexp.MustCompile(`calls=(\d+)`)

// redisCalls returns how many commands the Redis server has run.
func redisCalls(t *testing.T, rdb *redis.Client) int64 {
	t.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, m := range callsRE.FindAllStringSubmatch(info, -1) {
		v, _ := strconv.ParseInt(m[1], 10, 64)
		total += v
	}
	return total - 1 // this INFO
}

func heapNow() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func quietLog() *slog.Logger {
	if os.Getenv("TENANT_FARM_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
