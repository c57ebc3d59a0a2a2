package farm

import (
	"context"
	"io"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/wxtoken/wxtoken/core"
	"github.com/wxtoken/wxtoken/wechat"
	"github.com/wxtoken/wxtoken/wxsim"
)

// node is one member of the fleet: a Manager on its own store client,
// and its workers.
type node struct {
	id     int
	m      *core.Manager
	store  *meteredStore
	closer io.Closer
	kill   context.CancelFunc // ends killed
	killed context.Context
	dead   atomic.Bool
	// started: its workers run (a ramped node starts late).
	started  atomic.Bool
	rotation rotation
	// served: some worker of the node has had a token; failures before
	// are the node's cold start.
	served atomic.Bool
}

// skewedClock is a node's clock, off by a fixed amount.
type skewedClock struct{ off time.Duration }

func (c skewedClock) Now() time.Time { return time.Now().Add(c.off) }

// credential is one credential the farm serves: its names, and how to
// build its Source.
type credential struct {
	CredentialID
	src func(...wechat.Option) core.Source
}

// workerStats is what one worker saw; merged at the end.
type workerStats struct {
	latency, during histogram
	checks          int64
	coldStart       time.Duration
	refused         int64 // first answers that refused the token, repaired or not
	failed          map[string]int64
	examples        map[string]string // the first error of each failure kind
	spuriousSent    int64
	routed          int64 // calls the balancer sent to other nodes
	failedCold      int64 // failed before the node's first token
}

// failure is one failed business call, for the timeline.
type failure struct {
	At   time.Time
	Node int
	Code string
}

// work runs one worker of n until ctx ends.
func (f *run) work(ctx context.Context, n *node, w int, st *workerStats) {
	st.failed = make(map[string]int64)
	st.examples = make(map[string]string)
	rng := rand.New(rand.NewPCG(uint64(n.id), uint64(w)))
	for i := 0; ctx.Err() == nil; i++ {
		if holdUntil(ctx, n.store.pausedUntil.Load()) != nil { // a frozen node's workers are frozen too
			return
		}
		if f.routedAway(n) {
			st.routed++
			f.pace(ctx)
			continue
		}
		cred := f.creds[(w+i)%len(f.creds)]
		epoch, busy := f.fleet()
		start := time.Now()
		tok, err := n.m.Token(ctx, cred.Key)
		d := time.Since(start)
		if ctx.Err() != nil {
			return
		}
		if i == 0 { // the cold start waits for the first fetch: not a refresh
			st.coldStart = max(st.coldStart, d)
		} else {
			st.latency.record(d)
		}
		if epoch2, busy2 := f.fleet(); i > 0 && (busy || busy2 || epoch2 != epoch) {
			st.during.record(d)
		}
		if err != nil {
			st.example("token_error", err)
			if !n.served.Load() {
				st.failedCold++
			}
			f.fail(st, n.id, "token_error")
			f.pace(ctx)
			continue
		}
		n.served.Store(true)
		f.timeline.note(n.id, start, tok.Generation)
		code, err := f.check(ctx, tok.Value)
		if ctx.Err() != nil {
			return
		}
		f.calls.Add(1)
		st.checks++
		switch {
		case err != nil:
			st.example("check_error", err)
			f.fail(st, n.id, "check_error")
		case code != 0:
			// What wechat.Transport does: report the token, retry once with
			// the one the fleet hands back. The call fails only if that
			// fails too.
			st.refused++
			fresh, ierr := n.m.Invalidate(ctx, cred.Key, tok.Value)
			if ierr != nil {
				if ctx.Err() == nil {
					st.example("invalidate_error", ierr)
					f.fail(st, n.id, "invalidate_error")
				}
				break
			}
			if code, err = f.check(ctx, fresh.Value); err == nil && code == 0 {
				break
			}
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				st.example("check_error", err)
				f.fail(st, n.id, "check_error")
			} else {
				f.fail(st, n.id, strconv.Itoa(code))
			}
		default:
			if rate := f.spuriousRate(); rate > 0 && rng.Float64() < rate {
				st.spuriousSent++
				_, _ = n.m.Invalidate(ctx, cred.Key, tok.Value)
			}
		}
		f.pace(ctx)
	}
}

func (f *run) fail(st *workerStats, node int, code string) {
	st.failed[code]++
	f.failures.Add(1)
	f.timeline.fail(failure{At: time.Now(), Node: node, Code: code})
}

func (f *run) pace(ctx context.Context) {
	if f.cfg.Pace <= 0 {
		return
	}
	t := time.NewTimer(f.cfg.Pace)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// check spends tok on the business API and returns its errcode (0: OK).
func (f *run) check(ctx context.Context, tok string) (int, error) {
	return wxsim.Check(ctx, f.business, f.upstreamURL, tok)
}

func (st *workerStats) example(kind string, err error) {
	if _, ok := st.examples[kind]; !ok {
		st.examples[kind] = time.Now().Format("15:04:05.000") + " " + err.Error()
	}
}
