package farm

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wxtoken/wxtoken/wxsim"
)

// upstreamMeter counts the fleet's calls to upstream credential endpoints
// by path, and how many are in flight (a refresh in flight, for the
// latency split). Verification probes are counted apart: they are not
// refreshes.
type upstreamMeter struct {
	inflight atomic.Int64
	epoch    atomic.Int64 // credential calls started so far

	mu      sync.Mutex
	calls   map[string]int
	probes  int
	events  []callEvent
	perNode map[int]int // credential calls in flight, by node
}

// callEvent is one credential call, for the timeline.
type callEvent struct {
	At   time.Time
	Node int
	Path string
}

func newUpstreamMeter() *upstreamMeter {
	return &upstreamMeter{calls: make(map[string]int), perNode: make(map[int]int)}
}

func (u *upstreamMeter) snapshot() (map[string]int, int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	calls := make(map[string]int, len(u.calls))
	for k, v := range u.calls {
		calls[k] = v
	}
	return calls, u.probes
}

// callEvents returns the credential calls made so far, for the timeline.
func (u *upstreamMeter) callEvents() []callEvent {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]callEvent(nil), u.events...)
}

// inflightOf returns how many credential calls node has in flight.
func (u *upstreamMeter) inflightOf(node int) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.perNode[node]
}

func (u *upstreamMeter) total() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	n := 0
	for _, v := range u.calls {
		n += v
	}
	return n
}

// nodeTransport is one node's HTTP transport to upstream: it meters the
// node's credential calls and, once the node is killed, cuts off the calls
// in flight and refuses new ones.
type nodeTransport struct {
	node   int
	meter  *upstreamMeter
	base   http.RoundTripper
	killed context.Context // ends when the node is killed
	// pause, asked before each call, says until when the node freezes
	// right after sending it (zero: it does not).
	pause func(path string) time.Time
}

// begin counts a request to path by node and returns the function that
// ends it; probes and business calls are not refreshes.
func (u *upstreamMeter) begin(node int, path string) (end func()) {
	switch path {
	case wxsim.BusinessPath:
		return func() {}
	case wxsim.ProbePath:
		u.mu.Lock()
		u.probes++
		u.mu.Unlock()
		return func() {}
	}
	u.mu.Lock()
	u.calls[path]++
	u.events = append(u.events, callEvent{At: time.Now(), Node: node, Path: path})
	u.perNode[node]++
	u.mu.Unlock()
	u.epoch.Add(1)
	u.inflight.Add(1)
	return func() {
		u.inflight.Add(-1)
		u.mu.Lock()
		u.perNode[node]--
		u.mu.Unlock()
	}
}

// nodeHeader tells the farm's upstream proxy which node process a call
// comes from.
const nodeHeader = "X-Wxtoken-Farm-Node"

func (t *nodeTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.killed.Err(); err != nil {
		return nil, errKilled
	}
	defer t.meter.begin(t.node, req.URL.Path)()
	ctx, cancel := context.WithCancel(req.Context())
	defer cancel()
	stop := context.AfterFunc(t.killed, cancel) // kill -9: the call never completes
	defer stop()
	r := req.Clone(ctx)
	r.Header.Set(nodeHeader, strconv.Itoa(t.node))
	var frozen time.Time
	if t.pause != nil {
		frozen = t.pause(req.URL.Path)
	}
	resp, err := t.base.RoundTrip(r)
	if !frozen.IsZero() {
		_ = holdUntil(t.killed, frozen.UnixNano()) // a stopped process reads its answer when it wakes
	}
	return resp, err
}
