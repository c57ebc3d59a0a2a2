package farm

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/wechat"
)

// NodeSpec is what a node process needs to know: the farm hands it over
// on the process's standard input.
type NodeSpec struct {
	Node        int            `json:"node"`
	Start       time.Time      `json:"start"`
	Config      Config         `json:"config"`
	Credentials []CredentialID `json:"credentials"`
	// BusinessTimeout bounds the node's business calls (see
	// businessTimeout: the farm's faults decide it, some of which the
	// node is not told).
	BusinessTimeout time.Duration `json:"business_timeout"`
}

// CredentialID names one credential of the farm for a node process. The
// secret travels on the process's standard input, never its arguments.
type CredentialID struct {
	Kind                   string // KindOfficial or KindWeCom
	Key                    string // the key every node registers it under
	Identity               string // the cache identity, e.g. token:wxfarm…
	Path                   string // its upstream endpoint
	AppID, CorpID, AgentID string
	Secret                 string
}

// Lines a node process writes on its standard output.
const (
	lineHold     = "hold "     // "hold 1" when it takes a refresh lease, "hold 0" when it has none
	lineProgress = "progress " // "progress CALLS FAILED"
	lineRotation = "rotation " // "rotation 0" when it leaves the balancer's rotation, "rotation 1" when it rejoins
	lineReport   = "report "   // "report {partial as JSON}", last
	stateRoute   = "/_farm/state"
)

// proc is one node process.
type proc struct {
	id      int
	cmd     *exec.Cmd
	holding atomic.Bool
	dead    atomic.Bool
	out     atomic.Bool // out of the balancer's rotation
	outAt   time.Time   // since when; only read touches it
	tl      *timeline
	calls   atomic.Int64
	failed  atomic.Int64
	result  *partial
}

// runProcs runs every node as a process of its own and merges what they
// report. Upstream calls go through a proxy in this process, which counts
// them by node and tells the nodes whether one is in flight.
func (r *run) runProcs(ctx context.Context) (*partial, error) {
	proxy := httptest.NewServer(r.proxy(r.upstreamURL))
	defer proxy.Close()
	spec := NodeSpec{Start: r.start, Config: r.cfg, BusinessTimeout: r.business.Timeout}
	spec.Config.Logger, spec.Config.Progress, spec.Config.StoreControl, spec.Config.NodeCommand = nil, nil, nil, nil
	spec.Config.Procs, spec.Config.Upstream = false, proxy.URL
	spec.Config.Faults = nil
	for _, f := range r.cfg.Faults {
		if f.Kind == Spurious || f.Kind == Skew || f.Kind == Partition { // made inside the nodes
			spec.Config.Faults = append(spec.Config.Faults, f)
		}
	}
	for _, c := range r.creds {
		spec.Credentials = append(spec.Credentials, c.CredentialID)
	}
	tctx, cancel := context.WithDeadline(ctx, r.start.Add(r.cfg.Duration))
	defer cancel()
	var wg sync.WaitGroup
	// Every proc exists before the first starts: the proxy reads r.procs
	// as soon as a node asks for the fleet's state.
	for i := range r.cfg.Nodes {
		r.procs = append(r.procs, &proc{id: i, cmd: r.cfg.NodeCommand(), tl: r.timeline})
	}
	for i, p := range r.procs {
		spec.Node = i
		if err := p.start(spec, &wg); err != nil {
			cancel()
			r.stopProcs()
			wg.Wait()
			return nil, err
		}
	}
	var bg sync.WaitGroup
	bg.Go(func() { r.schedule(tctx) })
	if r.cfg.Progress != nil {
		bg.Go(func() { r.progress(tctx) })
	}
	<-tctx.Done()
	if ctx.Err() != nil { // interrupted: stop the nodes now
		r.stopProcs()
	}
	wg.Wait()
	cancel()
	bg.Wait()
	for _, pr := range r.procs {
		if pr.out.Load() {
			r.timeline.span(spanOutOfRotation, pr.id, pr.outAt, time.Now())
		}
	}
	p := newPartial()
	var missing []int
	for _, pr := range r.procs {
		switch {
		case pr.result != nil:
			p.merge(pr.result)
		case !pr.dead.Load():
			missing = append(missing, pr.id)
		}
	}
	if len(missing) > 0 && ctx.Err() == nil {
		return nil, fmt.Errorf("farm: node processes %v ended without a report (see their output above)", missing)
	}
	return p, nil
}

func (r *run) stopProcs() {
	for _, p := range r.procs {
		if p.cmd.Process != nil {
			_ = p.cmd.Process.Kill()
		}
	}
}

// start runs the process with spec on its standard input and reads its
// lines until it exits.
func (p *proc) start(spec NodeSpec, wg *sync.WaitGroup) error {
	in, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	p.cmd.Stdin = strings.NewReader(string(in))
	if p.cmd.Stderr == nil {
		p.cmd.Stderr = os.Stderr
	}
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("farm: start node process %d: %w", p.id, err)
	}
	wg.Go(func() {
		p.read(out)
		_ = p.cmd.Wait()
	})
	return nil
}

