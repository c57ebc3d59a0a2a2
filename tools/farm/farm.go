package farm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/server"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wxsim"
)

// run is one farm run in progress.
type run struct {
	cfg         Config
	start       time.Time
	sim         *wxsim.Server // nil with an upstream of the caller's
	upstreamURL string
	creds       []credential
	nodes       []*node
	upstream    *upstreamMeter
	upstreamRT  *http.Transport // the nodes' connections to upstream
	ops         *storeOps
	timeline    *timeline
	business    *http.Client
	events      [core.EventBudget + 1]atomic.Int64
	lockWaitMax atomic.Int64
	calls       atomic.Int64 // business calls completed
	failures    atomic.Int64
	spurious    atomic.Uint64                   // math.Float64bits of the active rate
	fleet       func() (epoch int64, busy bool) // credential calls so far, and whether one is in flight
	procs       []*proc
	onHold      func(holding bool) // a node process tells the farm about its lease
	inRotation  func() int         // the fleet's nodes in the balancer's rotation
	onRotation  func(in bool)      // a node process tells the farm it left or rejoined the rotation

	pauseArmed atomic.Pointer[Fault] // a PauseHolder fault waiting for the next credential call

	killMu      sync.Mutex // guards killed, killMidCall and paused
	killed      []int
	killMidCall int
	paused      []int
}

// Run runs the farm described by cfg and returns its report and timeline.
// It returns early, with what it measured, when ctx ends.
func Run(ctx context.Context, cfg Config) (*Report, *Timeline, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, nil, err
	}
	r := newRun(cfg)
	defer r.closeIdle()
	if r.upstreamURL == "" {
		r.sim = wxsim.NewServer(wxsim.WithLifetime(cfg.Lifetime), wxsim.WithOverlap(cfg.Overlap))
		defer r.sim.Close()
		r.upstreamURL = r.sim.URL
	}
	r.creds = r.credentials()
	heap0, gor0 := heapAndGoroutines()
	r.begin(time.Now())
	var (
		p   *partial
		err error
	)
	if cfg.Procs {
		p, err = r.runProcs(ctx)
	} else {
		p, err = r.runLocal(ctx, 0, cfg.Nodes)
	}
	if err != nil {
		return nil, nil, err
	}
	r.closeIdle()
	heap1, gor1 := heapAndGoroutines()
	rep := r.report(p)
	rep.HeapStart, rep.HeapEnd, rep.GoroutinesStart, rep.GoroutinesEnd = heap0, heap1, gor0, gor1
	tl := r.timeline.export(p, r.upstream.callEvents(), cfg.Nodes)
	return rep, &tl, ctx.Err()
}

// businessTimeout bounds a business call: 5 s, and longer than any pause
// of a node, whose calls in flight are answered while it is frozen and
// read when it wakes (its own clock must not fail them: the farm measures
// the tokens, not the caller's timer).
func businessTimeout(faults []Fault) time.Duration {
	d := 5 * time.Second
	for _, f := range faults {
		if f.Kind == PauseHolder {
			d = max(d, f.For+5*time.Second)
		}
	}
	return d
}

func newRun(cfg Config) *run {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	r := &run{cfg: cfg, upstream: newUpstreamMeter(), upstreamURL: strings.TrimRight(cfg.Upstream, "/"),
		upstreamRT: http.DefaultTransport.(*http.Transport).Clone(),
		business: &http.Client{Timeout: businessTimeout(cfg.Faults),
			Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Nodes * cfg.Workers}}}
	r.fleet = func() (int64, bool) { return r.upstream.epoch.Load(), r.upstream.inflight.Load() > 0 }
	r.inRotation = r.inRotationHere
	return r
}

// begin starts the run's clock: store operations and the timeline count
// from start.
func (r *run) begin(start time.Time) {
	r.start = start
	r.ops = newStoreOps(start, r.cfg.Duration)
	r.timeline = newTimeline(start, r.cfg.Duration, r.cfg.TimelineStep, r.cfg.Nodes)
}

func (r *run) closeIdle() {
	r.business.CloseIdleConnections()
	r.upstreamRT.CloseIdleConnections()
}

// runLocal runs count nodes, numbered from first, in this process, with
// the fault schedule, until the run's end or ctx's, and returns what they
// measured.
func (r *run) runLocal(ctx context.Context, first, count int) (*partial, error) {
	stores, closeStores, err := r.openStores(count)
	if err != nil {
		return nil, err
	}
	defer closeStores()
	for i := range count {
		n, err := r.newNode(first+i, stores[i])
		if err != nil {
			r.closeNodes()
			return nil, err
		}
		r.nodes = append(r.nodes, n)
	}
	tctx, cancel := context.WithDeadline(ctx, r.start.Add(r.cfg.Duration))
	defer cancel()
	var wg sync.WaitGroup
	stats := make([][]workerStats, count)
	for i, n := range r.nodes {
		nctx, ncancel := context.WithCancel(tctx)
		context.AfterFunc(n.killed, ncancel) // a killed node stops working
		defer ncancel()
		stats[i] = make([]workerStats, r.cfg.Workers)
		wg.Go(func() {
			if !sleepUntil(nctx, r.start.Add(r.cfg.startOffset(n.id))) {
				return
			}
			var nw sync.WaitGroup
			nw.Go(func() { _ = n.m.Run(nctx) })
			if !r.cfg.NoBalancer {
				nw.Go(func() { r.probe(nctx, n, r.onRotation) })
			}
			n.started.Store(true)
			for w := range r.cfg.Workers {
				nw.Go(func() { r.work(nctx, n, w, &stats[i][w]) })
			}
			nw.Wait()
		})
	}
	var bg sync.WaitGroup
	bg.Go(func() { r.schedule(tctx) })
	if r.cfg.Progress != nil {
		bg.Go(func() { r.progress(tctx) })
	}
	wg.Wait()
	cancel()
	bg.Wait()
	r.closeNodes()
	return r.collect(stats), nil
}