func (p *proc) read(out io.Reader) {
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, lineHold):
			p.holding.Store(strings.TrimPrefix(line, lineHold) != "0")
		case strings.HasPrefix(line, lineRotation):
			out := strings.TrimPrefix(line, lineRotation) == "0"
			switch was := p.out.Swap(out); {
			case out && !was:
				p.outAt = time.Now()
			case !out && was:
				p.tl.span(spanOutOfRotation, p.id, p.outAt, time.Now())
			}
		case strings.HasPrefix(line, lineProgress):
			var calls, failed int64
			if _, err := fmt.Sscan(strings.TrimPrefix(line, lineProgress), &calls, &failed); err == nil {
				p.calls.Store(calls)
				p.failed.Store(failed)
			}
		case strings.HasPrefix(line, lineReport):
			var res partial
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, lineReport)), &res); err == nil {
				p.result = &res
			}
		}
	}
}

// proxy forwards the nodes' calls to upstream, counting credential calls
// by node (the nodeHeader), and answers stateRoute with the fleet's count
// of credential calls and whether one is in flight.
func (r *run) proxy(upstream string) http.Handler {
	base := r.upstreamRT
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == stateRoute {
			_ = json.NewEncoder(w).Encode(fleetState{Epoch: r.upstream.epoch.Load(), Inflight: r.upstream.inflight.Load(),
				InRotation: r.procsInRotation()})
			return
		}
		node, err := strconv.Atoi(req.Header.Get(nodeHeader))
		if err != nil {
			node = -1
		}
		if f, ok := r.takePause(req.URL.Path); ok && node >= 0 && node < len(r.procs) {
			r.pauseProc(r.procs[node], f) // right after its request reached upstream's side
		}
		defer r.upstream.begin(node, req.URL.Path)()
		out, err := http.NewRequestWithContext(req.Context(), req.Method, upstream+req.URL.RequestURI(), req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		out.Header = req.Header.Clone()
		resp, err := base.RoundTrip(out)
		if err != nil {
			// What a dropped connection looks like to the node.
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	})
}

type fleetState struct {
	Epoch      int64 `json:"epoch"`
	Inflight   int64 `json:"inflight"`
	InRotation int   `json:"in_rotation"`
}

// procsInRotation counts the node processes alive and in rotation.
func (r *run) procsInRotation() int {
	c := 0
	for _, p := range r.procs {
		if !p.dead.Load() && !p.out.Load() {
			c++
		}
	}
	return c
}

// RunNodeProcess runs one node of a farm whose nodes are processes: it
// reads a NodeSpec from in, runs the node until the farm's end, and writes
// its lines (lease changes, progress, and last its report) to out.
// `wxtoken-farm node` is this function.
func RunNodeProcess(ctx context.Context, in io.Reader, out io.Writer) error {
	var spec NodeSpec
	if err := json.NewDecoder(in).Decode(&spec); err != nil {
		return fmt.Errorf("farm node: the node spec on standard input: %w", err)
	}
	cfg := spec.Config.withDefaults() // Nodes is the fleet's: the timeline has a row for each
	var mu sync.Mutex
	emit := func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(out, format+"\n", a...)
	}
	r := newRun(cfg)
	defer r.closeIdle()
	if spec.BusinessTimeout > 0 {
		r.business.Timeout = spec.BusinessTimeout
	}
	for _, c := range spec.Credentials {
		r.creds = append(r.creds, c.credential())
	}
	r.begin(spec.Start)
	r.onHold = func(holding bool) {
		if holding {
			emit("%s1", lineHold)
		} else {
			emit("%s0", lineHold)
		}
	}
	state := &remoteState{url: r.upstreamURL + stateRoute}
	state.inRotation.Store(int64(cfg.Nodes))
	r.fleet = state.get
	r.inRotation = func() int { return int(state.inRotation.Load()) }
	r.onRotation = func(in bool) {
		if in {
			emit("%s1", lineRotation)
		} else {
			emit("%s0", lineRotation)
		}
	}
	pctx, stopPoll := context.WithCancel(ctx)
	var bg sync.WaitGroup
	bg.Go(func() { state.poll(pctx) })
	bg.Go(func() {
		every(pctx, cfg.ProgressEvery, func() { emit("%s%d %d", lineProgress, r.calls.Load(), r.failures.Load()) })
	})
	p, err := r.runLocal(ctx, spec.Node, 1)
	stopPoll()
	bg.Wait()
	if err != nil {
		return err
	}
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	emit("%s%s", lineReport, b)
	return nil
}

// remoteState keeps the fleet state a node process polls from the farm.
type remoteState struct {
	url        string
	epoch      atomic.Int64
	inflight   atomic.Int64
	inRotation atomic.Int64
}

func (s *remoteState) get() (int64, bool) { return s.epoch.Load(), s.inflight.Load() > 0 }

func (s *remoteState) poll(ctx context.Context) {
	hc := &http.Client{Timeout: time.Second}
	defer hc.CloseIdleConnections()
	every(ctx, 10*time.Millisecond, func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
		resp, err := hc.Do(req)
		if err != nil {
			return
		}
		defer resp.Body.Close()
		var st fleetState
		if json.NewDecoder(resp.Body).Decode(&st) == nil {
			s.epoch.Store(st.Epoch)
			s.inflight.Store(st.Inflight)
			s.inRotation.Store(int64(st.InRotation))
		}
	})
}

func (c CredentialID) credential() credential {
	cr := credential{CredentialID: c}
	switch c.Kind {
	case KindWeCom:
		cr.src = func(o ...wechat.Option) core.Source { return wechat.WeCom(c.CorpID, c.AgentID, c.Secret, o...) }
	default:
		cr.src = func(o ...wechat.Option) core.Source { return wechat.OfficialAccount(c.AppID, c.Secret, o...) }
	}
	return cr
}

var errNoNodeCommand = errors.New("farm: procs needs a NodeCommand that runs RunNodeProcess")