// credentials registers the farm's credentials with the simulator, under
// names of this run's own so that runs on one store never meet; with an
// upstream of the caller's, they are the accounts the config names.
func (r *run) credentials() []credential {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	tag := hex.EncodeToString(b)
	c := r.cfg
	if r.sim != nil {
		c.AppID, c.CorpID, c.AgentID, c.Secret = "wxfarm"+tag, "wwfarm"+tag, "1000002", "farm-secret"
	}
	var out []credential
	for _, k := range c.Credentials {
		id := CredentialID{Kind: k, Key: k, Secret: c.Secret}
		switch k {
		case KindOfficial:
			if r.sim != nil {
				r.sim.AddApp(c.AppID, c.Secret)
			}
			id.Identity, id.Path, id.AppID = "token:"+c.AppID, "/cgi-bin/token", c.AppID
		case KindWeCom:
			if r.sim != nil {
				r.sim.AddWeComApp(c.CorpID, c.AgentID, c.Secret)
			}
			id.Identity, id.Path = "wecom:"+c.CorpID+":"+c.AgentID, "/cgi-bin/gettoken"
			id.CorpID, id.AgentID = c.CorpID, c.AgentID
		}
		out = append(out, id.credential())
	}
	return out
}

// openStores gives every node its own client of the store; memory:// is one
// store in the process, shared by all.
func (r *run) openStores(count int) ([]core.Cache, func(), error) {
	var closers []io.Closer
	closeAll := func() {
		for _, c := range closers {
			_ = c.Close()
		}
	}
	stores := make([]core.Cache, count)
	if strings.HasPrefix(r.cfg.Cache, "memory:") {
		shared := core.NewMemoryCache()
		for i := range stores {
			stores[i] = shared
		}
		return stores, closeAll, nil
	}
	for i := range stores {
		c, closer, err := server.OpenCache(r.cfg.Cache)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("farm: %w", err)
		}
		stores[i] = c
		closers = append(closers, closer)
	}
	return stores, closeAll, nil
}

func (r *run) newNode(i int, c core.Cache) (*node, error) {
	n := &node{id: i, store: newMeteredStore(c, r.ops, r.onHold, r.cfg.PollOnly)}
	n.killed, n.kill = context.WithCancel(context.Background())
	logger := slog.New(nodeHandler{Handler: r.cfg.Logger.Handler(), dead: &n.dead}).With("node", i)
	opts := []core.Option{core.WithCache(n.store.backend()), core.WithSettings(r.cfg.Settings),
		core.WithLogger(logger), core.WithObserver(func(e core.Event) {
			if !n.dead.Load() { // a dead process reports nothing
				r.observe(e)
			}
		})}
	for _, f := range r.cfg.Faults {
		if f.Kind == Skew && f.Node == i {
			opts = append(opts, core.WithClock(skewedClock{off: f.Skew}))
		}
	}
	n.m = core.New(opts...)
	hc := &http.Client{Timeout: r.cfg.Settings.LockTTL,
		Transport: &nodeTransport{node: i, meter: r.upstream, base: r.upstreamRT, killed: n.killed,
			pause: func(path string) time.Time {
				if f, ok := r.takePause(path); ok {
					return r.pauseLocal(n, f)
				}
				return time.Time{}
			}}}
	for _, cred := range r.creds {
		if err := n.m.Register(cred.Key, cred.src(wechat.WithBaseURL(r.upstreamURL), wechat.WithHTTPClient(hc))); err != nil {
			n.m.Close()
			return nil, err
		}
	}
	return n, nil
}

func (r *run) closeNodes() {
	for _, n := range r.nodes {
		n.m.Close()
		n.kill()
	}
}

// observe counts the Managers' events.
func (r *run) observe(e core.Event) {
	if int(e.Kind) < len(r.events) {
		r.events[e.Kind].Add(1)
	}
	if e.Kind == core.EventLockWait {
		for {
			old := r.lockWaitMax.Load()
			if int64(e.Duration) <= old || r.lockWaitMax.CompareAndSwap(old, int64(e.Duration)) {
				break
			}
		}
	}
}

func (r *run) spuriousRate() float64 { return math.Float64frombits(r.spurious.Load()) }

// progress prints a line every ProgressEvery, ending it when ctx ends.
func (r *run) progress(ctx context.Context) {
	every(ctx, r.cfg.ProgressEvery, func() {
		calls, failed := r.calls.Load(), r.failures.Load()
		for _, p := range r.procs {
			calls, failed = calls+p.calls.Load(), failed+p.failed.Load()
		}
		fmt.Fprintf(r.cfg.Progress, "\r%6.1fs  calls %-9d failed %-5d upstream %-4d",
			time.Since(r.start).Seconds(), calls, failed, r.upstream.total())
	})
	fmt.Fprintln(r.cfg.Progress)
}

// every calls fn every d until ctx ends.
func every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

func heapAndGoroutines() (uint64, int) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc, runtime.NumGoroutine()
}

// nodeHandler silences a node's logs once it is dead, and names the node.
type nodeHandler struct {
	slog.Handler
	dead *atomic.Bool
}

func (h nodeHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return !h.dead.Load() && h.Handler.Enabled(ctx, l)
}

func (h nodeHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return nodeHandler{h.Handler.WithAttrs(a), h.dead}
}

func (h nodeHandler) WithGroup(g string) slog.Handler {
	return nodeHandler{h.Handler.WithGroup(g), h.dead}
}
